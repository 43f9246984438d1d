"""The training recipe of one trial, `TrainConfig`: torch-free, so the CLI and the API can show and
check its defaults without loading the trainer (`prs_search.train` trains with it).

The defaults were chosen by measurement on digits with `tiny` (validation accuracy only, never the test
split): docs/recipe.md has the table.
"""

import math
from dataclasses import dataclass, field
from typing import Any

from prs_search.errors import ConfigError


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a trial besides its schedule and data (saved with every result)."""

    model: str = "tiny"
    stem: str = "conv"
    epochs: int = 10
    batch_size: int = 32
    lr: float = 3e-3
    weight_decay: float = 0.05
    warmup_epochs: float = 1.0
    label_smoothing: float = 0.1
    seed: int = 0
    # A switched layer blends from its convolution to self-attention over about this many epochs of
    # optimiser steps (never fewer than `min_ramp_steps`, never past the end of training); 0 = a hard switch.
    ramp_epochs: float = 1.0
    min_ramp_steps: int = 50
    # Learning rate of the mixers' position terms relative to lr: at 1x their locality barely moves from
    # its initial value within a short trial (measured, docs/recipe.md).
    position_lr_scale: float = 10.0
    compile: bool = False
    model_overrides: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Reject values a trial could only fail on later (a space file sets them, or the CLI)."""
        numbers = {
            "epochs": (self.epochs, 1, int), "batch_size": (self.batch_size, 1, int), "lr": (self.lr, 0.0, float),
            "weight_decay": (self.weight_decay, 0.0, float), "warmup_epochs": (self.warmup_epochs, 0.0, float),
            "label_smoothing": (self.label_smoothing, 0.0, float), "seed": (self.seed, 0, int),
            "ramp_epochs": (self.ramp_epochs, 0.0, float), "min_ramp_steps": (self.min_ramp_steps, 0, int),
            "position_lr_scale": (self.position_lr_scale, 0.0, float),
        }  # fmt: skip
        for name, (value, low, kind) in numbers.items():
            if not _is_number(value, kind) or value < low:
                raise ConfigError(f"{name} must be {_KIND_NAMES[kind]} >= {low}, got {value!r}")
        if self.label_smoothing >= 1.0:
            raise ConfigError(f"label_smoothing must be below 1, got {self.label_smoothing}")
        if not isinstance(self.compile, bool):
            raise ConfigError(f"compile must be true or false, got {self.compile!r}")


_KIND_NAMES = {int: "an integer", float: "a number"}


def _is_number(value: object, kind: type) -> bool:
    """A finite int or float (a float field takes ints too; bools are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return False
    return kind is float or isinstance(value, int)
