"""Is the hybrid worth searching? It against the plain CNN (`prs_search.baseline`) at equal training wall time.

For each size and seed: the hybrid preset trains all-conv, `prs` and all-attention with the project's own
trainer and recipe (`prs_search.train`, the preset's defaults) for `--steps` optimiser steps (rounded to
whole epochs); then the plain CNN trains for as many steps as fit in the *longest* of those three runs'
training time, measured on this machine in the same run. Reported: train accuracy (clean, on at most 2,000
of the training images after training), validation and test accuracy, seconds. The recipe was chosen on
validation accuracy; the test split is read once per run, for this report.

    python benchmarks/hybrid_vs_cnn.py --dataset imagefolder:/tmp/cifar10 --sizes 1000,10000 --seeds 0
"""

import argparse
import dataclasses
import json
import statistics
import time
from pathlib import Path

import torch

from prs_search.baseline import CnnRecipe, step_seconds, train_accuracy, train_cnn
from prs_search.data import Splits, load_dataset, make_splits
from prs_search.recipe import RECIPE, TrainConfig
from prs_search.schedule import Schedule
from prs_search.train import build_model, train

SCHEDULES = ("all-conv", "prs", "all-attention")


@dataclasses.dataclass(frozen=True)
class Row:
    size: int
    seed: int
    model: str
    train_acc: float
    val_acc: float
    test_acc: float
    seconds: float
    steps: int


def hybrid_runs(splits: Splits, config: TrainConfig, size: int, seed: int) -> list[Row]:
    rows = []
    device = torch.device("cpu")
    depth = build_model(config, splits).depth
    for label in SCHEDULES:
        start = time.perf_counter()
        result, model = train(config, splits, Schedule.parse(label, depth, config.epochs), evaluate_test=True)
        seconds = time.perf_counter() - start
        train_acc = train_accuracy(model, splits, device, seed)
        steps = config.epochs * (len(splits.train) // min(config.batch_size, len(splits.train)))
        name = f"{config.model} {model.conv} {label}"
        rows.append(Row(size, seed, name, train_acc, result.val_acc, result.test_acc or 0.0, seconds, steps))
    return rows


def cnn_run(splits: Splits, seconds: float, size: int, seed: int) -> Row:
    """The plain CNN given `seconds` of training: its step time measured here, then that many steps."""
    steps = max(1, round(seconds / step_seconds(splits, CnnRecipe(seed=seed))))
    result = train_cnn(splits, CnnRecipe(steps=steps, seed=seed))
    return Row(size, seed, "plain CNN", result.train_acc, result.val_acc, result.test_acc or 0.0, result.seconds, steps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--model", default=RECIPE.model)
    parser.add_argument("--conv", default=None, choices=("shift", "dense"))
    parser.add_argument("--steps", type=int, default=1250, help="optimiser steps of each hybrid run")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None, help="append JSON lines here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    raw = load_dataset(args.dataset, ".")
    rows: list[Row] = []
    for size in map(int, args.sizes.split(",")):
        for seed in map(int, args.seeds.split(",")):
            splits = make_splits(raw, num_samples=size, seed=seed)
            per_epoch = len(splits.train) // RECIPE.batch_size
            epochs = max(1, round(args.steps / per_epoch))
            config = TrainConfig(model=args.model, conv=args.conv, epochs=epochs, seed=seed)  # the preset's recipe
            runs = hybrid_runs(splits, config, size, seed)
            runs.append(cnn_run(splits, max(r.seconds for r in runs), size, seed))
            for row in runs:
                print(json.dumps(dataclasses.asdict(row)), flush=True)
                if args.out:
                    with args.out.open("a") as f:
                        f.write(json.dumps(dataclasses.asdict(row)) + "\n")
            rows += runs
    print("| size | model | train acc | val acc | test acc | s | steps |\n|---|---|---|---|---|---|---|")
    for key in dict.fromkeys((r.size, r.model) for r in rows):
        group = [r for r in rows if (r.size, r.model) == key]
        mean = {
            f: statistics.mean(getattr(r, f) for r in group) for f in ("train_acc", "val_acc", "test_acc", "seconds")
        }
        print(
            f"| {key[0]} | {key[1]} | {mean['train_acc']:.3f} | {mean['val_acc']:.3f} | {mean['test_acc']:.3f} "
            f"| {mean['seconds']:.0f} | {group[0].steps} |"
        )


if __name__ == "__main__":
    main()
