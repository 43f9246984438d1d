"""The data-scale study: accuracy of fixed schedules across dataset sizes (the PRS paper's second result:
small datasets want more convolution, large ones attention earlier).

Every schedule is trained at every size, `repeats` times with seeds S .. S+R-1 (the seed picks the
subset, the validation split, the initialisation and the data order, as in `prs-search train`, so two
schedules with the same seed are a pair), and every run is stored in the results database
(`prs_study_runs`). Re-running a study under the same name skips the runs it already has. Nothing here
chooses a schedule, so the test accuracy is only reported.

Two protocols, always written into the outputs:
- fixed epochs (the paper's): every size trains E epochs, so a smaller subset also takes fewer steps;
- a fixed optimiser-step budget N: size s trains E_s = max(1, round(N / steps_per_epoch_s)) epochs, with
  steps_per_epoch_s what the trainer takes (its training split // batch size, batch capped at the split).
Schedules are written for the reference E and every switch epoch e becomes round(e * E_s / E), rounded
half up as `recommend` rescales: prs stays linear from E_s/2 to 0, all-conv is E_s, all-attention 0.

Beside the schedules, the plain CNN reference (`prs_search.baseline`) trains at every size and seed for
the same optimiser steps as the hybrid there (the bar a hybrid must come near to be worth searching).

Runs go seed by seed (every size and schedule of seed S before seed S+1), so an interrupted study
already spans every size. `jobs` > 1 (or a Ray address) runs them as Ray tasks, `jobs` at once
(`study_runs`); every finished run is stored as it arrives.

Per (size, schedule) the summary has mean train, validation and test accuracy with 95% t-intervals over
seeds, and the paired difference in test accuracy against `all-conv` and against `prs` (`prs_search.stats`).
"""

import logging
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from prs_search import baseline
from prs_search.analysis.fourier import DEFAULT_READING, FourierProfile, Reading
from prs_search.analysis.fourier_trend import StudyFourier
from prs_search.analysis.sources import DataSpec
from prs_search.analysis.study_runs import RunOutcome, RunSpec, default_threads, run_inline, run_on_ray
from prs_search.analysis.summary import ALL_ATTENTION, ALL_CONV, REFERENCES, StudyRow, canonical, summarize
from prs_search.data import DeviceLoader, Splits
from prs_search.errors import ConfigError
from prs_search.recipe import RECIPE, ConvVariant, TrainConfig
from prs_search.recommend import recommended_schedule
from prs_search.schedule import Schedule
from prs_search.store import ResultsStore, StudyRunRecord
from prs_search.train import build_model

log = logging.getLogger(__name__)

BEST = "best"
CNN = baseline.NAME  # the label of the plain CNN reference's runs
FOURIER_ENDS = (ALL_CONV, ALL_ATTENTION)  # the analysis compares every schedule with these two
DEFAULT_FRACTIONS = (0.1, 0.25, 0.5, 1.0)
MIN_GPUS, MAX_GPUS = 1e-4, 64  # Ray counts GPUs in steps of 1e-4; the search's own bound above
RESCALE_RULE = "switch epochs are written for E and rescaled to E_s as round(e * E_s / E), half up"


@dataclass(frozen=True)
class DataScaleRequest:
    """Everything `prs-search study data-scale` takes. Sizes: exactly one of `fractions` and `sizes`."""

    dataset: str
    schedules: str  # comma-separated schedule forms, split against the model depth (`split_schedules`)
    data_dir: Path
    fractions: tuple[float, ...] = ()
    sizes: tuple[int, ...] = ()  # images (train + validation), as `make_splits(num_samples=...)`
    epochs: int = RECIPE.epochs  # E: of every run, or with `steps` the reference the schedules are written for
    steps: int | None = None  # N: a fixed optimiser-step budget per run instead of fixed epochs
    model: str = RECIPE.model
    stem: str = "conv"
    conv: ConvVariant | None = None  # None: the preset's
    reference: bool = True  # the plain CNN at every size and seed
    repeats: int = 1
    seed: int = 0
    batch_size: int = RECIPE.batch_size
    lr: float | None = None  # the preset's
    name: str | None = None
    download: bool = False
    fourier: bool | None = None  # None: when all-conv and all-attention are both among the schedules
    reading: Reading = DEFAULT_READING
    fourier_images: int = 512
    jobs: int = 1  # runs at once; > 1 as Ray tasks
    gpus_per_job: float = 0.0  # Ray GPUs per run (a fraction packs runs on one GPU)
    threads: int | None = None  # torch threads per run (None: this machine's cores / jobs)
    ray_address: str | None = None  # join this Ray cluster (implies Ray even with one job)

    def train_config(self, seed: int, epochs: int) -> TrainConfig:
        return TrainConfig(
            model=self.model, stem=self.stem, conv=self.conv, epochs=epochs, batch_size=self.batch_size,
            lr=self.lr, seed=seed,
        )  # fmt: skip

    @property
    def on_ray(self) -> bool:
        return self.jobs > 1 or self.ray_address is not None or self.gpus_per_job > 0


@dataclass(frozen=True)
class StudySize:
    """One dataset size and what the protocol makes of it."""

    num_samples: int
    fraction: float | None  # None: asked as a number of images
    train_images: int
    steps_per_epoch: int
    epochs: int  # E_s


@dataclass(frozen=True)
class Protocol:
    """How long every size trains: fixed epochs (`step_budget` None) or a fixed optimiser-step budget."""

    reference_epochs: int  # E
    step_budget: int | None  # N
    batch_size: int
    sizes: tuple[StudySize, ...]  # ascending

    @property
    def kind(self) -> str:
        return "fixed-epochs" if self.step_budget is None else "fixed-steps"

    def size(self, num_samples: int) -> StudySize | None:
        return next((s for s in self.sizes if s.num_samples == num_samples), None)

    def short(self) -> str:
        """For a plot's title."""
        if self.step_budget is None:
            return f"fixed epochs E = {self.reference_epochs}"
        per_size = ", ".join(f"{s.num_samples}: {s.epochs}" for s in self.sizes)
        return f"fixed budget N = {self.step_budget} steps (epochs per size {per_size})"

    def describe(self) -> str:
        """The protocol in one paragraph, for the console and the Markdown header."""
        per_size = "; ".join(
            f"{s.num_samples} images: {s.epochs} epochs x {s.steps_per_epoch} steps = {s.epochs * s.steps_per_epoch}"
            for s in self.sizes
        )
        if self.step_budget is None:
            return (
                f"fixed epochs (the paper's protocol): E = {self.reference_epochs} at every size, batch "
                f"{self.batch_size}, so smaller subsets take fewer optimiser steps ({per_size})."
            )
        return (
            f"fixed optimiser-step budget N = {self.step_budget}, batch {self.batch_size}: each size trains "
            f"E_s = max(1, round(N / steps per epoch)) epochs ({per_size}); {RESCALE_RULE} "
            f"(E = {self.reference_epochs}), so prs stays linear E_s/2 -> 0, all-conv = E_s, all-attention = 0."
        )


@dataclass(frozen=True)
class StudyProgress:
    """Where a study is: runs done of all runs, the one running now and its epoch."""

    done: int
    total: int
    current: str
    epoch: int  # epochs finished in the current run
    epochs: int  # of the current run


@dataclass(frozen=True)
class StudyResult:
    name: str
    rows: list[StudyRow]
    runs: list[StudyRunRecord]
    trained: int  # runs trained now (the others were already stored under this study's name)
    protocol: Protocol
    labels: tuple[str, ...]
    fourier: list[StudyFourier]
    notes: list[str]  # what the outputs leave out, and why
    conv: ConvVariant  # the hybrid's, resolved (the preset's unless asked)


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


def parse_sizes(text: str) -> tuple[int, ...]:
    """'250,500,4000' -> (250, 500, 4000): distinct positive numbers of images, in ascending order."""
    try:
        values = [int(part) for part in text.split(",")]
    except ValueError:
        raise ConfigError(f"cannot read the size list {text!r}: use numbers of images, e.g. 250,500,1000") from None
    bad = [v for v in values if v < 1]
    if bad:
        raise ConfigError(f"sizes must be positive numbers of images, got {', '.join(map(str, bad))}")
    if len(set(values)) != len(values):
        raise ConfigError(f"the size list {text!r} repeats a size")
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


def _half_up(x: float) -> int:
    return math.floor(x + 0.5)


def epochs_for_budget(steps: int, steps_per_epoch: int) -> int:
    """E_s for a budget of `steps` optimiser steps: max(1, round(steps / steps_per_epoch)), half up."""
    return max(1, _half_up(steps / steps_per_epoch))


def rescale(schedule: Schedule, epochs: int) -> Schedule:
    """`schedule` moved to `epochs` total epochs: e -> round(e * epochs / E), half up (identity at E)."""
    return Schedule(tuple(_half_up(e * epochs / schedule.epochs) for e in schedule.switch_epochs), epochs)


def steps_per_epoch(splits: Splits, batch_size: int) -> int:
    """Optimiser steps per epoch on `splits`, counted by the trainer's own loader (it drops the last
    incomplete batch and caps the batch at the split's size)."""
    return len(DeviceLoader(splits.train, batch_size, mean=splits.mean, std=splits.std, train=True))


def resolve_schedule(
    label: str, store: ResultsStore, request: DataScaleRequest, num_samples: int, depth: int
) -> Schedule:
    """A label as a concrete schedule of the reference E epochs: a schedule form, or the store's `best`."""
    if canonical(label) != BEST:
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
    """Train every schedule (and the plain CNN) at every size `repeats` times, store every run, and
    summarise them.

    Every label is resolved at every size, and the stored runs checked against the protocol, before the
    first run trains, so a bad label, a missing `best` or a mismatched re-run fails at once."""
    _validate(request)
    first = _first_splits(request)  # per size, the first seed's splits: they fix the steps per epoch
    protocol = _protocol(request, first)
    probe = build_model(request.train_config(request.seed, request.epochs), next(iter(first.values()))[0])
    labels = split_schedules(request.schedules, probe.depth)
    if CNN in map(canonical, labels):
        raise ConfigError(f"{CNN!r} is the plain CNN reference's label, not a schedule: drop it from --schedules")
    plan = {
        (s.num_samples, x): rescale(resolve_schedule(x, store, request, s.num_samples, probe.depth), s.epochs)
        for s in protocol.sizes
        for x in labels
    }
    name = request.name or _default_name(request.dataset)
    stored = _stored_runs(store, name, request, probe.conv, protocol, plan)
    order = _run_order(request, protocol, labels)
    fourier = _fourier_targets(request, labels, protocol)
    specs = [_spec(request, protocol, plan, key, key in fourier) for key in order if key not in stored]
    progress = _Progress(on_progress, len(order), len(order) - len(specs), in_process=not request.on_ray)
    for spec, outcome in _execute(request, specs, progress):
        stored[spec.key] = _store(store, name, request, probe.conv, spec, outcome)
        progress.finish(spec)
    runs = [stored[key] for key in order]
    profiles, missing = _profiles(runs, fourier)
    notes = reference_notes(labels) + _single_seed_note(request) + missing
    shown = labels + ((CNN,) if request.reference else ())
    return StudyResult(name, summarize(runs), runs, len(specs), protocol, shown, profiles, notes, probe.conv)


def _run_order(request: DataScaleRequest, protocol: Protocol, labels: Sequence[str]) -> list[tuple[int, str, int]]:
    """(size, label, seed) of every run, seed by seed: an interrupted study already spans every size."""
    shown = [*labels, *((CNN,) if request.reference else ())]
    seeds = range(request.seed, request.seed + request.repeats)
    return [(size.num_samples, label, seed) for seed in seeds for size in protocol.sizes for label in shown]


def _spec(
    request: DataScaleRequest, protocol: Protocol, plan: dict[tuple[int, str], Schedule], key: tuple[int, str, int],
    fourier: bool,
) -> RunSpec:  # fmt: skip
    num_samples, label, seed = key
    size = protocol.size(num_samples)
    assert size is not None  # keys come from the protocol's sizes
    # A size asked as a fraction is passed on as such (not as its number of images): exactly `train`'s subset.
    data = DataSpec(request.dataset, size.fraction, size.num_samples if size.fraction is None else None, seed)
    return RunSpec(
        key=key, data=data, data_dir=request.data_dir, download=request.download,
        config=request.train_config(seed, size.epochs), schedule=plan.get((num_samples, label)),
        cnn_steps=size.epochs * size.steps_per_epoch, threads=request.threads or default_threads(request.jobs),
        fourier=fourier, reading=request.reading, fourier_images=request.fourier_images,
    )  # fmt: skip


def _execute(request: DataScaleRequest, specs: Sequence[RunSpec], progress: "_Progress") -> Iterator[
    tuple[RunSpec, RunOutcome]
]:  # fmt: skip
    """The runs' outcomes as they finish: in this process, or as Ray tasks (started here or joined)."""
    if not request.on_ray:
        yield from run_inline(specs, progress.start)
        return
    if not specs:
        return
    import ray

    from prs_search.search import cluster

    ours = not ray.is_initialized()  # a caller's own Ray session is left running
    cluster.connect(request.ray_address, num_cpus=request.jobs)
    try:
        cluster.check_resources(1.0, request.gpus_per_job)
        yield from run_on_ray(specs, request.jobs, request.gpus_per_job, progress.start)
    finally:
        if ours:
            cluster.shutdown()


def _profiles(
    runs: Sequence[StudyRunRecord], targets: set[tuple[int, str, int]]
) -> tuple[list[StudyFourier], list[str]]:
    """The stored Fourier profiles of the analysed runs, by size (then the schedules as listed), and a note
    for each analysed run without one (it diverged, or an earlier version stored it without its profile)."""
    profiles, missing = [], []
    for run in sorted(runs, key=lambda r: r.num_samples):  # stable: the schedules stay in their order
        if (run.num_samples, run.schedule_label, run.seed) not in targets:
            continue
        if run.fourier is None:
            missing.append(
                f"no Fourier profile of {run.schedule_label} at {run.num_samples} images (seed {run.seed}): that "
                "run diverged, or was stored by an earlier version that did not keep profiles (use a new --name)"
            )
            continue
        schedule = Schedule(tuple(run.schedule), run.epochs)
        profile = FourierProfile.from_json(run.fourier)
        profiles.append(StudyFourier(run.num_samples, run.schedule_label, run.seed, schedule, profile))
    return profiles, missing


def _first_splits(request: DataScaleRequest) -> dict[int, tuple[Splits, float | None]]:
    """Per size in images, ascending: the first seed's splits and the fraction it was asked as (None: in images)."""
    asked: list[tuple[int | None, float | None]] = [(n, None) for n in request.sizes]
    asked += [(None, f) for f in request.fractions]
    first: dict[int, tuple[Splits, float | None]] = {}
    for num_samples, fraction in asked:
        splits = DataSpec(request.dataset, fraction, num_samples, request.seed).splits(
            request.data_dir, request.download
        )
        if splits.num_samples in first:
            raise ConfigError(f"two of the sizes asked give {splits.num_samples} images: drop one of them")
        first[splits.num_samples] = (splits, fraction)
    return dict(sorted(first.items()))


def _protocol(request: DataScaleRequest, first: dict[int, tuple[Splits, float | None]]) -> Protocol:
    sizes = []
    for num_samples, (splits, fraction) in first.items():
        per_epoch = steps_per_epoch(splits, request.batch_size)
        epochs = request.epochs if request.steps is None else epochs_for_budget(request.steps, per_epoch)
        sizes.append(StudySize(num_samples, fraction, len(splits.train), per_epoch, epochs))
    return Protocol(request.epochs, request.steps, request.batch_size, tuple(sizes))


def _fourier_targets(request: DataScaleRequest, labels: Sequence[str], protocol: Protocol) -> set[tuple[int, str, int]]:
    """(size, label, seed) of the runs whose model is analysed: every schedule at the smallest and the
    largest size, first seed; empty when the analysis is off (by default: without both ends among the
    schedules, all-conv and all-attention, which the others are read against)."""
    present = {canonical(x) for x in labels}
    ends = all(x in present for x in FOURIER_ENDS)
    if request.fourier and not ends:
        raise ConfigError(
            f"--fourier compares the schedules with {' and '.join(FOURIER_ENDS)}: put both in --schedules, or "
            "pass --no-fourier"
        )
    if not (ends if request.fourier is None else request.fourier):
        return set()
    sizes = {protocol.sizes[0].num_samples, protocol.sizes[-1].num_samples}
    return {(n, x, request.seed) for n in sizes for x in labels}


def reference_notes(labels: Sequence[str]) -> list[str]:
    """Why a column of paired differences is empty: its reference schedule is not in the study."""
    present = {canonical(x) for x in labels}
    return [
        f"no {ref} among the schedules: the paired differences against {ref} are empty (add {ref} to --schedules)"
        for ref in REFERENCES
        if ref not in present
    ]


def _single_seed_note(request: DataScaleRequest) -> list[str]:
    if request.repeats > 1:
        return []
    return ["one seed per cell (--repeats 1): no confidence intervals, which need at least 2 seeds"]


class _Progress:
    """Turns the study's loop into `StudyProgress` reports (nothing without a callback). Epochs are known
    of a run in this process only (`in_process`): a Ray task reports when it is done."""

    def __init__(
        self, callback: Callable[[StudyProgress], None] | None, total: int, done: int, in_process: bool
    ) -> None:
        self.callback, self.total, self.done, self.in_process = callback, total, done, in_process
        self.running: dict[tuple[int, str, int], str] = {}
        self.epochs = 0  # of the run in this process (the CNN counts steps, not epochs: 0)
        self._report(0)

    def start(self, spec: RunSpec) -> Callable[[int], None]:
        """A run started; the callback its epochs report to."""
        n, label, seed = spec.key
        self.running[spec.key] = f"{label} at {n} images, seed {seed}"
        self.epochs = spec.config.epochs if self.in_process and spec.schedule is not None else 0
        self._report(0)
        return self._report

    def finish(self, spec: RunSpec) -> None:
        self.running.pop(spec.key, None)
        self.done += 1
        self.epochs = 0
        self._report(0)

    def _report(self, epoch: int) -> None:
        if self.callback is not None:
            current = "; ".join(self.running.values())
            self.callback(StudyProgress(self.done, self.total, current, epoch, self.epochs))


def _store(
    store: ResultsStore, name: str, request: DataScaleRequest, conv: ConvVariant, spec: RunSpec, outcome: RunOutcome
) -> StudyRunRecord:
    num_samples, label, seed = spec.key
    if outcome.status != "completed":
        log.warning("%s at %d images, seed %d: %s", label, num_samples, seed, outcome.error)
    hybrid = spec.schedule is not None
    return store.add_study_run(
        study=name, dataset=request.dataset, fraction=spec.data.fraction, num_samples=num_samples,
        schedule_label=label, schedule=spec.schedule.switch_epochs if spec.schedule is not None else (),
        epochs=spec.config.epochs,
        model=request.model if hybrid else CNN, stem=request.stem, conv=conv if hybrid else None, seed=seed,
        status=outcome.status, val_acc=outcome.val_acc, test_acc=outcome.test_acc, train_acc=outcome.train_acc,
        seconds=outcome.seconds, fourier=None if outcome.profile is None else outcome.profile.to_json(),
    )  # fmt: skip


def _validate(request: DataScaleRequest) -> None:
    if bool(request.fractions) == bool(request.sizes):
        raise ConfigError("give the dataset sizes either as --sizes (images) or as --fractions, not both")
    if request.epochs < 1:
        raise ConfigError(f"--epochs must be at least 1, got {request.epochs}")
    if request.steps is not None and request.steps < 1:
        raise ConfigError(f"--steps must be at least 1, got {request.steps}")
    if request.repeats < 1:
        raise ConfigError(f"--repeats must be at least 1, got {request.repeats}")
    if request.jobs < 1:
        raise ConfigError(f"--jobs must be at least 1, got {request.jobs}")
    if not request.gpus_per_job >= 0:  # also NaN
        raise ConfigError(f"--gpus-per-trial must be >= 0, got {request.gpus_per_job}")
    if request.threads is not None and request.threads < 1:
        raise ConfigError(f"--threads must be at least 1, got {request.threads}")
    if request.gpus_per_job and not MIN_GPUS <= request.gpus_per_job <= MAX_GPUS:
        raise ConfigError(
            f"--gpus-per-trial must be 0 or between {MIN_GPUS} and {MAX_GPUS}, got {request.gpus_per_job}"
        )
    if request.ray_address is not None:
        from prs_search.search import cluster

        cluster.check_address(request.ray_address)  # before the data and the models: a wrong address at once


def _default_name(dataset: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return f"{dataset.replace(':', '_').replace('/', '_')}-data-scale-{stamp}"


def _stored_runs(
    store: ResultsStore, name: str, request: DataScaleRequest, conv: ConvVariant, protocol: Protocol,
    plan: dict[tuple[int, str], Schedule],
) -> dict[tuple[int, str, int], StudyRunRecord]:  # fmt: skip
    """The runs a study of this name already has, keyed by (size, label, seed); they must be comparable:
    the same data and model (the plain CNN's: the same data), and at a size of this request the epochs
    (and for a schedule the switch epochs) that this protocol gives (a run keeps the epochs it trained)."""
    runs = store.study_runs(study=name)
    hybrid = {"dataset": request.dataset, "model": request.model, "stem": request.stem, "conv": conv}
    for run in runs:
        asked = hybrid if run.model != CNN else {"dataset": request.dataset}
        for key, value in asked.items():
            if getattr(run, key) != value:
                raise ConfigError(
                    f"study {name!r} exists with {key}={getattr(run, key)!r}, not {value!r}: pass the same options "
                    "to continue it, or choose another --name"
                )
        size = protocol.size(run.num_samples)
        planned = plan.get((run.num_samples, run.schedule_label))
        if size is None or (run.model != CNN and planned is None):
            continue  # not in this request: kept, not compared
        wanted = planned.switch_epochs if planned is not None else ()
        if (run.epochs, tuple(run.schedule)) != (size.epochs, wanted):
            raise ConfigError(
                f"study {name!r} trained {run.schedule_label} at {run.num_samples} images for {run.epochs} epochs "
                f"({_epochs_text(run.schedule)}), but {protocol.short()} gives {size.epochs} epochs "
                f"({_epochs_text(wanted)}): pass the --epochs/--steps it was run with to continue it, or choose "
                "another --name"
            )
    if runs:
        log.info("study %s: %d runs already stored are reused", name, len(runs))
    return {(r.num_samples, r.schedule_label, r.seed): r for r in runs}


def _epochs_text(schedule: Sequence[int]) -> str:
    return ",".join(map(str, schedule)) or "no schedule"
