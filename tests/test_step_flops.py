"""Counted training FLOPs: attention is counted on the CPU (where FlopCounterMode has no formula for the fused
kernel), a switched layer adds what its attention's matrix products cost, a count per image does not depend on
the counting batch, and each state is counted once without touching the random streams."""

import pytest
import torch

from prs_search import step_flops
from prs_search.model import CONV_VARIANTS, HybridViT, create_model
from prs_search.step_flops import StepFlops, count_step

IMAGE = (1, 8, 8)  # tiny's default input: an 8x8 token grid


def tiny(conv: str, modes: tuple[str, ...] = ("conv",) * 4) -> HybridViT:
    model = create_model("tiny", conv=conv)
    for mixer, mode in zip(model.mixers, modes, strict=True):
        if mode != "conv":
            mixer.switch_to_attention(ramp_steps=1 if mode == "ramp" else 0)
    return model


def attention_minus_conv(model: HybridViT, batch: int) -> int:
    """One layer's training FLOPs as attention minus as a convolution, from its shapes: the query/key
    projection and the two attention products over N queries and N + 1 keys (the grid and the padding's
    sink), forward plus twice that backward (the gradients of both operands); less the shift variant's
    depthwise one-hot convolution, forward and its input gradient (its kernel is a buffer)."""
    mixer = model.mixers[0]
    c, h, d = mixer.dim, mixer.num_heads, mixer.attn_dim
    n = mixer.grid_size[0] * mixer.grid_size[1]
    value_width = c if model.conv == "dense" else d  # dense: every head reads the whole token
    qk = 2 * batch * n * c * (2 * c)
    products = 2 * batch * h * n * (n + 1) * (d + value_width)
    shift = 2 * batch * n * c * mixer.kernel_size**2 if model.conv == "shift" else 0
    return 3 * (qk + products) - 2 * shift


@pytest.mark.parametrize("conv", list(CONV_VARIANTS))
def test_a_switched_layer_adds_what_its_attention_products_cost(conv: str) -> None:
    conv_step = count_step(tiny(conv), IMAGE)
    one_attention = count_step(tiny(conv, ("attention", "conv", "conv", "conv")), IMAGE)
    assert one_attention > conv_step
    assert one_attention - conv_step == pytest.approx(attention_minus_conv(tiny(conv), 2), rel=0.02)
    all_attention = count_step(tiny(conv, ("attention",) * 4), IMAGE)
    assert all_attention - conv_step == pytest.approx(4 * (one_attention - conv_step), rel=1e-9)  # identical blocks


@pytest.mark.parametrize("conv", list(CONV_VARIANTS))
def test_a_ramping_layer_computes_both_paths(conv: str) -> None:
    attention = count_step(tiny(conv, ("attention", "conv", "conv", "conv")), IMAGE)
    ramp = count_step(tiny(conv, ("ramp", "conv", "conv", "conv")), IMAGE)
    assert ramp > attention


def test_a_count_per_image_does_not_depend_on_the_counting_batch() -> None:
    modes = ("ramp", "attention", "conv", "conv")
    assert count_step(tiny("shift", modes), IMAGE, batch=2) * 3 == count_step(tiny("shift", modes), IMAGE, batch=6)


def test_each_state_is_counted_once_without_touching_the_random_streams(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, ...]] = []

    def counted(model: HybridViT, image_shape: tuple[int, int, int], batch: int = 2) -> int:
        calls.append(model.layer_modes())
        return count_step(model, image_shape, batch)

    monkeypatch.setattr(step_flops, "count_step", counted)
    flops = StepFlops(lambda: create_model("tiny", drop_path_rate=0.5), IMAGE)  # dropping paths draws numbers
    conv, ramp = ("conv",) * 4, ("ramp", "conv", "conv", "conv")
    torch.manual_seed(3)
    before = torch.get_rng_state()
    per_image = [flops.per_image(m) for m in (conv, ramp, conv, ramp, ("attention", "conv", "conv", "conv"))]
    assert torch.equal(torch.get_rng_state(), before)
    assert calls == [conv, ramp, ("attention", "conv", "conv", "conv")]
    assert per_image[0] == count_step(tiny("shift"), IMAGE) / 2
    assert per_image[0] < per_image[4] < per_image[1]
