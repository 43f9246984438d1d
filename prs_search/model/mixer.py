"""Reparameterizable token mixer: a KxK convolution that becomes multi-head self-attention in place.

Cordonnier et al. 2020 show that multi-head self-attention with K*K heads and relative positional
attention can express any KxK convolution: head h attends one-hot to its own offset Delta_h and its
value/output projections form that offset's slice of the kernel. This mixer lives in three modes over
the same value and output projections:

* ``conv``: a KxK convolution on the token grid, zero-padded at the borders, at convolution cost (no
  N x N matrix). Two strengths (`CONV_VARIANTS`):
  - ``shift`` (`ShiftMixer`, Cordonnier's construction with heads of width dim/K^2): each head reads
    its values at its offset, a depthwise one-hot shift of `v`, then `proj`; every offset carries only
    dim/K^2 channels, a convolution of rank dim/K^2 per tap.
  - ``dense`` (`DenseMixer`): one full `dim -> dim` KxK kernel, a real CNN layer (one `conv2d`).
    Cordonnier's theorem needs heads of full width for that, so after the switch every head reads the
    whole token as its value and head h writes through the kernel's slice at its offset (d'Ascoli et
    al.'s Transformed CNNs): the same kernel, now applied to attention-weighted tokens.
* ``ramp`` (a bounded number of optimiser steps after the switch): per head

      A_h = (1 - beta) P_h + beta S_h,
      S_h = softmax(q k^T / sqrt(d) - alpha_h |delta - c_h|^2)

  where P_h is the convolution's one-hot pattern, S_h content + relative-position self-attention
  with ConViT's locality prior (a learned width alpha_h > 0 around a learned centre c_h that starts
  at the head's offset Delta_h), and `beta` a *scheduled* number, 0 at the switch and 1 at the end of
  the ramp. Nothing about beta is learned, so the layer cannot stay a convolution (a learned gate
  starting near 0 did: Adam moves it by at most the sum of the learning rates, and after 200 steps
  the layer still put ~75% of its attention on its own tap).
* ``attention``: pure multi-head self-attention, `A_h = S_h`; the convolution path is not computed.

At the switch beta = 0, so the block's function is preserved exactly. The trainer advances the ramp
once before every training forward (`advance_ramp`), so the first step after the switch already
trains at beta = 1/ramp and every attention parameter gets a gradient from it.

Why a parametric position term and no free table B_h[delta]: a learned table enters attention as a
float mask that needs a gradient, which no fused kernel of `scaled_dot_product_attention` computes on
the CPU, so it runs the unfused path (measured: 0.61x timm's ViT for `tiny`). The locality term is a
quadratic in the positions, i.e. up to a per-query constant (which softmax ignores) the dot product of
three query features [2 alpha m, -alpha] (m = p_q + c_h) with three key features [p_k, |p_k|^2]:
appended to q and k it costs a few extra head dimensions and keeps the fused kernel.

Keys range over the token grid and the convolution's one ring of zero padding. A padding token's key
and value are zero (the projections have no bias), so its logit is its position term alone: all of a
query's padding keys act as one "sink" key, whose logit (the log-sum-exp of their position terms) is
a fourth query feature. Attention mode attends over N + 1 keys instead of the padded grid's
(H+2)(W+2), computing the same maps. The features reach |p|^2 ~ 2 H^2 alpha with cancellation, so
attention runs in float32 even under bf16 autocast. The ramp position is module state
(`get_extra_state`): it travels with `state_dict()`, and a resumed trial continues mid-ramp.
"""

from typing import Any, Literal

import torch
import torch.nn.functional as F
from timm.layers import trunc_normal_
from torch import nn

from prs_search.errors import ConfigError
from prs_search.recipe import ConvVariant

Mode = Literal["conv", "ramp", "attention"]


def kernel_offsets(kernel_size: int) -> torch.Tensor:
    """(K*K, 2) integer (dy, dx) offsets in row-major kernel order, centred on 0."""
    r = kernel_size // 2
    dy, dx = torch.meshgrid(torch.arange(-r, r + 1), torch.arange(-r, r + 1), indexing="ij")
    return torch.stack([dy.flatten(), dx.flatten()], dim=1)


def _inverse_softplus(value: float) -> float:
    return value + torch.log(-torch.expm1(torch.tensor(-value))).item()


def _grid_positions(h: int, w: int, r: int = 0) -> torch.Tensor:
    """(N, 2) float (y, x) of an h x w grid grown by r on every side, row-major, centred on the grid."""
    ys, xs = torch.arange(-r, h + r) - (h - 1) / 2, torch.arange(-r, w + r) - (w - 1) / 2
    return torch.stack(torch.meshgrid(ys, xs, indexing="ij"), -1).reshape(-1, 2).float()


class ReparamMixer(nn.Module):
    """Token mixer over an (H, W) grid: conv until `switch_to_attention()`, then a ramp, then attention.

    The base of both conv variants: the attention side (content q/k, the position terms, the sink),
    the switch and the ramp. A variant supplies its convolution (`_conv`), its attention output
    (`_attention`) and the kernel conv mode applies (`conv_kernel`).

    Args:
        dim: token width; must be divisible by `kernel_size**2` (one head per kernel offset).
        grid_size: (H, W) of the token grid.
        kernel_size: K of the KxK convolution (odd); the mixer has K*K heads.
        locality_strength: alpha_h at construction (learned, kept positive by a softplus): how
            strongly self-attention starts concentrated around each head's offset.
        proj_drop: dropout after the output projection.
    """

    # Buffers (declared for the type checker; registered in __init__ and _register_geometry).
    offsets: torch.Tensor
    beta: torch.Tensor
    grid_pos: torch.Tensor
    ring_pos: torch.Tensor
    padded_delta: torch.Tensor
    key_features: torch.Tensor
    key_distance: torch.Tensor
    tap_mask: torch.Tensor

    def __init__(
        self,
        dim: int,
        grid_size: tuple[int, int],
        kernel_size: int = 3,
        locality_strength: float = 1.0,
        proj_drop: float = 0.0,
    ) -> None:
        super().__init__()
        num_heads = kernel_size**2
        if kernel_size % 2 != 1:
            raise ConfigError(f"kernel_size must be odd, got {kernel_size}")
        if dim % num_heads:
            raise ConfigError(f"dim {dim} must be divisible by {num_heads} heads (kernel {kernel_size}x{kernel_size})")
        if not locality_strength > 0:
            raise ConfigError(f"locality_strength must be positive, got {locality_strength}")
        self.dim, self.grid_size, self.kernel_size = dim, grid_size, kernel_size
        self.num_heads, self.head_dim = num_heads, dim // num_heads
        self.scale = self.head_dim**-0.5
        # Head dimension of the fused attention: content + 4 position features, rounded up to 8
        # (measured: unaligned head dimensions cost the CPU kernel ~10%).
        self.attn_dim = -(-(self.head_dim + 4) // 8) * 8
        self.mode: Mode = "conv"
        self.ramp_steps = 0
        self.ramp_pos = 0

        self.qk = nn.Linear(dim, 2 * dim, bias=False)
        self.proj_drop = nn.Dropout(proj_drop)
        offsets = kernel_offsets(kernel_size)
        self.register_buffer("offsets", offsets.float(), persistent=False)
        self.register_buffer("beta", torch.zeros(()), persistent=False)  # a tensor: no recompile per step
        self._register_geometry(grid_size)
        self.locality_raw = nn.Parameter(torch.full((num_heads,), _inverse_softplus(locality_strength)))
        self.center = nn.Parameter(offsets.float().clone())  # c_h, starts at the head's offset
        trunc_normal_(self.qk.weight, std=0.02)

    # --- geometry ----------------------------------------------------------------------------------

    def _register_geometry(self, grid_size: tuple[int, int]) -> None:
        """Token positions (grid, padded grid, padding ring), key features and the conv taps.

        The padded grid is the (H+2r)(W+2r) tokens of the zero-padded grid, for analysis; the forward
        pass uses the grid's own keys plus the padding ring as one sink key.
        """
        h, w = grid_size
        r = self.kernel_size // 2
        grid, padded = _grid_positions(h, w), _grid_positions(h, w, r)
        inside = (padded.abs() <= torch.tensor([(h - 1) / 2, (w - 1) / 2])).all(-1)
        delta = padded[None, :, :] - grid[:, None, :]  # (Nq, Nk_padded, 2)
        # Real keys [p, |p|^2, 0], the sink [0, 0, 0, 1], then zeros up to attn_dim - head_dim.
        features = torch.zeros(len(grid) + 1, self.attn_dim - self.head_dim)
        features[:-1, :3] = torch.cat([grid, grid.square().sum(-1, True)], -1)
        features[-1, 3] = 1.0
        taps = (delta[None] - self.offsets[:, None, None, :]).square().sum(-1) == 0  # (heads, Nq, Nk_padded)
        buffers = {
            "grid_pos": grid, "ring_pos": padded[~inside], "padded_delta": delta, "key_features": features,
            "key_distance": delta.norm(dim=-1), "tap_mask": taps,
        }  # fmt: skip
        for name, value in buffers.items():
            self.register_buffer(name, value, persistent=False)

    @property
    def locality(self) -> torch.Tensor:
        """alpha_h, positive."""
        return F.softplus(self.locality_raw)

    def position_logits(self) -> torch.Tensor:
        """(heads, Nq, Nk_padded) position logits -alpha_h |delta - c_h|^2 over the padded grid."""
        dist2 = (self.padded_delta[None] - self.center[:, None, None, :]).square().sum(-1)
        return -self.locality.view(-1, 1, 1) * dist2

    def _query_features(self) -> torch.Tensor:
        """(heads, N, attn_dim - head_dim) position features of the queries.

        With m = p_q + c_h, the real keys get 2 alpha m . p_k - alpha |p_k|^2 = -alpha |p_k - m|^2 +
        alpha |m|^2, and the sink gets log sum_ring exp(-alpha |p_k - m|^2) + alpha |m|^2: the same
        per-query constant alpha |m|^2 throughout, which softmax ignores.
        """
        alpha = self.locality.view(-1, 1, 1)
        m = self.grid_pos[None] + self.center[:, None, :]  # (heads, N, 2)
        ring = (self.ring_pos[None, None] - m[:, :, None]).square().sum(-1)  # (heads, N, ring)
        sink = (-alpha * ring).logsumexp(-1, keepdim=True) + alpha * m.square().sum(-1, keepdim=True)
        features = torch.cat([2 * alpha * m, -alpha.expand(-1, m.shape[1], 1), sink], dim=-1)
        return F.pad(features, (0, self.attn_dim - self.head_dim - 4))

    def conv_kernel(self) -> torch.Tensor:
        """The (C_out, C_in, K, K) kernel that conv mode applies."""
        raise NotImplementedError

    # --- the switch and the ramp -------------------------------------------------------------------

    @property
    def attention(self) -> bool:
        """True from the switch on (during the ramp too)."""
        return self.mode != "conv"

    def switch_to_attention(self, ramp_steps: int = 0) -> None:
        """Leave conv mode for good; with `ramp_steps > 0` blend towards attention over that many steps."""
        if self.attention:
            raise ConfigError("this layer is already self-attention; a switch is one-way")
        if ramp_steps < 0:
            raise ConfigError(f"ramp_steps must be >= 0, got {ramp_steps}")
        self._set_ramp("ramp" if ramp_steps > 0 else "attention", ramp_steps, 0)

    def advance_ramp(self) -> None:
        """One optimiser step further along the ramp (call before each training forward)."""
        if self.mode == "ramp":
            pos = self.ramp_pos + 1
            self._set_ramp("ramp" if pos < self.ramp_steps else "attention", self.ramp_steps, pos)

    def _set_ramp(self, mode: Mode, steps: int, pos: int) -> None:
        self.mode, self.ramp_steps, self.ramp_pos = mode, steps, pos
        with torch.no_grad():
            self.beta.fill_(1.0 if mode == "attention" else (pos / steps if steps else 0.0))

    def get_extra_state(self) -> dict[str, Any]:
        return {"mode": self.mode, "ramp_steps": self.ramp_steps, "ramp_pos": self.ramp_pos}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        self._set_ramp(state["mode"], int(state["ramp_steps"]), int(state["ramp_pos"]))

    # --- forward -----------------------------------------------------------------------------------

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, N, C) tokens in row-major grid order."""
        mix = {"conv": self._conv, "ramp": self._ramp, "attention": self._attention}[self.mode]
        return self.proj_drop(mix(x))

    def _ramp(self, x: torch.Tensor) -> torch.Tensor:
        """(1 - beta) conv + beta attention; both end in the same bias, so the blend keeps it exactly."""
        attention = self._attention(x)
        return torch.lerp(self._conv(x), attention, self.beta.to(attention.dtype))

    def _conv(self, x: torch.Tensor) -> torch.Tensor:
        """Conv mode's output (B, N, C)."""
        raise NotImplementedError

    def _attention(self, x: torch.Tensor) -> torch.Tensor:
        """Attention's output (B, N, C), the same output projection and bias as `_conv`."""
        raise NotImplementedError

    def _to_grid(self, t: torch.Tensor) -> torch.Tensor:
        b, _, c = t.shape
        return t.transpose(1, 2).reshape(b, c, *self.grid_size)

    def _split(self, t: torch.Tensor) -> torch.Tensor:
        return t.reshape(t.shape[0], -1, self.num_heads, self.head_dim).transpose(1, 2)

    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """(B, heads, N, dv): S_h v_h in one attention call, content and position features side by side,
        plus the sink. `v` is (B, heads, N, dv) per head; values narrower than q and k are padded to their
        width, which the fused kernel needs (wider ones take the unfused kernel: `DenseMixer`)."""
        b, dtype, dv = q.shape[0], q.dtype, v.shape[-1]
        q, k, v = q.float(), k.float(), v.float()
        q = torch.cat([self._split(q) * self.scale, self._query_features().expand(b, -1, -1, -1)], dim=-1)
        k = torch.cat([self._split(F.pad(k, (0, 0, 0, 1))), self.key_features.expand(b, self.num_heads, -1, -1)], -1)
        v = F.pad(v, (0, max(self.attn_dim - dv, 0), 0, 1))  # and the sink's zero value
        with torch.autocast(q.device.type, enabled=False):
            out = F.scaled_dot_product_attention(q, k, v, scale=1.0)
        return out[..., :dv].to(dtype)

    # --- analysis ----------------------------------------------------------------------------------

    def attention_maps(self, x: torch.Tensor) -> torch.Tensor:
        """(B, heads, N, N_padded) effective attention A_h over the padded grid (analysis and tests)."""
        q, k = self.qk(x).chunk(2, dim=-1)
        r = self.kernel_size // 2
        k = F.pad(self._to_grid(k), (r, r, r, r)).flatten(2).transpose(1, 2)
        logits = (self._split(q) @ self._split(k).transpose(-2, -1)) * self.scale + self.position_logits()
        return torch.lerp(self.tap_mask.to(x.dtype), logits.softmax(dim=-1), self.beta.to(x.dtype))

    @torch.no_grad()
    def attention_stats(self, x: torch.Tensor, chunk: int = 32) -> tuple[float, float]:
        """(mean attention distance in tokens, mean attention mass on the head's own conv tap).

        Averaged over images, heads and queries; padding keys count at their place outside the grid.
        A 3x3 convolution has tap mass 1 and distance (4 * 1 + 4 * sqrt 2) / 9 = 1.07.
        """
        tap = self.tap_mask.to(x.dtype)
        distance = mass = 0.0
        for part in x.split(chunk):
            maps = self.attention_maps(part)
            distance += (maps * self.key_distance).sum(-1).mean(dim=(1, 2)).sum().item()
            mass += (maps * tap).sum(-1).mean(dim=(1, 2)).sum().item()
        return distance / len(x), mass / len(x)

    def extra_repr(self) -> str:
        ramp = f", ramp={self.ramp_pos}/{self.ramp_steps}" if self.mode == "ramp" else ""
        return f"dim={self.dim}, grid={self.grid_size}, heads={self.num_heads}, mode={self.mode}{ramp}"


class ShiftMixer(ReparamMixer):
    """Cordonnier's construction: K*K heads of width dim/K^2 over shared value and output projections.

    Conv mode: head h's values read at its offset (a depthwise one-hot shift), then `proj`; the kernel
    it applies at offset h is `proj_h @ v_h`, of rank dim/K^2.
    """

    shift_kernel: torch.Tensor

    def __init__(self, dim: int, grid_size: tuple[int, int], **kwargs: Any) -> None:
        super().__init__(dim, grid_size, **kwargs)
        # v has no bias: a bias shifted onto padding positions would break the conv equivalence.
        self.v = nn.Linear(dim, dim, bias=False)
        self.proj = nn.Linear(dim, dim)
        self.register_buffer("shift_kernel", self._one_hot_shift_kernel(self.offsets.long()), persistent=False)
        trunc_normal_(self.v.weight, std=0.02)
        trunc_normal_(self.proj.weight, std=0.02)
        nn.init.zeros_(self.proj.bias)

    def _one_hot_shift_kernel(self, offsets: torch.Tensor) -> torch.Tensor:
        """Depthwise (C, 1, K, K) kernel: channel c of head h reads its value at head h's offset."""
        k, r = self.kernel_size, self.kernel_size // 2
        kernel = torch.zeros(self.dim, 1, k, k)
        for head, (dy, dx) in enumerate(offsets.tolist()):
            kernel[head * self.head_dim : (head + 1) * self.head_dim, 0, r + dy, r + dx] = 1.0
        return kernel

    def conv_kernel(self) -> torch.Tensor:
        """The (C_out, C_in, K, K) kernel that conv mode applies, assembled from v and proj."""
        k = self.kernel_size
        wv = self.v.weight.view(self.num_heads, self.head_dim, self.dim)  # per head: (d, C_in)
        wo = self.proj.weight.view(self.dim, self.num_heads, self.head_dim)  # per head: (C_out, d)
        per_offset = torch.einsum("ohd,hdi->hoi", wo, wv)  # (heads, C_out, C_in)
        return per_offset.permute(1, 2, 0).reshape(self.dim, self.dim, k, k)

    def _conv(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self._shift(self.v(x)))

    def _attention(self, x: torch.Tensor) -> torch.Tensor:
        _, attended = self._values_and_attended(x)
        return self.proj(attended)

    def _ramp(self, x: torch.Tensor) -> torch.Tensor:
        # The blend before `proj`, on the values the attention already computed: one v and one proj.
        v, attended = self._values_and_attended(x)
        return self.proj(torch.lerp(self._shift(v), attended, self.beta.to(v.dtype)))

    def _values_and_attended(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(v, S v), both (B, N, C)."""
        # One matmul for q, k and v (measured: 2-3% of an attention step over two).
        q, k, v = F.linear(x, torch.cat([self.qk.weight, self.v.weight])).chunk(3, dim=-1)
        return v, self._attend(q, k, self._split(v)).transpose(1, 2).reshape(x.shape)

    def _shift(self, v: torch.Tensor) -> torch.Tensor:
        """Each head's values read at its offset, zero-padded: the one-hot pattern P without a matrix."""
        grid = self._to_grid(v)
        shifted = F.conv2d(grid, self.shift_kernel.to(v.dtype), padding=self.kernel_size // 2, groups=self.dim)
        return shifted.flatten(2).transpose(1, 2)


class DenseMixer(ReparamMixer):
    """A full KxK `dim -> dim` convolution that becomes attention with full-width values.

    Conv mode: `conv2d(x, kernel) + bias`, a real CNN layer. Attention: head h attends with its own
    queries and keys (width dim/K^2, as in `ShiftMixer`) over the whole tokens, and writes through the
    kernel's slice at its offset: sum_h W_h (A_h x) + bias. With A_h the one-hot tap pattern that is the
    convolution itself, so the switch is exact (d'Ascoli et al.'s Transformed CNNs; Cordonnier's
    theorem with heads of full width).
    """

    def __init__(self, dim: int, grid_size: tuple[int, int], **kwargs: Any) -> None:
        super().__init__(dim, grid_size, **kwargs)
        k = self.kernel_size
        self.kernel = nn.Parameter(torch.empty(dim, dim, k, k))
        self.bias = nn.Parameter(torch.zeros(dim))
        trunc_normal_(self.kernel, std=0.02)

    def conv_kernel(self) -> torch.Tensor:
        return self.kernel

    def _conv(self, x: torch.Tensor) -> torch.Tensor:
        y = F.conv2d(self._to_grid(x), self.kernel, self.bias, padding=self.kernel_size // 2)
        return y.flatten(2).transpose(1, 2)

    def _attention(self, x: torch.Tensor) -> torch.Tensor:
        q, k = self.qk(x).chunk(2, dim=-1)
        # Every head reads the whole token. Values wider than queries take the unfused kernel, which
        # measured faster than padding q and k to full width for the fused one (56 vs 101 ms per
        # forward + backward at batch 32, 65 keys, width 144, one thread).
        values = x.unsqueeze(1).expand(-1, self.num_heads, -1, -1)
        out = self._attend(q, k, values)  # (B, heads, N, C)
        # (C_out, heads * C_in) in head order: column h * C + i is the kernel's tap at offset h.
        weight = self.kernel.permute(0, 2, 3, 1).reshape(self.dim, -1)
        return F.linear(out.transpose(1, 2).flatten(2), weight, self.bias)


CONV_VARIANTS: dict[ConvVariant, type[ReparamMixer]] = {"shift": ShiftMixer, "dense": DenseMixer}
