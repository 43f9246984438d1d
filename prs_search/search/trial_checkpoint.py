"""A stored trial's trained model, rebuilt from its Ray checkpoint and the search's SQL rows.

One place for what the search's final evaluation, `prs-search analyze fourier --search` and
`prs-search report` all need: the trial's training config, its last checkpointed state, and the
model in the modes (convolution / attention per layer) it had when that state was saved.
"""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ray import tune

from prs_search.errors import ConfigError
from prs_search.model import HybridViT, model_for_shape
from prs_search.recipe import TrainConfig
from prs_search.schedule import Schedule
from prs_search.search.trainable import STATE_FILE, read_state
from prs_search.store import SearchRecord, TrialRecord


def run_train_config(search: SearchRecord, params: dict[str, Any]) -> TrainConfig:
    """What a run of the search trained with: the search's shared settings overridden by its parameters."""
    base = {
        "model": search.model, "stem": search.stem, "epochs": search.epochs, "seed": search.seed,
        "conv": search.architecture.get("conv"),  # absent: recorded before the variants existed (shift)
    }  # fmt: skip
    return TrainConfig(**{**base, **params})


def load_trial_state(checkpoint_path: str) -> dict[str, Any]:
    """The state `prs_search.train` saved in a trial's Ray checkpoint folder (local or remote)."""
    try:
        with tune.Checkpoint(checkpoint_path).as_directory() as folder:
            return read_state(Path(folder) / STATE_FILE)
    except FileNotFoundError:
        raise ConfigError(f"the trial checkpoint {checkpoint_path} is gone (no {STATE_FILE} there)") from None


def load_trial_model(search: SearchRecord, trial: TrialRecord) -> HybridViT:
    """The trial's model at its last checkpointed epoch, in eval mode, on the CPU."""
    if not trial.checkpoint_path:
        raise ConfigError(f"trial {trial.trial_key} of search {search.name!r} has no checkpoint")
    return load_run_model(search, trial.schedule, trial.params, trial.checkpoint_path)


def load_run_model(
    search: SearchRecord, schedule: Sequence[int], params: dict[str, Any], checkpoint_path: str
) -> HybridViT:
    """The model of a run of `search` (a trial, or a re-evaluation run) from its checkpoint, in eval mode."""
    state = load_trial_state(checkpoint_path)
    config = run_train_config(search, params)
    shape = search.architecture
    model = model_for_shape(
        config, img_size=shape["img_size"], in_chans=shape["in_chans"], num_classes=shape["num_classes"]
    )
    # The layers that had switched by the checkpointed epoch must be attention before the weights load.
    last_epoch = len(state["history"]) - 1
    model.set_attention_layers(Schedule.of(schedule, config.epochs).attention_at(last_epoch))
    model.load_state_dict(state["model"])
    return model.eval()
