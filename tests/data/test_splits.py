"""make_splits: the validation split comes out of the asked-for subset, never out of the test split."""

import pytest
import torch

from prs_search.data import ImageData, RawDataset, make_splits
from prs_search.data.splits import validation_size
from prs_search.errors import ConfigError


def id_images(ids: torch.Tensor, is_test: bool) -> ImageData:
    """Images that carry their own index (two base-256 digits) and split, so splits can be traced back."""
    x = torch.zeros(len(ids), 1, 4, 4, dtype=torch.uint8)
    x[:, 0, 0, 0] = (ids // 256).to(torch.uint8)
    x[:, 0, 0, 1] = (ids % 256).to(torch.uint8)
    x[:, 0, 1, 0] = int(is_test)
    x[:, 0, 2:, :] = torch.randint(0, 256, (len(ids), 2, 4), generator=torch.Generator().manual_seed(int(is_test)))
    return ImageData(x, ids % 7)  # 7 classes, interleaved


def traced_ids(data: ImageData) -> set[int]:
    return set((data.x[:, 0, 0, 0].long() * 256 + data.x[:, 0, 0, 1].long()).tolist())


@pytest.fixture
def raw() -> RawDataset:
    return RawDataset("ids", id_images(torch.arange(700), False), id_images(torch.arange(140), True), 7, True)


def test_splits_are_disjoint_and_come_from_the_right_place(raw: RawDataset) -> None:
    splits = make_splits(raw, num_samples=210, val_fraction=0.2, seed=5)
    train, val = traced_ids(splits.train), traced_ids(splits.val)
    assert len(train) == len(splits.train) == 168 and len(val) == len(splits.val) == 42
    assert train.isdisjoint(val)
    assert splits.num_samples == 210
    assert torch.all(splits.train.x[:, 0, 1, 0] == 0) and torch.all(splits.val.x[:, 0, 1, 0] == 0)
    assert splits.test is raw.test
    for part in (splits.train, splits.val):
        counts = torch.bincount(part.y, minlength=7)
        assert counts.max() - counts.min() <= 1, "classes stay balanced"
        assert torch.equal(part.y, part.x[:, 0, 0, 1].long().add(part.x[:, 0, 0, 0].long() * 256) % 7)


def test_whole_train_split_when_no_size_given(raw: RawDataset) -> None:
    splits = make_splits(raw, seed=0)
    assert splits.num_samples == 700 and len(splits.val) == 140  # 20%: below the 500-image floor
    assert traced_ids(splits.train) | traced_ids(splits.val) == set(range(700))
    assert (splits.in_chans, splits.img_size, splits.num_classes, splits.hflip) == (1, 4, 7, True)


def test_fraction_and_seeds(raw: RawDataset) -> None:
    a = make_splits(raw, fraction=0.5, seed=1)
    assert a.num_samples == 350
    b = make_splits(raw, fraction=0.5, seed=2)
    assert traced_ids(a.val) != traced_ids(b.val)
    assert traced_ids(a.val) == traced_ids(make_splits(raw, fraction=0.5, seed=1).val)


def test_stats_come_from_the_train_part(raw: RawDataset) -> None:
    splits = make_splits(raw, num_samples=140, seed=0)
    pixels = splits.train.x.double() / 255
    assert splits.mean == pytest.approx([pixels.mean().item()], rel=1e-9)
    assert splits.std == pytest.approx([pixels.std(unbiased=False).item()], rel=1e-6)


@pytest.mark.parametrize(
    ("num_samples", "val_fraction", "expected"),
    [
        (100, 0.1, 20),  # 20% of a small subset
        (1438, 0.1, 288),  # all of digits: 288, not the 144 a plain 10% gives
        (2500, 0.1, 500),
        (4000, 0.1, 500),  # the 500-image floor
        (50_000, 0.1, 5000),  # what is asked wins above the floor
        (1000, 0.3, 300),
    ],
)
def test_validation_size_rule(num_samples: int, val_fraction: float, expected: int) -> None:
    assert validation_size(num_samples, val_fraction) == expected


def test_validation_split_follows_the_rule(raw: RawDataset) -> None:
    for size in (70, 210, 700):
        splits = make_splits(raw, num_samples=size, seed=3)
        assert len(splits.val) == validation_size(size)


@pytest.mark.parametrize("kwargs", [{"num_samples": 3}, {"fraction": 0.0}, {"val_fraction": 1.0}])
def test_bad_options(raw: RawDataset, kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        make_splits(raw, **kwargs)
