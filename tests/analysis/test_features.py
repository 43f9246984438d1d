"""Sub-layer outputs collected with hooks, and the Fourier profile of a real (untrained) model over real images."""

from pathlib import Path
from typing import Any

import pytest
import torch

from prs_search.analysis.features import fourier_profile, sublayer_feature_maps
from prs_search.data import load_dataset, make_splits
from prs_search.model import HybridViT, create_model


def tiny(**overrides: object) -> HybridViT:
    torch.manual_seed(0)
    model = create_model("tiny", **overrides)
    assert isinstance(model, HybridViT)
    return model.eval()


def block(model: HybridViT, index: int) -> Any:
    return model.blocks[index]


@pytest.mark.parametrize(
    ("overrides", "image", "grid"),
    [
        ({}, (1, 8, 8), 8),  # digits: patch 1, an 8 x 8 token grid
        ({"img_size": 32, "in_chans": 3, "stem": "patch"}, (3, 32, 32), 8),
        ({"img_size": 32, "in_chans": 3, "stem": "conv", "patch_size": 2}, (3, 32, 32), 16),
    ],
)
def test_two_maps_per_block_on_the_token_grid(overrides: dict[str, object], image: tuple[int, ...], grid: int) -> None:
    model = tiny(**overrides)
    x = torch.randn(3, *image, generator=torch.Generator().manual_seed(1))
    maps = sublayer_feature_maps(model, x)
    assert len(maps) == 2 * model.depth
    assert all(m.shape == (3, model.embed_dim, grid, grid) for m in maps)
    # The hooks are gone afterwards.
    assert all(not b._forward_hooks and not b.norm2._forward_pre_hooks for b in model.blocks)  # type: ignore[union-attr]
    # The last map is the last block's output, laid out so that [b, c, i, j] is token i * W + j.
    with torch.no_grad():
        tokens = model.blocks(model.stem(x))
    torch.testing.assert_close(maps[-1][:, :, 1, 2], tokens[:, 1 * grid + 2, :])
    torch.testing.assert_close(maps[-1].flatten(2).transpose(1, 2), tokens)


@pytest.mark.parametrize("attention", [(False,) * 4, (True,) * 4])
def test_identity_mixer_and_zero_mlp_pass_their_input_through(attention: tuple[bool, ...]) -> None:
    """Block 2's mixer outputs zero (its projection is zeroed): the map after its residual add is exactly the
    block's input, block 1's output. Block 3's MLP outputs zero: the map after it is exactly the one after
    block 3's mixer. Every other sub-layer changes its input, so a hook in the wrong place would show."""
    model = tiny()
    model.set_attention_layers(attention)
    with torch.no_grad():
        block(model, 1).mixer.proj.weight.zero_()
        block(model, 1).mixer.proj.bias.zero_()
        block(model, 2).mlp.fc2.weight.zero_()
        block(model, 2).mlp.fc2.bias.zero_()
    x = torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    maps = sublayer_feature_maps(model, x)  # 1 mixer, 1 mlp, 2 mixer, 2 mlp, 3 mixer, 3 mlp, ...
    assert torch.equal(maps[2], maps[1])
    assert torch.equal(maps[5], maps[4])
    changed = [i for i in range(1, len(maps)) if not torch.allclose(maps[i], maps[i - 1], atol=1e-4)]
    assert changed == [1, 3, 4, 6, 7]
    # The first map is the stem's tokens plus block 1's mixer: not the stem's tokens alone.
    with torch.no_grad():
        stem = model.stem(x).transpose(1, 2).reshape(maps[0].shape)
        mixed = model.stem(x) + block(model, 0).mixer(block(model, 0).norm1(model.stem(x)))
    assert not torch.allclose(maps[0], stem, atol=1e-4)
    torch.testing.assert_close(maps[0], mixed.transpose(1, 2).reshape(maps[0].shape))


def test_profile_of_a_model_over_real_images(tmp_path: Path) -> None:
    splits = make_splits(load_dataset("digits", tmp_path), fraction=0.3, seed=0)
    model = tiny()
    model.set_attention_layers([False, False, True, True])
    profile = fourier_profile(model, splits.val, splits.mean, splits.std, max_images=20, batch_size=8)
    assert profile.images == 20
    assert profile.attention == (False, False, True, True)
    assert profile.reading == "park-kim"  # the default: the reference's bins and labels
    assert profile.frequencies == pytest.approx((0.0, 1 / 3, 2 / 3, 1.0))
    assert profile.true_frequencies == (0.0, 0.25, 0.5, 0.75)
    assert len(profile.delta) == 8 and all(len(row) == 4 and row[0] == 0.0 for row in profile.delta)
    nyquist = fourier_profile(model, splits.val, splits.mean, splits.std, reading="nyquist", max_images=20)
    assert nyquist.frequencies == nyquist.true_frequencies == (0.0, 0.25, 0.5, 0.75, 1.0)
    # The bins both read agree; nyquist has one more.
    for a, b in zip(profile.delta, nyquist.delta, strict=True):
        assert a == pytest.approx(b[:4], abs=1e-5)
    # Batching does not change the average.
    again = fourier_profile(model, splits.val, splits.mean, splits.std, max_images=20, batch_size=20)
    for a, b in zip(profile.delta, again.delta, strict=True):
        assert a == pytest.approx(b, abs=1e-5)
