"""The field types every record, request and SQL column is built from: the limits the columns share (as
Optuna's `MAX_INDEXED_STRING_LENGTH` is shared), the `Annotated` types with their bounds, and the
statuses of searches and trials. Torch- and Ray-free.
"""

import json
import math
from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any, Literal

import pydantic_core
from pydantic import AfterValidator, BeforeValidator, Field, StringConstraints

from prs_search.errors import NOT_BLANK, Label

# -- limits shared with the SQL columns -------------------------------------------------------------

NAME_LENGTH = 255  # search, study and Optuna study names; Ray addresses
DATASET_LENGTH = 128
LABEL_LENGTH = 128  # search space, model preset, schedule label, trial key, Ray trial id
STEM_LENGTH = 32  # also a layer's mode
STATUS_LENGTH = 16
NODE_ID_LENGTH = 64  # Ray node ids are 56 hex digits
MAX_INT32 = 2**31 - 1  # INTEGER columns (32-bit on PostgreSQL): ids, sizes, seeds
MAX_PAGE = 1000  # rows one list call returns at most

# -- field types ------------------------------------------------------------------------------------


def _text(max_length: int) -> StringConstraints:
    return StringConstraints(max_length=max_length, pattern=NOT_BLANK)


Name = Annotated[str, _text(NAME_LENGTH)]
DatasetName = Annotated[str, _text(DATASET_LENGTH)]
ShortText = Annotated[str, _text(LABEL_LENGTH)]
StemName = Annotated[str, _text(STEM_LENGTH)]
NodeId = Annotated[str, _text(NODE_ID_LENGTH)]

Count = Annotated[int, Field(ge=1, le=MAX_INT32)]  # dataset sizes, budgets, epochs
NonNegative = Annotated[int, Field(ge=0, le=MAX_INT32)]  # epochs (0-based), switch epochs, seeds, layer counts
SwitchEpochs = Annotated[
    tuple[NonNegative, ...],
    Field(min_length=1, description="Switch epoch per layer: 0 = attention from the start, E = conv only."),
    Label("switch epochs"),
]
Finite = Annotated[float, Field(allow_inf_nan=False)]
Seconds = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]
Flops = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]  # floating-point operations, counted
Cost = Literal["flops", "seconds"]  # what a trial's training compute is measured in
Fraction = Annotated[
    float, Field(gt=0.0, le=1.0, allow_inf_nan=False, description="Dataset size as a fraction of the training split.")
]


def _finite_or_none(value: float | None) -> float | None:
    return value if value is None or math.isfinite(value) else None


# A measurement that may be missing; NaN and infinities (a diverged loss) are stored as missing.
Measured = Annotated[float | None, AfterValidator(_finite_or_none)]


def _json_fallback(value: Any) -> Any:
    for attr in ("tolist", "item"):  # numpy / torch scalars and arrays
        if hasattr(value, attr):
            return getattr(value, attr)()
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _plain_json(value: object) -> object:
    """A copy of a mapping in plain JSON types: numpy and torch values become numbers and lists, NaN and
    infinities become null (JSON, and PostgreSQL's json type, have neither)."""
    if not isinstance(value, Mapping):
        return value  # refused by the dict type that follows
    try:
        return json.loads(pydantic_core.to_json(dict(value), inf_nan_mode="null", fallback=_json_fallback))
    except (TypeError, ValueError, pydantic_core.PydanticSerializationError) as exc:
        raise ValueError(f"not JSON serialisable: {str(exc).removeprefix('Error serializing to JSON: ')}") from None


JsonObject = Annotated[dict[str, Any], BeforeValidator(_plain_json)]


class SearchStatus(StrEnum):
    """Life cycle of a search: pending -> running -> finished | failed | interrupted (resumable) |
    cancelled (stopped on request; its finished trials are kept, it is not resumed)."""

    PENDING = "pending"
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self in (SearchStatus.FINISHED, SearchStatus.FAILED, SearchStatus.INTERRUPTED, SearchStatus.CANCELLED)

    @property
    def is_closed(self) -> bool:
        """Nothing of it will run again: not resumed, nothing to cancel."""
        return self in (SearchStatus.FINISHED, SearchStatus.FAILED, SearchStatus.CANCELLED)


class TrialState(StrEnum):
    """Optuna's trial states that a Ray Tune trial can end in, plus RUNNING."""

    RUNNING = "RUNNING"
    COMPLETE = "COMPLETE"
    PRUNED = "PRUNED"
    FAIL = "FAIL"

    @property
    def is_finished(self) -> bool:
        return self is not TrialState.RUNNING


SearchStatusField = Annotated[SearchStatus, Label("search status")]


def as_id(key: str) -> int | None:
    """The search id that `key` means when it is written as one: ASCII digits, spaces around them allowed
    (None: it is a name)."""
    digits = key.strip()
    return int(digits) if digits.isascii() and digits.isdigit() else None


def _not_an_id(name: str) -> str:
    if as_id(name) is not None:
        raise ValueError(f"a search name must not be all digits (that is how ids are written), got {name!r}")
    return name


# A search is found by its name or its id, so a name that reads as an id would shadow another search.
SearchName = Annotated[Name, AfterValidator(_not_an_id), Label("search name")]
DriverOrigin = Literal["cli", "api"]
TrialStateField = Annotated[TrialState, Label("trial state")]
StudyRunStatus = Literal["completed", "diverged"]
