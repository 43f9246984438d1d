"""DeviceLoader: every sample once, seeded shuffling that survives a resume, batched augmentation."""

import pytest
import torch

from prs_search.data import DeviceLoader, ImageData, make_splits, make_synthetic, random_crop
from prs_search.errors import ConfigError

IDENTITY = {"mean": (0.0,), "std": (1.0,)}  # x / 255: raw pixels stay readable in the batches


def numbered(n: int, size: int = 8) -> ImageData:
    """Image i is filled with i % 256 and has label i, so batches can be traced back to samples."""
    x = (torch.arange(n) % 256).to(torch.uint8).view(n, 1, 1, 1).expand(n, 1, size, size).contiguous()
    return ImageData(x, torch.arange(n))


def epoch_labels(loader: DeviceLoader) -> list[int]:
    return torch.cat([y for _, y in loader]).tolist()


def test_eval_yields_every_sample_once_in_order() -> None:
    loader = DeviceLoader(numbered(10), 4, **IDENTITY)
    batches = list(loader)
    assert len(loader) == len(batches) == 3
    assert [len(y) for _, y in batches] == [4, 4, 2]
    assert epoch_labels(loader) == list(range(10))
    x, _ = batches[0]
    assert x.dtype == torch.float32 and x.shape == (4, 1, 8, 8)
    assert torch.allclose(x[1], torch.full((1, 8, 8), 1 / 255))


def test_eval_never_augments_even_when_flip_is_allowed() -> None:
    data = numbered(6)
    data.x[:, :, :, :4] = 255  # left half bright: a flip would show
    loader = DeviceLoader(data, 6, hflip=True, **IDENTITY)
    x, _ = next(iter(loader))
    assert torch.equal((x * 255).round().to(torch.uint8), data.x)


def test_train_shuffles_each_epoch_without_repeats_and_drops_the_last_batch() -> None:
    loader = DeviceLoader(numbered(50), 16, train=True, seed=0, **IDENTITY)
    assert len(loader) == 3
    first, second = epoch_labels(loader), epoch_labels(loader)
    for labels in (first, second):
        assert len(labels) == 48 and len(set(labels)) == 48
    assert first != second
    assert first != sorted(first)


def test_train_batch_is_capped_at_the_dataset_size() -> None:
    loader = DeviceLoader(numbered(5), 128, train=True, **IDENTITY)
    assert len(loader) == 1 and sorted(epoch_labels(loader)) == list(range(5))


def test_order_reproducible_from_seed_and_from_saved_state() -> None:
    data = numbered(40)

    def loader(seed: int) -> DeviceLoader:
        return DeviceLoader(data, 8, train=True, hflip=True, seed=seed, **IDENTITY)

    a, b = loader(3), loader(3)
    assert epoch_labels(a) == epoch_labels(b)
    assert epoch_labels(loader(3)) != epoch_labels(loader(4))

    original = loader(3)
    list(original)
    state = original.state_dict()
    expected = [(x.clone(), y.clone()) for x, y in original]  # epoch 2, augmentations included
    resumed = loader(99)
    resumed.load_state_dict(state)
    got = list(resumed)
    assert all(torch.equal(x, gx) and torch.equal(y, gy) for (x, y), (gx, gy) in zip(expected, got, strict=True))


def test_random_crop_moves_content_by_at_most_pad() -> None:
    n, size, pad = 64, 12, 2
    x = torch.zeros(n, 1, size, size, dtype=torch.uint8)
    x[:, 0, 6, 5] = 255  # one bright pixel far enough from the border to stay in view
    loader = DeviceLoader(ImageData(x, torch.zeros(n, dtype=torch.int64)), n, train=True, pad=pad, **IDENTITY)
    out, _ = next(iter(loader))
    assert out.shape == (n, 1, size, size)
    flat = out.flatten(1).argmax(1)
    rows, cols = flat // size, flat % size
    assert torch.all(out.flatten(1).max(1).values == 1.0) and torch.all((out > 0).flatten(1).sum(1) == 1)
    assert torch.all((rows - 6).abs() <= pad) and torch.all((cols - 5).abs() <= pad)
    assert len(set(zip(rows.tolist(), cols.tolist(), strict=True))) > 10, "crops should vary"


def test_random_crop_pads_with_zeros() -> None:
    x = torch.full((3, 2, 4, 4), 255, dtype=torch.uint8)
    offsets = torch.tensor([[1, 1], [0, 2], [2, 0]])  # (row, col): identity, black top+right, black bottom+left
    out = random_crop(x, offsets, pad=1)
    assert torch.equal(out[0], x[0])
    assert torch.all(out[1, :, 0, :] == 0) and torch.all(out[1, :, :, -1] == 0) and out[1, :, 1:, :-1].min() == 255
    assert torch.all(out[2, :, -1, :] == 0) and torch.all(out[2, :, :, 0] == 0) and out[2, :, :-1, 1:].min() == 255


@pytest.mark.parametrize("hflip", [False, True])
def test_flip_only_when_allowed(hflip: bool) -> None:
    n = 64
    x = torch.zeros(n, 1, 6, 6, dtype=torch.uint8)
    x[:, :, :, :2] = 255  # bright left edge
    loader = DeviceLoader(
        ImageData(x, torch.zeros(n, dtype=torch.int64)), n, train=True, hflip=hflip, pad=0, **IDENTITY
    )
    out, _ = next(iter(loader))
    flipped = (out[:, 0, :, -1] == 1.0).all(1)
    unchanged = (out[:, 0, :, 0] == 1.0).all(1)
    assert torch.all(flipped ^ unchanged), "every image is either itself or its mirror image"
    if hflip:
        assert 10 < int(flipped.sum()) < n - 10
    else:
        assert not flipped.any()


def test_normalisation_centres_the_train_split() -> None:
    splits = make_splits(make_synthetic(600, 60, 3, 16, seed=0), fraction=0.5, seed=0)
    norm = {"mean": splits.mean, "std": splits.std}
    train = DeviceLoader(splits.train, 64, train=True, hflip=splits.hflip, **norm)
    val, test = DeviceLoader(splits.val, 128, **norm), DeviceLoader(splits.test, 128, **norm)
    assert train.train and train.hflip == splits.hflip and not val.train and not test.train
    assert sum(len(y) for _, y in val) == len(splits.val) and sum(len(y) for _, y in test) == 60
    unaugmented = DeviceLoader(splits.train, 100, mean=splits.mean, std=splits.std)
    x = torch.cat([x for x, _ in unaugmented])
    assert torch.allclose(x.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-4)
    assert torch.allclose(x.std(dim=(0, 2, 3)), torch.ones(3), atol=1e-3)
    augmented = torch.cat([x for x, _ in train])
    assert augmented.shape == (len(train) * 64, 3, 16, 16)
    black = -torch.tensor(splits.mean) / torch.tensor(splits.std)  # crop padding is black, as in torchvision
    assert torch.isclose(augmented[:, :, 0, 0].min(0).values, black, atol=1e-5).all()


@pytest.mark.parametrize("kwargs", [{"batch_size": 0}, {"mean": (0.0, 0.0)}, {"pad": -1, "train": True}])
def test_bad_loader_options(kwargs: dict) -> None:
    options = {"batch_size": 4, **IDENTITY, **kwargs}
    with pytest.raises(ConfigError):
        DeviceLoader(numbered(8), **options)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_batches_match_cpu_batches() -> None:
    data = numbered(100)
    cpu = DeviceLoader(data, 32, train=True, hflip=True, seed=1, **IDENTITY)
    gpu = DeviceLoader(data, 32, train=True, hflip=True, seed=1, device="cuda", **IDENTITY)
    assert gpu.x.is_cuda
    for (x, y), (gx, gy) in zip(cpu, gpu, strict=True):
        assert gx.is_cuda and gy.is_cuda
        assert torch.equal(y, gy.cpu()) and torch.allclose(x, gx.cpu())
