"""Training compute of a schedule, predicted from counted epochs: fit once, then any schedule, number of epochs
and training-set size. No torch, so that the API and the cross-size model can use it.

Per image trained, an epoch's FLOPs are a + b k, where k is the number of layers that are attention (or
ramping) in it: the blocks are identical, so a switched layer adds the same b wherever it sits, and a (the
stem, the head, every layer's convolution-mode share) does not depend on which layers switched. This is
exact but for the ramp steps, where a layer computes both paths; the least-squares fit averages them in.
A schedule (e_1, ..., e_L) of E epochs then costs, per image trained per epoch,
sum over epochs of (a + b k) = a E + b sum_l (E - e_l).

Counts come from `prs_search.step_flops` (training steps, forward and backward; not the validation pass).
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from prs_search.errors import ConfigError
from prs_search.field_types import Cost
from prs_search.schemas import EpochPublic

_UNITS = ((1e18, "EFLOP"), (1e15, "PFLOP"), (1e12, "TFLOP"), (1e9, "GFLOP"), (1e6, "MFLOP"))


def format_flops(flops: float | None) -> str:
    """'3.41 TFLOP', '-' for None: three significant digits in the largest unit that keeps a leading digit."""
    if flops is None:
        return "-"
    for scale, unit in _UNITS:
        if flops >= scale:
            return f"{flops / scale:.3g} {unit}"
    return f"{flops:.3g} FLOP"


def images_per_epoch(train_images: int, batch_size: int) -> int:
    """Images a training epoch trains on: the training split in whole batches (the loader drops the rest)."""
    return train_images // batch_size * batch_size


@dataclass(frozen=True)
class EpochCount:
    """One counted epoch: its training FLOPs (or seconds: they follow the same a + b k, less exactly), its
    attention (and ramping) layers, the images it trained on."""

    amount: float
    attention_layers: int
    images: int


def epoch_counts(epochs: Iterable[EpochPublic], images: int, cost: Cost = "flops") -> list[EpochCount]:
    """The counted ones of a trial's stored epochs (their `cost`), each of which trained on `images` images."""
    amounts = ((e, e.flops if cost == "flops" else e.seconds) for e in epochs)
    return [EpochCount(amount, e.attention_layers, images) for e, amount in amounts if amount is not None]


@dataclass(frozen=True)
class CostModel:
    """Training FLOPs per image trained: `base` per epoch, plus `per_attention_layer` per attention layer."""

    base: float
    per_attention_layer: float

    def predict(self, schedule: Sequence[int], epochs: int, images: int) -> float:
        """Training FLOPs of `schedule` (a switch epoch per layer; E or more: a convolution throughout) over
        `epochs` epochs of `images` images each (`images_per_epoch` of the training split)."""
        attention_layer_epochs = sum(epochs - min(max(e, 0), epochs) for e in schedule)
        return images * (self.base * epochs + self.per_attention_layer * attention_layer_epochs)


def fit_cost_model(counts: Iterable[EpochCount]) -> CostModel:
    """Least squares of FLOPs per image on the number of attention layers, over the counted epochs; they
    must cover at least two numbers of attention layers (one alone cannot tell a from b)."""
    rows = list(counts)
    if len({r.attention_layers for r in rows}) < 2:
        raise ConfigError(
            "fitting training compute needs counted epochs with at least two numbers of attention layers, got "
            f"{sorted({r.attention_layers for r in rows}) or 'no counted epoch'}"
        )
    design = np.array([[1.0, r.attention_layers] for r in rows])
    per_image = np.array([r.amount / r.images for r in rows])
    (base, slope), *_ = np.linalg.lstsq(design, per_image, rcond=None)
    return CostModel(float(base), float(slope))
