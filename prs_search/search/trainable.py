"""The Ray Tune trial: one `prs_search.train.train` run that reports and checkpoints every epoch."""

import logging
import pickle
import re
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

import ray
import torch
from ray import tune

from prs_search.data import Splits
from prs_search.errors import ConfigError
from prs_search.recipe import TrainConfig
from prs_search.schedule import Schedule
from prs_search.search.outcome import TIME_ATTR
from prs_search.search.trial_config import TrainSpec
from prs_search.train import EpochResult, TrainResult, epoch_result, train

STATE_FILE = "trial_state.pt"
NODE_ID = "node_id"  # the Ray node an epoch ran on, reported with its metrics
log = logging.getLogger(__name__)
_TERMINAL_STYLE = re.compile(r"\x1b\[[0-9;]*m")  # torch's message sets its warning in bold


def epoch_metrics(e: EpochResult, status: str = "running") -> dict[str, Any]:
    metrics = asdict(e)
    metrics["switched"] = list(e.switched)
    node = ray.get_runtime_context().get_node_id()
    return {**metrics, TIME_ATTR: e.epoch + 1, "status": status, NODE_ID: node}


def run_trial(config: TrainSpec, splits: Splits, base: dict[str, Any]) -> None:
    """`config` comes from the searcher (schedule, searched hyper-parameters, a replay checkpoint);
    `base` holds what every trial of the search shares (model, stem, epochs, seed)."""
    train_config = TrainConfig(**{**base, **config["train"]})
    schedule = Schedule.of(config["schedule"], train_config.epochs)
    resume = _load_state(tune.get_checkpoint(), config.get("resume_from"))
    if resume is not None and len(resume["history"]) >= train_config.epochs:
        # Finished before the driver died: report the last epoch again so Ray closes the trial.
        tune.report(epoch_metrics(epoch_result(resume["history"][-1]), "completed"))
        return

    def on_epoch(result: EpochResult, get_state: Any) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            torch.save(get_state(), Path(tmp) / STATE_FILE)
            status = "completed" if result.epoch + 1 == train_config.epochs else "running"
            tune.report(epoch_metrics(result, status), checkpoint=tune.Checkpoint.from_directory(tmp))

    result, _ = train(train_config, splits, schedule, on_epoch=on_epoch, resume=resume)
    if result.status == "diverged":
        _report_diverged(result)


def _report_diverged(result: TrainResult) -> None:
    # Reported, not raised: a retry from the last checkpoint would diverge again.
    last = result.history[-1].val_acc if result.history else 0.0
    tune.report({"val_acc": last, "status": "diverged", "error": result.error, TIME_ATTR: result.epochs_run})


def _load_state(checkpoint: tune.Checkpoint | None, replay_path: str | None) -> dict[str, Any] | None:
    """Ray's checkpoint when Ray restarts the trial; the recorded one when the driver replays it."""
    if checkpoint is None and replay_path:
        checkpoint = tune.Checkpoint(replay_path)
    if checkpoint is None:
        return None
    with checkpoint.as_directory() as folder:
        path = Path(folder) / STATE_FILE
        if path.exists():
            return read_state(path)
    if replay_path:  # its results folder was moved or deleted since: the trial is trained again, not lost
        log.warning("the checkpoint %s holds no trial state: this trial starts again from epoch 0", path)
    return None


def read_state(path: Path) -> dict[str, Any]:
    """A trial state saved by `run_trial` (tensors, numbers, strings, lists and dicts: what `train`'s state
    is made of), read with `weights_only=True`: a file planted in the shared storage cannot run code when
    the driver, a resumed trial or the analysis reads it. Anything else -> `ConfigError`."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as err:
        # All of it, on one line: torch says what was refused (an unsupported global) and why loading it
        # anyway could execute code only after its first line.
        reason = " ".join(_TERMINAL_STYLE.sub("", str(err)).split()) or type(err).__name__
        raise ConfigError(
            f"refused the trial checkpoint {path}: not a trial state of tensors and plain values ({reason})"
        ) from None
    if not isinstance(state, dict) or "model" not in state or "history" not in state:
        raise ConfigError(f"refused the trial checkpoint {path}: not a prs-search trial state")
    return state
