"""Block outputs collected with hooks, and the Fourier profile of a real (untrained) model over real images."""

from pathlib import Path

import pytest
import torch

from prs_search.analysis.features import block_feature_maps, fourier_profile
from prs_search.data import load_dataset, make_splits
from prs_search.model import HybridViT, create_model


def tiny(**overrides: object) -> HybridViT:
    torch.manual_seed(0)
    model = create_model("tiny", **overrides)
    assert isinstance(model, HybridViT)
    return model.eval()


@pytest.mark.parametrize(
    ("overrides", "image", "grid"),
    [
        ({}, (1, 8, 8), 8),  # digits: patch 1, an 8 x 8 token grid
        ({"img_size": 32, "in_chans": 3, "stem": "patch"}, (3, 32, 32), 8),
        ({"img_size": 32, "in_chans": 3, "stem": "conv", "patch_size": 2}, (3, 32, 32), 16),
    ],
)
def test_one_map_per_block_on_the_token_grid(overrides: dict[str, object], image: tuple[int, ...], grid: int) -> None:
    model = tiny(**overrides)
    x = torch.randn(3, *image, generator=torch.Generator().manual_seed(1))
    maps = block_feature_maps(model, x)
    assert len(maps) == model.depth
    assert all(m.shape == (3, model.embed_dim, grid, grid) for m in maps)
    assert all(not block._forward_hooks for block in model.blocks)  # the hooks are gone afterwards
    # The last map is the last block's output, laid out so that [b, c, i, j] is token i * W + j.
    with torch.no_grad():
        tokens = model.blocks(model.stem(x))
    torch.testing.assert_close(maps[-1][:, :, 1, 2], tokens[:, 1 * grid + 2, :])
    torch.testing.assert_close(maps[-1].flatten(2).transpose(1, 2), tokens)


def test_profile_of_a_model_over_real_images(tmp_path: Path) -> None:
    splits = make_splits(load_dataset("digits", tmp_path), fraction=0.3, seed=0)
    model = tiny()
    model.set_attention_layers([False, False, True, True])
    profile = fourier_profile(model, splits.val, splits.mean, splits.std, max_images=20, batch_size=8)
    assert profile.images == 20
    assert profile.attention == (False, False, True, True)
    assert profile.frequencies == (0.0, 0.25, 0.5, 0.75, 1.0)
    assert len(profile.delta) == 4 and all(len(row) == 5 and row[0] == 0.0 for row in profile.delta)
    # Batching does not change the average.
    again = fourier_profile(model, splits.val, splits.mean, splits.std, max_images=20, batch_size=20)
    for a, b in zip(profile.delta, again.delta, strict=True):
        assert a == pytest.approx(b, abs=1e-5)
