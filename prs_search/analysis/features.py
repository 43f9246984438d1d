"""Feature maps after every sub-layer of a hybrid ViT, collected with hooks, and their Fourier profile.

Park & Kim read the maps after each sub-layer, not after whole blocks: a block's output mixes the token
mixer's filtering with the MLP's, and the mixer's low-pass (attention) or high-pass (convolution)
behaviour is what the analysis is after.
"""

from collections.abc import Sequence
from typing import Any

import torch

from prs_search.analysis.fourier import (
    DEFAULT_READING,
    SUBLAYERS,
    FourierProfile,
    Reading,
    diagonal_frequencies,
    diagonal_log_amplitude,
    relative,
)
from prs_search.data import DeviceLoader, ImageData
from prs_search.errors import ConfigError
from prs_search.model import HybridViT
from prs_search.train import default_device


@torch.no_grad()
def sublayer_feature_maps(model: HybridViT, x: torch.Tensor) -> list[torch.Tensor]:
    """Two (B, C, H, W) maps per block, in forward order, laid back onto the H x W token grid: after the
    mixer's residual add (the input of the block's `norm2`) and after the MLP's (the block's output)."""
    outputs: list[torch.Tensor] = []

    def after_mixer(_module: torch.nn.Module, args: tuple[Any, ...]) -> None:
        outputs.append(args[0])

    def after_mlp(_module: torch.nn.Module, _args: tuple[Any, ...], out: torch.Tensor) -> None:
        outputs.append(out)

    hooks = []
    for block in model.blocks:
        hooks.append(block.get_submodule("norm2").register_forward_pre_hook(after_mixer))
        hooks.append(block.register_forward_hook(after_mlp))
    try:
        model(x)
    finally:
        for hook in hooks:
            hook.remove()
    if len(outputs) != len(SUBLAYERS) * model.depth:  # a block that skips norm2 would shift every label
        raise ConfigError(f"expected {len(SUBLAYERS)} feature maps per block, got {len(outputs)} for {model.depth}")
    h, w = model.grid_size
    return [tokens.transpose(1, 2).reshape(tokens.shape[0], tokens.shape[2], h, w) for tokens in outputs]


@torch.no_grad()
def fourier_profile(
    model: HybridViT,
    data: ImageData,
    mean: Sequence[float],
    std: Sequence[float],
    *,
    reading: Reading = DEFAULT_READING,
    max_images: int = 512,
    batch_size: int = 256,
    device: torch.device | None = None,
) -> FourierProfile:
    """The relative log amplitude of every sub-layer's feature maps over (at most `max_images` of) `data`.

    `mean`/`std` are the normalisation the model was trained with (its training split's statistics).
    Images beyond `max_images` are dropped by a fixed random choice, so a class-sorted split stays mixed.
    """
    if max_images < 1:
        raise ConfigError(f"the Fourier analysis needs at least one image, got max_images={max_images}")
    if len(data) > max_images:
        data = data.subset(torch.randperm(len(data), generator=torch.Generator().manual_seed(0))[:max_images])
    device = device or default_device()
    model = model.to(device).eval()
    loader = DeviceLoader(data, batch_size, mean=mean, std=std, device=device, train=False)
    total: torch.Tensor | None = None
    for x, _ in loader:
        maps = sublayer_feature_maps(model, x)
        per_sublayer = torch.stack([diagonal_log_amplitude(m, reading).sum(dim=0) for m in maps])
        total = per_sublayer if total is None else total + per_sublayer
    assert total is not None  # the loader refuses an empty split
    delta = relative(total / len(data)).double().cpu()
    grid = model.grid_size[0]
    labelled, true = diagonal_frequencies(grid, reading)
    return FourierProfile(
        attention=model.attention_layers(),
        reading=reading,
        grid=grid,
        frequencies=tuple(labelled.tolist()),
        true_frequencies=tuple(true.tolist()),
        delta=tuple(tuple(row) for row in delta.tolist()),
        images=len(data),
    )
