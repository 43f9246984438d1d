"""The cross-size model: expected validation accuracy of a schedule at a dataset size, fitted on every
finished run of a dataset's searches at other sizes (`gp`), ranked over a space's schedules (`candidates`),
with the store's runs grouped by what makes sizes comparable (`groups`). Torch- and Ray-free: the API
answers with it."""

from prs_search.surrogate.gp import Predicted, Surrogate, fit_surrogate
from prs_search.surrogate.groups import (
    MIN_RUNS,
    MIN_SIZES,
    NEAR,
    CrossSizeAnswer,
    Group,
    GroupKey,
    fit_group,
    group_key,
    load_groups,
    predict_best,
    warm_start_refusal,
    why_not,
)

__all__ = [
    "MIN_RUNS",
    "MIN_SIZES",
    "NEAR",
    "CrossSizeAnswer",
    "Group",
    "GroupKey",
    "Predicted",
    "Surrogate",
    "fit_group",
    "fit_surrogate",
    "group_key",
    "load_groups",
    "predict_best",
    "warm_start_refusal",
    "why_not",
]
