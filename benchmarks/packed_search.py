"""Trials per hour and device utilisation of a real search at 1, 2, 4, 8 trials per device.

    python benchmarks/packed_search.py                                   # GPU when present, else the CPU
    python benchmarks/packed_search.py --model cifar_s --num-samples 5000 --epochs 4 --packing 1,2,4,8

Each packing k runs one real `prs-search run` search (Ray Tune + Optuna + SQLite in a temporary
folder; ASHA off so every trial trains all epochs) of `k * --rounds` trials on `synthetic` data with
k trials at once: `--gpus-per-trial 1/k` on a GPU, `--cpus-per-trial CPUS/k` on the CPU. Utilisation
is sampled every half second while the search runs (nvidia-smi's GPU busy %, or the CPU % of all
cores). Wall time includes Ray's start and the final test evaluation, as a user's search does.
"""

import argparse
import os
import statistics
import subprocess
import tempfile
import threading
from pathlib import Path

import psutil
import ray
import torch

from prs_search.search import SearchJob, run_search


class UtilisationSampler(threading.Thread):
    """Samples GPU (nvidia-smi) or whole-machine CPU busy % until stopped."""

    def __init__(self, gpu: bool) -> None:
        super().__init__(daemon=True)
        self.gpu, self.samples, self._done = gpu, [], threading.Event()

    def run(self) -> None:
        psutil.cpu_percent()  # the first reading only sets the baseline
        while not self._done.wait(0.5):
            self.samples.append(self._gpu_busy() if self.gpu else psutil.cpu_percent())

    @staticmethod
    def _gpu_busy() -> float:
        query = ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits", "--id=0"]
        return float(subprocess.run(query, capture_output=True, text=True, check=True).stdout.strip())

    def stop(self) -> float:
        self._done.set()
        self.join()
        return statistics.mean(self.samples) if self.samples else float("nan")


def run_packed(args: argparse.Namespace, k: int, gpu: bool, folder: Path) -> tuple[int, float, float]:
    cpus = os.cpu_count() or 1
    request = SearchJob(
        dataset="synthetic", num_samples=args.num_samples, budget=k * args.rounds, space="monotone",
        epochs=args.epochs, model=args.model, gpus_per_trial=1 / k if gpu else 0.0,
        cpus_per_trial=1.0 if gpu else cpus / k, max_concurrent=k, grace_period=args.epochs,
        database_url=f"sqlite:///{folder}/bench.db", storage_path=folder / "ray", data_dir=folder / "data",
        name=f"packed-{k}", compile=args.compile,
    )  # fmt: skip
    sampler = UtilisationSampler(gpu)
    sampler.start()
    summary = run_search(request)
    busy = sampler.stop()
    ray.shutdown()  # the next packing starts its own Ray, as a user's next search would
    done = summary.counts.get("COMPLETE", 0)
    return done, summary.seconds, busy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--packing", default=None, help="trials per device (default: 1,2,4,8 GPU / 1,2 CPU)")
    parser.add_argument("--rounds", type=int, default=2, help="trials per slot: the budget is k * rounds")
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--num-samples", type=int, default=2000, help="synthetic training images (32x32x3)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--compile", action="store_true")
    args = parser.parse_args()
    gpu = torch.cuda.is_available()
    packing = [int(k) for k in (args.packing or ("1,2,4,8" if gpu else "1,2")).split(",")]
    device = torch.cuda.get_device_name(0) if gpu else f"CPU x{os.cpu_count()}"
    print(f"device: {device}; {args.model}, {args.num_samples} synthetic images, {args.epochs} epochs per trial")
    print(f"{'trials/device':>13}{'trials':>8}{'wall s':>9}{'trials/hour':>13}{'busy %':>8}")
    for k in packing:
        with tempfile.TemporaryDirectory() as tmp:
            done, seconds, busy = run_packed(args, k, gpu, Path(tmp))
        print(f"{k:>13}{done:>8}{seconds:>9.1f}{3600 * done / seconds:>13.0f}{busy:>8.1f}")


if __name__ == "__main__":
    main()
