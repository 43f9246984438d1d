"""Hybrid vision transformer whose token mixers switch, layer by layer, from convolution to attention.

Progressive Reparameterization Scheduling (Lee et al. 2022, "Towards Flexible Inductive Bias via
Progressive Reparameterization Scheduling"): every block's token mixer starts as a 3x3 convolution
written as 9-head attention with one-hot offsets (Cordonnier et al. 2020), with heads of width dim/9
(`conv="shift"`) or of full width around one dense kernel (`conv="dense"`, d'Ascoli et al.'s
Transformed CNNs), and is reparameterized into full self-attention at its own epoch, preserving the
function at the switch. Stems follow
Xiao et al. 2021 ("Early Convolutions Help Transformers See Better") or ViT's patchify.
"""

import typing
from collections.abc import Sequence
from functools import partial
from typing import Any

import torch
from timm.layers import DropPath, Mlp, trunc_normal_
from torch import nn

from prs_search.errors import ConfigError
from prs_search.model.mixer import CONV_VARIANTS, ReparamMixer
from prs_search.model.registry import register_model
from prs_search.model.stems import STEMS
from prs_search.recipe import ConvVariant

_layer_norm: type[nn.Module] = partial(nn.LayerNorm, eps=1e-6)  # type: ignore[assignment]
POSITION_PARAMS = ("locality_raw", "center")  # the mixers' relative-position terms


class Block(nn.Module):
    """Pre-norm transformer block: x + mixer(norm(x)), then x + mlp(norm(x))."""

    def __init__(
        self,
        dim: int,
        grid_size: tuple[int, int],
        mlp_ratio: float = 2.0,
        kernel_size: int = 3,
        locality_strength: float = 1.0,
        drop_path: float = 0.0,
        norm_layer: type[nn.Module] = nn.LayerNorm,
        act_layer: type[nn.Module] = nn.GELU,
        conv: ConvVariant = "shift",
    ) -> None:
        super().__init__()
        if conv not in CONV_VARIANTS:
            raise ConfigError(f"unknown conv variant {conv!r}; choose one of {', '.join(CONV_VARIANTS)}")
        self.norm1 = norm_layer(dim)
        self.mixer: ReparamMixer = CONV_VARIANTS[conv](
            dim, grid_size, kernel_size=kernel_size, locality_strength=locality_strength
        )
        self.norm2 = norm_layer(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), act_layer=act_layer)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.mixer(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class HybridViT(nn.Module):
    """Stem -> `depth` reparameterizable blocks -> mean-pooled linear head.

    No absolute position embedding: the conv stem's zero padding and the mixers' relative
    positions carry all the position information, as in a CNN.
    """

    def __init__(
        self,
        img_size: int = 32,
        in_chans: int = 3,
        num_classes: int = 100,
        stem: str = "conv",
        patch_size: int | None = None,
        stem_channels: Sequence[int] = (48, 96),
        embed_dim: int = 288,
        depth: int = 7,
        mlp_ratio: float = 2.0,
        kernel_size: int = 3,
        locality_strength: float = 1.0,
        drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        norm_layer: type[nn.Module] = _layer_norm,
        act_layer: type[nn.Module] = nn.GELU,
        conv: ConvVariant = "shift",
    ) -> None:
        super().__init__()
        if stem not in STEMS:
            raise ConfigError(f"unknown stem {stem!r}; choose one of {', '.join(STEMS)}")
        # Default: an 8x8 token grid whatever the image size (the grid CIFAR hybrids commonly use).
        patch_size = patch_size or max(img_size // 8, 1)
        if img_size % patch_size:
            raise ConfigError(f"img_size {img_size} is not divisible by patch_size {patch_size}")
        self.num_classes, self.embed_dim, self.depth, self.conv = num_classes, embed_dim, depth, conv
        self.stem = STEMS[stem](img_size, patch_size, in_chans, embed_dim, tuple(stem_channels))
        self.grid_size: tuple[int, int] = tuple(self.stem.grid_size)  # type: ignore[arg-type]
        dpr = [drop_path_rate * i / max(depth - 1, 1) for i in range(depth)]  # stochastic depth grows with depth
        self.blocks = nn.Sequential(
            *[
                Block(
                    embed_dim,
                    self.grid_size,
                    mlp_ratio,
                    kernel_size,
                    locality_strength,
                    dpr[i],
                    norm_layer,
                    act_layer,
                    conv,
                )
                for i in range(depth)
            ]
        )
        self.norm = norm_layer(embed_dim)
        self.head_drop = nn.Dropout(drop_rate)
        self.head = nn.Linear(embed_dim, num_classes)
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)

    @torch.jit.ignore  # type: ignore[untyped-decorator]  # torch gives it no annotations
    def no_weight_decay(self) -> set[str]:
        """Position terms are priors, not weights to shrink (as timm excludes pos_embed)."""
        return {n for n, _ in self.named_parameters() if n.endswith(POSITION_PARAMS)}

    @property
    def mixers(self) -> list[ReparamMixer]:
        return [typing.cast(Block, block).mixer for block in self.blocks]

    def attention_layers(self) -> tuple[bool, ...]:
        """Per layer: True from its switch on (ramp included)."""
        return tuple(m.attention for m in self.mixers)

    def layer_modes(self) -> tuple[str, ...]:
        """Per layer: "conv", "ramp" or "attention"."""
        return tuple(m.mode for m in self.mixers)

    def set_attention_layers(self, attention: Sequence[bool], ramp_steps: int = 0) -> list[int]:
        """Switch the layers flagged True to attention; returns the indices that switched now.

        A switched layer blends from its convolution to self-attention over `ramp_steps` optimiser
        steps (0: a hard switch). A switch is one-way: asking a layer that is already attention to be
        a convolution again is an error, since its attention parameters have moved away from it.
        """
        if len(attention) != self.depth:
            raise ConfigError(f"expected {self.depth} layer flags, got {len(attention)}")
        switched = []
        for i, (mixer, want) in enumerate(zip(self.mixers, attention, strict=True)):
            if mixer.attention and not want:
                raise ConfigError(f"layer {i + 1} is already self-attention and cannot switch back")
            if want and not mixer.attention:
                mixer.switch_to_attention(ramp_steps)
                switched.append(i)
        return switched

    def advance_ramps(self) -> None:
        """One optimiser step along every ramping layer's ramp; call before each training forward."""
        for mixer in self.mixers:
            mixer.advance_ramp()

    @torch.no_grad()
    def attention_probe(self, x: torch.Tensor) -> list[tuple[float, float] | None]:
        """Per layer, on images `x`: (mean attention distance, tap mass) of attention layers, None for conv."""
        stats: list[tuple[float, float] | None] = []
        tokens = self.stem(x)
        for block in typing.cast(list[Block], list(self.blocks)):
            mixer = block.mixer
            stats.append(mixer.attention_stats(block.norm1(tokens)) if mixer.attention else None)
            tokens = block(tokens)
        return stats

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.blocks(self.stem(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.head_drop(self.forward_features(x).mean(dim=1)))


def _create_hybrid_vit(preset: dict[str, Any], **overrides: Any) -> HybridViT:
    return HybridViT(**{**preset, **overrides})


@register_model
def tiny(**kwargs: Any) -> HybridViT:
    """CPU-sized, for tests and demos: 4 blocks x 36 dim (9 heads x 4); defaults fit digits (1x8x8)."""
    preset = dict(img_size=8, in_chans=1, num_classes=10, stem_channels=(16, 32), embed_dim=36, depth=4)
    return _create_hybrid_vit(preset, **kwargs)


@register_model
def small(**kwargs: Any) -> HybridViT:
    """The default: 6 blocks x 144 dim (9 heads x 16), dense 3x3 convolutions; fits and trains on a CPU."""
    preset = dict(stem_channels=(32, 64), embed_dim=144, depth=6, mlp_ratio=2.0, conv="dense")
    return _create_hybrid_vit(preset, **kwargs)


@register_model
def cifar_s(**kwargs: Any) -> HybridViT:
    """Near CCT-7/3x1 (7 layers, 256 dim): 7 blocks x 288 dim (9 heads x 32), MLP ratio 2."""
    preset = dict(stem_channels=(48, 96), embed_dim=288, depth=7, mlp_ratio=2.0)
    return _create_hybrid_vit(preset, **kwargs)


@register_model
def cifar_m(**kwargs: Any) -> HybridViT:
    """ConViT-small's width (9 heads x 48 = 432 dim), 12 blocks, MLP ratio 4."""
    preset = dict(stem_channels=(48, 96, 192), embed_dim=432, depth=12, mlp_ratio=4.0, drop_path_rate=0.1)
    return _create_hybrid_vit(preset, **kwargs)
