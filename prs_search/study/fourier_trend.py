"""Does the time a layer spends as a convolution move its Fourier response between the two ends?

The PRS paper's third claim: a layer's share of training as a convolution interpolates its feature maps'
frequency response between the CNN-like (all-conv: high frequencies kept) and the ViT-like
(all-attention: a low-pass). Per sub-layer and dataset size, over the schedules analysed there, this
is read as one number: Spearman's rank correlation between the block's convolution share (its switch
epoch / the run's epochs) and the sub-layer's delta log amplitude at the highest frequency. +1: more
time as a convolution, more high frequency, in the same order for every schedule; 0: no order; NaN:
the shares or the amplitudes do not vary. `monotone` says whether the amplitudes, averaged per distinct
share, never decrease as the share grows.
"""

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from scipy.stats import spearmanr

from prs_search.analysis.fourier import FourierProfile
from prs_search.schedule import Schedule


@dataclass(frozen=True)
class StudyFourier:
    """The Fourier profile of one trained run's model (on that run's validation split), with its schedule."""

    num_samples: int
    label: str
    seed: int
    schedule: Schedule  # as trained
    profile: FourierProfile

    @property
    def file_stem(self) -> str:
        """A file name on any file system: 'linear:0,5' -> 'fourier_500_linear_0_5'."""
        return f"fourier_{self.num_samples}_{re.sub(r'[^A-Za-z0-9.-]+', '_', self.label)}"

    def conv_share(self, block: int) -> float:
        """The share of training block `block` (from 0) spent as a convolution."""
        return self.schedule.switch_epochs[block] / self.schedule.epochs


@dataclass(frozen=True)
class SublayerTrend:
    num_samples: int
    sublayer: str
    schedules: int  # analysed runs at this size
    rho: float  # NaN when undefined
    monotone: bool


def trends(runs: Sequence[StudyFourier], sublayers_per_block: int = 2) -> list[SublayerTrend]:
    """Per size (ascending) and sub-layer: the rank correlation of convolution share and high frequency."""
    out = []
    for n in sorted({r.num_samples for r in runs}):
        mine = [r for r in runs if r.num_samples == n]
        labels = mine[0].profile.labels()
        for i, sublayer in enumerate(labels):
            shares = [r.conv_share(i // sublayers_per_block) for r in mine]
            highs = [r.profile.high_frequency()[i] for r in mine]
            out.append(SublayerTrend(n, sublayer, len(mine), _spearman(shares, highs), _monotone(shares, highs)))
    return out


def _spearman(x: Sequence[float], y: Sequence[float]) -> float:
    if len(set(x)) < 2 or len(set(y)) < 2:
        return math.nan
    return float(spearmanr(x, y).statistic)


def _monotone(x: Sequence[float], y: Sequence[float]) -> bool:
    """The mean y per distinct x, in ascending x, never decreases."""
    groups: dict[float, list[float]] = {}
    for a, b in zip(x, y, strict=True):
        groups.setdefault(a, []).append(b)
    means = [sum(v) / len(v) for _, v in sorted(groups.items())]
    return len(means) > 1 and all(later >= earlier for earlier, later in zip(means, means[1:], strict=False))
