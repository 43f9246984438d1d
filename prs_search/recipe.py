"""The training recipe of one trial, `TrainConfig`: torch-free, so the CLI and the API can show and
check its defaults without loading the trainer (`prs_search.train` trains with it).

The defaults were chosen by measurement on digits with `tiny` (validation accuracy only, never the test
split): docs/recipe.md has the table.
"""

import math
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from prs_search.errors import ConfigError

# The mixers' convolution (prs_search.model.mixer): `shift`, Cordonnier's heads of width dim/9 (each
# kernel offset carries dim/9 channels), or `dense`, a full dim -> dim kernel (a real CNN layer).
ConvVariant = Literal["shift", "dense"]
CONV_VARIANT_NAMES: tuple[str, ...] = get_args(ConvVariant)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a trial besides its schedule and data (saved with every result)."""

    model: str = "small"
    stem: str = "conv"
    epochs: int = 10
    batch_size: int = 32
    lr: float | None = None  # peak AdamW lr; None: the preset's (PRESET_RECIPES), filled in on construction
    weight_decay: float = 0.05
    warmup_epochs: float = 1.0
    label_smoothing: float = 0.1
    # Random-crop padding in pixels (the crop is the image's size), 0: flips only. None: the preset's, and
    # where the preset has none, 1/8 of the image side (torchvision's CIFAR standard: 4 of 32).
    crop_padding: int | None = None
    seed: int = 0
    # A switched layer blends from its convolution to self-attention over about this many epochs of
    # optimiser steps (never fewer than `min_ramp_steps`, never past the end of training); 0 = a hard switch.
    ramp_epochs: float = 1.0
    min_ramp_steps: int = 50
    # Learning rate of the mixers' position terms relative to lr: at 1x their locality barely moves from
    # its initial value within a short trial (measured, docs/recipe.md).
    position_lr_scale: float = 10.0
    compile: bool = False
    conv: ConvVariant | None = None  # None: the preset's own
    model_overrides: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Reject values a trial could only fail on later (a space file sets them, or the CLI)."""
        for name, value in {**_UNSET_DEFAULTS, **PRESET_RECIPES.get(self.model, {})}.items():
            if getattr(self, name) is None:  # frozen: this is the one place these fields are filled in
                object.__setattr__(self, name, value)
        numbers = {
            "epochs": (self.epochs, 1, int), "batch_size": (self.batch_size, 1, int), "lr": (self.peak_lr, 0.0, float),
            "weight_decay": (self.weight_decay, 0.0, float), "warmup_epochs": (self.warmup_epochs, 0.0, float),
            "label_smoothing": (self.label_smoothing, 0.0, float), "seed": (self.seed, 0, int),
            "ramp_epochs": (self.ramp_epochs, 0.0, float), "min_ramp_steps": (self.min_ramp_steps, 0, int),
            "position_lr_scale": (self.position_lr_scale, 0.0, float),
        }  # fmt: skip
        for name, (value, low, kind) in numbers.items():
            if not _is_number(value, kind) or value < low:
                raise ConfigError(f"{name} must be {_KIND_NAMES[kind]} >= {low}, got {value!r}")
        if self.crop_padding is not None and (not _is_number(self.crop_padding, int) or self.crop_padding < 0):
            raise ConfigError(f"crop_padding must be an integer >= 0 (or unset), got {self.crop_padding!r}")
        if self.label_smoothing >= 1.0:
            raise ConfigError(f"label_smoothing must be below 1, got {self.label_smoothing}")
        if self.conv is not None and self.conv not in CONV_VARIANT_NAMES:
            raise ConfigError(f"conv must be one of {', '.join(CONV_VARIANT_NAMES)}, got {self.conv!r}")
        if not isinstance(self.compile, bool):
            raise ConfigError(f"compile must be true or false, got {self.compile!r}")

    @property
    def peak_lr(self) -> float:
        """The peak learning rate this config trains with (`lr`, filled in from the preset if unset)."""
        assert self.lr is not None  # __post_init__ fills it in
        return self.lr


# The recipe fields that depend on the preset, measured (docs/recipe.md): `tiny` on digits wants lr 3e-3;
# `small` on CIFAR-10 subsets lr 1e-3 (3e-3 lost 4 points of validation accuracy) and no random crop (a
# shift of up to 4 px moves its 8x8 token grid by up to a whole token: it fitted 800 images to 57 %
# instead of 88 % in 1,250 steps, and validated 7 points lower). A field given explicitly wins.
PRESET_RECIPES: dict[str, dict[str, Any]] = {"tiny": {"lr": 3e-3}, "small": {"lr": 1e-3, "crop_padding": 0}}
_UNSET_DEFAULTS: dict[str, Any] = {"lr": 1e-3}  # for presets without their own value

_KIND_NAMES = {int: "an integer", float: "a number"}


def _is_number(value: object, kind: type) -> bool:
    """A finite int or float (a float field takes ints too; bools are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return False
    return kind is float or isinstance(value, int)


RECIPE = TrainConfig()  # the defaults, for the CLI and the API to show
