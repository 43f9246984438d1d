"""The image-folder cache: a hit skips decoding, a changed folder or a bad cache file is decoded again,
non-regular files are skipped, and every path gives what ImageFolder + PIL give."""

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms
from torchvision.datasets import ImageFolder

from prs_search.data import folder_cache, load_dataset
from prs_search.data.folder_cache import DecodedFolder, FolderListing, read_folder

SIZE = 32
CLASSES = ("ant", "bee", "cow")
# (file name, PIL mode, width x height): 32x32 JPEGs take torchvision's decoder, the rest PIL or a resize.
IMAGES = (
    ("a.png", "RGB", (32, 32)),
    ("b.png", "L", (40, 24)),
    ("c.jpg", "RGB", (32, 32)),
    ("d.jpg", "L", (32, 32)),
    ("e.jpeg", "RGB", (48, 40)),
    ("f.jpg", "CMYK", (32, 32)),
)


def write_image(path: Path, mode: str, size: tuple[int, int], rng: np.random.Generator) -> None:
    pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).convert(mode).save(path)


def make_folder(root: Path, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    for name in CLASSES:
        (root / name).mkdir(parents=True)
        for file, mode, size in IMAGES:
            write_image(root / name / file, mode, size, rng)
    return root


def reference(folder: Path) -> DecodedFolder:
    """What loading an image folder gave before the cache: ImageFolder, Resize and PILToTensor, one by one."""
    to_tensor = transforms.Compose([transforms.Resize((SIZE, SIZE)), transforms.PILToTensor()])
    ds = ImageFolder(folder, transform=to_tensor)
    x = torch.stack([ds[i][0] for i in range(len(ds))])
    return DecodedFolder(x, torch.tensor(ds.targets, dtype=torch.int64), ds.classes)


def assert_same(got: DecodedFolder, want: DecodedFolder) -> None:
    assert torch.equal(got.x, want.x) and got.x.dtype == torch.uint8
    assert torch.equal(got.y, want.y) and got.y.dtype == torch.int64
    assert got.classes == want.classes


def cache_files(home: Path) -> list[Path]:
    return sorted((home / "cache" / "imagefolder").glob("*"))


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The folders decoded from here on (the decoder still runs)."""
    calls: list[Path] = []
    decode = folder_cache.decode_folder

    def counted(listing: FolderListing, size: int) -> DecodedFolder:
        calls.append(listing.folder)
        return decode(listing, size)

    monkeypatch.setattr(folder_cache, "decode_folder", counted)
    return calls


def test_first_load_decodes_as_before_and_the_second_comes_from_the_cache(
    tmp_path: Path, prs_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = make_folder(tmp_path / "images")
    first = read_folder(folder, SIZE)
    assert_same(first, reference(folder))
    assert len(first.x) == len(CLASSES) * len(IMAGES)
    assert [p.suffix for p in cache_files(prs_home)] == [".pt"]

    def no_decoding(listing: FolderListing, size: int) -> DecodedFolder:
        raise AssertionError("a cache hit must not decode")

    monkeypatch.setattr(folder_cache, "decode_folder", no_decoding)
    assert_same(read_folder(folder, SIZE), first)


def test_load_dataset_is_the_same_from_the_cache(tmp_path: Path, decodes: list[Path]) -> None:
    for split, seed in (("train", 1), ("test", 2)):
        make_folder(tmp_path / split, seed)
    name = f"imagefolder:{tmp_path}"
    cold, warm = load_dataset(name, tmp_path), load_dataset(name, tmp_path)
    assert len(decodes) == 2, "train and test are decoded once each"
    for split in ("train", "test"):
        want = reference(tmp_path / split)
        assert torch.equal(getattr(cold, split).x, want.x) and torch.equal(getattr(warm, split).x, want.x)
        assert torch.equal(getattr(warm, split).y, want.y)


def test_an_added_image_is_a_miss_and_appears(tmp_path: Path, decodes: list[Path]) -> None:
    folder = make_folder(tmp_path)
    before = read_folder(folder, SIZE)
    Image.new("RGB", (SIZE, SIZE), (1, 2, 3)).save(folder / "bee" / "new.png")
    after = read_folder(folder, SIZE)
    assert len(decodes) == 2 and len(after.x) == len(before.x) + 1
    new = torch.all(after.x == torch.tensor([1, 2, 3], dtype=torch.uint8).view(3, 1, 1), dim=(1, 2, 3))
    assert new.sum() == 1 and after.y[new].tolist() == [CLASSES.index("bee")]
    assert_same(after, reference(folder))


def test_a_removed_or_touched_image_is_a_miss(tmp_path: Path, prs_home: Path, decodes: list[Path]) -> None:
    folder = make_folder(tmp_path)
    read_folder(folder, SIZE)
    read_folder(folder, SIZE)
    assert len(decodes) == 1
    touched = folder / "ant" / "a.png"
    info = touched.stat()
    os.utime(touched, ns=(info.st_atime_ns, info.st_mtime_ns + 1_000_000_000))
    read_folder(folder, SIZE)
    assert len(decodes) == 2
    (folder / "cow" / "c.jpg").unlink()
    assert len(read_folder(folder, SIZE).x) == len(CLASSES) * len(IMAGES) - 1
    assert len(decodes) == 3
    assert len(cache_files(prs_home)) == 1, "a changed folder replaces its cache file"


def garbage(path: Path) -> None:
    path.write_bytes(b"not a torch file\x00" * 64)


def truncated(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def wrong_key(path: Path) -> None:
    saved = torch.load(path, weights_only=True)
    torch.save({**saved, "key": "0" * 64, "x": torch.zeros_like(saved["x"])}, path)


def float_images(path: Path) -> None:
    saved = torch.load(path, weights_only=True)
    torch.save({**saved, "x": saved["x"].float()}, path)


def wrong_labels(path: Path) -> None:
    saved = torch.load(path, weights_only=True)
    torch.save({**saved, "y": saved["y"].flip(0)}, path)


def not_a_dict(path: Path) -> None:
    torch.save([torch.zeros(3)], path)


@pytest.mark.parametrize(
    ("spoil", "reason"),
    [
        (garbage, "unreadable"),
        (truncated, "unreadable"),
        (wrong_key, "changed since it was cached"),  # what a changed folder looks like: not worth a warning
        (float_images, "images are not uint8"),
        (wrong_labels, "labels do not match"),
        (not_a_dict, "not a cache of this folder"),
    ],
)
def test_a_bad_cache_file_is_rebuilt(
    spoil: Callable[[Path], None],
    reason: str,
    tmp_path: Path,
    prs_home: Path,
    decodes: list[Path],
    caplog: pytest.LogCaptureFixture,
) -> None:
    folder = make_folder(tmp_path)
    fresh = read_folder(folder, SIZE)
    [cached] = cache_files(prs_home)
    spoil(cached)
    with caplog.at_level(logging.INFO, logger=folder_cache.__name__):
        assert_same(read_folder(folder, SIZE), fresh)
    assert len(decodes) == 2
    assert any(reason in r.getMessage() for r in caplog.records)
    assert_same(read_folder(folder, SIZE), fresh)
    assert len(decodes) == 2, "the rebuilt cache file is sound"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_is_skipped_and_a_symlink_read(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = make_folder(tmp_path / "images")
    os.mkfifo(folder / "ant" / "pipe.png")  # opening it would block until someone writes
    (folder / "bee" / "link.png").symlink_to(folder / "ant" / "a.png")
    (folder / "cow" / "dangling.png").symlink_to(folder / "nowhere.png")
    result: list[DecodedFolder] = []
    with caplog.at_level(logging.WARNING, logger=folder_cache.__name__):
        reader = threading.Thread(target=lambda: result.append(read_folder(folder, SIZE)), daemon=True)
        reader.start()
        reader.join(timeout=60)
    assert not reader.is_alive(), "reading the folder hung on the FIFO"
    [got] = result
    assert len(got.x) == len(CLASSES) * len(IMAGES) + 1  # the images and the link, not the FIFO
    (folder / "ant" / "pipe.png").unlink()
    (folder / "cow" / "dangling.png").unlink()
    assert_same(got, reference(folder))
    assert any("2 entries" in r.getMessage() and "not regular files" in r.getMessage() for r in caplog.records)


def test_an_unwritable_home_only_costs_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    folder = make_folder(tmp_path / "images")
    home = tmp_path / "home"
    home.write_text("a file where the home folder should be")  # unwritable even for root
    monkeypatch.setenv("PRS_HOME", str(home))
    folder_cache.get_settings.cache_clear()
    with caplog.at_level(logging.WARNING, logger=folder_cache.__name__):
        assert_same(read_folder(folder, SIZE), reference(folder))
    assert any("could not cache" in r.getMessage() for r in caplog.records)
    assert home.read_text() == "a file where the home folder should be"


def test_a_failed_write_leaves_no_file_behind(
    tmp_path: Path, prs_home: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    folder = make_folder(tmp_path / "images")

    def disk_full(obj: object, f: BinaryIO) -> None:
        f.write(b"half a cache")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(folder_cache.torch, "save", disk_full)
    with caplog.at_level(logging.WARNING, logger=folder_cache.__name__):
        assert_same(read_folder(folder, SIZE), reference(folder))
    assert cache_files(prs_home) == [] and list((prs_home / "cache" / "imagefolder").iterdir()) == []
    assert any("No space left" in r.getMessage() for r in caplog.records)
