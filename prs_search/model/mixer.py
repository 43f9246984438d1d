"""Reparameterizable token mixer: a KxK convolution that becomes multi-head self-attention in place.

Cordonnier et al. 2020 show that multi-head self-attention with K*K heads and relative positional
attention can express any KxK convolution: head h attends one-hot to its own offset Delta_h and its
value/output projections form that offset's slice of the kernel. This mixer runs in one of two modes
over the same value and output projections:

* conv mode: each head reads the value at its offset, zero-padded at the borders. That is a depthwise
  one-hot shift of `v`, so it costs what a convolution costs and never builds an N x N matrix.
* attention mode: gated positional self-attention (d'Ascoli et al. 2021, ConViT's GPSA). Per head,

      A_h = (1 - g_h) * P_h + g_h * softmax(q k^T / sqrt(d) - alpha_h |delta - Delta_h|^2 + B_h[delta])

  where P_h is the convolution's one-hot pattern written as an attention map, the second term is full
  content + relative-position attention (ConViT's locality init around the head's offset, plus a
  learned table over offsets), and g_h is a learned per-head gate. Keys range over the token grid
  padded by one ring of zero-valued tokens, which play the convolution's zero padding.

Why a gate and not a saturated softmax: a softmax sharp enough to equal the convolution to 1e-4 has
gradients of ~1e-9, below Adam's epsilon, so nothing would move after the switch. Here g starts at
`gate_init` (1e-4): the block's output changes by ~1e-5 relative at the switch, g itself gets a
full-size gradient (the difference between the two paths), and q, k and the position terms get
gradients scaled by g from the first step. g is unconstrained (no sigmoid), so it cannot die at a bound.
"""

import torch
import torch.nn.functional as F
from timm.layers import trunc_normal_
from torch import nn

from prs_search.errors import ConfigError


def kernel_offsets(kernel_size: int) -> torch.Tensor:
    """(K*K, 2) integer (dy, dx) offsets in row-major kernel order, centred on 0."""
    r = kernel_size // 2
    dy, dx = torch.meshgrid(torch.arange(-r, r + 1), torch.arange(-r, r + 1), indexing="ij")
    return torch.stack([dy.flatten(), dx.flatten()], dim=1)


class ReparamMixer(nn.Module):
    """Token mixer over an (H, W) grid: conv mode until `switch_to_attention()`, attention after.

    Args:
        dim: token width; must be divisible by `kernel_size**2` (one head per kernel offset).
        grid_size: (H, W) of the token grid.
        kernel_size: K of the KxK convolution (odd); the mixer has K*K heads.
        locality_strength: alpha at the switch (ConViT's default 1.0): how strongly the learned
            attention starts concentrated around each head's offset.
        gate_init: g at the switch, the weight of the learned attention beside the conv pattern.
        proj_drop: dropout after the output projection.
    """

    def __init__(
        self,
        dim: int,
        grid_size: tuple[int, int],
        kernel_size: int = 3,
        locality_strength: float = 1.0,
        gate_init: float = 1e-4,
        proj_drop: float = 0.0,
    ) -> None:
        super().__init__()
        num_heads = kernel_size**2
        if kernel_size % 2 != 1:
            raise ConfigError(f"kernel_size must be odd, got {kernel_size}")
        if dim % num_heads:
            raise ConfigError(f"dim {dim} must be divisible by {num_heads} heads (kernel {kernel_size}x{kernel_size})")
        self.dim, self.grid_size, self.kernel_size = dim, grid_size, kernel_size
        self.num_heads, self.head_dim = num_heads, dim // num_heads
        self.scale = self.head_dim**-0.5
        self.attention = False

        # v has no bias: a bias shifted onto padding positions would break the conv equivalence.
        self.qk = nn.Linear(dim, 2 * dim, bias=False)
        self.v = nn.Linear(dim, dim, bias=False)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

        offsets = kernel_offsets(kernel_size)
        self.register_buffer("shift_kernel", self._one_hot_shift_kernel(offsets), persistent=False)
        rel_index, dist2 = self._relative_geometry(grid_size, offsets)
        self.register_buffer("rel_index", rel_index, persistent=False)
        self.register_buffer("offset_dist2", dist2, persistent=False)
        self.locality = nn.Parameter(torch.full((num_heads,), float(locality_strength)))
        self.gate = nn.Parameter(torch.full((num_heads,), float(gate_init)))
        span = (2 * grid_size[0] + 1) * (2 * grid_size[1] + 1)
        self.rel_bias = nn.Parameter(torch.zeros(num_heads, span))
        trunc_normal_(self.qk.weight, std=0.02)
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

    def _relative_geometry(
        self, grid_size: tuple[int, int], offsets: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Index of (key - query) into the relative table, and |delta - Delta_h|^2 per head.

        Queries are the H*W grid tokens; keys are the (H+2r)*(W+2r) tokens of the zero-padded grid.
        """
        h, w = grid_size
        r = self.kernel_size // 2
        q = torch.stack(torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij"), -1).reshape(-1, 2)
        kh, kw = torch.arange(-r, h + r), torch.arange(-r, w + r)
        k = torch.stack(torch.meshgrid(kh, kw, indexing="ij"), -1).reshape(-1, 2)
        delta = k[None, :, :] - q[:, None, :]  # (Nq, Nk, 2)
        rel_index = (delta[..., 0] + h) * (2 * w + 1) + (delta[..., 1] + w)
        dist2 = ((delta[None] - offsets[:, None, None, :]) ** 2).sum(-1).float()  # (heads, Nq, Nk)
        return rel_index, dist2

    def switch_to_attention(self) -> None:
        """Become self-attention from now on; the output moves by ~gate_init relative at this moment."""
        self.attention = True

    def position_logits(self) -> torch.Tensor:
        """(heads, Nq, Nk) relative-position logits: locality prior plus the learned table."""
        return -self.locality.view(-1, 1, 1) * self.offset_dist2 + self.rel_bias[:, self.rel_index]

    def conv_kernel(self) -> torch.Tensor:
        """The (C_out, C_in, K, K) kernel that conv mode applies, assembled from v and proj."""
        k = self.kernel_size
        wv = self.v.weight.view(self.num_heads, self.head_dim, self.dim)  # per head: (d, C_in)
        wo = self.proj.weight.view(self.dim, self.num_heads, self.head_dim)  # per head: (C_out, d)
        per_offset = torch.einsum("ohd,hdi->hoi", wo, wv)  # (heads, C_out, C_in)
        return per_offset.permute(1, 2, 0).reshape(self.dim, self.dim, k, k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, N, C) tokens in row-major grid order."""
        y = self._attend(x) if self.attention else self._convolve(x)
        return self.proj_drop(self.proj(y))

    def _to_grid(self, t: torch.Tensor) -> torch.Tensor:
        b, _, c = t.shape
        return t.transpose(1, 2).reshape(b, c, *self.grid_size)

    def _convolve(self, x: torch.Tensor) -> torch.Tensor:
        return self._shift(self.v(x))

    def _shift(self, v: torch.Tensor) -> torch.Tensor:
        """Each head's values read at its offset, zero-padded: the one-hot pattern P without a matrix."""
        grid = self._to_grid(v)
        shifted = F.conv2d(grid, self.shift_kernel.to(v.dtype), padding=self.kernel_size // 2, groups=self.dim)
        return shifted.flatten(2).transpose(1, 2)

    def _split(self, t: torch.Tensor) -> torch.Tensor:
        return t.reshape(t.shape[0], -1, self.num_heads, self.head_dim).transpose(1, 2)

    def _pad_tokens(self, t: torch.Tensor) -> torch.Tensor:
        r = self.kernel_size // 2
        return F.pad(self._to_grid(t), (r, r, r, r)).flatten(2).transpose(1, 2)

    def _attend(self, x: torch.Tensor) -> torch.Tensor:
        v = self.v(x)
        q, k = self.qk(x).chunk(2, dim=-1)
        q, k, vp = self._split(q), self._split(self._pad_tokens(k)), self._split(self._pad_tokens(v))
        bias = self.position_logits().to(q.dtype)
        learned = F.scaled_dot_product_attention(q, k, vp, attn_mask=bias, scale=self.scale)
        learned = learned.transpose(1, 2).reshape(x.shape)
        conv = self._shift(v)
        gate = self.gate.repeat_interleave(self.head_dim).to(x.dtype)
        return conv + gate * (learned - conv)

    def attention_maps(self, x: torch.Tensor) -> torch.Tensor:
        """(B, heads, N, N_padded) effective attention A_h of attention mode, for analysis and tests."""
        q, k = self.qk(x).chunk(2, dim=-1)
        q, k = self._split(q), self._split(self._pad_tokens(k))
        learned = ((q @ k.transpose(-2, -1)) * self.scale + self.position_logits()).softmax(dim=-1)
        conv = (self.offset_dist2 == 0).to(x.dtype)
        gate = self.gate.view(-1, 1, 1)
        return conv + gate * (learned - conv)

    def target_mass(self, x: torch.Tensor) -> torch.Tensor:
        """Mean attention mass each head puts on its own convolution offset (1.0 = pure conv)."""
        target = (self.offset_dist2 == 0).to(x.dtype)  # (heads, Nq, Nk), one key per query
        return (self.attention_maps(x) * target).sum(-1).mean(dim=(0, 2))

    def extra_repr(self) -> str:
        mode = "attention" if self.attention else "conv"
        return f"dim={self.dim}, grid={self.grid_size}, heads={self.num_heads}, mode={mode}"
