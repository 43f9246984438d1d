"""`run_search`: resolve the request, open the store, start or resume the search, run Ray Tune, evaluate.

The SQL store and the Optuna study (in the same database) are the source of truth. Ray's experiment
folder is only where checkpoints live: a resumed search starts a fresh Tuner for the remaining budget,
and the searcher first continues the trials the dead driver left running (see `searcher.py`).
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import optuna
from ray import tune
from ray.tune.experiment import Trial as RayTrial
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler
from ray.tune.search import ConcurrencyLimiter

from prs_search.data import Splits
from prs_search.errors import ConfigError
from prs_search.field_types import SearchStatus, TrialState
from prs_search.known import check_known
from prs_search.schemas import Confirmation, NewSearch
from prs_search.search import cluster
from prs_search.search.callbacks import SearchProgress, StoreCallback, SuggestionRecorder
from prs_search.search.closing import close_running_trials, optuna_storage
from prs_search.search.confirm import confirm, mark_study
from prs_search.search.driver_lease import DriverLease, StopReason, hold_lease
from prs_search.search.outcome import TIME_ATTR
from prs_search.search.plan import Plan, make_plan
from prs_search.search.searcher import PRSOptunaSearch, Replay
from prs_search.search.trainable import run_trial
from prs_search.search.trial_checkpoint import load_run_model, load_trial_model
from prs_search.search.trial_config import trial_config
from prs_search.search.tuner import build_tuner
from prs_search.search.warm_start import warm_params, warm_start
from prs_search.search_request import SearchJob, default_search_name
from prs_search.settings import get_settings
from prs_search.store import BestScheduleRecord, ResultsStore, SearchRecord
from prs_search.store.db import PATIENT_RETRIES
from prs_search.train import default_device, evaluate

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SearchSummary:
    search: SearchRecord
    counts: dict[str, int]
    best_schedule: list[int] | None
    best_val_acc: float | None
    test_acc: float | None
    seconds: float
    recommended: BestScheduleRecord | None = None  # this search's answer, when it is the stored one


def run_search(request: SearchJob, on_progress: Callable[[SearchProgress], None] | None = None) -> SearchSummary:
    """Run (or continue) the search `request` asks for, where it says; the summary when it stops."""
    started = time.monotonic()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # progress is ours to show
    cluster.check_address(request.ray_address)  # a bad address fails in a second, before the data loads
    check_known(request)
    plan = make_plan(request)
    store = ResultsStore(request.database_url, retries=PATIENT_RETRIES)  # outlives a database restart
    existing = _find_search(store, plan)  # its conflicts are said before Ray starts
    if existing is not None and existing.status == SearchStatus.FINISHED:
        log.info("search %s is already finished", existing.name)
        return _summary(store, existing, started)
    warm = warm_start(store, plan) if existing is None else None  # an impossible --warm-start fails here
    # Ray before the search row: a bad address must not leave a search behind that never ran.
    cluster.connect(request.ray_address)
    cluster.check_resources(request.cpus_per_trial, request.gpus_per_trial)
    if existing is None:
        new = plan.new_search(request.name or default_search_name(request))
        existing = store.create_search(new.model_copy(update={"warm_started": warm}))
    with hold_lease(store, existing, request) as lease:  # one driver per search, or a ConflictError
        return _run_held(plan, store, existing, on_progress, lease, started)


def _run_held(
    plan: Plan, store: ResultsStore, search: SearchRecord, on_progress: Callable[[SearchProgress], None] | None,
    lease: DriverLease, started: float,
) -> SearchSummary:  # fmt: skip
    """The search, run by the driver that holds its lease."""
    request = plan.job
    replay, done = _unfinished(store, search)
    store.set_search_status(search_id=search.id, status=SearchStatus.RUNNING)
    try:
        _fit(plan, store, search, replay, done, on_progress, stopper=lease.stopper)
    except KeyboardInterrupt:
        store.set_search_status(search_id=search.id, status=SearchStatus.INTERRUPTED)
        raise
    if lease.stopped is not None:
        return _stop(store, search, lease.stopped, started)
    counts = store.trial_counts(search_id=search.id)
    if sum(counts[s] for s in TrialState if s.is_finished) < request.budget:
        store.set_search_status(
            search_id=search.id, status=SearchStatus.INTERRUPTED, error="stopped before the budget was spent"
        )
        return _summary(store, store.get_search(name_or_id=search.id) or search, started)
    choice = None
    if request.confirm_top and request.confirm_seeds:
        choice = confirm(plan, store, search, stopper=lease.stopper)
    tested = None if lease.stopped is not None else _final_evaluation(store, search, plan.splits, choice)
    if lease.stopped is not None:  # during the re-evaluation or the test: neither becomes an answer
        return _stop(store, search, lease.stopped, started)
    if tested is not None:
        store.set_test_result(search_id=search.id, trial_id=tested.trial_id, test_acc=tested.test_acc)
    store.update_best_schedule(search_id=search.id, confirmation=choice)
    if choice is not None:
        mark_study(optuna_storage(store), search, store.confirmation_runs(search_id=search.id), choice)
    finished = store.set_search_status(search_id=search.id, status=SearchStatus.FINISHED)
    return _summary(store, finished, started)


def _stop(store: ResultsStore, search: SearchRecord, reason: StopReason, started: float) -> SearchSummary:
    """End a search its lease stopped (cancelled, or the API that started it is gone); finished trials and
    finished re-evaluation runs stay."""
    if reason.status == SearchStatus.CANCELLED:
        close_running_trials(store, search, reason.message)
    store.set_search_status(search_id=search.id, status=reason.status, error=reason.message)
    return _summary(store, store.get_search(name_or_id=search.id) or search, started)


def _find_search(store: ResultsStore, plan: Plan) -> SearchRecord | None:
    """The stored search this request continues (same --name, or --resume), or None for a new one; a
    stored one asked for with other options, run by another driver now, or nothing to resume -> one error."""
    request = plan.job
    name = request.name or (_latest_resumable(store, request, plan.splits) if request.resume else None)
    existing = store.get_search(name_or_id=name) if name else None
    if existing is None:
        if request.resume:
            raise ConfigError(f"nothing to resume: no search named {name!r}" if name else "nothing to resume")
        return None
    _check_same(existing, plan.new_search(existing.name))
    if existing.status != SearchStatus.FINISHED:  # refused in a second; `acquire_driver` enforces it
        store.refuse_if_driven(search_id=existing.id, ttl_s=get_settings().driver_lease_ttl_s)
    return existing


def _latest_resumable(store: ResultsStore, request: SearchJob, splits: Splits) -> str | None:
    """The newest search of this dataset and size that can continue: a cancelled or failed one would only
    be refused, hiding an older interrupted one."""
    searches, _ = store.list_searches(limit=1000)
    for s in searches:  # newest first
        if not s.status.is_closed and s.dataset == request.dataset and s.num_samples == splits.num_samples:
            return s.name
    return None


def _check_same(existing: SearchRecord, asked: NewSearch) -> None:
    """A stored search continues only with what it was asked for (`NewSearch.SAME_ON_RESUME`, and the conv
    variant); None in the store: recorded before the field existed, so anything matches it."""
    pairs = [(key, getattr(existing, key), getattr(asked, key)) for key in NewSearch.SAME_ON_RESUME]
    # A search recorded before the conv variants existed ran the only one there was.
    pairs.append(("conv", existing.architecture.get("conv", "shift"), asked.architecture["conv"]))
    for key, stored, value in pairs:
        if stored not in (value, None):
            raise ConfigError(
                f"search {existing.name!r} exists with {key}={stored!r}, not {value!r}: "
                "pass the same options to resume (or show) it, or choose another --name"
            )


def _unfinished(store: ResultsStore, search: SearchRecord) -> tuple[list[Replay], int]:
    """Trials a dead driver left running (to continue) and how many trials are already finished."""
    if search.status == "pending":
        return [], 0
    try:
        study = optuna.load_study(study_name=search.study_name, storage=optuna_storage(store))
    except KeyError:  # the driver died before the searcher created the study
        return [], 0
    replay, done = [], 0
    for trial in study.get_trials(deepcopy=False):
        if trial.state.is_finished():
            done += 1
            continue
        row = store.find_trial(search_id=search.id, trial_key=str(trial.number))
        if row is None:
            # Asked but never recorded (the driver died inside suggest()): nothing ran. Left RUNNING, the
            # searcher adopts it for a new suggestion, so it is neither lost nor charged to the budget.
            continue
        replay.append(Replay(trial.number, list(row.schedule), dict(row.params), row.checkpoint_path))
    log.info("resuming %s: %d finished, %d to continue", search.name, done, len(replay))
    return replay, done


def _fit(
    plan: Plan, store: ResultsStore, search: SearchRecord, replay: list[Replay], done: int,
    on_progress: Callable[[SearchProgress], None] | None, stopper: tune.Stopper | None = None,
) -> None:  # fmt: skip
    request = plan.job
    if done >= request.budget and not replay:
        return  # every trial finished before the last driver stopped (e.g. in the re-evaluation): nothing to run
    searcher = PRSOptunaSearch(
        plan.space, plan.depth, request.epochs, request.budget, optuna_storage(store), search.study_name,
        request.seed, on_suggest=SuggestionRecorder(store, search.id), replay=replay,
        initial=warm_params(plan, search.warm_started) + plan.initial,
        sampler=request.sampler,
    )  # fmt: skip
    search_alg = ConcurrencyLimiter(searcher, request.max_concurrent) if request.max_concurrent else searcher
    grace = request.grace_period or max(1, request.epochs // 4)
    scheduler = (
        ASHAScheduler(
            time_attr=TIME_ATTR, max_t=request.epochs, grace_period=min(grace, request.epochs),
            reduction_factor=request.reduction_factor,
        )
        if request.early_stopping
        else FIFOScheduler()  # every trial trains all its epochs (a baseline for the benchmarks)
    )  # fmt: skip
    tuner = build_tuner(
        run_trial, plan, name=search.name,
        callback=StoreCallback(store, search.id, request.budget, request.epochs, on_progress),
        trial_dirname=_trial_dirname, stopper=stopper, search_alg=search_alg, scheduler=scheduler,
        num_samples=request.budget - done,
    )  # fmt: skip
    tuner.fit()


def _trial_dirname(trial: RayTrial) -> str:
    # Ray's default folder name spells out the whole config; ours names the Optuna trial it runs.
    return f"trial_{trial_config(trial.config)['optuna_number']:04d}_{trial.trial_id}"


@dataclass(frozen=True)
class Tested:
    trial_id: int | None
    test_acc: float


def _final_evaluation(
    store: ResultsStore, search: SearchRecord, splits: Splits, choice: Confirmation | None
) -> Tested | None:
    """Test accuracy of the chosen schedule's model at the search's seed: measured once, kept apart from
    validation (None: nothing to test). The choice is the re-evaluation's when there was one, else the best
    trial."""
    trial_id: int | None
    if choice is None:
        best = store.best_trial(search_id=search.id)
        if best is None or not best.checkpoint_path:
            log.warning("search %s has no complete trial with a checkpoint to evaluate", search.name)
            return None
        trial_id, model = best.id, load_trial_model(search, best)
    else:
        run = next(
            (r for r in store.confirmation_runs(search_id=search.id)
             if r.seed == search.seed and r.state == "COMPLETE" and tuple(r.schedule) == choice.schedule
             and r.source_trial_id == choice.trial_id and r.checkpoint_path),
            None,
        )  # fmt: skip
        if run is None or run.checkpoint_path is None:
            log.warning("search %s: the chosen schedule has no checkpoint at seed %d to test", search.name, search.seed)
            return None
        trial_id, model = choice.trial_id, load_run_model(search, run.schedule, run.params, run.checkpoint_path)
    device = default_device()
    _, test_acc = evaluate(model.to(device), splits.test, splits, device)
    return Tested(trial_id, test_acc)


def _summary(store: ResultsStore, search: SearchRecord, started: float) -> SearchSummary:
    best = store.best_trial(search_id=search.id)
    counts = {str(k): v for k, v in store.trial_counts(search_id=search.id).items()}
    return SearchSummary(
        search=search, counts=counts, best_schedule=list(best.schedule) if best else None,
        best_val_acc=best.val_acc if best else None, test_acc=search.test_acc,
        seconds=time.monotonic() - started,
        recommended=next(iter(store.best_schedules(search_id=search.id)), None),
    )  # fmt: skip


__all__ = ["SearchProgress", "SearchSummary", "run_search"]
