"""Relative log amplitude of Fourier-transformed feature maps (Park & Kim 2022, "How do vision
transformers work?"; used by the PRS paper to show a model move between CNN-like and ViT-like).

For a feature map of H x W tokens and C channels: the 2-D FFT of every channel, its log amplitude, the
mean over channels (and images), read along the diagonal of the frequency plane from 0 to pi, minus the
value at frequency 0. Convolutions act as high-pass filters and self-attention as a low-pass filter
(Park & Kim), so the delta at the highest frequency (pi) is the headline number per layer.

Pure tensor maths: no model, no data loading. Frequencies are in units of pi: diagonal entry k of an
H x H map is the frequency (2 pi k / H, 2 pi k / H), k = 0 .. H // 2, so the last is pi for even H.
"""

import csv
from dataclasses import dataclass
from pathlib import Path

import torch

from prs_search.errors import ConfigError

# Added to |FFT| before the log (Park & Kim's value): a frequency with no energy at all reads as
# log(1e-6) ~ -13.8 instead of minus infinity.
EPS = 1e-6
CSV_COLUMNS = ("layer", "mode", "frequency", "delta_log_amplitude")


def diagonal_frequencies(size: int) -> torch.Tensor:
    """The diagonal frequencies of a `size` x `size` map, in units of pi: 2k / size, k = 0 .. size // 2."""
    return torch.arange(size // 2 + 1, dtype=torch.float64) * 2 / size


def diagonal_log_amplitude(maps: torch.Tensor) -> torch.Tensor:
    """(B, C, H, H) feature maps -> (B, H // 2 + 1): log |FFT2| on the frequency diagonal, mean over channels."""
    if maps.ndim != 4 or maps.shape[-1] != maps.shape[-2]:
        raise ConfigError(f"feature maps must be B x C x H x H (a square grid), got {tuple(maps.shape)}")
    spectrum = torch.fft.fft2(maps.float())
    k = torch.arange(maps.shape[-1] // 2 + 1, device=maps.device)
    diagonal = spectrum[..., k, k]  # (B, C, K)
    return (diagonal.abs() + EPS).log().mean(dim=1)


def relative(log_amplitude: torch.Tensor) -> torch.Tensor:
    """Each row minus its value at frequency 0 (the last axis is frequency)."""
    return log_amplitude - log_amplitude[..., :1]


@dataclass(frozen=True)
class FourierProfile:
    """Relative log amplitude per layer and diagonal frequency, averaged over `images` images."""

    attention: tuple[bool, ...]  # per layer: was it self-attention (else convolution)?
    frequencies: tuple[float, ...]  # in units of pi, from 0 to (about) 1
    delta: tuple[tuple[float, ...], ...]  # [layer][frequency], 0.0 at frequency 0
    images: int

    @property
    def depth(self) -> int:
        return len(self.attention)

    def modes(self) -> tuple[str, ...]:
        return tuple("attention" if a else "conv" for a in self.attention)

    def high_frequency(self) -> tuple[float, ...]:
        """Per layer: the delta at the highest frequency (pi for an even grid)."""
        return tuple(row[-1] for row in self.delta)

    def rows(self) -> list[tuple[int, str, float, float]]:
        """(layer from 1, mode, frequency in units of pi, delta log amplitude), layer by layer."""
        return [
            (layer, mode, freq, value)
            for layer, (mode, row) in enumerate(zip(self.modes(), self.delta, strict=True), start=1)
            for freq, value in zip(self.frequencies, row, strict=True)
        ]

    def write_csv(self, path: Path) -> None:
        with path.open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(CSV_COLUMNS)
            writer.writerows((layer, mode, f"{freq:.4f}", f"{value:.6f}") for layer, mode, freq, value in self.rows())
