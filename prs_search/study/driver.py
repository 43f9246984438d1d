"""The data-scale study: accuracy of fixed schedules across dataset sizes (the PRS paper's second result:
small datasets want more convolution, large ones attention earlier).

Every schedule is trained at every size, `repeats` times with seeds S .. S+R-1 (the seed picks the
subset, the validation split, the initialisation and the data order, as in `prs-search train`, so two
schedules with the same seed are a pair), and every run is stored in the results database
(`prs_study_runs`). Re-running a study under the same name skips the runs it already has; `report_only`
trains nothing and summarises the runs stored so far, naming the missing ones. Nothing here
chooses a schedule, so the test accuracy is only reported. How long each size trains, and the schedules
rescaled to it, is the study's protocol (`protocol.py`).

Beside the schedules, the plain CNN reference (`prs_search.baseline`) trains at every size and seed for
the same optimiser steps as the hybrid there (the bar a hybrid must come near to be worth searching).

Runs go seed by seed (every size and schedule of seed S before seed S+1), so an interrupted study
already spans every size. `jobs` > 1 (or a Ray address) runs them as Ray tasks, `jobs` at once
(`runs.py`); every finished run is stored as it arrives.

Per (size, schedule) the summary has mean train, validation and test accuracy with 95% t-intervals over
seeds, and the paired difference in test accuracy against `all-conv` and against `prs` (`summary.py`).
"""

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from prs_search import baseline
from prs_search.analysis.fourier import FourierProfile
from prs_search.analysis.sources import DataSpec
from prs_search.errors import ConfigError
from prs_search.recipe import ConvVariant
from prs_search.recommend import recommended_schedule
from prs_search.schedule import Schedule
from prs_search.search_request import default_name
from prs_search.store import ResultsStore, StudyRunRecord
from prs_search.study.fourier_trend import StudyFourier
from prs_search.study.protocol import (
    DataScaleRequest,
    Protocol,
    first_splits,
    make_protocol,
    rescale,
    split_schedules,
    validate,
)
from prs_search.study.runs import RunOutcome, RunSpec, default_threads, run_inline, run_on_ray
from prs_search.study.summary import ALL_ATTENTION, ALL_CONV, REFERENCES, StudyRow, canonical, summarize
from prs_search.train import build_model

log = logging.getLogger(__name__)

BEST = "best"
CNN = baseline.NAME  # the label of the plain CNN reference's runs
FOURIER_ENDS = (ALL_CONV, ALL_ATTENTION)  # the analysis compares every schedule with these two


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
    first run trains, so a bad label, a missing `best` or a mismatched re-run fails at once. With
    `report_only` the summary is of the stored runs alone (a note names the others)."""
    validate(request)
    first = first_splits(request)  # per size, the first seed's splits: they fix the steps per epoch
    protocol = make_protocol(request, first)
    probe = build_model(request.train_config(request.seed, request.epochs), next(iter(first.values()))[0])
    labels = split_schedules(request.schedules, probe.depth)
    if CNN in map(canonical, labels):
        raise ConfigError(f"{CNN!r} is the plain CNN reference's label, not a schedule: drop it from --schedules")
    plan = {
        (s.num_samples, x): rescale(resolve_schedule(x, store, request, s.num_samples, probe.depth), s.epochs)
        for s in protocol.sizes
        for x in labels
    }
    name = request.name or default_name(request.dataset, "data-scale")
    stored = _stored_runs(store, name, request, probe.conv, protocol, plan)
    order = _run_order(request, protocol, labels)
    fourier = _fourier_targets(request, labels, protocol)
    todo = [key for key in order if key not in stored]
    if request.report_only and len(todo) == len(order):
        raise ConfigError(
            f"study {name!r} has no stored runs of these sizes and schedules to report: run it "
            "without --report-only first (or pass the --name, --sizes and --schedules it ran with)"
        )
    specs = [] if request.report_only else [_spec(request, protocol, plan, key, key in fourier) for key in todo]
    progress = _Progress(on_progress, len(order), len(order) - len(todo), in_process=not request.on_ray)
    for spec, outcome in _execute(request, specs, progress):
        stored[spec.key] = _store(store, name, request, probe.conv, spec, outcome)
        progress.finish(spec)
    runs = [stored[key] for key in order if key in stored]
    profiles, missing = _profiles(runs, fourier)
    unstored = _unstored_note(todo, len(order)) if request.report_only else []
    notes = reference_notes(labels) + _single_seed_note(request) + missing + unstored
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


def _unstored_note(todo: Sequence[tuple[int, str, int]], total: int) -> list[str]:
    """What a report-only study leaves out: its runs not stored yet, by size and seed."""
    if not todo:
        return []
    seeds: dict[int, list[int]] = {}  # per size, the seed of each missing run
    for num_samples, _, seed in todo:
        seeds.setdefault(num_samples, []).append(seed)
    where = "; ".join(
        f"{n} images, seed{'s' if len(set(s)) > 1 else ''} {', '.join(map(str, sorted(set(s))))} ({len(s)} runs)"
        for n, s in sorted(seeds.items())
    )
    return [
        f"report only: {len(todo)} of {total} runs are not stored yet, so their cells are missing or have fewer "
        f"seeds ({where}); the same command without --report-only trains them"
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
