"""Feature maps of every block of a hybrid ViT, collected with forward hooks, and their Fourier profile."""

from collections.abc import Sequence

import torch

from prs_search.analysis.fourier import FourierProfile, diagonal_frequencies, diagonal_log_amplitude, relative
from prs_search.data import DeviceLoader, ImageData
from prs_search.errors import ConfigError
from prs_search.model import HybridViT
from prs_search.train import default_device


@torch.no_grad()
def block_feature_maps(model: HybridViT, x: torch.Tensor) -> list[torch.Tensor]:
    """One (B, C, H, W) map per block: the block's output tokens laid back onto the H x W token grid."""
    outputs: list[torch.Tensor] = []
    hooks = [block.register_forward_hook(lambda _m, _i, out: outputs.append(out)) for block in model.blocks]
    try:
        model(x)
    finally:
        for hook in hooks:
            hook.remove()
    h, w = model.grid_size
    return [tokens.transpose(1, 2).reshape(tokens.shape[0], tokens.shape[2], h, w) for tokens in outputs]


@torch.no_grad()
def fourier_profile(
    model: HybridViT,
    data: ImageData,
    mean: Sequence[float],
    std: Sequence[float],
    *,
    max_images: int = 512,
    batch_size: int = 256,
    device: torch.device | None = None,
) -> FourierProfile:
    """The relative log amplitude of every block's feature maps over (at most `max_images` of) `data`.

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
        per_layer = torch.stack([diagonal_log_amplitude(m).sum(dim=0) for m in block_feature_maps(model, x)])
        total = per_layer if total is None else total + per_layer
    assert total is not None  # the loader refuses an empty split
    delta = relative(total / len(data)).double().cpu()
    return FourierProfile(
        attention=model.attention_layers(),
        frequencies=tuple(diagonal_frequencies(model.grid_size[0]).tolist()),
        delta=tuple(tuple(row) for row in delta.tolist()),
        images=len(data),
    )
