"""Relative log amplitude of Fourier-transformed feature maps (Park & Kim 2022, "How do vision
transformers work?"; used by the PRS paper to show a model move between CNN-like and ViT-like).

For a feature map of H x H tokens and C channels: the 2-D FFT of every channel, its log amplitude, the
mean over channels (and images), read along the diagonal of the frequency plane, minus the value at
frequency 0. Convolutions act as high-pass filters and self-attention as a low-pass filter (Park &
Kim), so the delta at the highest frequency read is the headline number per sub-layer. The log is
taken before averaging over channels and images, as the reference does.

Two readings of the diagonal. Diagonal bin k of an H x H map is the true frequency (2k/H, 2k/H) pi.
- `park-kim` (the default, to compare with the paper's figures): the reference code takes
  `fftshift(...).diag()[H // 2:]`, i.e. bins k = 0 .. H - H // 2 - 1, and labels them
  `linspace(0, 1, count)` pi. For even H its "1.0 pi" is the bin before Nyquist, true (1 - 2/H) pi,
  and the Nyquist bin (a checkerboard's energy) is not read at all.
- `nyquist`: bins k = 0 .. H // 2, labelled with their true frequency, so the last is pi for even H.
For odd H there is no Nyquist bin and both read the same bins (with different labels).

Pure tensor maths: no model, no data loading.
"""

import csv
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from prs_search.errors import ConfigError

Reading = Literal["park-kim", "nyquist"]
READINGS: tuple[Reading, ...] = ("park-kim", "nyquist")
DEFAULT_READING: Reading = "park-kim"
SUBLAYERS = ("mixer", "mlp")  # the maps of one block, in forward order: after each residual add

# Added to |FFT| before the log (Park & Kim's value): a frequency with no energy at all reads as
# log(1e-6) ~ -13.8 instead of minus infinity.
EPS = 1e-6
CSV_COLUMNS = ("layer", "sublayer", "mode", "reading", "frequency", "true_frequency", "delta_log_amplitude")


def check_reading(text: str) -> Reading:
    """A reading's name, as the options take it."""
    if text not in READINGS:
        raise ConfigError(f"unknown Fourier reading {text!r}: use {' or '.join(READINGS)}")
    return text


def diagonal_bins(size: int, reading: Reading) -> torch.Tensor:
    """The diagonal bins k that `reading` takes from a `size` x `size` spectrum."""
    count = size - size // 2 if reading == "park-kim" else size // 2 + 1
    return torch.arange(count)


def diagonal_frequencies(size: int, reading: Reading) -> tuple[torch.Tensor, torch.Tensor]:
    """(labelled, true) frequencies of the bins `reading` takes, in units of pi (float64)."""
    bins = diagonal_bins(size, reading)
    true = bins.double() * 2 / size
    if reading == "nyquist":
        return true, true
    return torch.linspace(0.0, 1.0, len(bins), dtype=torch.float64), true


def diagonal_log_amplitude(maps: torch.Tensor, reading: Reading) -> torch.Tensor:
    """(B, C, H, H) feature maps -> (B, K): log |FFT2| on the bins of `reading`, mean over channels."""
    if maps.ndim != 4 or maps.shape[-1] != maps.shape[-2]:
        raise ConfigError(f"feature maps must be B x C x H x H (a square grid), got {tuple(maps.shape)}")
    spectrum = torch.fft.fft2(maps.float())
    k = diagonal_bins(maps.shape[-1], reading).to(maps.device)
    diagonal = spectrum[..., k, k]  # (B, C, K)
    return (diagonal.abs() + EPS).log().mean(dim=1)


def relative(log_amplitude: torch.Tensor) -> torch.Tensor:
    """Each row minus its value at frequency 0 (the last axis is frequency)."""
    return log_amplitude - log_amplitude[..., :1]


def sublayer_label(index: int) -> str:
    """'1 mixer', '1 mlp', '2 mixer', ... for sub-layer `index` (from 0)."""
    return f"{index // len(SUBLAYERS) + 1} {SUBLAYERS[index % len(SUBLAYERS)]}"


@dataclass(frozen=True)
class FourierProfile:
    """Relative log amplitude per sub-layer and diagonal frequency, averaged over `images` images.

    Sub-layers in forward order: block 1 after its mixer's residual add, block 1 after its MLP's (the
    block's output), block 2 ... A sub-layer's mode is its block's (the MLP follows that block's mixer).
    """

    attention: tuple[bool, ...]  # per block: was its mixer self-attention (else convolution)?
    reading: Reading
    grid: int  # H of the H x H token grid
    frequencies: tuple[float, ...]  # as `reading` labels them, in units of pi, from 0 to (about) 1
    true_frequencies: tuple[float, ...]  # what those bins really are, in units of pi
    delta: tuple[tuple[float, ...], ...]  # [sub-layer][frequency], 0.0 at frequency 0
    images: int

    def __post_init__(self) -> None:
        if len(self.delta) != len(SUBLAYERS) * len(self.attention):
            raise ValueError(f"{len(self.delta)} rows of deltas for {len(self.attention)} blocks")

    @property
    def depth(self) -> int:
        """Blocks."""
        return len(self.attention)

    def modes(self) -> tuple[str, ...]:
        """Per block: 'attention' or 'conv'."""
        return tuple("attention" if a else "conv" for a in self.attention)

    def sublayer_modes(self) -> tuple[str, ...]:
        return tuple(mode for mode in self.modes() for _ in SUBLAYERS)

    def labels(self) -> tuple[str, ...]:
        return tuple(sublayer_label(i) for i in range(len(self.delta)))

    def high_frequency(self) -> tuple[float, ...]:
        """Per sub-layer: the delta at the highest frequency read."""
        return tuple(row[-1] for row in self.delta)

    def high_label(self) -> str:
        """What `high_frequency` is, in words (for table headers and axes)."""
        label, true = self.frequencies[-1], self.true_frequencies[-1]
        if abs(label - true) < 1e-9:
            return f"delta log amplitude at {label:.2f} pi ({self.reading} reading)"
        return f"delta log amplitude at {label:.2f} pi ({self.reading} reading: true {true:.2f} pi)"

    def rows(self) -> list[tuple[int, str, str, float, float, float]]:
        """(block from 1, sub-layer, mode, labelled frequency, true frequency, delta), sub-layer by sub-layer."""
        return [
            (i // len(SUBLAYERS) + 1, SUBLAYERS[i % len(SUBLAYERS)], mode, freq, true, value)
            for i, (mode, row) in enumerate(zip(self.sublayer_modes(), self.delta, strict=True))
            for freq, true, value in zip(self.frequencies, self.true_frequencies, row, strict=True)
        ]

    def to_json(self) -> dict[str, Any]:
        """For the results store (a study run's profile): plain lists and numbers."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "FourierProfile":
        return cls(
            attention=tuple(data["attention"]), reading=check_reading(data["reading"]), grid=int(data["grid"]),
            frequencies=tuple(data["frequencies"]), true_frequencies=tuple(data["true_frequencies"]),
            delta=tuple(tuple(row) for row in data["delta"]), images=int(data["images"]),
        )  # fmt: skip

    def write_csv(self, path: Path) -> None:
        with path.open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(CSV_COLUMNS)
            writer.writerows(
                (layer, sub, mode, self.reading, f"{freq:.4f}", f"{true:.4f}", f"{value:.6f}")
                for layer, sub, mode, freq, true, value in self.rows()
            )
