"""The accuracy-compute front of a search: the trials that no other trial beats in both accuracy and cost.

A trial dominates another when its validation accuracy (final, the search's objective) is at least as high
and its cost at most as high, one of the two strictly. The front is the COMPLETE trials that no trial
dominates, among those that have the cost: `flops` (the training FLOPs counted over their epochs; trials
trained before counting have none) or `seconds` (training wall time, on whatever machine ran the trial).
Trials equal in both are all on it. No I/O: the caller brings the trials.
"""

import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from prs_search.compute_cost import format_flops
from prs_search.field_types import Cost, TrialState
from prs_search.schemas import TrialPublic

T = TypeVar("T", bound=TrialPublic)


def trial_cost(trial: TrialPublic, cost: Cost) -> float | None:
    """The trial's `cost`: counted FLOPs (None: not counted) or training seconds."""
    return trial.flops if cost == "flops" else trial.seconds


def format_cost(cost: Cost, value: float | None) -> str:
    """'3.41 TFLOP' or '84.2 s'; '-' for None."""
    if cost == "flops" or value is None:
        return format_flops(value)
    return f"{value:.1f} s"


@dataclass(frozen=True)
class Front(Generic[T]):
    cost: Cost
    trials: tuple[T, ...]  # the front, cheapest first
    considered: int  # COMPLETE trials with a validation accuracy
    uncounted: int  # of those, the ones without the cost: not on the front, whatever their accuracy


def accuracy_cost_front(trials: Iterable[T], cost: Cost) -> Front[T]:
    """The COMPLETE trials not dominated in (higher val_acc, lower `cost`), cheapest first (ties: by id)."""
    complete = [t for t in trials if t.state == TrialState.COMPLETE and t.val_acc is not None]
    priced = [(c, t) for t in complete if (c := trial_cost(t, cost)) is not None]
    priced.sort(key=lambda ct: (ct[0], -(ct[1].val_acc or 0.0), ct[1].id))
    front: list[T] = []
    best = -math.inf  # the highest accuracy of any strictly cheaper trial
    for _, group in itertools.groupby(priced, key=lambda ct: ct[0]):
        same_cost = [t for _, t in group]
        top = same_cost[0].val_acc or 0.0  # sorted: the group's highest
        if top > best:  # the cheaper ones do not reach it, and no trial of this cost beats these
            front += [t for t in same_cost if t.val_acc == top]
            best = top
    return Front(cost, tuple(front), considered=len(complete), uncounted=len(complete) - len(priced))
