"""The plain CNN the hybrid must come near: the bar a schedule search is worth running above.

Five 3x3 convolutions (64, 64, 128, 128, 256 channels, BatchNorm + ReLU, 2x2 max-pool after the second
and the fourth), global average pool, linear head: 0.56 M parameters on CIFAR-10. It trains with the
project's own pieces (the device-resident loader with its crop + flip augmentation, AdamW with warm-up
and cosine, label smoothing, `evaluate`), so the comparison differs in the model alone.

    python benchmarks/reference_cnn.py --dataset imagefolder:/tmp/cifar10 --num-samples 1000 --steps 1250
"""

import argparse
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from prs_search.data import DeviceLoader, Splits, load_dataset, make_splits
from prs_search.train import evaluate, warmup_cosine

WIDTHS = (64, 64, 128, 128, 256)
POOL_AFTER = (1, 3)  # indices of the convolutions followed by a 2x2 max-pool


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
    seed: int = 0


@dataclass(frozen=True)
class CnnResult:
    train_acc: float  # on the training split without augmentation, after training
    val_acc: float
    test_acc: float
    seconds: float  # training only (the evaluations after it are not counted)
    steps: int
    params: int


def step_seconds(splits: Splits, recipe: CnnRecipe, probe_steps: int = 20) -> float:
    """Seconds per training step of the plain CNN on this machine (the median of `probe_steps`)."""
    times: list[float] = []
    _train(splits, recipe, steps=probe_steps + 3, on_step=times.append)
    return sorted(times[3:])[len(times[3:]) // 2]


def train_cnn(splits: Splits, recipe: CnnRecipe) -> CnnResult:
    start = time.perf_counter()
    model = _train(splits, recipe, steps=recipe.steps)
    seconds = time.perf_counter() - start
    device = torch.device("cpu")
    _, train_acc = evaluate(model, splits.train, splits, device)
    _, val_acc = evaluate(model, splits.val, splits, device)
    _, test_acc = evaluate(model, splits.test, splits, device)
    params = sum(p.numel() for p in model.parameters())
    return CnnResult(train_acc, val_acc, test_acc, seconds, recipe.steps, params)


def _train(splits: Splits, recipe: CnnRecipe, steps: int, on_step: Callable[[float], None] | None = None) -> nn.Module:
    torch.manual_seed(recipe.seed)
    model = plain_cnn(splits.in_chans, splits.num_classes)
    loader = DeviceLoader(
        splits.train, recipe.batch_size, mean=splits.mean, std=splits.std, train=True, hflip=splits.hflip,
        seed=recipe.seed,
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
            loss = F.cross_entropy(model(x), y, label_smoothing=recipe.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            done += 1
            if on_step is not None:
                on_step(time.perf_counter() - tick)
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--num-samples", type=int, required=True)
    parser.add_argument("--steps", type=int, default=CnnRecipe.steps)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    splits = make_splits(load_dataset(args.dataset, "."), num_samples=args.num_samples, seed=args.seed)
    result = train_cnn(splits, CnnRecipe(steps=args.steps, seed=args.seed))
    print(json.dumps(asdict(result)))


if __name__ == "__main__":
    main()
