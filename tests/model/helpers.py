"""Helpers for the model tests: realistic random weights in place of the near-zero initialisation."""

import torch
from torch import nn

from prs_search.model import DenseMixer


def randomize_(module: nn.Module, seed: int, *, qk: bool = True) -> nn.Module:
    """Give every Linear (and every dense mixer's kernel) normal(0, fan_in**-0.5) weights and small random
    biases, every LayerNorm weights around 1 and small biases, as a trained network would have. The mixers'
    switch parameters (locality_raw, center) keep their values; with `qk=False` the query/key projections
    keep their constructed weights too."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for mixer in module.modules():
            if isinstance(mixer, DenseMixer):  # its kernel is a parameter, not a Linear
                fan_in = mixer.kernel[0].numel()
                mixer.kernel.copy_(torch.randn(mixer.kernel.shape, generator=gen) * fan_in**-0.5)
                mixer.bias.copy_(0.1 * torch.randn(mixer.bias.shape, generator=gen))
        for name, mod in module.named_modules():
            if isinstance(mod, nn.Linear):
                if name.split(".")[-1] == "qk" and not qk:
                    continue
                mod.weight.copy_(torch.randn(mod.weight.shape, generator=gen) * mod.in_features**-0.5)
                if mod.bias is not None:
                    mod.bias.copy_(0.1 * torch.randn(mod.bias.shape, generator=gen))
            elif isinstance(mod, nn.LayerNorm):
                mod.weight.copy_(1.0 + 0.2 * torch.randn(mod.weight.shape, generator=gen))
                mod.bias.copy_(0.1 * torch.randn(mod.bias.shape, generator=gen))
    return module


def relative_diff(after: torch.Tensor, before: torch.Tensor) -> float:
    return ((after - before).norm() / before.norm()).item()
