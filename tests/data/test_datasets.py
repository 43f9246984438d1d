"""The dataset registry: digits, synthetic, image folders, and unknown names."""

from pathlib import Path

import pytest
import torch
from PIL import Image

from prs_search.data import ImageData, RawDataset, load_dataset, make_splits, make_synthetic
from prs_search.data.datasets import _LOADERS
from prs_search.dataset_registry import DATASET_INFO, list_datasets
from prs_search.errors import DatasetError


def test_registry_lists_builtin_names_and_rejects_unknown(tmp_path: Path) -> None:
    assert list_datasets() == ["cifar10", "cifar100", "digits", "mnist5k", "synthetic"]
    with pytest.raises(DatasetError, match="cifar100.*imagefolder:PATH"):
        load_dataset("mnist", tmp_path)


@pytest.mark.parametrize("name", ["digits", "mnist5k", "synthetic"])
def test_listed_sizes_are_what_the_loaders_load(name: str, tmp_path: Path) -> None:
    assert sorted(_LOADERS) == list_datasets()  # one loader per registered name
    raw, info = load_dataset(name, tmp_path), DATASET_INFO[name]
    assert (len(raw.train), len(raw.test), raw.num_classes) == (info.train, info.test, info.classes)
    assert info.shape == f"{raw.in_chans}x{raw.img_size}x{raw.img_size}"


def test_image_data_rejects_wrong_dtypes() -> None:
    with pytest.raises(DatasetError):
        ImageData(torch.zeros(2, 1, 4, 4), torch.zeros(2, dtype=torch.int64))
    with pytest.raises(DatasetError):
        ImageData(torch.zeros(2, 1, 4, 4, dtype=torch.uint8), torch.zeros(3, dtype=torch.int64))


def test_digits_has_a_fixed_stratified_test_split(tmp_path: Path) -> None:
    raw = load_dataset("digits", tmp_path)
    assert len(raw.train) + len(raw.test) == 1797
    assert len(raw.test) == round(0.2 * 1797)
    assert (raw.in_chans, raw.img_size, raw.num_classes, raw.hflip) == (1, 8, 10, False)
    assert raw.train.x.dtype == torch.uint8
    assert int(raw.train.x.min()) == 0 and int(raw.train.x.max()) == 255
    assert torch.all(torch.bincount(raw.test.y, minlength=10) >= 30)
    again = load_dataset("digits", tmp_path)
    assert torch.equal(raw.test.y, again.test.y) and torch.equal(raw.test.x, again.test.x)


@pytest.fixture(scope="module")
def mnist5k(tmp_path_factory: pytest.TempPathFactory) -> RawDataset:
    return load_dataset("mnist5k", tmp_path_factory.mktemp("nothing-to-download"))


def test_mnist5k_loads_offline_with_a_fixed_stratified_test_split(mnist5k: RawDataset) -> None:
    raw = mnist5k
    assert (len(raw.train), len(raw.test)) == (4000, 1000)
    assert (raw.in_chans, raw.img_size, raw.num_classes, raw.hflip) == (1, 32, 10, False)
    assert torch.equal(torch.bincount(raw.train.y), torch.full((10,), 400))
    assert torch.equal(torch.bincount(raw.test.y), torch.full((10,), 100))
    # Real MNIST digits: the 2-pixel black frame of the 28 -> 32 padding, ink in the middle.
    frame = torch.ones(32, 32, dtype=torch.bool)
    frame[2:30, 2:30] = False
    assert not raw.train.x[:, 0, frame].any()
    assert raw.train.x.max() == 255 and (raw.train.x > 128).float().mean() > 0.05
    assert len(torch.unique(raw.train.x.flatten(1), dim=0)) == 4000  # no duplicated images


def test_mnist5k_test_split_does_not_move_with_the_seed(mnist5k: RawDataset) -> None:
    test_images = {bytes(img.numpy()) for img in mnist5k.test.x}
    for seed in (0, 1, 7):
        splits = make_splits(mnist5k, num_samples=500, seed=seed)
        assert torch.equal(splits.test.x, mnist5k.test.x)
        assert (len(splits.train), len(splits.val)) == (400, 100)  # 20% validation below 2,500 images
        seen = [bytes(img.numpy()) for img in torch.cat([splits.train.x, splits.val.x])]
        assert not test_images.intersection(seen)  # train/val never hold a test image
        assert len(set(seen)) == 500  # train and val are disjoint
        counts = torch.bincount(torch.cat([splits.train.y, splits.val.y]), minlength=10)
        assert torch.equal(counts, torch.full((10,), 50))  # the subset stays stratified
        assert torch.equal(torch.bincount(splits.val.y, minlength=10), torch.full((10,), 10))
    first, other = make_splits(mnist5k, num_samples=500, seed=0), make_splits(mnist5k, num_samples=500, seed=1)
    assert not torch.equal(first.train.x, other.train.x)  # the seed does pick the subset


def test_synthetic_default_shape(tmp_path: Path) -> None:
    raw = load_dataset("synthetic", tmp_path)
    assert (len(raw.train), len(raw.test), raw.num_classes, raw.in_chans, raw.img_size) == (
        10000,
        2000,
        10,
        3,
        32,
    )
    assert torch.equal(torch.bincount(raw.train.y), torch.full((10,), 1000))
    assert not raw.hflip


def test_synthetic_is_deterministic_and_seeded() -> None:
    a, b = make_synthetic(200, 50, 4, 16, seed=3), make_synthetic(200, 50, 4, 16, seed=3)
    assert torch.equal(a.train.x, b.train.x) and torch.equal(a.train.y, b.train.y)
    assert not torch.equal(a.train.x, make_synthetic(200, 50, 4, 16, seed=4).train.x)
    # The test split must not depend on how many training images were asked for.
    assert torch.equal(a.test.x, make_synthetic(100, 50, 4, 16, seed=3).test.x)


def test_synthetic_is_learnable_by_nearest_class_mean() -> None:
    raw = make_synthetic(num_train=1000, num_test=500, num_classes=10, img_size=16, seed=0)
    train_x = raw.train.x.flatten(1).float()
    means = torch.stack([train_x[raw.train.y == c].mean(0) for c in range(10)])
    assert torch.cdist(means, means).topk(2, largest=False).values[:, 1].min() > 100  # class means differ
    predicted = torch.cdist(raw.test.x.flatten(1).float(), means).argmin(1)
    accuracy = (predicted == raw.test.y).float().mean().item()
    assert accuracy > 0.9
    assert raw.train.x.float().std() > 30  # not trivially clean: noise and shifts are there


def write_png(path: Path, color: tuple[int, int, int], mode: str = "RGB", size: tuple[int, int] = (40, 24)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.new("RGB", size, color)
    image.convert(mode).save(path)


def test_imagefolder_single_folder_gets_a_fixed_split(tmp_path: Path) -> None:
    for i in range(5):
        write_png(tmp_path / "cat" / f"{i}.png", (255, 0, 0))
        write_png(tmp_path / "dog" / f"{i}.png", (0, 0, 255))
    write_png(tmp_path / "dog" / "grey.png", (90, 90, 90), mode="L")  # must come out as 3 equal channels
    raw = load_dataset(f"imagefolder:{tmp_path}", Path("unused"))
    assert (raw.num_classes, raw.in_chans, raw.img_size, raw.hflip) == (2, 3, 32, True)
    assert len(raw.train) + len(raw.test) == 11 and len(raw.test) == 2
    assert sorted(raw.test.y.tolist()) == [0, 1]
    x = torch.cat([raw.train.x, raw.test.x])
    y = torch.cat([raw.train.y, raw.test.y])
    assert torch.all(x[y == 0][:, 0] == 255) and torch.all(x[y == 0][:, 1:] == 0)  # cats are red
    grey = x[(y == 1) & (x[:, 2, 0, 0] != 255)]
    assert len(grey) == 1 and torch.all(grey == 90)


def test_imagefolder_train_and_val_folders(tmp_path: Path) -> None:
    for i in range(3):
        write_png(tmp_path / "train" / "apple" / f"{i}.png", (0, 255, 0))
        write_png(tmp_path / "train" / "berry" / f"{i}.png", (0, 0, 255))
    write_png(tmp_path / "val" / "berry" / "0.png", (0, 0, 255))  # the val folder lacks "apple"
    raw = load_dataset(f"imagefolder:{tmp_path}", tmp_path)
    assert len(raw.train) == 6 and len(raw.test) == 1 and raw.num_classes == 2
    assert raw.test.y.tolist() == [1], "val labels must follow the train folder's class order"
    assert torch.all(raw.test.x[0, 2] == 255)


def test_imagefolder_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset(f"imagefolder:{tmp_path / 'nowhere'}", tmp_path)
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset("imagefolder:", tmp_path)  # not the current directory by accident
    with pytest.raises(DatasetError, match="cannot read"):
        load_dataset(f"imagefolder:{tmp_path}", tmp_path)  # no class folders
    write_png(tmp_path / "split" / "train" / "a" / "0.png", (1, 2, 3))
    write_png(tmp_path / "split" / "test" / "b" / "0.png", (1, 2, 3))
    with pytest.raises(DatasetError, match="no training folder"):
        load_dataset(f"imagefolder:{tmp_path / 'split'}", tmp_path)
