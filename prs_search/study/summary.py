"""The data-scale study's summary: one row per (size, schedule) with 95% intervals over seeds and the
paired differences against all-conv and prs; read back from stored runs for the report too.

Pure arithmetic over `StudyRunRecord`s: `driver.py` trains the runs.
"""

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, replace

from prs_search.stats import Interval, accuracy_interval, paired_difference
from prs_search.store import ResultsStore, StudyRunRecord

ALL_CONV, PRS, ALL_ATTENTION = "all-conv", "prs", "all-attention"
REFERENCES = (ALL_CONV, PRS)  # every schedule is compared, seed by seed, with these two


def canonical(label: str) -> str:
    """A label as the named schedules are matched ('All-Conv' is all-conv)."""
    return label.strip().lower()


@dataclass(frozen=True)
class StudyRow:
    """One (dataset size, schedule) cell of the accuracy table, over its repeats (seeds).

    `train`/`val`/`test`: mean and 95% t-interval over seeds (`train` over the runs that measured it:
    after training, without augmentation); `vs_all_conv`/`vs_prs`: the paired difference in test
    accuracy against that schedule at this size (None for the reference itself, or without it)."""

    dataset: str
    fraction: float | None
    num_samples: int
    label: str
    schedule: str  # the concrete switch epochs trained, e.g. "4,3,1,0"
    repeats: int
    val_mean: float
    val_std: float
    test_mean: float | None
    test_std: float | None
    epochs: int | None = None
    val: Interval | None = None
    test: Interval | None = None
    vs_all_conv: Interval | None = None
    vs_prs: Interval | None = None
    train: Interval | None = None

    def versus(self, reference: str) -> Interval | None:
        return self.vs_all_conv if reference == ALL_CONV else self.vs_prs

    def accuracy(self, split: str) -> Interval | None:
        """The 'val' or 'test' interval; a row built from means alone (the report's searched sizes) gives
        its bare mean, without bounds."""
        interval, mean = (self.val, self.val_mean) if split == "val" else (self.test, self.test_mean)
        if interval is not None or mean is None:
            return interval
        return Interval(mean, None, None, self.repeats)


def summarize(runs: Sequence[StudyRunRecord]) -> list[StudyRow]:
    """One row per (size, schedule label), by size, labels in the order first seen. Means with 95%
    t-intervals over seeds (std: the sample standard deviation, 0.0 for a single run), and each label's
    paired difference in test accuracy against all-conv and prs at the same size (common seeds only)."""
    groups: dict[tuple[int, str], list[StudyRunRecord]] = {}
    for run in runs:
        groups.setdefault((run.num_samples, run.schedule_label), []).append(run)
    rows = []
    for (num_samples, label), mine in sorted(groups.items(), key=lambda item: item[0][0]):
        vals = [r.val_acc for r in mine]
        tests = [r.test_acc for r in mine if r.test_acc is not None]
        trains = [r.train_acc for r in mine if r.train_acc is not None]
        val, test = accuracy_interval(vals), accuracy_interval(tests) if tests else None
        rows.append(
            StudyRow(
                dataset=mine[0].dataset, fraction=mine[0].fraction, num_samples=num_samples, label=label,
                schedule=",".join(map(str, mine[0].schedule)), repeats=len(mine), val_mean=val.mean,
                val_std=_std(vals), test_mean=None if test is None else test.mean,
                test_std=_std(tests) if tests else None, epochs=mine[0].epochs, val=val, test=test,
                train=accuracy_interval(trains) if trains else None,
            )
        )  # fmt: skip
    return [_with_differences(row, groups) for row in rows]


def seeds_per_cell(rows: Sequence[StudyRow]) -> str:
    """How many seeds the cells have: "3", or "1-3" for a study reported before it is complete."""
    counts = sorted({r.repeats for r in rows}) or [0]
    return str(counts[0]) if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"


def _with_differences(row: StudyRow, groups: dict[tuple[int, str], list[StudyRunRecord]]) -> StudyRow:
    mine = _tests_by_seed(groups[row.num_samples, row.label])
    versus: dict[str, Interval | None] = {}
    for ref in REFERENCES:
        reference = next(
            (runs for (n, x), runs in groups.items() if n == row.num_samples and canonical(x) == ref), None
        )
        if reference is None or canonical(row.label) == ref:
            versus[ref] = None
            continue
        theirs = _tests_by_seed(reference)
        seeds = sorted(mine.keys() & theirs.keys())
        versus[ref] = paired_difference([mine[s] for s in seeds], [theirs[s] for s in seeds]) if seeds else None
    return replace(row, vs_all_conv=versus[ALL_CONV], vs_prs=versus[PRS])


def _tests_by_seed(runs: Sequence[StudyRunRecord]) -> dict[int, float]:
    return {r.seed: r.test_acc for r in runs if r.test_acc is not None}


def _std(values: list[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else 0.0


def latest_study(store: ResultsStore, dataset: str, model: str | None = None) -> tuple[str, list[StudyRow]] | None:
    """The newest study of `dataset` (of `model` when it has one), summarised; None without any."""
    runs = store.study_runs(dataset=dataset)
    preferred = [r for r in runs if r.model == model] or runs
    if not preferred:
        return None
    name = preferred[-1].study
    return name, summarize([r for r in runs if r.study == name])
