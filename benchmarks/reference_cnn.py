"""Train the plain CNN reference (`prs_search.baseline`) once and print its result as JSON.

python benchmarks/reference_cnn.py --dataset imagefolder:/tmp/cifar10 --num-samples 1000 --steps 1250
"""

import argparse
import json
from dataclasses import asdict

import torch

from prs_search.baseline import CnnRecipe, train_cnn
from prs_search.data import load_dataset, make_splits


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
