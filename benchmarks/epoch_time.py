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

import torch

from prs_search.data import DeviceLoader, load_dataset, make_splits, make_synthetic
from prs_search.schedule import Schedule
from prs_search.train import TrainConfig, autocast, build_model, compile_blocks, default_device, make_optimizer


def time_epochs(config: TrainConfig, splits, attention: tuple[bool, ...], repeats: int) -> list[float]:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--num-samples", type=int, default=None, help="synthetic: training images")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=10, help="E of the PRS mixture (timed at epoch E/4)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--trial-epochs", type=int, default=100, help="E of the extrapolated full trial")
    parser.add_argument("--compile", action="store_true", help="torch.compile each block, as `--compile` does")
    args = parser.parse_args()
    if args.dataset == "synthetic" and args.num_samples:
        raw = make_synthetic(num_train=args.num_samples, num_test=1000, num_classes=100)
    else:
        raw = load_dataset(args.dataset, "data")
    splits = make_splits(raw, val_fraction=0.02)
    config = TrainConfig(model=args.model, batch_size=args.batch_size, compile=args.compile)
    depth = build_model(config, splits).depth
    prs = Schedule.prs(depth, args.epochs).attention_at(args.epochs // 4)  # part-way: later layers switched
    print(f"device: {default_device()} ({torch.get_num_threads()} threads), torch {torch.__version__}")
    print(f"{args.model} on {args.dataset}: {len(splits.train)} train images, batch {args.batch_size}")
    print(f"{'mode':<16}{'s/epoch (mean ± sd)':>22}{'images/s':>12}")
    modes = [("conv", (False,) * depth), ("attention", (True,) * depth), (f"prs {sum(prs)}/{depth} attn", prs)]
    means = []
    for label, attention in modes:
        times = time_epochs(config, splits, attention, args.repeats)
        mean, sd = statistics.mean(times), statistics.pstdev(times)
        means.append(mean)
        print(f"{label:<16}{mean:>14.3f} ± {sd:<6.3f}{len(splits.train) / mean:>12.0f}")
    trial = full_trial_seconds(means[0], means[1], depth, args.trial_epochs)
    print(f"extrapolated {args.trial_epochs}-epoch trial (schedule prs, training steps): {trial:.1f} s")


def full_trial_seconds(conv: float, attention: float, depth: int, epochs: int) -> float:
    schedule = Schedule.prs(depth, epochs)
    per_layer = (attention - conv) / depth
    return sum(conv + per_layer * sum(schedule.attention_at(e)) for e in range(epochs))


if __name__ == "__main__":
    main()
