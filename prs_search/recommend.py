"""`recommend`: which switch schedule to use for N images of a dataset, from what the searches found.

The store keeps one best schedule per searched (dataset, size). For an asked size N:

- `exact`: a search ran at N; its best schedule, with its validation and (when measured) test accuracy,
  and, when the search re-evaluated its finalists, the `confidence`: the 95% interval of the validation
  accuracy over seeds and the paired advantage over the PRS default.
- `model`: the cross-size model (`prs_search.surrogate`) answers: a Gaussian process fitted on every
  finished run (trials that ran all E epochs, and re-evaluation runs at other seeds) of every searched size
  of the group of searches that would answer otherwise (the same model, stem, conv variant, depth and
  epochs as the search at the searched size nearest N in log size), with inputs the per-layer switch
  epochs / E and log size, after each size's mean level is taken out (it is interpolated in log size; the
  interval lets it lie anywhere between the neighbouring sizes' levels: see `prs_search.surrogate.gp`).
  The schedule is the one of highest expected validation accuracy at N among the
  space's schedules (every one when there are at most 20,000, else a fixed-seed sample of 8,192, plus
  every observed schedule and the PRS default: the same store gives the same answer), and `prediction`
  holds the 95% interval of its expected (mean over seeds) validation accuracy and what the model rests on.
  It answers when the group has at least 2 sizes with 8 finished runs each and N is at most a factor 2
  below the smallest or above the largest of them; otherwise `prediction_note` says why, and:
- `interpolated`: N lies between two searched sizes lo < N < hi whose searches share model, stem,
  epochs and depth. With t = (log N - log lo) / (log hi - log lo), every layer's switch epoch is
  (1 - t) * e_lo + t * e_hi rounded half up to an integer in [0, E], and the expected val_acc is
  interpolated with the same t. No test accuracy (nothing was measured at N).
- `nearest`: N is outside [smallest, largest] searched size (the end size is used), or the two
  bracketing searches differ in model, stem, epochs or depth (the one nearer in log size is used,
  ties to the larger size). Always with a `warning` saying why.

With a compute budget (`max_flops` or `max_seconds`), a searched size is answered `exact`ly by the best
complete trial of its searches within the budget; a size nobody searched by the cross-size model, among
the space's schedules whose cost there, predicted from the group's counted epochs, is within it
(`prs_search.budget`). Where the model cannot answer, a budget is refused (interpolating two schedules
says nothing about the cost of the blend's neighbours).

Sizes asked as a fraction of the training split: N = round(fraction * T), the rule `prs-search run
--fraction` uses, where the training-split size T is recovered from the dataset's stored searches that
were run with `--fraction` (their `num_samples / fraction`, from the one with the largest fraction,
which pins T best). A dataset never searched with `--fraction` needs `num_samples`. Because log-size
interpolation is scale-free, this is the same as interpolating in fraction space.

No SQL here: everything comes through `ResultsStore`. The REST API answers with the `Recommendation`
that `recommend` returns and `prs-search recommend --json` prints its JSON, so they give the same answer.
The API caches an answer until the dataset's version moves; every write that changes the cross-size model's
data (a trial finishing, a re-evaluation run) moves it.
"""

import math
from typing import Literal

from pydantic import Field

from prs_search.budget import Budget, asked_budget, best_within, modelled_within
from prs_search.errors import ConfigError, NotFoundError
from prs_search.field_types import Cost, SwitchEpochs
from prs_search.schedule import Schedule
from prs_search.schemas import BestScheduleRecord, Record
from prs_search.stats import Interval
from prs_search.store import ResultsStore, SearchRecord
from prs_search.surrogate import MIN_RUNS, CrossSizeAnswer, Group, group_key, load_groups, predict_best, why_not

Method = Literal["exact", "model", "interpolated", "nearest"]
SEARCHES_SCANNED = 1000  # searches of one dataset read to recover its training-split size


class Provenance(Record):
    """One stored best schedule the answer rests on."""

    search_id: int
    search_name: str
    trial_id: int | None = Field(description="Its search trial (None: the PRS default won the re-evaluation).")
    num_samples: int
    val_acc: float
    weight: float = Field(
        description="Share in the answer: 1.0, or 1 - t and t when interpolated; for `model`, the share of the "
        "model's runs that were of this size."
    )


class Confidence(Record):
    """How sure the answer is, where a search re-evaluated its finalists at exactly this size."""

    seeds: int = Field(description="Seeds the recommended schedule was trained with (the search's and the extra).")
    val_acc_low: float | None = Field(description="95% interval of its mean validation accuracy (Student t).")
    val_acc_high: float | None
    baseline_schedule: SwitchEpochs = Field(description="The PRS default (linear E/2 -> 0) it was compared with.")
    advantage: float = Field(description="Mean validation accuracy minus the PRS default's, paired by seed.")
    advantage_low: float | None = Field(description="95% interval of the paired advantage.")
    advantage_high: float | None
    significant: bool = Field(description="The advantage's interval excludes 0.")


class Prediction(Record):
    """The cross-size model's answer (`method` "model") and what it rests on."""

    val_acc_low: float = Field(description="95% interval of the expected (mean over seeds) validation accuracy.")
    val_acc_high: float
    noise_sd: float = Field(description="The fitted spread (standard deviation) of one run around its expected value.")
    runs: int = Field(description="Finished trials and re-evaluation runs the model was fitted on.")
    sizes: tuple[int, ...] = Field(description="The searched sizes with enough finished runs to count.")
    candidates: int = Field(description="Schedules of the search space the answer was chosen among.")


class Recommendation(Record):
    """The schedule to use for `num_samples` images of `dataset`, and what it rests on."""

    dataset: str
    num_samples: int = Field(description="The size answered for (derived from `fraction` when that was asked).")
    fraction: float | None  # as asked (num_samples was derived from it), else None
    method: Method
    schedule: SwitchEpochs
    epochs: int
    model: str
    stem: str
    val_acc: float = Field(
        description="Expected validation accuracy (the model's prediction, or interpolated like the schedule)."
    )
    test_acc: float | None = Field(description="Measured test accuracy; only for `exact`.")
    warning: str | None
    searched_sizes: tuple[int, ...]
    provenance: tuple[Provenance, ...]
    trials_backing: int = Field(description="Trials (every state) of the searches the answer comes from.")
    confidence: Confidence | None = Field(description="Only for `exact` answers of re-evaluated searches.")
    confidence_note: str = Field(description="What the confidence rests on, or why there is none.")
    prediction: Prediction | None = Field(description="Only for `model` answers: the cross-size model's interval.")
    prediction_note: str = Field(description="What the cross-size model's answer rests on, or why it gave none.")
    budget: Budget | None = Field(default=None, description="The compute budget asked (None: none was).")


def recommend(
    store: ResultsStore,
    dataset: str,
    num_samples: int | None = None,
    fraction: float | None = None,
    *,
    max_flops: float | None = None,
    max_seconds: float | None = None,
) -> Recommendation:
    """The schedule for `num_samples` images (or `fraction` of the training split) of `dataset`, within a
    compute budget of at most one of `max_flops` and `max_seconds` if one is given.

    Give exactly one of `num_samples` and `fraction`. Raises `ConfigError` for invalid input and
    `NotFoundError` when the dataset has no finished search (see the module docstring for the rules).
    """
    dataset = _check_dataset(dataset)
    _check_size(num_samples, fraction)
    budget = asked_budget(max_flops, max_seconds)
    rows = store.best_schedules(dataset=dataset)
    if not rows:
        raise NotFoundError(_nothing_found(store, dataset))
    if fraction is not None:
        num_samples = _size_from_fraction(store, dataset, fraction)
    assert num_samples is not None  # for the type checker: _check_size saw exactly one
    if budget is not None and num_samples in {r.num_samples for r in rows}:
        return _within_budget(store, rows, dataset, num_samples, fraction, *budget)
    sizes = tuple(r.num_samples for r in rows)
    method, weighted, warning = _choose(rows, num_samples, dataset)
    if method == "exact":
        model_note = f"a search ran at {num_samples} images: its own answer, not the cross-size model's"
    else:
        group, model_note = _group(store, dataset, num_samples, rows)
        if group is not None:
            return _modelled(store, group, rows, dataset, num_samples, fraction, budget)
        if budget is not None:
            raise ConfigError(
                f"a compute budget at {num_samples} images, where nobody searched, needs the cross-size model, and "
                f"it cannot answer: {model_note}"
            )
    first = weighted[0][0]
    schedule = _blend_schedule(weighted, first.epochs)
    val_acc = sum(w * r.val_acc for r, w in weighted)
    search_ids = sorted({r.search_id for r, _ in weighted})
    return Recommendation(
        dataset=dataset, num_samples=num_samples, fraction=fraction, method=method, schedule=schedule,
        epochs=first.epochs, model=first.model, stem=first.stem, val_acc=val_acc,
        test_acc=first.test_acc if method == "exact" else None, warning=warning, searched_sizes=sizes,
        provenance=tuple(_provenance(r, w) for r, w in weighted),
        trials_backing=sum(sum(store.trial_counts(search_id=i).values()) for i in search_ids),
        confidence=_confidence(first) if method == "exact" else None, confidence_note=_note(method, first, num_samples),
        prediction=None, prediction_note=model_note,
    )  # fmt: skip


def _group(store: ResultsStore, dataset: str, n: int, rows: list[BestScheduleRecord]) -> tuple[Group | None, str]:
    """The group of searches the cross-size model answers from at `n` (that of the best schedule nearest in log
    size; ties: the larger), or None and why not."""
    near = min(reversed(rows), key=lambda r: abs(math.log(r.num_samples) - math.log(n)))
    search = store.get_search(name_or_id=near.search_id)
    if search is None or "depth" not in search.architecture:
        return None, f"the search at {near.num_samples} images records no model depth: no cross-size model"
    group = load_groups(store, dataset).get(group_key(search))
    if group is None:  # beyond the searches read (SEARCHES_SCANNED): too old to matter
        return None, f"the search at {near.num_samples} images is not among the newest searches of {dataset}"
    reason = why_not(group, n)
    return (None, reason) if reason is not None else (group, "")


def _modelled(
    store: ResultsStore,
    group: Group,
    rows: list[BestScheduleRecord],
    dataset: str,
    n: int,
    fraction: float | None,
    budget: tuple[Cost, float] | None,
) -> Recommendation:
    """The cross-size model's answer at `n` (the group may answer there: `why_not`), within `budget` if any."""
    answer, spent = modelled_within(store, group, n, *budget) if budget is not None else (predict_best(group, n), None)
    best = answer.top[0]
    ids = {s.id for s in group.searches}
    backing = [r for r in rows if r.search_id in ids]
    share = {size: count / answer.runs for size, count in group.runs_by_size.items()}
    return Recommendation(
        dataset=dataset, num_samples=n, fraction=fraction, method="model", schedule=best.schedule,
        epochs=group.key.epochs, model=group.key.model, stem=group.key.stem, val_acc=best.val_acc, test_acc=None,
        warning=None, searched_sizes=tuple(r.num_samples for r in rows),
        provenance=tuple(_provenance(r, share.get(r.num_samples, 0.0)) for r in backing),
        trials_backing=sum(sum(store.trial_counts(search_id=i).values()) for i in sorted(ids)),
        confidence=None, confidence_note=f"no seed interval at {n} images: nothing was measured at this size",
        prediction=_prediction(answer), prediction_note=_model_note(answer), budget=spent,
    )  # fmt: skip


def _prediction(answer: CrossSizeAnswer) -> Prediction:
    best = answer.top[0]
    return Prediction(
        val_acc_low=best.low, val_acc_high=best.high, noise_sd=answer.noise_sd, runs=answer.runs,
        sizes=answer.sizes, candidates=answer.candidates,
    )  # fmt: skip


def _model_note(answer: CrossSizeAnswer) -> str:
    sizes = ", ".join(map(str, answer.sizes))
    return (
        f"the cross-size model's best of {answer.candidates} schedules, fitted on {answer.runs} finished runs of the "
        f"searched sizes (at least {MIN_RUNS} each at {sizes}); the interval is the Gaussian process's 95% interval "
        "of the expected validation accuracy"
    )


def _within_budget(
    store: ResultsStore, rows: list[BestScheduleRecord], dataset: str, n: int, fraction: float | None, cost: Cost,
    limit: float,
) -> Recommendation:  # fmt: skip
    """The `exact` answer at a searched size under a compute budget: the best of its trials within it."""
    sizes = tuple(r.num_samples for r in rows)
    search, trial, budget = best_within(store, dataset, n, cost, limit)
    val_acc = trial.val_acc or 0.0  # a candidate has one
    source = Provenance(
        search_id=search.id, search_name=search.name, trial_id=trial.id, num_samples=n, val_acc=val_acc, weight=1.0
    )
    return Recommendation(
        dataset=dataset, num_samples=n, fraction=fraction, method="exact", schedule=trial.schedule,
        epochs=search.epochs, model=search.model, stem=search.stem, val_acc=val_acc,
        test_acc=search.test_acc if search.test_trial_id == trial.id else None, warning=None, searched_sizes=sizes,
        provenance=(source,), trials_backing=sum(store.trial_counts(search_id=search.id).values()), confidence=None,
        confidence_note="the best trial within the budget, trained once: no interval", budget=budget,
        prediction=None, prediction_note=f"a search ran at {n} images: its own trials, not the cross-size model's",
    )  # fmt: skip


def recommended_schedule(
    store: ResultsStore, dataset: str, num_samples: int, *, model: str, depth: int, epochs: int
) -> tuple[Schedule, Recommendation]:
    """The recommended schedule for `num_samples` images as a `Schedule` of `epochs` epochs for `model`.

    A schedule searched with another number of epochs E' is rescaled (a layer switching at e of E' epochs
    switches at round(e * epochs / E'), the same point of training); one searched for another model is
    refused (`ConfigError`), as is a dataset without a finished search (`NotFoundError`)."""
    answer = recommend(store, dataset, num_samples=num_samples)
    if answer.model != model or len(answer.schedule) != depth:
        raise ConfigError(
            f"the best schedule for {num_samples} images of {dataset} was searched for model {answer.model} "
            f"({len(answer.schedule)} layers), not {model} ({depth} layers); use --model {answer.model}"
        )
    switch = [min(max(math.floor(e * epochs / answer.epochs + 0.5), 0), epochs) for e in answer.schedule]
    return Schedule.of(switch, epochs), answer


def searched_answer(rows: list[BestScheduleRecord], n: int, dataset: str) -> tuple[Method, tuple[int, ...], float]:
    """The method, schedule and expected val_acc `recommend` answers from best-schedule rows alone (sorted by
    size), without the cross-size model: what the model is measured against (benchmarks/surrogate_validation)."""
    method, weighted, _ = _choose(rows, n, dataset)
    return method, _blend_schedule(weighted, weighted[0][0].epochs), sum(w * r.val_acc for r, w in weighted)


def _choose(
    rows: list[BestScheduleRecord], n: int, dataset: str
) -> tuple[Method, list[tuple[BestScheduleRecord, float]], str | None]:
    """The method and the rows with their weights (rows are sorted by size, sizes are unique)."""
    by_size = {r.num_samples: r for r in rows}
    if n in by_size:
        return "exact", [(by_size[n], 1.0)], None
    smallest, largest = rows[0], rows[-1]
    if not smallest.num_samples < n < largest.num_samples:
        end = smallest if n < smallest.num_samples else largest
        warning = (
            f"{n} images is outside the searched range [{smallest.num_samples}, {largest.num_samples}] of "
            f"{dataset}; this is the schedule of the nearest searched size, {end.num_samples} (run a search at "
            f"this size for a better answer: prs-search run --dataset {dataset} --num-samples {n} --budget 50)"
        )
        return "nearest", [(end, 1.0)], warning
    hi_index = next(i for i, r in enumerate(rows) if r.num_samples > n)
    lo, hi = rows[hi_index - 1], rows[hi_index]
    t = (math.log(n) - math.log(lo.num_samples)) / (math.log(hi.num_samples) - math.log(lo.num_samples))
    differences = _differences(lo, hi)
    if not differences:
        return "interpolated", [(lo, 1.0 - t), (hi, t)], None
    near = lo if t < 0.5 else hi
    warning = (
        f"the searches at {lo.num_samples} and {hi.num_samples} images differ in {'; '.join(differences)}, so "
        f"their schedules cannot be interpolated; this is the schedule of the size nearer in log scale, "
        f"{near.num_samples}"
    )
    return "nearest", [(near, 1.0)], warning


def _differences(lo: BestScheduleRecord, hi: BestScheduleRecord) -> list[str]:
    pairs = {
        "model": (lo.model, hi.model), "stem": (lo.stem, hi.stem), "epochs": (lo.epochs, hi.epochs),
        "depth": (len(lo.schedule), len(hi.schedule)),
    }  # fmt: skip
    return [f"{name} ({a} vs {b})" for name, (a, b) in pairs.items() if a != b]


def _blend_schedule(weighted: list[tuple[BestScheduleRecord, float]], epochs: int) -> tuple[int, ...]:
    if len(weighted) == 1:
        return weighted[0][0].schedule
    depth = len(weighted[0][0].schedule)
    blended = (sum(w * r.schedule[layer] for r, w in weighted) for layer in range(depth))
    return tuple(min(max(math.floor(e + 0.5), 0), epochs) for e in blended)


def _confidence(row: BestScheduleRecord) -> Confidence | None:
    if row.seeds is None or row.baseline_schedule is None or row.advantage is None:
        return None
    interval = Interval(row.advantage, row.advantage_low, row.advantage_high, row.seeds)
    return Confidence(
        seeds=row.seeds, val_acc_low=row.val_low, val_acc_high=row.val_high, baseline_schedule=row.baseline_schedule,
        advantage=row.advantage, advantage_low=row.advantage_low, advantage_high=row.advantage_high,
        significant=interval.excludes_zero,
    )  # fmt: skip


def _note(method: Method, row: BestScheduleRecord, n: int) -> str:
    if method != "exact":
        return f"no interval exists at {n} images: nothing was measured at this size (the schedule is {method})"
    if row.seeds is None:
        return "the search did not re-evaluate its finalists (--confirm-top 0, or an older search): no interval"
    return (
        f"val_acc is the mean over {row.seeds} seeds with its 95% Student-t interval; the advantage is paired by "
        "seed against the PRS default; test_acc was measured once, for this schedule"
    )


def _provenance(row: BestScheduleRecord, weight: float) -> Provenance:
    return Provenance(
        search_id=row.search_id, search_name=row.search_name, trial_id=row.trial_id,
        num_samples=row.num_samples, val_acc=row.val_acc, weight=weight,
    )  # fmt: skip


def _size_from_fraction(store: ResultsStore, dataset: str, fraction: float) -> int:
    searches, _ = store.list_searches(limit=SEARCHES_SCANNED, dataset=dataset)
    with_fraction = [s for s in searches if s.fraction]
    if not with_fraction:
        raise ConfigError(
            f"no search of {dataset} was run with --fraction, so the size of its training split is not known "
            "here; ask with num_samples instead"
        )
    train_size = _train_size(max(with_fraction, key=lambda s: s.fraction or 0.0))
    size = round(fraction * train_size)
    if size < 1:
        raise ConfigError(f"fraction {fraction} of the {train_size} training images of {dataset} is no image")
    return size


def _train_size(search: SearchRecord) -> int:
    assert search.fraction  # filtered by the caller
    return round(search.num_samples / search.fraction)


def _nothing_found(store: ResultsStore, dataset: str) -> str:
    known = {d.dataset: d for d in store.datasets()}
    if dataset not in known:
        listed = ", ".join(sorted(known)) if known else "none yet"
        return f"no searches for dataset {dataset!r}; datasets with searches: {listed}"
    summary = known[dataset]
    size = summary.sizes[0] if summary.sizes else 5000
    return (
        f"dataset {dataset!r} has {summary.searches} search(es) but none has finished yet; wait for it, or run "
        f"one: prs-search run --dataset {dataset} --num-samples {size} --budget 50"
    )


def _check_dataset(dataset: object) -> str:
    if not isinstance(dataset, str) or not dataset.strip():
        raise ConfigError(f"dataset must be a non-empty name, got {dataset!r}")
    if len(dataset) > 128 or any(ord(c) < 32 for c in dataset):
        raise ConfigError("dataset must be at most 128 printable characters")
    return dataset


def _check_size(num_samples: object, fraction: object) -> None:
    if (num_samples is None) == (fraction is None):
        raise ConfigError("give exactly one of num_samples and fraction for the dataset size")
    if num_samples is not None and (
        isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1
    ):
        raise ConfigError(f"num_samples must be a positive integer, got {num_samples!r}")
    if fraction is not None:
        if isinstance(fraction, bool) or not isinstance(fraction, int | float):
            raise ConfigError(f"fraction must be a number in (0, 1], got {fraction!r}")
        if not 0.0 < fraction <= 1.0:  # also false for NaN
            raise ConfigError(f"fraction must be in (0, 1], got {fraction!r}")


__all__ = [
    "Budget", "Confidence", "Method", "Prediction", "Provenance", "Recommendation", "recommend",
    "recommended_schedule", "searched_answer",
]  # fmt: skip
