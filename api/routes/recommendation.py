"""GET /v1/recommendation: the switch schedule for N images (or a fraction) of a dataset."""

from typing import Annotated

from fastapi import APIRouter, Query, Response

from prs_search.field_types import DATASET_LENGTH, MAX_INT32

from .. import services
from ..deps import CacheDep, StoreDep
from ..schemas import TEXT_PATTERN, RecommendationOut
from .responses import INVALID, NOT_FOUND, STORE_DOWN

router = APIRouter(prefix="/recommendation", tags=["recommendation"])

DatasetQuery = Annotated[
    str, Query(min_length=1, max_length=DATASET_LENGTH, pattern=TEXT_PATTERN, examples=["cifar100"])
]
NumSamplesQuery = Annotated[
    int | None, Query(ge=1, le=MAX_INT32, description="Dataset size in images.", examples=[10000])
]
FractionQuery = Annotated[
    float | None,
    Query(gt=0.0, le=1.0, allow_inf_nan=False, description="Dataset size as a fraction of the training split."),
]

MaxFlopsQuery = Annotated[
    float | None,
    Query(gt=0.0, allow_inf_nan=False, description="Compute budget: at most this many training FLOPs (counted).",
          examples=[1e15]),
]  # fmt: skip
MaxSecondsQuery = Annotated[
    float | None, Query(gt=0.0, allow_inf_nan=False, description="Compute budget: at most this much training time.")
]


@router.get("", response_model=RecommendationOut, responses={**NOT_FOUND, **INVALID, **STORE_DOWN})
async def read_recommendation(
    store: StoreDep,
    cache: CacheDep,
    dataset: DatasetQuery,
    num_samples: NumSamplesQuery = None,
    fraction: FractionQuery = None,
    max_flops: MaxFlopsQuery = None,
    max_seconds: MaxSecondsQuery = None,
) -> Response:
    """Give exactly one of `num_samples` and `fraction`. `method`: `exact` (a search ran at that size),
    `model` (the cross-size model: a Gaussian process fitted on every finished trial and re-evaluation run
    of every searched size of the same model, stem, conv variant, depth and epochs, inputs switch epochs / E
    and log size; the schedule of the search space with the highest expected validation accuracy at this
    size, with `prediction`: its 95% interval, the runs and sizes it rests on; given when at least 2 sizes
    have 8 finished runs each and the size is at most a factor 2 outside their range),
    `interpolated` (between two searched sizes, linear in log size, epochs rounded), or `nearest`
    (outside the searched range, or the neighbours cannot be interpolated; with a `warning`); for these
    two, `prediction_note` says why the model did not answer.
    A fraction needs a search of the dataset run with `--fraction` (it tells the training-split size).
    With a compute budget (at most one of `max_flops` and `max_seconds`), a searched size is answered by its
    searches' best complete trial within it (`budget` says what it and the best trial without it cost;
    trials trained before FLOPs were counted are not candidates); a size nobody searched, by the cross-size
    model among the space's schedules whose cost there, predicted from the counted epochs, fits
    (`budget.estimated`); 422 where the model cannot answer.
    404: the dataset has no searches, or none has finished (the message says how to run one), or no trial
    fits the budget (the message says what the cheapest costs).
    Answers are cached until a search of the dataset changes (a trial or re-evaluation run finishes, a search
    starts or finishes; any API worker sees that at once)."""
    # The body is the response model's JSON already (cached as such): sent as it is, not validated again.
    body = await services.recommendation(store, cache, dataset, num_samples, fraction, max_flops, max_seconds)
    return Response(body, media_type="application/json")
