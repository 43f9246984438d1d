"""The plain CNN a hybrid must come near: the bar above which a schedule search is worth running.

Five 3x3 convolutions (64, 64, 128, 128, 256 channels, BatchNorm + ReLU, a 2x2 max-pool after the second
and the fourth), global average pool, linear head: 0.56 M parameters on CIFAR-10. It trains with the
project's own pieces (the device-resident loader with its crop + flip augmentation, AdamW with warm-up
and cosine, label smoothing, `evaluate`), so a comparison with the hybrid differs in the model and its
recipe alone. The recipe (lr 2e-3, 4 px crop padding on 32 px images) was chosen on validation accuracy at 1,000
CIFAR-10 images (`docs/recipe.md`).
"""

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from prs_search.data import DeviceLoader, ImageData, Splits
from prs_search.train import autocast, default_device, evaluate, warmup_cosine

NAME = "plain-cnn"  # how studies label it
WIDTHS = (64, 64, 128, 128, 256)
POOL_AFTER = (1, 3)  # indices of the convolutions followed by a 2x2 max-pool
TRAIN_PROBE_IMAGES = 2000  # training images the after-training train accuracy is measured on


def plain_cnn(in_chans: int, num_classes: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    prev = in_chans
    for i, width in enumerate(WIDTHS):
        layers += [nn.Conv2d(prev, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
        if i in POOL_AFTER:
            layers.append(nn.MaxPool2d(2))
        prev = width
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(prev, num_classes))


@dataclass(frozen=True)
class CnnRecipe:
    steps: int = 1250
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 0.05
    warmup_steps: int = 50
    label_smoothing: float = 0.1
    crop_padding: int | None = None  # the loader's default: an eighth of the image side (4 px on CIFAR)
    seed: int = 0


@dataclass(frozen=True)
class CnnResult:
    train_acc: float  # `train_accuracy`: after training, without augmentation
    val_acc: float
    test_acc: float | None
    seconds: float  # training only (the evaluations after it are not counted)
    steps: int
    params: int


def train_accuracy(model: nn.Module, splits: Splits, device: torch.device, seed: int) -> float:
    """Accuracy on (a seeded sample of at most `TRAIN_PROBE_IMAGES` of) the training images, without
    augmentation, after training: what the model fits, the regime a reader needs beside test accuracy."""
    data: ImageData = splits.train
    if len(data) > TRAIN_PROBE_IMAGES:
        generator = torch.Generator().manual_seed(seed)
        data = data.subset(torch.randperm(len(data), generator=generator)[:TRAIN_PROBE_IMAGES])
    return evaluate(model, data, splits, device)[1]


def train_cnn(splits: Splits, recipe: CnnRecipe, *, evaluate_test: bool = True) -> CnnResult:
    """Train the plain CNN for `recipe.steps` optimiser steps; validation (and test) accuracy after it."""
    device = default_device()
    start = time.perf_counter()
    model = _train(splits, recipe, recipe.steps, device)
    seconds = time.perf_counter() - start
    val_acc = evaluate(model, splits.val, splits, device)[1]
    test_acc = evaluate(model, splits.test, splits, device)[1] if evaluate_test else None
    params = sum(p.numel() for p in model.parameters())
    train_acc = train_accuracy(model, splits, device, recipe.seed)
    return CnnResult(train_acc, val_acc, test_acc, seconds, recipe.steps, params)


def step_seconds(splits: Splits, recipe: CnnRecipe, probe_steps: int = 20) -> float:
    """Seconds per training step of the plain CNN on this machine (the median of `probe_steps`)."""
    times: list[float] = []
    _train(splits, recipe, probe_steps + 3, default_device(), on_step=times.append)
    return sorted(times[3:])[len(times[3:]) // 2]


def _train(
    splits: Splits, recipe: CnnRecipe, steps: int, device: torch.device, on_step: Callable[[float], None] | None = None
) -> nn.Module:
    torch.manual_seed(recipe.seed)
    model = plain_cnn(splits.in_chans, splits.num_classes).to(device)
    loader = DeviceLoader(
        splits.train, recipe.batch_size, device=device, mean=splits.mean, std=splits.std, train=True,
        hflip=splits.hflip, pad=recipe.crop_padding, seed=recipe.seed,
    )  # fmt: skip
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": recipe.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=recipe.lr,
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(steps, recipe.warmup_steps))
    model.train()
    done = 0
    for _ in range(math.ceil(steps / len(loader))):
        for x, y in loader:
            if done == steps:
                return model
            tick = time.perf_counter()
            with autocast(device):
                loss = F.cross_entropy(model(x).float(), y, label_smoothing=recipe.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            done += 1
            if on_step is not None:
                on_step(time.perf_counter() - tick)
    return model
