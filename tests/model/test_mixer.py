"""Both conv variants of the mixer (`shift`, `dense`): conv mode is a real 3x3 convolution, the switch
preserves the function, a scheduled ramp then turns the layer into pure self-attention (no convolution
computed afterwards), every attention parameter learns from the first step, and conv mode never builds
an N x N attention matrix."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from prs_search.errors import ConfigError
from prs_search.model import CONV_VARIANTS, Block, DenseMixer, HybridViT, ReparamMixer, ShiftMixer, create_model
from prs_search.model.mixer import kernel_offsets

from .helpers import randomize_, relative_diff

ATTENTION_PARAMS = ("qk.weight", "locality_raw", "center")
CONV_PARAMS = {"shift": ("v.weight", "proj.weight", "proj.bias"), "dense": ("kernel", "bias")}
VARIANTS = pytest.mark.parametrize("variant", list(CONV_VARIANTS))
SWITCH_TOL = 1e-4  # the design's bound on the relative change of a block's output at the switch


def grid_tokens(batch: int, grid: tuple[int, int], dim: int, seed: int) -> torch.Tensor:
    return torch.randn(batch, grid[0] * grid[1], dim, generator=torch.Generator().manual_seed(seed))


def border_mask(grid: tuple[int, int]) -> torch.Tensor:
    """(N,) True for tokens on the grid's outer ring, where the zero padding matters."""
    mask = torch.zeros(grid, dtype=torch.bool)
    mask[0, :] = mask[-1, :] = mask[:, 0] = mask[:, -1] = True
    return mask.flatten()


def to_grid(x: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    return x.transpose(1, 2).reshape(x.shape[0], x.shape[2], *grid)


def mixer_of(variant: str, dim: int, grid: tuple[int, int]) -> ReparamMixer:
    return CONV_VARIANTS[variant](dim, grid)  # type: ignore[index]


def padded(t: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """(B, N_padded, C): tokens over the zero-padded grid."""
    return F.pad(to_grid(t, grid), (1, 1, 1, 1)).flatten(2).transpose(1, 2)


def output_from_maps(mixer: ReparamMixer, x: torch.Tensor) -> torch.Tensor:
    """The mixer's output written out from its effective attention maps, head by head."""
    maps = mixer.attention_maps(x)  # (B, heads, N, N_padded)
    if isinstance(mixer, ShiftMixer):
        values = mixer._split(padded(mixer.v(x), mixer.grid_size))
        return mixer.proj((maps @ values).transpose(1, 2).reshape(x.shape))
    assert isinstance(mixer, DenseMixer)
    per_head = maps @ padded(x, mixer.grid_size)[:, None]  # every head reads the whole token
    taps = mixer.kernel.flatten(2).permute(2, 0, 1)  # (heads, C_out, C_in): head h's tap is offset h
    return torch.einsum("bhnc,hoc->bno", per_head, taps) + mixer.bias


def conv_bias(mixer: ReparamMixer) -> torch.Tensor:
    return mixer.proj.bias if isinstance(mixer, ShiftMixer) else mixer.bias  # type: ignore[return-value]


# --- construction --------------------------------------------------------------------------------


@VARIANTS
def test_heads_are_the_kernel_offsets(variant: str) -> None:
    mixer = mixer_of(variant, 36, (4, 4))
    assert mixer.num_heads == 9 and mixer.head_dim == 4
    assert kernel_offsets(3).tolist() == [[dy, dx] for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    assert mixer.mode == "conv" and not mixer.attention and mixer.beta == 0
    assert torch.allclose(mixer.locality, torch.ones(9))
    assert torch.equal(mixer.center, kernel_offsets(3).float())


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"dim": 35}, "divisible by 9 heads"),
        ({"kernel_size": 2}, "must be odd"),
        ({"locality_strength": 0.0}, "must be positive"),
    ],
)
def test_bad_settings_are_config_errors(kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        ShiftMixer(**{"dim": 36, "grid_size": (4, 4), **kwargs})  # type: ignore[arg-type]


@pytest.mark.parametrize("grid", [(4, 4), (5, 7)])
def test_each_head_has_exactly_one_tap_key_per_query(grid: tuple[int, int]) -> None:
    mixer = ShiftMixer(36, grid)
    n, n_padded = grid[0] * grid[1], (grid[0] + 2) * (grid[1] + 2)
    assert mixer.tap_mask.shape == (9, n, n_padded)
    assert torch.equal(mixer.tap_mask.sum(-1), torch.ones(9, n, dtype=torch.long))


# --- conv mode is a convolution ------------------------------------------------------------------


@VARIANTS
@pytest.mark.parametrize(("grid", "dim", "seed"), [((4, 4), 36, 0), ((8, 8), 72, 1), ((5, 7), 36, 2)])
def test_conv_mode_equals_conv2d_with_the_assembled_kernel(
    variant: str, grid: tuple[int, int], dim: int, seed: int
) -> None:
    torch.manual_seed(seed)
    mixer = randomize_(mixer_of(variant, dim, grid), seed).eval()
    x = grid_tokens(3, grid, dim, seed)
    with torch.no_grad():
        out = to_grid(mixer(x), grid)
        kernel = mixer.conv_kernel()
        expected = F.conv2d(to_grid(x, grid), kernel, conv_bias(mixer), padding=1)
    assert kernel.shape == (dim, dim, 3, 3)
    assert relative_diff(out, expected) <= 1e-5


def test_conv_kernel_is_assembled_from_v_and_proj() -> None:
    torch.manual_seed(0)
    mixer = randomize_(ShiftMixer(36, (4, 4)), 0)
    d = mixer.head_dim
    with torch.no_grad():
        kernel = mixer.conv_kernel()
        for head, (dy, dx) in enumerate(kernel_offsets(3).tolist()):
            rows = slice(head * d, (head + 1) * d)
            tap = mixer.proj.weight[:, rows] @ mixer.v.weight[rows]
            assert torch.allclose(kernel[:, :, 1 + dy, 1 + dx], tap, atol=1e-6)
        assert (kernel.abs().sum(dim=(0, 1)) > 0).all()  # all nine taps in use


@pytest.mark.parametrize("head", [0, 4, 7])
def test_zeroing_one_heads_values_zeroes_exactly_its_tap(head: int) -> None:
    torch.manual_seed(0)
    mixer = randomize_(ShiftMixer(36, (4, 4)), 0)
    d = mixer.head_dim
    with torch.no_grad():
        before = mixer.conv_kernel().clone()
        mixer.v.weight[head * d : (head + 1) * d] = 0.0
        after = mixer.conv_kernel()
    dy, dx = kernel_offsets(3)[head].tolist()
    zeroed = torch.zeros(3, 3, dtype=torch.bool)
    zeroed[1 + dy, 1 + dx] = True
    assert not after[:, :, zeroed].any()
    assert before[:, :, zeroed].abs().sum() > 0
    assert torch.equal(after[:, :, ~zeroed], before[:, :, ~zeroed])


# --- the switch preserves the function -----------------------------------------------------------


@pytest.mark.parametrize("random_qk", [False, True], ids=["qk-init", "qk-random"])
@pytest.mark.parametrize("dim", [36, 72])
@pytest.mark.parametrize("grid", [(4, 4), (8, 8), (5, 7)], ids=["4x4", "8x8", "5x7"])
@pytest.mark.parametrize("seed", [0, 1, 2])
@VARIANTS
def test_switch_preserves_block_output(
    variant: str, seed: int, grid: tuple[int, int], dim: int, random_qk: bool
) -> None:
    torch.manual_seed(seed)
    block = randomize_(Block(dim, grid, conv=variant), seed, qk=random_qk).eval()
    x = grid_tokens(4, grid, dim, seed + 100)
    with torch.no_grad():
        before = block(x)
        block.mixer.switch_to_attention(ramp_steps=50)
        after = block(x)
        block.mixer.advance_ramp()
        one_step_in = block(x)
    border = border_mask(grid)
    assert block.mixer.mode == "ramp"
    assert relative_diff(after, before) <= SWITCH_TOL
    assert relative_diff(after[:, border], before[:, border]) <= SWITCH_TOL
    assert relative_diff(after[:, ~border], before[:, ~border]) <= SWITCH_TOL
    assert relative_diff(one_step_in, before) > 1e-5  # the attention path really runs from step 1


@VARIANTS
def test_switch_preserves_weights_trained_in_conv_mode(variant: str) -> None:
    """Weights that moved under Adam in conv mode (not only random ones) switch exactly as well."""
    torch.manual_seed(0)
    block = Block(36, (6, 6), conv=variant)
    optimizer = torch.optim.AdamW(block.parameters(), lr=1e-2)
    for step in range(20):
        x = grid_tokens(8, (6, 6), 36, step)
        loss = (block(x) - x.roll(1, dims=1)).square().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    block.eval()
    x = grid_tokens(4, (6, 6), 36, 99)
    with torch.no_grad():
        before = block(x)
        block.mixer.switch_to_attention(ramp_steps=10)
        assert relative_diff(block(x), before) <= SWITCH_TOL


@VARIANTS
def test_a_hard_switch_changes_the_function(variant: str) -> None:
    """ramp_steps=0 is pure attention at once: the ramp is what makes the switch exact."""
    torch.manual_seed(0)
    block = randomize_(Block(36, (5, 5), conv=variant), 0).eval()
    x = grid_tokens(2, (5, 5), 36, 1)
    with torch.no_grad():
        before = block(x)
        block.mixer.switch_to_attention(ramp_steps=0)
        assert block.mixer.mode == "attention" and block.mixer.beta == 1
        assert relative_diff(block(x), before) > 1e-3


@VARIANTS
@pytest.mark.parametrize("preset", ["tiny", "small"])
@pytest.mark.parametrize("stem", ["conv", "patch"])
@pytest.mark.parametrize("weights", ["init", "random"])
def test_switching_every_layer_preserves_model_logits(variant: str, preset: str, stem: str, weights: str) -> None:
    torch.manual_seed(0)
    model = create_model(preset, img_size=16, in_chans=3, stem=stem, conv=variant).eval()
    if weights == "random":
        randomize_(model, 1)
    assert model.grid_size == (8, 8)
    x = torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        before = model(x)
        assert model.set_attention_layers([True] * model.depth, ramp_steps=50) == list(range(model.depth))
        after = model(x)
    assert model.attention_layers() == (True,) * model.depth
    assert model.layer_modes() == ("ramp",) * model.depth
    assert relative_diff(after, before) <= SWITCH_TOL


# --- the ramp ------------------------------------------------------------------------------------


@VARIANTS
def test_beta_goes_from_0_at_the_switch_to_1_after_the_ramp(variant: str) -> None:
    mixer = mixer_of(variant, 36, (4, 4))
    mixer.switch_to_attention(ramp_steps=4)
    betas, modes = [mixer.beta.item()], [mixer.mode]
    for _ in range(6):
        mixer.advance_ramp()
        betas.append(mixer.beta.item())
        modes.append(mixer.mode)
    assert betas == pytest.approx([0.0, 0.25, 0.5, 0.75, 1.0, 1.0, 1.0])
    assert modes == ["ramp"] * 4 + ["attention"] * 3


@VARIANTS
def test_a_switch_is_one_way_and_conv_mode_has_no_ramp(variant: str) -> None:
    mixer = mixer_of(variant, 36, (4, 4))
    mixer.advance_ramp()  # nothing to advance in conv mode
    assert mixer.mode == "conv" and mixer.beta == 0
    with pytest.raises(ConfigError, match="ramp_steps must be >= 0"):
        mixer.switch_to_attention(ramp_steps=-1)
    mixer.switch_to_attention(ramp_steps=3)
    with pytest.raises(ConfigError, match="one-way"):
        mixer.switch_to_attention(ramp_steps=3)


@VARIANTS
def test_ramp_position_travels_with_the_state_dict(variant: str) -> None:
    torch.manual_seed(0)
    source = randomize_(mixer_of(variant, 36, (5, 5)), 0)
    source.switch_to_attention(ramp_steps=10)
    for _ in range(3):
        source.advance_ramp()
    target = mixer_of(variant, 36, (5, 5))
    target.load_state_dict(source.state_dict())
    assert (target.mode, target.ramp_pos, target.ramp_steps) == ("ramp", 3, 10)
    assert target.beta.item() == pytest.approx(0.3)
    x = grid_tokens(2, (5, 5), 36, 1)
    with torch.no_grad():
        assert torch.equal(target(x), source(x))


class _Ops(TorchDispatchMode):
    """Records every operator called, with its output sizes (forward and backward)."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[tuple[str, int]] = []
        self.ops: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        out = func(*args, **(kwargs or {}))
        self.ops.append(str(func))
        for t in tree_leaves(out):
            if isinstance(t, torch.Tensor):
                self.sizes.append((str(func), t.numel()))
        return out

    def count(self, name: str) -> int:
        """Forward calls of operators whose name contains `name` (each call once, backward ops not)."""
        return sum(1 for op in self.ops if name in op and "backward" not in op)

    def attentions(self) -> int:
        """Attention calls: fused kernels, or the unfused softmax (values wider than queries take it)."""
        return self.count("scaled_dot_product") + self.count("aten._safe_softmax.default")


def _record_forward_backward(block: Block, x: torch.Tensor) -> _Ops:
    with _Ops() as recorder:
        block(x).square().mean().backward()
    return recorder


@VARIANTS
@pytest.mark.parametrize(("mode", "convolutions", "attentions"), [("conv", 1, 0), ("ramp", 1, 1), ("attention", 0, 1)])
def test_the_conv_path_is_computed_only_until_the_ramp_ends(
    variant: str, mode: str, convolutions: int, attentions: int
) -> None:
    torch.manual_seed(0)
    block = Block(36, (4, 4), conv=variant)
    if mode != "conv":
        block.mixer.switch_to_attention(ramp_steps=2)
        block.mixer.advance_ramp()
        if mode == "attention":
            block.mixer.advance_ramp()
    assert block.mixer.mode == mode
    ops = _record_forward_backward(block, grid_tokens(2, (4, 4), 36, 0).requires_grad_())
    # Forward calls: one convolution (the shift, or the dense kernel) and one fused attention at most.
    assert ops.count("aten.convolution.default") == convolutions
    assert ops.attentions() == attentions


# --- attention maps ------------------------------------------------------------------------------


@VARIANTS
@pytest.mark.parametrize("grid", [(4, 4), (5, 7)])
def test_sharp_attention_is_the_conv_pattern_with_zero_padding(variant: str, grid: tuple[int, int]) -> None:
    """Pure attention with a very sharp locality prior reproduces conv mode, borders included: the
    padding sink is the convolution's zero padding."""
    torch.manual_seed(0)
    mixer = randomize_(mixer_of(variant, 36, grid), 0).eval()
    x = grid_tokens(2, grid, 36, 1)
    with torch.no_grad():
        conv = mixer(x)
        mixer.switch_to_attention(ramp_steps=0)
        mixer.locality_raw.fill_(60.0)  # alpha = 60: the next-nearest key at exp(-60) relative weight
        assert relative_diff(mixer(x), conv) <= 1e-5
        maps = mixer.attention_maps(x)
    assert maps.shape == (2, 9, grid[0] * grid[1], (grid[0] + 2) * (grid[1] + 2))
    assert torch.allclose(maps, mixer.tap_mask.float().expand_as(maps), atol=1e-6)


@VARIANTS
@pytest.mark.parametrize("ramp_done", [False, True], ids=["mid-ramp", "after-ramp"])
def test_attention_maps_rows_sum_to_one_and_match_the_forward(variant: str, ramp_done: bool) -> None:
    """The forward's N + 1 keys (grid and padding sink) compute exactly the padded grid's attention."""
    torch.manual_seed(0)
    grid = (4, 5)
    mixer = randomize_(mixer_of(variant, 36, grid), 0).eval()
    mixer.switch_to_attention(ramp_steps=4)
    for _ in range(4 if ramp_done else 1):
        mixer.advance_ramp()
    with torch.no_grad():
        mixer.center.add_(torch.randn(9, 2, generator=torch.Generator().manual_seed(5)))
        mixer.locality_raw.uniform_(-1.0, 2.0)
        x = grid_tokens(2, grid, 36, 3)
        maps = mixer.attention_maps(x)
        by_maps, forward = output_from_maps(mixer, x), mixer(x)
    assert mixer.mode == ("attention" if ramp_done else "ramp")
    assert torch.allclose(maps.sum(-1), torch.ones_like(maps.sum(-1)), atol=1e-5)
    assert relative_diff(by_maps, forward) <= 1e-5


@VARIANTS
def test_attention_stats_of_the_conv_pattern_and_of_uniform_attention(variant: str) -> None:
    mixer = mixer_of(variant, 36, (4, 4))
    mixer.switch_to_attention(ramp_steps=10)  # beta = 0: the effective maps are the conv pattern
    x = grid_tokens(3, (4, 4), 36, 0)
    distance, tap = mixer.attention_stats(x)
    assert tap == pytest.approx(1.0)
    assert distance == pytest.approx((4 + 4 * math.sqrt(2)) / 9, rel=1e-5)
    mixer.advance_ramp()
    with torch.no_grad():
        mixer.locality_raw.fill_(-30.0)  # alpha ~ 1e-13: uniform attention over the padded grid
        for _ in range(9):
            mixer.advance_ramp()
    distance, tap = mixer.attention_stats(x)
    assert tap == pytest.approx(1 / 36, rel=1e-3)
    assert distance == pytest.approx(mixer.key_distance.mean().item(), rel=1e-3)


# --- gradients after the switch ------------------------------------------------------------------


def _backward(mixer: ReparamMixer, seed: int) -> dict[str, torch.Tensor | None]:
    x = grid_tokens(2, mixer.grid_size, mixer.dim, seed)
    target = torch.randn(x.shape, generator=torch.Generator().manual_seed(seed + 1))
    mixer.zero_grad(set_to_none=True)
    (mixer(x) * target).sum().backward()
    return {n: p.grad for n, p in mixer.named_parameters()}


@VARIANTS
@pytest.mark.parametrize("random_qk", [False, True])
def test_every_attention_parameter_learns_from_the_first_step(variant: str, random_qk: bool) -> None:
    torch.manual_seed(0)
    mixer = randomize_(mixer_of(variant, 36, (5, 5)), 0, qk=random_qk)
    mixer.switch_to_attention(ramp_steps=50)
    mixer.advance_ramp()  # what the trainer does before the first training forward after a switch
    grads = _backward(mixer, 1)
    for name in ATTENTION_PARAMS:
        grad = grads[name]
        assert grad is not None, name
        assert torch.isfinite(grad).all(), name
        assert grad.abs().sum() > 0, name
    assert (grads["locality_raw"].abs() > 0).all()  # every head's, not just some
    assert (grads["center"].abs().sum(-1) > 0).all()


@VARIANTS
def test_attention_gradients_grow_with_beta(variant: str) -> None:
    """The output is linear in beta, so q, k and the position terms get gradients proportional to it."""
    torch.manual_seed(0)
    mixer = randomize_(mixer_of(variant, 36, (5, 5)), 0)
    mixer.switch_to_attention(ramp_steps=10)
    mixer.advance_ramp()
    first = _backward(mixer, 1)
    for _ in range(4):
        mixer.advance_ramp()
    fifth = _backward(mixer, 1)
    for name in ATTENTION_PARAMS:
        ratio = fifth[name].norm() / first[name].norm()  # type: ignore[union-attr]
        assert ratio == pytest.approx(5.0, rel=1e-3), name


@VARIANTS
def test_conv_mode_gives_attention_parameters_no_gradient(variant: str) -> None:
    torch.manual_seed(0)
    mixer = randomize_(mixer_of(variant, 36, (5, 5)), 0)
    grads = _backward(mixer, 1)
    for name in ATTENTION_PARAMS:
        assert grads[name] is None or not grads[name].any(), name
    for name in CONV_PARAMS[variant]:
        assert grads[name] is not None and grads[name].abs().sum() > 0, name


# --- attention learns what a 3x3 convolution cannot -----------------------------------------------


def xor_stripes(n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """1x8x8 images: noise, column 0 raised by a = +-1, column 3 by b = +-1; label a * b > 0.

    No 3x3 window holds both columns, and a one-block conv model's logit is a sum over tokens of a
    function of one window each, i.e. F(a) + G(b): it cannot represent XOR, so it stays at chance.
    """
    x = 0.1 * torch.randn(n, 1, 8, 8, generator=gen)
    a = torch.randint(0, 2, (n,), generator=gen) * 2 - 1
    b = torch.randint(0, 2, (n,), generator=gen) * 2 - 1
    x[:, 0, :, 0] += a[:, None]
    x[:, 0, :, 3] += b[:, None]
    return x, (a * b > 0).long()


def _train_xor(attention: bool, steps: int, ramp: int = 50) -> tuple[HybridViT, float]:
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    # Patch stem with patch_size 1 is a 1x1 convolution: the mixer is the only spatial mixing.
    model = create_model("tiny", depth=1, num_classes=2, stem="patch")
    assert model.grid_size == (8, 8)
    model.set_attention_layers([attention], ramp_steps=ramp)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    for _ in range(steps):
        x, y = xor_stripes(64, gen)
        model.advance_ramps()
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    x, y = xor_stripes(512, torch.Generator().manual_seed(2))
    with torch.no_grad():
        accuracy = (model(x).argmax(1) == y).float().mean().item()
    return model, accuracy


def _stats(model: HybridViT, seed: int) -> tuple[float, float]:
    probe, _ = xor_stripes(64, torch.Generator().manual_seed(seed))
    (stats,) = model.attention_probe(probe)
    assert stats is not None
    return stats


@pytest.mark.slow
def test_attention_leaves_the_conv_pattern_to_solve_a_non_local_task() -> None:
    model, accuracy = _train_xor(attention=True, steps=300)
    assert model.layer_modes() == ("attention",)
    distance, tap_mass = _stats(model, 3)
    assert tap_mass < 0.5
    assert distance > math.sqrt(2)  # beyond the farthest tap of the 3x3 window
    assert accuracy > 0.9

    # Control: the same model kept a convolution cannot solve the task.
    conv_model, conv_accuracy = _train_xor(attention=False, steps=300)
    assert conv_model.attention_probe(xor_stripes(4, torch.Generator())[0]) == [None]
    assert conv_accuracy < 0.7


# --- conv mode costs what a convolution costs ----------------------------------------------------


@VARIANTS
def test_conv_mode_builds_no_attention_matrix(variant: str) -> None:
    grid, dim, batch = (16, 16), 18, 2
    n = grid[0] * grid[1]
    # The largest honest tensors (tokens, MLP hidden, weights) stay below one N x N matrix.
    assert batch * n * dim * 2 < n * n and dim * dim * 4 < n * n
    torch.manual_seed(0)
    block = Block(dim, grid, conv=variant)
    x = grid_tokens(batch, grid, dim, 0).requires_grad_()
    ops = _record_forward_backward(block, x)
    assert any("backward" in op for op, _ in ops.sizes)  # the backward pass was recorded too
    biggest = max(ops.sizes, key=lambda s: s[1])
    assert biggest[1] < n * n, f"conv mode produced {biggest} (N*N = {n * n})"
    assert ops.attentions() == 0

    # Positive control: the recorder does see attention when the layer attends.
    block.mixer.switch_to_attention(ramp_steps=0)
    x.grad = None
    assert _record_forward_backward(block, x).attentions() > 0
