"""Batches from a dataset that lives on the device (airbench-style).

The images are copied to the device once, as uint8. Every batch is gathered, augmented (random crop
with zero padding of the raw pixels, i.e. black borders as torchvision's `RandomCrop(padding=...)`, and
an optional horizontal flip) and normalised there as whole-batch tensor operations: no
DataLoader workers, no per-image Python, no host-to-device copy of pixels after construction.

Randomness comes from a CPU `torch.Generator`: per epoch it draws one permutation and every sample's
crop offset and flip bit (a few hundred KB even for 50,000 images), which are then moved to the device.
A CPU generator has a portable state, so `state_dict()` taken between epochs lets a resumed trial
continue with exactly the data order and augmentations it would have seen.
"""

import math
from collections.abc import Iterator, Sequence

import torch
import torch.nn.functional as F

from prs_search.data.datasets import ImageData
from prs_search.errors import ConfigError

__all__ = ["DeviceLoader", "random_crop"]

Batch = tuple[torch.Tensor, torch.Tensor]


class DeviceLoader:
    """Iterate one epoch of `(x, y)` batches: x float32 normalised N x C x H x W, y int64.

    Training loaders (`train=True`) shuffle and augment every epoch and drop the last incomplete batch
    (a tiny batch gives a noisy step and a BatchNorm hazard); the batch size is capped at the dataset
    size so a small subset still gives one batch. Evaluation loaders keep the order and every sample.
    """

    def __init__(
        self,
        data: ImageData,
        batch_size: int,
        *,
        mean: Sequence[float],
        std: Sequence[float],
        device: torch.device | str = "cpu",
        train: bool = False,
        hflip: bool = False,
        pad: int | None = None,
        seed: int = 0,
    ) -> None:
        if batch_size < 1:
            raise ConfigError(f"batch size must be at least 1, got {batch_size}")
        if len(data) == 0:
            raise ConfigError("cannot batch an empty split")
        channels, size = data.x.shape[1], data.x.shape[2]
        if len(mean) != channels or len(std) != channels:
            raise ConfigError(f"mean/std need {channels} values, got {len(mean)} and {len(std)}")
        self.x = data.x.to(device)  # the one host-to-device copy
        self.y = data.y.to(device)
        self.device = self.x.device
        self.train = train
        self.hflip = hflip and train
        self.pad = (max(1, size // 8) if pad is None else pad) if train else 0
        if self.pad < 0:
            raise ConfigError(f"crop padding must be >= 0, got {pad}")
        self.batch_size = min(batch_size, len(data)) if train else batch_size
        # Normalisation folded into one multiply-add: (x / 255 - mean) / std.
        std_t = torch.tensor(std, dtype=torch.float32, device=self.device).view(1, -1, 1, 1)
        mean_t = torch.tensor(mean, dtype=torch.float32, device=self.device).view(1, -1, 1, 1)
        self._scale = 1.0 / (255.0 * std_t)
        self._shift = -mean_t / std_t
        self._generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        if self.train:
            return len(self.y) // self.batch_size
        return math.ceil(len(self.y) / self.batch_size)

    def __iter__(self) -> Iterator[Batch]:
        if not self.train:
            return self._eval_batches()
        # Drawn here, not lazily at the first batch, so the generator state after iter() is well defined.
        return self._train_batches(*self._draw_epoch())

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The random state; take it between epochs to resume with the same data order."""
        return {"generator": self._generator.get_state()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self._generator.set_state(state["generator"])

    def _eval_batches(self) -> Iterator[Batch]:
        for start in range(0, len(self.y), self.batch_size):
            end = start + self.batch_size
            yield self._normalize(self.x[start:end]), self.y[start:end]

    def _draw_epoch(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        n = len(self.y)
        order = torch.randperm(n, generator=self._generator)
        offsets = torch.randint(0, 2 * self.pad + 1, (n, 2), generator=self._generator)
        flips = torch.rand(n, generator=self._generator) < 0.5
        return order.to(self.device), offsets.to(self.device), flips.to(self.device)

    def _train_batches(self, order: torch.Tensor, offsets: torch.Tensor, flips: torch.Tensor) -> Iterator[Batch]:
        for b in range(len(self)):
            batch = slice(b * self.batch_size, (b + 1) * self.batch_size)
            idx = order[batch]
            x = self.x[idx]
            if self.pad > 0:
                x = random_crop(x, offsets[batch], self.pad)
            if self.hflip:
                x = torch.where(flips[batch].view(-1, 1, 1, 1), x.flip(-1), x)
            yield self._normalize(x), self.y[idx]

    def _normalize(self, x: torch.Tensor) -> torch.Tensor:
        return x.to(torch.float32) * self._scale + self._shift


def random_crop(x: torch.Tensor, offsets: torch.Tensor, pad: int) -> torch.Tensor:
    """Zero-pad every image by `pad` and crop it back to its size at its own (row, col) offset.

    `offsets` is B x 2 in [0, 2 * pad]; offset `pad` is the identity. One gather for the whole batch.
    """
    b, c, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    rows = offsets[:, 0:1] + torch.arange(h, device=x.device)  # B x H
    cols = offsets[:, 1:2] + torch.arange(w, device=x.device)  # B x W
    batch = torch.arange(b, device=x.device).view(b, 1, 1, 1)
    chans = torch.arange(c, device=x.device).view(1, c, 1, 1)
    return padded[batch, chans, rows.view(b, 1, h, 1), cols.view(b, 1, 1, w)]
