"""Seconds per training epoch of a preset in conv mode, attention mode and a PRS mixture.

    python benchmarks/epoch_time.py --dataset digits --model tiny --repeats 3
    python benchmarks/epoch_time.py --dataset synthetic --model cifar_s --num-samples 50000 --batch-size 128

Prints mean and spread over repeated epochs (after one warm-up epoch), images/s, and the device.
The data lives on the device and is augmented there, as in a real trial. `synthetic` with
`--num-samples 50000` is CIFAR-100-sized (32x32x3, 100 classes). The extrapolated full trial adds
up, epoch by epoch, the cost of the PRS default schedule (`prs`: linear E/2 -> 0) over
`--trial-epochs`, a layer in attention mode costing what it costs in the all-attention epoch
(training steps only: validation adds a forward pass over the validation split per epoch).
"""

import argparse
import statistics
import time
from dataclasses import dataclass

import torch

from prs_search.data import DeviceLoader, Splits, load_dataset, make_splits, make_synthetic
from prs_search.recipe import TrainConfig
from prs_search.schedule import Schedule
from prs_search.train import autocast, build_model, compile_blocks, default_device, make_optimizer

VAL_FRACTION = 0.02  # a small validation split: the timed epochs train on nearly all the images
MIX_EPOCHS = 10  # E of the timed PRS mixture (timed at epoch E/4)


@dataclass(frozen=True)
class ModeTime:
    """Seconds per training epoch of one mode: mean and sd over the repeats after the warm-up epoch."""

    label: str
    attention_layers: int
    mean: float
    sd: float
    images_per_s: float


def cifar_sized_splits(num_train: int, num_test: int = 1000) -> Splits:
    """`num_train` synthetic 32x32x3 images of 100 classes (50,000: CIFAR-100-sized), split as the timing wants."""
    return make_splits(
        make_synthetic(num_train=num_train, num_test=num_test, num_classes=100), val_fraction=VAL_FRACTION
    )


def time_epochs(config: TrainConfig, splits: Splits, attention: tuple[bool, ...], repeats: int) -> list[float]:
    device = default_device()
    model = build_model(config, splits).to(device)
    model.set_attention_layers(attention)
    if config.compile:
        compile_blocks(model)
    optimizer = make_optimizer(model, config, device)
    loader = DeviceLoader(
        splits.train, config.batch_size, mean=splits.mean, std=splits.std, device=device, train=True,
        hflip=splits.hflip,
    )  # fmt: skip
    times = []
    for _ in range(repeats + 1):  # the first epoch warms up kernels and allocator
        start = time.perf_counter()
        for x, y in loader:
            with autocast(device):
                loss = torch.nn.functional.cross_entropy(model(x).float(), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return times[1:]


def time_modes(config: TrainConfig, splits: Splits, epochs: int, repeats: int) -> list[ModeTime]:
    """Conv mode, attention mode and the `prs` schedule's mixture at epoch `epochs` / 4, in that order."""
    depth = build_model(config, splits).depth
    prs = Schedule.prs(depth, epochs).attention_at(epochs // 4)  # part-way: later layers switched
    modes = [("conv", (False,) * depth), ("attention", (True,) * depth), (f"prs {sum(prs)}/{depth} attn", prs)]
    out = []
    for label, attention in modes:
        times = time_epochs(config, splits, attention, repeats)
        mean = statistics.mean(times)
        out.append(ModeTime(label, sum(attention), mean, statistics.pstdev(times), len(splits.train) / mean))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--num-samples", type=int, default=None, help="synthetic: training images")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=MIX_EPOCHS, help="E of the PRS mixture (timed at epoch E/4)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--trial-epochs", type=int, default=100, help="E of the extrapolated full trial")
    parser.add_argument("--compile", action="store_true", help="torch.compile each block, as `--compile` does")
    args = parser.parse_args()
    if args.dataset == "synthetic" and args.num_samples:
        splits = cifar_sized_splits(args.num_samples)
    else:
        splits = make_splits(load_dataset(args.dataset, "data"), val_fraction=VAL_FRACTION)
    config = TrainConfig(model=args.model, batch_size=args.batch_size, compile=args.compile)
    print(f"device: {default_device()} ({torch.get_num_threads()} threads), torch {torch.__version__}")
    print(f"{args.model} on {args.dataset}: {len(splits.train)} train images, batch {args.batch_size}")
    print(f"{'mode':<16}{'s/epoch (mean ± sd)':>22}{'images/s':>12}")
    modes = time_modes(config, splits, args.epochs, args.repeats)
    for mode in modes:
        print(f"{mode.label:<16}{mode.mean:>14.3f} ± {mode.sd:<6.3f}{mode.images_per_s:>12.0f}")
    depth = build_model(config, splits).depth
    trial = full_trial_seconds(modes[0].mean, modes[1].mean, depth, args.trial_epochs)
    print(f"extrapolated {args.trial_epochs}-epoch trial (schedule prs, training steps): {trial:.1f} s")


def full_trial_seconds(conv: float, attention: float, depth: int, epochs: int) -> float:
    schedule = Schedule.prs(depth, epochs)
    per_layer = (attention - conv) / depth
    return sum(conv + per_layer * sum(schedule.attention_at(e)) for e in range(epochs))


if __name__ == "__main__":
    main()
