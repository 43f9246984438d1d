"""The data-scale study: accuracy of fixed schedules across dataset sizes (the PRS paper's second result:
small datasets want more convolution, large ones attention earlier).

Every schedule is trained at every size, `repeats` times with seeds S .. S+R-1 (the seed picks the
subset, the validation split, the initialisation and the data order, as in `prs-search train`), and
every run is stored in the results database (`prs_study_runs`). Re-running a study under the same name
skips the runs it already has. Nothing here chooses a schedule, so the test accuracy is only reported.
"""

import csv
import logging
import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from prs_search.data import Splits, load_dataset, make_splits, stratified_subset
from prs_search.errors import ConfigError
from prs_search.recommend import recommended_schedule
from prs_search.schedule import Schedule
from prs_search.store import ResultsStore, StudyRunRecord
from prs_search.train import TrainConfig, build_model, train

RECIPE = TrainConfig()

log = logging.getLogger(__name__)

BEST = "best"
CSV_COLUMNS = (
    "dataset", "fraction", "num_samples", "schedule", "concrete_schedule", "repeats",
    "val_acc_mean", "val_acc_std", "test_acc_mean", "test_acc_std",
)  # fmt: skip


@dataclass(frozen=True)
class DataScaleRequest:
    """Everything `prs-search study data-scale` takes."""

    dataset: str
    fractions: tuple[float, ...]
    schedules: str  # comma-separated schedule forms, split against the model depth (`split_schedules`)
    data_dir: Path
    epochs: int = RECIPE.epochs
    model: str = "tiny"
    stem: str = "conv"
    repeats: int = 1
    seed: int = 0
    batch_size: int = RECIPE.batch_size
    lr: float = RECIPE.lr
    name: str | None = None
    download: bool = False

    def train_config(self, seed: int) -> TrainConfig:
        return TrainConfig(
            model=self.model, stem=self.stem, epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, seed=seed
        )


@dataclass(frozen=True)
class StudyProgress:
    """Where a study is: runs done of all runs, the one running now and its epoch."""

    done: int
    total: int
    current: str
    epoch: int  # epochs finished in the current run
    epochs: int


@dataclass(frozen=True)
class StudyRow:
    """One (dataset size, schedule) cell of the accuracy table, over its repeats."""

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


@dataclass(frozen=True)
class StudyResult:
    name: str
    rows: list[StudyRow]
    runs: list[StudyRunRecord]
    trained: int  # runs trained now (the others were already stored under this study's name)


def parse_fractions(text: str) -> tuple[float, ...]:
    """'0.1,0.25,1.0' -> (0.1, 0.25, 1.0): distinct numbers in (0, 1], in ascending order."""
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        raise ConfigError(f"cannot read the fraction list {text!r}: use numbers in (0, 1], e.g. 0.1,0.25,1.0") from None
    bad = [v for v in values if not 0.0 < v <= 1.0]  # also catches NaN
    if bad:
        raise ConfigError(f"fractions must be in (0, 1], got {', '.join(map(str, bad))}")
    if len(set(values)) != len(values):
        raise ConfigError(f"the fraction list {text!r} repeats a fraction")
    return tuple(sorted(values))


def split_schedules(text: str, depth: int) -> tuple[str, ...]:
    """Split a comma-separated list of schedule forms whose own arguments contain commas.

    'all-conv,linear:3,0,2,2,1,0,best' with depth 4 -> ('all-conv', 'linear:3,0', '2,2,1,0', 'best'):
    `linear:` takes two numbers, an explicit schedule `depth` numbers, every other form none.
    """
    labels: list[str] = []
    current: list[str] = []
    wanted = 0
    for part in (p.strip() for p in text.split(",")):
        if not part:
            raise ConfigError(f"empty entry in the schedule list {text!r}")
        if wanted and _is_int(part):
            current.append(part)
            wanted -= 1
            continue
        _flush(labels, current, wanted, text)
        current = [part]
        wanted = depth - 1 if _is_int(part) else 1 if part.lower().startswith("linear:") else 0
    _flush(labels, current, wanted, text)
    if len(set(labels)) != len(labels):
        raise ConfigError(f"the schedule list {text!r} repeats a schedule")
    return tuple(labels)


def _is_int(text: str) -> bool:
    return text.lstrip("+-").isdigit()


def _flush(labels: list[str], current: list[str], wanted: int, text: str) -> None:
    if not current:
        return
    if wanted:
        raise ConfigError(f"schedule {','.join(current)!r} in {text!r} needs {wanted} more number(s)")
    labels.append(",".join(current))


def resolve_schedule(
    label: str, store: ResultsStore, request: DataScaleRequest, num_samples: int, depth: int
) -> Schedule:
    """A label as a concrete schedule for this size: a schedule form, or the store's `best`."""
    if label.lower() != BEST:
        return Schedule.parse(label, depth, request.epochs)
    schedule, answer = recommended_schedule(
        store, request.dataset, num_samples, model=request.model, depth=depth, epochs=request.epochs
    )
    if answer.warning:
        log.warning("best schedule for %d images: %s", num_samples, answer.warning)
    return schedule


def run_data_scale(
    request: DataScaleRequest, store: ResultsStore, on_progress: Callable[[StudyProgress], None] | None = None
) -> StudyResult:
    """Train every schedule at every size `repeats` times, store every run, and summarise them.

    Every label is resolved at every size before the first run trains, so a bad label or a missing
    `best` fails at once."""
    _validate(request)
    raw = load_dataset(request.dataset, request.data_dir, download=request.download)
    sizes = {f: len(stratified_subset(raw.train.y, fraction=f, seed=request.seed)) for f in request.fractions}
    first = make_splits(raw, fraction=request.fractions[0], seed=request.seed)
    depth = build_model(request.train_config(request.seed), first).depth
    labels = split_schedules(request.schedules, depth)
    plan = {(f, x): resolve_schedule(x, store, request, sizes[f], depth) for f in request.fractions for x in labels}
    name = request.name or _default_name(request.dataset)
    stored = _stored_runs(store, name, request)
    progress = _Progress(on_progress, len(plan) * request.repeats, request.epochs)
    runs: list[StudyRunRecord] = []
    for fraction in request.fractions:
        for seed in range(request.seed, request.seed + request.repeats):
            # Made once per size and seed, and only when something trains there.
            splits = first if (fraction, seed) == (request.fractions[0], request.seed) else None
            for label in labels:
                run = stored.get((sizes[fraction], label, seed))
                if run is None:
                    if splits is None:
                        splits = make_splits(raw, fraction=fraction, seed=seed)
                    progress.start(f"{label} at {sizes[fraction]} images (fraction {fraction}), seed {seed}")
                    run = _train_one(store, name, request, splits, fraction, label, plan[fraction, label], seed,
                                     progress.epoch)  # fmt: skip
                runs.append(run)
                progress.finish_run()
    return StudyResult(name=name, rows=summarize(runs), runs=runs, trained=progress.trained)


class _Progress:
    """Turns the study's loop into `StudyProgress` reports (nothing without a callback)."""

    def __init__(self, callback: Callable[[StudyProgress], None] | None, total: int, epochs: int) -> None:
        self.callback, self.total, self.epochs = callback, total, epochs
        self.done = self.trained = 0
        self.current = ""

    def start(self, current: str) -> None:
        self.current = current
        self.trained += 1
        self.epoch(0)

    def epoch(self, finished: int) -> None:
        if self.callback is not None:
            self.callback(StudyProgress(self.done, self.total, self.current, finished, self.epochs))

    def finish_run(self) -> None:
        self.done += 1
        self.current = ""
        self.epoch(0)


def _train_one(
    store: ResultsStore, name: str, request: DataScaleRequest, splits: Splits, fraction: float, label: str,
    schedule: Schedule, seed: int, on_epoch: Callable[[int], None],
) -> StudyRunRecord:  # fmt: skip
    result, _ = train(
        request.train_config(seed), splits, schedule, evaluate_test=True,
        on_epoch=lambda e, _state: on_epoch(e.epoch + 1),
    )  # fmt: skip
    if result.status != "completed":
        log.warning("%s at %d images, seed %d: %s", label, splits.num_samples, seed, result.error)
    return store.add_study_run(
        study=name, dataset=request.dataset, fraction=fraction, num_samples=splits.num_samples,
        schedule_label=label, schedule=schedule.switch_epochs, epochs=request.epochs, model=request.model,
        stem=request.stem, seed=seed, status=result.status, val_acc=result.val_acc, test_acc=result.test_acc,
        seconds=result.seconds,
    )  # fmt: skip


def _validate(request: DataScaleRequest) -> None:
    if not request.fractions:
        raise ConfigError("give at least one fraction")
    if request.epochs < 1:
        raise ConfigError(f"--epochs must be at least 1, got {request.epochs}")
    if request.repeats < 1:
        raise ConfigError(f"--repeats must be at least 1, got {request.repeats}")


def _default_name(dataset: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return f"{dataset.replace(':', '_').replace('/', '_')}-data-scale-{stamp}"


def _stored_runs(
    store: ResultsStore, name: str, request: DataScaleRequest
) -> dict[tuple[int, str, int], StudyRunRecord]:
    """The runs a study of this name already has, keyed by (size, label, seed); they must be comparable."""
    runs = store.study_runs(study=name)
    asked = {"dataset": request.dataset, "epochs": request.epochs, "model": request.model, "stem": request.stem}
    for run in runs:
        for key, value in asked.items():
            if getattr(run, key) != value:
                raise ConfigError(
                    f"study {name!r} exists with {key}={getattr(run, key)!r}, not {value!r}: pass the same options "
                    "to continue it, or choose another --name"
                )
    if runs:
        log.info("study %s: %d runs already stored are reused", name, len(runs))
    return {(r.num_samples, r.schedule_label, r.seed): r for r in runs}


def summarize(runs: Sequence[StudyRunRecord]) -> list[StudyRow]:
    """One row per (size, schedule label), by size, labels in the order first seen; std over repeats
    (sample standard deviation; 0.0 for a single run)."""
    groups: dict[tuple[int, str], list[StudyRunRecord]] = {}
    for run in runs:
        groups.setdefault((run.num_samples, run.schedule_label), []).append(run)
    rows = []
    for (num_samples, label), mine in sorted(groups.items(), key=lambda item: item[0][0]):
        tests = [r.test_acc for r in mine if r.test_acc is not None]
        rows.append(
            StudyRow(
                dataset=mine[0].dataset, fraction=mine[0].fraction, num_samples=num_samples, label=label,
                schedule=",".join(map(str, mine[0].schedule)), repeats=len(mine),
                val_mean=statistics.fmean(r.val_acc for r in mine), val_std=_std([r.val_acc for r in mine]),
                test_mean=statistics.fmean(tests) if tests else None, test_std=_std(tests) if tests else None,
            )
        )  # fmt: skip
    return rows


def _std(values: list[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else 0.0


def write_table(rows: Sequence[StudyRow], path: Path) -> None:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(CSV_COLUMNS)
        for r in rows:
            writer.writerow(
                (r.dataset, "" if r.fraction is None else r.fraction, r.num_samples, r.label, r.schedule, r.repeats,
                 _num(r.val_mean), _num(r.val_std), _num(r.test_mean), _num(r.test_std))
            )  # fmt: skip


def _num(value: float | None) -> str:
    return "" if value is None or math.isnan(value) else f"{value:.4f}"


def latest_study(store: ResultsStore, dataset: str, model: str | None = None) -> tuple[str, list[StudyRow]] | None:
    """The newest study of `dataset` (of `model` when it has one), summarised; None without any."""
    runs = store.study_runs(dataset=dataset)
    preferred = [r for r in runs if r.model == model] or runs
    if not preferred:
        return None
    name = preferred[-1].study
    return name, summarize([r for r in runs if r.study == name])
