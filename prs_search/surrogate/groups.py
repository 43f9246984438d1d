"""The cross-size model's data, read from the store: finished runs grouped by what makes sizes comparable,
and the rule for when the model may answer at a size.

Runs of two searches are fitted together when the searches share the dataset, the model preset, the stem,
the conv variant, the depth and the number of epochs (a *group*): only the size differs. The model answers
at N when at least `MIN_SIZES` sizes of the group each have `MIN_RUNS` finished runs, and N is *near* their
range: at most a factor `NEAR` below the smallest or above the largest such size. Beyond that the size's
length scale is rarely long enough for the fit to say more than its prior (the interval widens to the
whole range of accuracies), so `recommend` falls back to the nearest searched size, with its warning.
"""

from collections import Counter
from dataclasses import dataclass
from typing import NamedTuple, cast

from prs_search.schemas import FinishedRunRecord, SearchRecord
from prs_search.search.spaces import ScheduleKind
from prs_search.store import ResultsStore
from prs_search.surrogate.candidates import candidate_schedules
from prs_search.surrogate.gp import Predicted, Surrogate, fit_surrogate

MIN_RUNS = 8  # finished runs at a size for it to count (e.g. a search of 8 complete trials)
MIN_SIZES = 2
NEAR = 2.0  # how far beyond the ends of the searched range the model still answers, as a factor in size
SEARCHES_SCANNED = 1000


class GroupKey(NamedTuple):
    model: str
    stem: str
    conv: str
    depth: int
    epochs: int


@dataclass(frozen=True)
class Group:
    """A group's searches and their finished runs."""

    key: GroupKey
    searches: tuple[SearchRecord, ...]
    runs: tuple[FinishedRunRecord, ...]

    @property
    def runs_by_size(self) -> dict[int, int]:
        return dict(sorted(Counter(r.num_samples for r in self.runs).items()))

    @property
    def sizes(self) -> tuple[int, ...]:
        """The sizes that count: those with `MIN_RUNS` finished runs, ascending."""
        return tuple(n for n, count in self.runs_by_size.items() if count >= MIN_RUNS)

    @property
    def kinds(self) -> set[ScheduleKind]:
        """The searches' spaces' schedule kinds (a space without one: free, every schedule of the depth)."""
        return {cast(ScheduleKind, s.space_config.get("schedule", "free")) for s in self.searches}


@dataclass(frozen=True)
class CrossSizeAnswer:
    """The model's best schedules at one size, best first, and what it rests on."""

    top: tuple[Predicted, ...]
    runs: int
    sizes: tuple[int, ...]
    candidates: int
    noise_sd: float


def group_key(search: SearchRecord) -> GroupKey:
    # A search recorded before the conv variants existed ran the only one there was (as the driver reads it).
    conv = str(search.architecture.get("conv", "shift"))
    return GroupKey(search.model, search.stem, conv, int(search.architecture["depth"]), search.epochs)


def load_groups(store: ResultsStore, dataset: str, *, without_size: int | None = None) -> dict[GroupKey, Group]:
    """`dataset`'s groups; `without_size` leaves that size's searches out (to predict it from the others)."""
    searches, _ = store.list_searches(limit=SEARCHES_SCANNED, dataset=dataset)
    kept = [s for s in searches if s.num_samples != without_size and "depth" in s.architecture]
    ids = {s.id: group_key(s) for s in kept}
    runs = [r for r in store.finished_runs(dataset=dataset) if r.search_id in ids]
    return {
        key: Group(key, tuple(s for s in kept if ids[s.id] == key), tuple(r for r in runs if ids[r.search_id] == key))
        for key in dict.fromkeys(ids.values())
    }


def why_not(group: Group, num_samples: int) -> str | None:
    """Why the model may not answer at `num_samples` for this group (None: it may)."""
    sizes = group.sizes
    if len(sizes) < MIN_SIZES:
        counts = ", ".join(f"{n}: {c}" for n, c in group.runs_by_size.items()) or "none"
        return (
            f"the cross-size model needs {MIN_SIZES} searched sizes with {MIN_RUNS} finished runs each "
            f"(finished runs by size: {counts})"
        )
    if not sizes[0] / NEAR <= num_samples <= sizes[-1] * NEAR:
        return (
            f"{num_samples} images is more than a factor {NEAR:g} outside the sizes the cross-size model was fitted "
            f"on ({sizes[0]} to {sizes[-1]})"
        )
    return None


def warm_start_refusal(
    store: ResultsStore, dataset: str, num_samples: int | None, *, model: str, stem: str, epochs: int
) -> str | None:
    """Why a warm start asked for at `num_samples` (None: a fraction, unknown here) cannot happen, as far as the
    stored searches tell without building the model (None: it may; the driver checks the conv variant and the
    depth too). For a refusal before a search is accepted (the API answers 422, not a driver that fails)."""
    groups = load_groups(store, dataset, without_size=num_samples)
    alike = [g for key, g in groups.items() if (key.model, key.stem, key.epochs) == (model, stem, epochs)]
    if not alike:
        return f"no other size of {dataset} was searched with model {model}, stem {stem} and {epochs} epochs"
    if num_samples is None:
        return None
    reasons = [why_not(g, num_samples) for g in alike]
    return None if None in reasons else reasons[0]


def fit_group(group: Group) -> Surrogate:
    """The model fitted on every finished run of the group."""
    runs = group.runs
    return fit_surrogate(
        [r.schedule for r in runs], [r.num_samples for r in runs], [r.val_acc for r in runs], group.key.epochs
    )


def predict_best(group: Group, num_samples: int, k: int = 1, kinds: set[ScheduleKind] | None = None) -> CrossSizeAnswer:
    """Fit the model on the group's runs and rank the schedules of the spaces `kinds` (default: the group's
    searches') at `num_samples` (check `why_not` first)."""
    runs, space = group.runs, kinds or group.kinds
    model = fit_group(group)
    observed = (r.schedule for r in runs) if kinds is None else ()  # another space's may not fit this one
    candidates = candidate_schedules(space, group.key.depth, group.key.epochs, observed)
    return CrossSizeAnswer(
        tuple(model.top(candidates, num_samples, k)), len(runs), group.sizes, len(candidates), model.noise_sd
    )
