"""Train / validation / test splits for one trial.

The dataset size the user asks for ("5,000 images of CIFAR-100") is a stratified, seeded subset of the
published training split; the validation split the search tunes on is carved out of that subset, so the
test split stays untouched and is only used to report the final schedule's accuracy.
"""

import logging
from dataclasses import dataclass

import torch

from prs_search.data.datasets import ImageData, RawDataset
from prs_search.data.subsets import stratified_split, stratified_subset
from prs_search.errors import ConfigError

__all__ = ["MIN_VAL_FRACTION", "MIN_VAL_IMAGES", "Splits", "make_splits", "validation_size"]

logger = logging.getLogger(__name__)

# The validation split must be able to tell schedules apart: one image of a 144-image split is 0.007 and
# the standard error of an accuracy near 0.85 is 0.03 there. So it holds at least MIN_VAL_IMAGES images,
# or MIN_VAL_FRACTION of a smaller subset (training on too little would cost more than it helps).
MIN_VAL_IMAGES = 500
MIN_VAL_FRACTION = 0.2


def validation_size(num_samples: int, val_fraction: float = 0.1) -> int:
    """Images held out for validation from a subset of `num_samples`: what is asked (`val_fraction`), but
    never fewer than min(MIN_VAL_IMAGES, MIN_VAL_FRACTION of the subset)."""
    return max(round(val_fraction * num_samples), min(MIN_VAL_IMAGES, round(MIN_VAL_FRACTION * num_samples)))


@dataclass(frozen=True)
class Splits:
    """The three splits of one trial, with the train part's per-channel statistics (in [0, 1] units)."""

    train: ImageData
    val: ImageData
    test: ImageData
    num_classes: int
    hflip: bool
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @property
    def in_chans(self) -> int:
        return self.train.x.shape[1]

    @property
    def img_size(self) -> int:
        return self.train.x.shape[2]

    @property
    def num_samples(self) -> int:
        """The dataset size the user asked for: train and validation together."""
        return len(self.train) + len(self.val)


def make_splits(
    raw: RawDataset,
    *,
    num_samples: int | None = None,
    fraction: float | None = None,
    val_fraction: float = 0.1,
    seed: int = 0,
) -> Splits:
    """Subset `raw.train` to the asked size (all of it when neither size is given), then hold out
    `validation_size(...)` images of that subset, per class, for validation. `raw.test` is passed through."""
    if num_samples is None and fraction is None:
        subset = torch.arange(len(raw.train))
    else:
        subset = stratified_subset(raw.train.y, num_samples=num_samples, fraction=fraction, seed=seed)
    if not 0.0 < val_fraction < 1.0:
        raise ConfigError(f"the validation fraction must be in (0, 1), got {val_fraction}")
    holdout = max(validation_size(len(subset), val_fraction), 1) / len(subset)
    train_pos, val_pos = stratified_split(raw.train.y[subset], holdout, seed=seed)
    train = raw.train.subset(subset[train_pos])
    val = raw.train.subset(subset[val_pos])
    mean, std = channel_stats(train.x)
    logger.info(
        "%s splits: %d train / %d val / %d test (seed %d)",
        raw.name,
        len(train),
        len(val),
        len(raw.test),
        seed,
    )
    return Splits(train, val, raw.test, raw.num_classes, raw.hflip, mean, std)


def channel_stats(x: torch.Tensor, chunk: int = 8192) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and standard deviation of uint8 images, in [0, 1] units."""
    total = torch.zeros(x.shape[1], dtype=torch.float64)
    total_sq = torch.zeros(x.shape[1], dtype=torch.float64)
    # Chunks: a float copy of 50,000 CIFAR images would be 600 MB just to compute six numbers.
    for start in range(0, len(x), chunk):
        part = x[start : start + chunk].to(torch.float64) / 255.0
        total += part.sum(dim=(0, 2, 3))
        total_sq += part.square().sum(dim=(0, 2, 3))
    count = len(x) * x.shape[2] * x.shape[3]
    mean = total / count
    # A constant channel would divide by zero; one grey level is the smallest spread that means anything.
    std = (total_sq / count - mean.square()).clamp_min(0.0).sqrt().clamp_min(1.0 / 255.0)
    return tuple(mean.tolist()), tuple(std.tolist())
