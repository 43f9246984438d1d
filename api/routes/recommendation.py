"""GET /v1/recommendation: the switch schedule for N images (or a fraction) of a dataset."""

from typing import Annotated

from fastapi import APIRouter, Query

from prs_search.recommend import recommend
from prs_search.schemas import DATASET_LENGTH, MAX_INT32

from ..deps import StoreDep
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


@router.get("", responses={**NOT_FOUND, **INVALID, **STORE_DOWN})
def read_recommendation(
    store: StoreDep, dataset: DatasetQuery, num_samples: NumSamplesQuery = None, fraction: FractionQuery = None
) -> RecommendationOut:
    """Give exactly one of `num_samples` and `fraction`. `method`: `exact` (a search ran at that size),
    `interpolated` (between two searched sizes, linear in log size, epochs rounded), or `nearest`
    (outside the searched range, or the neighbours cannot be interpolated; with a `warning`).
    A fraction needs a search of the dataset run with `--fraction` (it tells the training-split size).
    404: the dataset has no searches, or none has finished (the message says how to run one)."""
    return RecommendationOut.model_validate(recommend(store, dataset, num_samples, fraction))
