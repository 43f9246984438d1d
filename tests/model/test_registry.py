"""Every registered preset builds, runs forward and backward in both modes without NaN, and trains every
parameter it should; plus the registry's and the switch API's errors."""

import pytest
import torch

from prs_search.errors import ConfigError
from prs_search.model import CONV_VARIANTS, HybridViT, create_model, list_models, model_doc
from prs_search.recipe import CONV_VARIANT_NAMES

ATTENTION_ONLY = ("qk.weight", "locality_raw", "center")
PARAM_RANGES = {"tiny": (0.0, 0.1e6), "small": (0.5e6, 5e6), "cifar_s": (3e6, 6e6), "cifar_m": (20e6, 30e6)}
SHAPES = [(8, 1, 10), (32, 3, 100)]  # (img_size, in_chans, num_classes): digits-like and CIFAR-like


def test_presets_are_registered() -> None:
    assert list_models() == sorted(PARAM_RANGES)
    for name in list_models():
        assert model_doc(name)


def _forward_backward(model: HybridViT, x: torch.Tensor) -> dict[str, torch.Tensor | None]:
    model.zero_grad(set_to_none=True)
    logits = model(x)
    assert logits.shape == (x.shape[0], model.num_classes)
    assert torch.isfinite(logits).all()
    logits.logsumexp(dim=1).sum().backward()  # touches every logit, unlike a fixed-label loss
    return {n: p.grad for n, p in model.named_parameters()}


def _has_grad(grad: torch.Tensor | None) -> bool:
    return grad is not None and bool(torch.isfinite(grad).all()) and bool(grad.abs().sum() > 0)


@pytest.mark.parametrize("conv", [None, *CONV_VARIANTS])
@pytest.mark.parametrize(("img_size", "in_chans", "num_classes"), SHAPES, ids=["8px-1ch", "32px-3ch"])
@pytest.mark.parametrize("name", list_models())  # every registered preset, as timm's registry test does
def test_preset_forward_backward_both_modes(
    name: str, img_size: int, in_chans: int, num_classes: int, conv: str | None
) -> None:
    torch.manual_seed(0)
    variant = {"conv": conv} if conv else {}  # None: the preset's own, whose size the table says
    model = create_model(name, img_size=img_size, in_chans=in_chans, num_classes=num_classes, **variant)
    assert isinstance(model, HybridViT)
    assert model.conv == (conv or model.conv) and isinstance(model.mixers[0], CONV_VARIANTS[model.conv])
    low, high = PARAM_RANGES[name]
    assert conv or low <= sum(p.numel() for p in model.parameters()) < high
    # eval(): drop-path must not silence a block at random; gradients flow the same way otherwise.
    model.eval()
    x = torch.randn(2, in_chans, img_size, img_size, generator=torch.Generator().manual_seed(1))

    grads = _forward_backward(model, x)
    for param, grad in grads.items():
        if param.endswith(ATTENTION_ONLY):
            assert not _has_grad(grad), f"conv mode trained attention-only {param}"
        else:
            assert _has_grad(grad), f"conv mode: no gradient for {param}"

    assert model.set_attention_layers([True] * model.depth) == list(range(model.depth))
    grads = _forward_backward(model, x)
    missing = [param for param, grad in grads.items() if not _has_grad(grad)]
    assert not missing, f"attention mode: no gradient for {missing}"


def test_the_conv_variants_are_the_recipes_names() -> None:
    assert tuple(CONV_VARIANTS) == CONV_VARIANT_NAMES


def test_parameter_counts_do_not_depend_on_the_mode() -> None:
    model = create_model("tiny")
    before = sum(p.numel() for p in model.parameters())
    model.set_attention_layers([True] * model.depth)
    assert sum(p.numel() for p in model.parameters()) == before


def test_unknown_preset_is_a_config_error_listing_the_presets() -> None:
    with pytest.raises(ConfigError, match=r"unknown model preset 'huge'.*cifar_m, cifar_s, small, tiny"):
        create_model("huge")
    with pytest.raises(ConfigError):
        model_doc("huge")


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"stem": "pixels"}, "unknown stem 'pixels'"),
        ({"img_size": 10, "patch_size": 4}, "not divisible by patch_size"),
        ({"img_size": 12, "patch_size": 3}, "power of two"),
        ({"embed_dim": 40}, "divisible by 9 heads"),
        ({"conv": "depthwise"}, "unknown conv variant .depthwise.; choose one of shift, dense"),
    ],
)
def test_bad_overrides_are_config_errors(overrides: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        create_model("tiny", **overrides)


@pytest.mark.parametrize("stem", ["conv", "patch"])
def test_stems_make_the_expected_grid(stem: str) -> None:
    model = create_model("tiny", img_size=32, in_chans=3, stem=stem)
    assert model.grid_size == (8, 8)
    tokens = model.stem(torch.zeros(1, 3, 32, 32))
    assert tokens.shape == (1, 64, model.embed_dim)


def test_set_attention_layers_returns_the_layers_that_switched_now() -> None:
    model = create_model("tiny")
    assert model.attention_layers() == (False,) * 4
    assert model.set_attention_layers([False, False, True, True]) == [2, 3]
    assert model.set_attention_layers([False, False, True, True]) == []  # already attention: no-op
    assert model.set_attention_layers([True, False, True, True]) == [0]
    assert model.attention_layers() == (True, False, True, True)
    assert [m.attention for m in model.mixers] == [True, False, True, True]


def test_switching_back_to_conv_is_a_config_error() -> None:
    model = create_model("tiny")
    model.set_attention_layers([False, True, False, False])
    with pytest.raises(ConfigError, match=r"layer 2 is already self-attention and cannot switch back"):
        model.set_attention_layers([False, False, False, False])
    assert model.attention_layers() == (False, True, False, False)


def test_wrong_number_of_flags_is_a_config_error() -> None:
    model = create_model("tiny")
    with pytest.raises(ConfigError, match=r"expected 4 layer flags, got 3"):
        model.set_attention_layers([True, True, True])
    assert model.attention_layers() == (False,) * 4


def test_no_weight_decay_holds_exactly_the_position_terms() -> None:
    model = create_model("tiny")
    expected = {f"blocks.{i}.mixer.{p}" for i in range(model.depth) for p in ("locality_raw", "center")}
    assert model.no_weight_decay() == expected
    assert expected <= dict(model.named_parameters()).keys()
