"""Seconds per training epoch of a preset in conv mode, attention mode and a PRS mixture.

    python benchmarks/epoch_time.py --dataset digits --model tiny --repeats 3
    python benchmarks/epoch_time.py --dataset synthetic --model cifar_s --num-samples 50000 --batch-size 128

Prints mean and spread over repeated epochs (after one warm-up epoch), images/s, and the device.
The data lives on the device and is augmented there, as in a real trial.
"""

import argparse
import statistics
import time

import torch

from prs_search.data import DeviceLoader, load_dataset, make_splits, make_synthetic
from prs_search.schedule import Schedule
from prs_search.train import TrainConfig, build_model, default_device, make_optimizer


def time_epochs(config: TrainConfig, splits, attention: tuple[bool, ...], repeats: int) -> list[float]:
    device = default_device()
    model = build_model(config, splits).to(device)
    model.set_attention_layers(attention)
    optimizer = make_optimizer(model, config, device)
    loader = DeviceLoader(
        splits.train, config.batch_size, mean=splits.mean, std=splits.std, device=device, train=True,
        hflip=splits.hflip,
    )  # fmt: skip
    times = []
    for _ in range(repeats + 1):  # the first epoch warms up kernels and allocator
        start = time.perf_counter()
        for x, y in loader:
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
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
    parser.add_argument("--epochs", type=int, default=10, help="E of the PRS mixture (layers half switched)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.dataset == "synthetic" and args.num_samples:
        raw = make_synthetic(num_train=args.num_samples, num_test=1000, num_classes=100)
    else:
        raw = load_dataset(args.dataset, "data")
    splits = make_splits(raw, val_fraction=0.02)
    config = TrainConfig(model=args.model, batch_size=args.batch_size)
    depth = build_model(config, splits).depth
    prs = Schedule.prs(depth, args.epochs).attention_at(args.epochs // 2)
    print(f"device: {default_device()} ({torch.get_num_threads()} threads), torch {torch.__version__}")
    print(f"{args.model} on {args.dataset}: {len(splits.train)} train images, batch {args.batch_size}")
    print(f"{'mode':<16}{'s/epoch (mean ± sd)':>22}{'images/s':>12}")
    modes = [("conv", (False,) * depth), ("attention", (True,) * depth), (f"prs {sum(prs)}/{depth} attn", prs)]
    for label, attention in modes:
        times = time_epochs(config, splits, attention, args.repeats)
        mean, sd = statistics.mean(times), statistics.pstdev(times)
        print(f"{label:<16}{mean:>14.3f} ± {sd:<6.3f}{len(splits.train) / mean:>12.0f}")


if __name__ == "__main__":
    main()
