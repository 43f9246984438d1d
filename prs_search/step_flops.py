"""Training FLOPs, counted: what one training step of the hybrid ViT computes per image, in each of its states.

A state is every layer's mode (`conv`, `ramp` or `attention`, `HybridViT.layer_modes()`); it changes within a
trial (layers switch at epoch starts, ramps end after some steps), so `StepFlops` counts each state once, the
first time the trial trains in it, and `prs_search.train` adds `per_image(state) * len(batch)` every step.

What is counted: the forward and backward pass of a training step (loss included), as
`torch.utils.flop_counter.FlopCounterMode` counts them: matrix products and convolutions, 2 FLOPs per
multiply-add. Not counted: element-wise work (norms, softmax, activations, the optimiser's update), and
nothing outside the training steps (the per-epoch validation pass, the layer statistics).

Attention is counted as its two matrix products and their gradients (`scaled_dot_product_attention`'s MATH
backend, which is made of them): the model's FLOPs, the same on every device. The fused CPU kernel has no
formula in FlopCounterMode, so it would count as zero, and the fused CUDA kernels' formulas add the backward
pass's recomputation of the attention matrix, which differs by kernel.

Counted on a copy, never on the model being trained: a model of the same configuration, built once per trial
on the CPU with the random streams forked, put in the state and run on a batch of blank images (FLOPs depend
on shapes only, and every counted product is linear in the batch). So counting changes nothing a trial
computes (weights, gradients, ramp positions, random streams), and a compiled model is counted as the eager
graph it compiles.
"""

import copy
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from prs_search.model import HybridViT

COUNT_BATCH = 2  # images of the counting batch: BatchNorm in training mode needs more than one


@contextmanager
def flop_counter() -> Iterator[FlopCounterMode]:
    """FlopCounterMode with attention computed by its MATH backend, so that it counts (the module's note):
    every count of this project goes through here, the benchmarks' included."""
    with FlopCounterMode(display=False) as counter, sdpa_kernel(SDPBackend.MATH):
        yield counter


def count_step(model: HybridViT, image_shape: tuple[int, int, int], batch: int = COUNT_BATCH) -> int:
    """FLOPs of one training step (forward and backward) of `model` on `batch` images of `image_shape`
    (channels, height, width). The model is spent on it: its gradients are filled; use a copy."""
    model.train()
    images = torch.zeros(batch, *image_shape)
    labels = torch.zeros(batch, dtype=torch.long)
    with flop_counter() as counter:
        F.cross_entropy(model(images), labels).backward()
    return int(counter.get_total_flops())


class StepFlops:
    """FLOPs of one training step per image, by state, each state counted once.

    `build` makes a new model of the trial's configuration (every layer a convolution); it is called once,
    on first use. `image_shape` is (channels, height, width) of the trial's images.
    """

    def __init__(self, build: Callable[[], HybridViT], image_shape: tuple[int, int, int]) -> None:
        self._build, self._image_shape = build, image_shape
        self._template: HybridViT | None = None
        self._counted: dict[tuple[str, ...], float] = {}

    def per_image(self, modes: Sequence[str]) -> float:
        """FLOPs per image of a training step with the layers in `modes` (as `layer_modes()` says)."""
        state = tuple(modes)
        if state not in self._counted:
            self._counted[state] = self._count(state)
        return self._counted[state]

    def _count(self, modes: tuple[str, ...]) -> float:
        # Forked: building initialises weights and a training forward may draw dropout masks, both from the
        # global generator that the trial's own initialisation and augmentation draw from.
        with torch.random.fork_rng(devices=[]):
            if self._template is None:
                self._template = self._build()
            model = copy.deepcopy(self._template)
            for mixer, mode in zip(model.mixers, modes, strict=True):
                if mode != "conv":  # one ramp step or none: a ramp's length does not change its shapes
                    mixer.switch_to_attention(ramp_steps=1 if mode == "ramp" else 0)
            return count_step(model, self._image_shape) / COUNT_BATCH
