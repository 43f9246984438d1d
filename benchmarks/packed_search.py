"""Trials per hour and device utilisation of a real search at 1, 2, 4, 8 trials per device.

    python benchmarks/packed_search.py                                   # GPU when present, else the CPU
    python benchmarks/packed_search.py --model cifar_s --num-samples 5000 --epochs 4 --packing 1,2,4,8

Each packing k runs one real `prs-search run` search (Ray Tune + Optuna + SQLite in a temporary
folder; ASHA off so every trial trains all epochs, no finalists re-trained) of `k * --rounds` trials on
`synthetic` data with k trials at once: `--gpus-per-trial 1/k` on a GPU, `--cpus-per-trial CPUS/k` on
the CPU. Utilisation is sampled every half second while the search runs (nvidia-smi's GPU busy %, or the
CPU % of all cores): the mean over the whole run, and over the stretch from the first to the last busy
sample (while trials train, without Ray's start). Wall time includes Ray's start and the final test
evaluation, as a user's search does.
"""

import argparse
import os
import statistics
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import psutil
import ray
import torch

from prs_search.search import SearchJob, run_search

SPACE = SearchJob.model_fields["space"].default  # what `prs-search run` searches unless told otherwise
IDLE_PERCENT = 5.0  # a sample at or below this is the device waiting (Ray starting, trials handing over)


class UtilisationSampler(threading.Thread):
    """Samples GPU (nvidia-smi) or whole-machine CPU busy % until stopped."""

    def __init__(self, gpu: bool) -> None:
        super().__init__(daemon=True)
        self.gpu, self.samples, self._done = gpu, [], threading.Event()
        self.error: str | None = None

    def run(self) -> None:
        psutil.cpu_percent()  # the first reading only sets the baseline
        while not self._done.wait(0.5):
            try:
                self.samples.append(self._gpu_busy() if self.gpu else psutil.cpu_percent())
            except (OSError, subprocess.CalledProcessError, ValueError) as err:
                self.error = f"sampling stopped: {err}"  # the search goes on without utilisation figures
                return

    @staticmethod
    def _gpu_busy() -> float:
        query = ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits", "--id=0"]
        return float(subprocess.run(query, capture_output=True, text=True, check=True).stdout.strip())

    def stop(self) -> float:
        self._done.set()
        self.join()
        return statistics.mean(self.samples) if self.samples else float("nan")

    def active_mean(self) -> float:
        """Mean busy % from the first to the last busy sample: the device while trials run."""
        busy = [i for i, sample in enumerate(self.samples) if sample > IDLE_PERCENT]
        return statistics.mean(self.samples[busy[0] : busy[-1] + 1]) if busy else float("nan")


@dataclass(frozen=True)
class PackedRun:
    packing: int
    gpus_per_trial: float
    cpus_per_trial: float
    trials: int  # completed
    seconds: float
    busy: float  # mean busy % over the whole run
    busy_active: float  # mean busy % while trials ran
    sampler_error: str | None = None

    @property
    def trials_per_hour(self) -> float:
        return 3600 * self.trials / self.seconds


def run_packed(
    k: int, *, budget: int, model: str, num_samples: int, epochs: int, compile: bool, gpu: bool, folder: Path
) -> PackedRun:
    """One real search of `budget` trials, `k` at once on one GPU (or on all the CPUs)."""
    gpus, cpus = (1 / k, 1.0) if gpu else (0.0, (os.cpu_count() or 1) / k)
    request = SearchJob(
        dataset="synthetic", num_samples=num_samples, budget=budget, space=SPACE, epochs=epochs, model=model,
        gpus_per_trial=gpus, cpus_per_trial=cpus, max_concurrent=k,
        early_stopping=False, confirm_top=0,  # trials/hour of the search's own trials: no pruning, no finalists
        database_url=f"sqlite:///{folder}/bench.db", storage_path=folder / "ray", data_dir=folder / "data",
        name=f"packed-{k}", compile=compile,
    )  # fmt: skip
    sampler = UtilisationSampler(gpu)
    sampler.start()
    try:
        summary = run_search(request)
    finally:
        busy = sampler.stop()
        ray.shutdown()  # the next packing starts its own Ray, as a user's next search would
    done = summary.counts.get("COMPLETE", 0)
    return PackedRun(k, gpus, cpus, done, summary.seconds, busy, sampler.active_mean(), sampler.error)


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
            run = run_packed(
                k, budget=k * args.rounds, model=args.model, num_samples=args.num_samples, epochs=args.epochs,
                compile=args.compile, gpu=gpu, folder=Path(tmp),
            )  # fmt: skip
        print(f"{k:>13}{run.trials:>8}{run.seconds:>9.1f}{run.trials_per_hour:>13.0f}{run.busy:>8.1f}")


if __name__ == "__main__":
    main()
