"""ReparamMixer: conv mode is a real 3x3 convolution, the switch to attention preserves the function,
every attention parameter learns afterwards, and conv mode never builds an N x N attention matrix."""

import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from prs_search.errors import ConfigError
from prs_search.model import Block, HybridViT, ReparamMixer, create_model
from prs_search.model.mixer import kernel_offsets

from .helpers import randomize_, relative_diff

ATTENTION_PARAMS = ("qk.weight", "locality", "rel_bias", "gate")
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


# --- construction --------------------------------------------------------------------------------


def test_heads_are_the_kernel_offsets() -> None:
    mixer = ReparamMixer(36, (4, 4))
    assert mixer.num_heads == 9 and mixer.head_dim == 4
    assert kernel_offsets(3).tolist() == [[dy, dx] for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    assert not mixer.attention
    assert torch.allclose(mixer.gate, torch.full((9,), 1e-4))
    assert torch.equal(mixer.locality, torch.ones(9))
    assert not mixer.rel_bias.any()


@pytest.mark.parametrize(("dim", "kernel", "match"), [(35, 3, "divisible by 9 heads"), (36, 2, "must be odd")])
def test_bad_shapes_are_config_errors(dim: int, kernel: int, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        ReparamMixer(dim, (4, 4), kernel_size=kernel)


@pytest.mark.parametrize("grid", [(4, 4), (5, 7)])
def test_each_head_has_exactly_one_target_key_per_query(grid: tuple[int, int]) -> None:
    mixer = ReparamMixer(36, grid)
    n, n_padded = grid[0] * grid[1], (grid[0] + 2) * (grid[1] + 2)
    target = mixer.offset_dist2 == 0
    assert target.shape == (9, n, n_padded)
    assert torch.equal(target.sum(-1), torch.ones(9, n, dtype=torch.long))


# --- conv mode is a convolution ------------------------------------------------------------------


@pytest.mark.parametrize(("grid", "dim", "seed"), [((4, 4), 36, 0), ((8, 8), 72, 1), ((5, 7), 36, 2)])
def test_conv_mode_equals_conv2d_with_the_assembled_kernel(grid: tuple[int, int], dim: int, seed: int) -> None:
    torch.manual_seed(seed)
    mixer = randomize_(ReparamMixer(dim, grid), seed).eval()
    x = grid_tokens(3, grid, dim, seed)
    with torch.no_grad():
        out = to_grid(mixer(x), grid)
        kernel = mixer.conv_kernel()
        expected = F.conv2d(to_grid(x, grid), kernel, mixer.proj.bias, padding=1)
    assert kernel.shape == (dim, dim, 3, 3)
    assert relative_diff(out, expected) <= 1e-5


def test_conv_kernel_is_assembled_from_v_and_proj() -> None:
    torch.manual_seed(0)
    mixer = randomize_(ReparamMixer(36, (4, 4)), 0)
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
    mixer = randomize_(ReparamMixer(36, (4, 4)), 0)
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
def test_switch_preserves_block_output(seed: int, grid: tuple[int, int], dim: int, random_qk: bool) -> None:
    torch.manual_seed(seed)
    block = randomize_(Block(dim, grid), seed, qk=random_qk).eval()
    x = grid_tokens(4, grid, dim, seed + 100)
    with torch.no_grad():
        before = block(x)
        block.mixer.switch_to_attention()
        after = block(x)
    border = border_mask(grid)
    assert block.mixer.attention
    assert 0 < relative_diff(after, before) <= SWITCH_TOL  # > 0: the attention path really ran
    assert relative_diff(after[:, border], before[:, border]) <= SWITCH_TOL
    assert relative_diff(after[:, ~border], before[:, ~border]) <= SWITCH_TOL


@pytest.mark.parametrize("grid", [(4, 4), (5, 7)])
def test_attention_maps_are_the_conv_pattern_with_zero_padding(grid: tuple[int, int]) -> None:
    """With the gate at 1 and a very sharp locality prior, the learned softmax alone must reproduce conv
    mode, borders included: the padded keys are the convolution's zero padding."""
    torch.manual_seed(0)
    mixer = randomize_(ReparamMixer(36, grid), 0).eval()
    x = grid_tokens(2, grid, 36, 1)
    with torch.no_grad():
        conv = mixer(x)
        mixer.switch_to_attention()
        mixer.gate.fill_(1.0)
        mixer.locality.fill_(60.0)  # next-nearest key at exp(-60) relative weight
        assert relative_diff(mixer(x), conv) <= 1e-5
        maps = mixer.attention_maps(x)
    target = (mixer.offset_dist2 == 0).float().expand_as(maps)
    assert maps.shape == (2, 9, grid[0] * grid[1], (grid[0] + 2) * (grid[1] + 2))
    assert torch.allclose(maps, target, atol=1e-6)


def test_attention_maps_rows_sum_to_one_and_match_the_forward() -> None:
    torch.manual_seed(0)
    grid = (4, 5)
    mixer = randomize_(ReparamMixer(36, grid), 0).eval()
    mixer.switch_to_attention()
    with torch.no_grad():
        mixer.gate.uniform_(0.2, 0.8)
        x = grid_tokens(2, grid, 36, 3)
        maps = mixer.attention_maps(x)  # (B, heads, N, N_padded)
        v = mixer._split(mixer._pad_tokens(mixer.v(x)))  # (B, heads, N_padded, d)
        by_maps = mixer.proj((maps @ v).transpose(1, 2).reshape(x.shape))
        forward = mixer(x)
    assert torch.allclose(maps.sum(-1), torch.ones_like(maps.sum(-1)), atol=1e-5)
    assert relative_diff(by_maps, forward) <= 1e-5


@pytest.mark.parametrize("stem", ["conv", "patch"])
@pytest.mark.parametrize("weights", ["init", "random"])
def test_switching_every_layer_preserves_model_logits(stem: str, weights: str) -> None:
    torch.manual_seed(0)
    model = create_model("tiny", img_size=16, in_chans=3, stem=stem).eval()
    if weights == "random":
        randomize_(model, 1)
    assert model.grid_size == (8, 8)
    x = torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        before = model(x)
        assert model.set_attention_layers([True] * model.depth) == list(range(model.depth))
        after = model(x)
    assert model.attention_layers() == (True,) * model.depth
    assert 0 < relative_diff(after, before) <= SWITCH_TOL


# --- gradients after the switch ------------------------------------------------------------------


def _backward(mixer: ReparamMixer, seed: int) -> dict[str, torch.Tensor | None]:
    x = grid_tokens(2, mixer.grid_size, mixer.dim, seed)
    target = torch.randn(x.shape, generator=torch.Generator().manual_seed(seed + 1))
    mixer.zero_grad(set_to_none=True)
    (mixer(x) * target).sum().backward()
    return {n: p.grad for n, p in mixer.named_parameters()}


@pytest.mark.parametrize("random_qk", [False, True])
def test_every_attention_parameter_learns_from_the_first_step(random_qk: bool) -> None:
    torch.manual_seed(0)
    mixer = randomize_(ReparamMixer(36, (5, 5)), 0, qk=random_qk)
    mixer.switch_to_attention()
    grads = _backward(mixer, 1)
    for name in ATTENTION_PARAMS:
        grad = grads[name]
        assert grad is not None, name
        assert torch.isfinite(grad).all(), name
        assert grad.abs().sum() > 0, name
    assert (grads["gate"].abs() > 0).all()  # every head's gate, not just some
    assert (grads["locality"].abs() > 0).all()


def test_gate_gradient_is_full_size_while_the_others_scale_with_the_gate() -> None:
    """The output is linear in g: dL/dg is the two paths' difference whatever g is, while q, k and the
    position terms act through g * softmax(...) and get gradients proportional to g."""
    torch.manual_seed(0)
    mixer = randomize_(ReparamMixer(36, (5, 5)), 0)
    mixer.switch_to_attention()
    small = _backward(mixer, 1)
    with torch.no_grad():
        mixer.gate.mul_(100.0)
    large = _backward(mixer, 1)
    assert torch.allclose(large["gate"], small["gate"], rtol=1e-3, atol=0)
    for name in ("qk.weight", "locality", "rel_bias"):
        ratio = large[name].norm() / small[name].norm()
        assert ratio == pytest.approx(100.0, rel=1e-2), name


def test_conv_mode_gives_attention_parameters_no_gradient() -> None:
    torch.manual_seed(0)
    mixer = randomize_(ReparamMixer(36, (5, 5)), 0)
    grads = _backward(mixer, 1)
    for name in ATTENTION_PARAMS:
        assert grads[name] is None or not grads[name].any(), name
    for name in ("v.weight", "proj.weight", "proj.bias"):
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


def conv_pattern_distance(model: HybridViT, x: torch.Tensor) -> float:
    """Mean total-variation distance 0.5 * |A - P|_1 per query between the effective attention maps
    and the one-hot conv pattern, over heads, queries and images."""
    mixer = model.mixers[0]
    with torch.no_grad():
        maps = mixer.attention_maps(model.blocks[0].norm1(model.stem(x)))
    pattern = (mixer.offset_dist2 == 0).to(maps.dtype)
    return (0.5 * (maps - pattern).abs().sum(-1)).mean().item()


def _train_xor(attention: bool, steps: int) -> tuple[HybridViT, float]:
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    # Patch stem with patch_size 1 is a 1x1 convolution: the mixer is the only spatial mixing.
    model = create_model("tiny", depth=1, num_classes=2, stem="patch")
    assert model.grid_size == (8, 8)
    model.set_attention_layers([attention])
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    for _ in range(steps):
        x, y = xor_stripes(64, gen)
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    x, y = xor_stripes(512, torch.Generator().manual_seed(2))
    with torch.no_grad():
        accuracy = (model(x).argmax(1) == y).float().mean().item()
    return model, accuracy


@pytest.mark.slow
def test_attention_leaves_the_conv_pattern_to_solve_a_non_local_task() -> None:
    probe, _ = xor_stripes(64, torch.Generator().manual_seed(3))
    torch.manual_seed(0)
    start = conv_pattern_distance(create_model("tiny", depth=1, num_classes=2, stem="patch"), probe)

    model, accuracy = _train_xor(attention=True, steps=250)
    end = conv_pattern_distance(model, probe)
    assert start < 1e-3
    assert end > 0.05 and end > 50 * start, (start, end)
    assert accuracy > 0.9

    # Control: the same model kept a convolution cannot solve the task.
    conv_model, conv_accuracy = _train_xor(attention=False, steps=250)
    assert conv_model.attention_layers() == (False,)
    assert conv_accuracy < 0.7


# --- conv mode costs what a convolution costs ----------------------------------------------------


class _OutputSizes(TorchDispatchMode):
    """Records every operator's output sizes (forward and backward)."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[tuple[str, int]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        out = func(*args, **(kwargs or {}))
        for t in tree_leaves(out):
            if isinstance(t, torch.Tensor):
                self.sizes.append((str(func), t.numel()))
        return out


def _record_forward_backward(block: Block, x: torch.Tensor) -> list[tuple[str, int]]:
    with _OutputSizes() as recorder:
        block(x).square().mean().backward()
    return recorder.sizes


def test_conv_mode_builds_no_attention_matrix() -> None:
    grid, dim, batch = (16, 16), 18, 2
    n = grid[0] * grid[1]
    # The largest honest tensors (tokens, MLP hidden, weights) stay below one N x N matrix.
    assert batch * n * dim * 2 < n * n and dim * dim * 4 < n * n
    torch.manual_seed(0)
    block = Block(dim, grid)
    x = grid_tokens(batch, grid, dim, 0).requires_grad_()
    sizes = _record_forward_backward(block, x)
    assert any("backward" in op for op, _ in sizes)  # the backward pass was recorded too
    biggest = max(sizes, key=lambda s: s[1])
    assert biggest[1] < n * n, f"conv mode produced {biggest} (N*N = {n * n})"

    # Positive control: attention mode does produce tensors of at least N x N per sample.
    block.mixer.switch_to_attention()
    x.grad = None
    sizes = _record_forward_backward(block, x)
    assert max(numel for _, numel in sizes) >= batch * n * n
