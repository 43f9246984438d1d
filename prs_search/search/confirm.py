"""The finalists' re-evaluation: after the budget, the best complete trials and the PRS default schedule
are retrained with more seeds, as Ray Tune trials on the same workers, and the schedule with the best mean
validation accuracy over its seeds is the one recommended, with a 95% interval and its paired advantage
over the PRS default.

Why: on a noisy validation split the best trial of a search is biased upward (the winner's curse: it won
partly by luck), and a recommendation without an error bar cannot be weighed against the PRS default a
user would otherwise take. Neither Ray Tune nor Optuna re-checks its winner.

Seeds: every trial of a search ran with the search's seed s (subset, validation split, initialisation,
data order). The re-evaluation adds seeds s+1 .. s+m for the initialisation and the data order and keeps
the search's subset and validation split (the answer is for this data at this size), so candidates are
compared seed by seed. A finalist's run at seed s is its search trial itself (`reused`); the PRS default
is trained at seed s too unless a complete search trial already ran it with the same hyper-parameters.
The PRS default trains with the best finalist's hyper-parameters, so the advantage isolates the schedule.

Nothing here reaches Optuna's sampler: the runs are not trials of the study, and the outcome is written to
the study's user attributes only (optuna-dashboard shows them), so TPE's observations stay the search's.
"""

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import optuna
from ray import tune
from ray.tune import Callback
from ray.tune.experiment import Trial as RayTrial

from prs_search.data import Splits
from prs_search.field_types import TrialState
from prs_search.schedule import Schedule
from prs_search.schemas import Confirmation, ConfirmationRunRecord, TrialRecord
from prs_search.search.outcome import METRIC
from prs_search.search.plan import Plan
from prs_search.search.trainable import run_trial
from prs_search.search.trial_config import CandidateRole, ConfirmationConfig, ConfirmationRun, confirmation_config
from prs_search.search.tuner import build_tuner
from prs_search.stats import accuracy_interval, paired_difference
from prs_search.store import ResultsStore, SearchRecord
from prs_search.train import total_flops

log = logging.getLogger(__name__)

BASELINE_KEY = "prs"
STUDY_ATTR = "prs_confirmation"  # the study user attribute that holds the outcome


@dataclass(frozen=True)
class Candidate:
    """A schedule (with its hyper-parameters) to retrain: a finalist trial, or the PRS default."""

    key: str  # the finalist's trial key, or BASELINE_KEY
    role: CandidateRole
    schedule: tuple[int, ...]
    params: dict[str, Any]
    trial: TrialRecord | None  # the search trial it re-evaluates, finished at the search's seed


def candidates(store: ResultsStore, search: SearchRecord, top: int, depth: int) -> tuple[list[Candidate], str]:
    """The `top` best COMPLETE trials with distinct (schedule, hyper-parameters), then the PRS default; and
    the key of the candidate that is the PRS default (a finalist, or the one added)."""
    complete, _ = store.list_trials(search_id=search.id, state=TrialState.COMPLETE, limit=1000)
    ranked = sorted(
        (t for t in complete if t.val_acc is not None and t.epochs_run >= search.epochs),
        key=lambda t: (-(t.val_acc or 0.0), t.seconds, t.id),
    )
    finalists: list[Candidate] = []
    for trial in ranked:
        if len(finalists) == top:
            break
        if all((trial.schedule, trial.params) != (c.schedule, c.params) for c in finalists):
            finalists.append(Candidate(trial.trial_key, "finalist", trial.schedule, dict(trial.params), trial))
    if not finalists:
        return [], BASELINE_KEY
    prs = Schedule.prs(depth, search.epochs).switch_epochs
    params = finalists[0].params
    own = next((c.key for c in finalists if (c.schedule, c.params) == (prs, params)), None)
    if own is not None:
        return finalists, own  # the PRS default is a finalist already: it is its own baseline
    done = next((t for t in ranked if (t.schedule, dict(t.params)) == (prs, params)), None)
    return [*finalists, Candidate(BASELINE_KEY, "baseline", prs, params, done)], BASELINE_KEY


def confirm(
    plan: Plan, store: ResultsStore, search: SearchRecord, stopper: tune.Stopper | None = None
) -> Confirmation | None:
    """Retrain the finalists and the PRS default with `confirm_seeds` more seeds, store every run,
    and conclude; None when there is nothing to re-evaluate (no complete trial). `stopper` (the driver's
    lease) ends the runs early: the finished ones are stored, the others are not (a resume runs them)."""
    request = plan.job
    found, baseline = candidates(store, search, request.confirm_top, plan.depth)
    if not found:
        log.warning("search %s has no complete trial: no finalist to re-evaluate", search.name)
        return None
    seeds = list(range(search.seed, search.seed + request.confirm_seeds + 1))
    _record_reused(store, search, found)
    stored = {(r.candidate, r.seed) for r in store.confirmation_runs(search_id=search.id)}
    todo = [(c, s) for c in found for s in seeds if (c.key, s) not in stored]
    if todo:
        log.info("re-evaluating %d finalist(s) and the PRS default: %d runs", len(found), len(todo))
        _run(plan, store, search, todo, stopper)
    return conclude(store, search, found, seeds, baseline)


def _record_reused(store: ResultsStore, search: SearchRecord, found: list[Candidate]) -> None:
    """A finalist's search trial is its run at the search's seed: stored as such, not retrained."""
    for c in found:
        if c.trial is not None:
            store.add_confirmation_run(
                search_id=search.id, candidate=c.key, role=c.role, source_trial_id=c.trial.id, schedule=c.schedule,
                params=c.params, seed=search.seed, reused=True, state="COMPLETE", val_acc=c.trial.val_acc,
                epochs_run=c.trial.epochs_run, seconds=c.trial.seconds, flops=c.trial.flops,
                checkpoint_path=c.trial.checkpoint_path,
            )  # fmt: skip


def _run(
    plan: Plan,
    store: ResultsStore,
    search: SearchRecord,
    todo: list[tuple[Candidate, int]],
    stopper: tune.Stopper | None,
) -> None:
    configs = [
        ConfirmationRun(
            schedule=list(c.schedule), train={**c.params, "seed": seed}, params=c.params, candidate=c.key,
            role=c.role, source_trial_id=c.trial.id if c.trial else None, seed=seed,
        )
        for c, seed in todo
    ]  # fmt: skip
    tuner = build_tuner(  # no scheduler: every run trains all its epochs
        confirmation_trial, plan, name=f"{search.name}-confirm",
        callback=ConfirmCallback(store, search), trial_dirname=_run_dirname, stopper=stopper,
        param_space={"run": tune.grid_search(configs)}, max_concurrent_trials=plan.job.max_concurrent,
    )  # fmt: skip
    tuner.fit()


def _run_dirname(trial: RayTrial) -> str:
    run = confirmation_config(trial.config)["run"]
    return f"confirm_{run['candidate']}_s{run['seed']}"


def confirmation_trial(config: ConfirmationConfig, splits: Splits, base: dict[str, Any]) -> None:
    """One re-evaluation run: the search's trainable on the grid point `config["run"]`."""
    run_trial(config["run"], splits, base)


class ConfirmCallback(Callback):
    """Stores each re-evaluation run when it ends (Ray pickles callbacks: the store pickles itself)."""

    def __init__(self, store: ResultsStore, search: SearchRecord) -> None:
        self.store, self.search = store, search
        self.flops: dict[str, dict[int, float | None]] = {}  # Ray trial id -> epoch -> its counted FLOPs

    def on_trial_result(
        self, iteration: int, trials: list[RayTrial], trial: RayTrial, result: dict[str, Any], **info: Any
    ) -> None:
        # A run's cost is the sum over its epochs, and only its last result reaches `_store`; an epoch
        # reported again (a run restarted from its checkpoint) replaces its own entry.
        if "epoch" in result:
            self.flops.setdefault(trial.trial_id, {})[int(result["epoch"])] = result.get("flops")

    def on_trial_complete(self, iteration: int, trials: list[RayTrial], trial: RayTrial, **info: Any) -> None:
        self._store(trial, error=None)

    def on_trial_error(self, iteration: int, trials: list[RayTrial], trial: RayTrial, **info: Any) -> None:
        self._store(trial, error=str(trial.get_error() or "the run failed").strip().splitlines()[-1])

    def _store(self, trial: RayTrial, error: str | None) -> None:
        run, result = confirmation_config(trial.config)["run"], trial.last_result or {}
        epochs_run = int(result.get("epoch", -1)) + 1
        per_epoch = self.flops.pop(trial.trial_id, {})
        ok = error is None and result.get("status") == "completed" and epochs_run == self.search.epochs
        self.store.add_confirmation_run(
            search_id=self.search.id, candidate=run["candidate"], role=run["role"],
            source_trial_id=run["source_trial_id"], schedule=tuple(run["schedule"]), params=run["params"],
            seed=run["seed"], reused=False, state="COMPLETE" if ok else "FAIL",
            val_acc=result.get(METRIC) if ok else None,
            epochs_run=max(epochs_run, 0), seconds=float(result.get("time_total_s", 0.0)),
            flops=total_flops(per_epoch.get(epoch) for epoch in range(epochs_run)),
            checkpoint_path=trial.checkpoint.path if trial.checkpoint else None,
            error=None if ok else (error or result.get("error") or "did not finish its epochs"),
        )  # fmt: skip


def conclude(
    store: ResultsStore, search: SearchRecord, found: Sequence[Candidate], seeds: Sequence[int], baseline: str
) -> Confirmation | None:
    """The candidate with the best mean validation accuracy over the seeds every candidate completed."""
    runs = [r for r in store.confirmation_runs(search_id=search.id) if r.state == "COMPLETE" and r.seed in seeds]
    by_key: dict[str, dict[int, float]] = {c.key: {} for c in found}
    for r in runs:
        if r.candidate in by_key and r.val_acc is not None:
            by_key[r.candidate][r.seed] = r.val_acc
    common = [s for s in seeds if all(s in values for values in by_key.values())]
    if not common:
        log.warning("search %s: no seed at which every finalist completed; no re-evaluated choice", search.name)
        return None
    means = {key: accuracy_interval([values[s] for s in common]) for key, values in by_key.items()}
    order = [c.key for c in found]  # ties: the search's own ranking
    chosen = max(order, key=lambda key: (means[key].mean, -order.index(key)))
    winner = next(c for c in found if c.key == chosen)
    advantage = paired_difference([by_key[chosen][s] for s in common], [by_key[baseline][s] for s in common])
    prs = next(c for c in found if c.key == baseline)
    return Confirmation(
        trial_id=winner.trial.id if winner.trial else None, schedule=winner.schedule, seeds=len(common),
        val_acc=means[chosen].mean, val_low=means[chosen].low, val_high=means[chosen].high,
        baseline_schedule=prs.schedule, advantage=advantage.mean, advantage_low=advantage.low,
        advantage_high=advantage.high,
    )  # fmt: skip


def mark_study(storage: optuna.storages.BaseStorage, search: SearchRecord, runs: list[ConfirmationRunRecord],
               choice: Confirmation) -> None:  # fmt: skip
    """Write the outcome into the Optuna study's user attributes (seen in optuna-dashboard, never by TPE)."""
    study = optuna.load_study(study_name=search.study_name, storage=storage)
    per_candidate: dict[str, dict[str, Any]] = {}
    for r in runs:
        entry = per_candidate.setdefault(r.candidate, {"schedule": list(r.schedule), "role": r.role, "val_acc": {}})
        entry["val_acc"][str(r.seed)] = r.val_acc
    for entry in per_candidate.values():
        values = [v for v in entry["val_acc"].values() if v is not None]
        entry["mean"] = asdict(accuracy_interval(values)) if values else None
    study.set_user_attr(STUDY_ATTR, {"candidates": per_candidate, "recommended": choice.model_dump(mode="json")})
