"""Trial checkpoints are read with `torch.load(weights_only=True)`: a real trial state (what `train` hands
`on_epoch`) loads, and a file planted in the shared storage that would run code is refused unexecuted."""

import os
from pathlib import Path
from typing import Any

import pytest
import torch

from prs_search.data import load_dataset, make_splits
from prs_search.errors import ConfigError
from prs_search.recipe import TrainConfig
from prs_search.schedule import Schedule
from prs_search.search.trainable import STATE_FILE, _load_state
from prs_search.search.trial_checkpoint import load_trial_state
from prs_search.train import train


class Planted:
    """Unpickling it runs a shell command (what a planted checkpoint would do)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture(scope="module")
def trial_state(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The state of a real (one-epoch, tiny) trial, as `run_trial` checkpoints it."""
    splits = make_splits(load_dataset("digits", tmp_path_factory.mktemp("data")), fraction=0.2, seed=0)
    states: list[dict[str, Any]] = []
    train(
        TrainConfig(model="tiny", epochs=1),
        splits,
        Schedule.of([1, 1, 0, 0], 1),
        on_epoch=lambda r, s: states.append(s()),
    )
    return states[-1]


def test_a_real_trial_state_loads_with_weights_only(trial_state: dict[str, Any], tmp_path: Path) -> None:
    torch.save(trial_state, tmp_path / STATE_FILE)
    for loaded in (load_trial_state(str(tmp_path)), _load_state(None, str(tmp_path))):
        assert loaded is not None and loaded["history"] == trial_state["history"]
        assert loaded["model"].keys() == trial_state["model"].keys()
        tensors = {k: v for k, v in trial_state["model"].items() if isinstance(v, torch.Tensor)}
        assert tensors and all(torch.equal(loaded["model"][k], v) for k, v in tensors.items())


def test_a_planted_checkpoint_is_refused_without_running_it(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    torch.save({"model": Planted(marker), "history": []}, tmp_path / STATE_FILE)
    for load in (lambda: load_trial_state(str(tmp_path)), lambda: _load_state(None, str(tmp_path))):
        with pytest.raises(ConfigError, match="refused the trial checkpoint") as refused:
            load()
        # One line, whole: what was refused and the risk torch explains after its first line.
        message = str(refused.value)
        assert "\n" not in message and "\x1b" not in message, message
        assert "unsupported global" in message.lower() and "arbitrary code execution" in message, message
    assert not marker.exists()


def test_a_replayed_trial_whose_checkpoint_is_gone_starts_again_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A resumed search's unfinished trial whose results folder was deleted is trained from epoch 0 (not
    lost, not an error), with a warning naming the missing checkpoint."""
    gone = str(tmp_path / "deleted" / "checkpoint_000011")
    with caplog.at_level("WARNING", logger="prs_search.search.trainable"):
        assert _load_state(None, gone) is None
    assert any(gone in r.getMessage() and "epoch 0" in r.getMessage() for r in caplog.records)
