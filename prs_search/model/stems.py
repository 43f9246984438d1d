"""Stems that turn an image into a grid of tokens: ViT_C's convolution stack, or ViT's patchify."""

import math

import torch
from timm.layers import PatchEmbed
from torch import nn

from prs_search.errors import ConfigError


def _log2_stride(patch_size: int) -> int:
    steps = int(math.log2(patch_size)) if patch_size > 0 else -1
    if steps < 0 or 2**steps != patch_size:
        raise ConfigError(f"patch_size must be a power of two, got {patch_size}")
    return steps


class ConvStem(nn.Module):
    """Xiao et al. 2021 (ViT_C): 3x3 conv + BatchNorm + ReLU per entry of `channels`, then a 1x1 conv.

    The first log2(patch_size) convolutions have stride 2, the rest stride 1, so the token grid is
    img_size / patch_size on each side.
    """

    def __init__(self, img_size: int, patch_size: int, in_chans: int, embed_dim: int, channels: tuple[int, ...]):
        super().__init__()
        strided = _log2_stride(patch_size)
        if len(channels) < max(strided, 1):
            raise ConfigError(f"conv stem needs at least {max(strided, 1)} channel entries for patch {patch_size}")
        layers: list[nn.Module] = []
        prev = in_chans
        for i, ch in enumerate(channels):
            stride = 2 if i < strided else 1
            layers += [
                nn.Conv2d(prev, ch, 3, stride, 1, bias=False),
                nn.BatchNorm2d(ch),
                nn.ReLU(inplace=True),
            ]
            prev = ch
        layers.append(nn.Conv2d(prev, embed_dim, 1))
        self.proj = nn.Sequential(*layers)
        self.grid_size = (img_size // patch_size, img_size // patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class PatchStem(PatchEmbed):
    """timm's patchify stem (one patch_size x patch_size convolution with that stride)."""

    def __init__(self, img_size: int, patch_size: int, in_chans: int, embed_dim: int, channels: tuple[int, ...] = ()):
        _log2_stride(patch_size)
        super().__init__(img_size=img_size, patch_size=patch_size, in_chans=in_chans, embed_dim=embed_dim)
        self.grid_size = tuple(self.grid_size)


STEMS: dict[str, type[nn.Module]] = {"conv": ConvStem, "patch": PatchStem}
