"""CIFAR loading through the real torchvision classes, on small files in the real on-disk format.

The real files are Python 2 pickles: dicts whose keys and strings are Python 2 `str`, which Python 3
reads as bytes (b'data', as the CIFAR page documents) with encoding="bytes" and as str with
encoding="latin1" (what torchvision uses). A Python 3 pickler writes bytes differently, so the writer
below emits the Python 2 string opcodes itself. torchvision checks the MD5 of each file against class
attributes; the tests point only those attributes at the MD5s of the files they wrote.
"""

import hashlib
import importlib.util
import io
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.datasets import CIFAR10, CIFAR100

from prs_search.data import load_dataset
from prs_search.errors import DatasetError

ROOT = Path(__file__).resolve().parents[2]


class Py2Str(bytes):
    """A Python 2 `str`: pickled with the (SHORT_)BINSTRING opcodes of the original CIFAR files."""


class Py2Pickler(pickle._Pickler):  # the pure-Python pickler, whose dispatch table can be extended
    dispatch = pickle._Pickler.dispatch.copy()

    def save_py2_str(self, obj: Py2Str) -> None:
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + bytes(obj))
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + bytes(obj))
        self.memoize(obj)

    dispatch[Py2Str] = save_py2_str


def write_py2_pickle(path: Path, obj: object) -> str:
    with path.open("wb") as f:
        Py2Pickler(f, protocol=2).dump(obj)
    return hashlib.md5(path.read_bytes()).hexdigest()


def cifar_rows(images: np.ndarray) -> np.ndarray:
    """N x 32 x 32 x 3 (HWC) -> N x 3072 rows: the red plane row by row, then green, then blue."""
    return images.transpose(0, 3, 1, 2).reshape(len(images), 3072)


def batch_dict(images: np.ndarray, labels: list[int], label_key: str, name: str) -> dict:
    return {
        Py2Str(b"batch_label"): Py2Str(name.encode()),
        Py2Str(label_key.encode()): labels,
        Py2Str(b"data"): cifar_rows(images),
        Py2Str(b"filenames"): [Py2Str(f"img_{i}.png".encode()) for i in range(len(images))],
    }


def marked_images(n: int, seed: int) -> np.ndarray:
    """Random images, except image 0 is pure red and image 1 has one known green pixel at row 2, col 5."""
    images = np.random.default_rng(seed).integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)
    images[0] = 0
    images[0, :, :, 0] = 255
    images[1] = 0
    images[1, 2, 5, 1] = 200
    return images


def write_cifar100(root: Path, monkeypatch: pytest.MonkeyPatch, n_train: int = 12, n_test: int = 6) -> dict:
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    train_x, test_x = marked_images(n_train, 0), marked_images(n_test, 1)
    train_y = [(7 * i) % 100 for i in range(n_train)]
    test_y = [(3 * i + 1) % 100 for i in range(n_test)]
    for split, x, y in (("train", train_x, train_y), ("test", test_x, test_y)):
        entry = batch_dict(x, y, "fine_labels", split)
        entry[Py2Str(b"coarse_labels")] = [label // 5 for label in y]
        md5 = write_py2_pickle(folder / split, entry)
        monkeypatch.setattr(CIFAR100, f"{split}_list", [[split, md5]])
    meta = {
        Py2Str(b"fine_label_names"): [Py2Str(f"fine{i}".encode()) for i in range(100)],
        Py2Str(b"coarse_label_names"): [Py2Str(f"coarse{i}".encode()) for i in range(20)],
    }
    md5 = write_py2_pickle(folder / "meta", meta)
    monkeypatch.setattr(CIFAR100, "meta", {**CIFAR100.meta, "md5": md5})
    return {"train_x": train_x, "train_y": train_y, "test_x": test_x, "test_y": test_y}


def write_cifar10(
    root: Path,
    monkeypatch: pytest.MonkeyPatch,
    train: list[tuple[np.ndarray, list[int]]],
    test: tuple[np.ndarray, list[int]],
) -> None:
    """CIFAR-10's files under root/cifar-10-batches-py: one data batch per (images, labels) of `train`, classes
    c0 ... c9."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    train_list = []
    for b, (images, labels) in enumerate(train, start=1):
        md5 = write_py2_pickle(folder / f"data_batch_{b}", batch_dict(images, labels, "labels", f"batch {b}"))
        train_list.append([f"data_batch_{b}", md5])
    md5 = write_py2_pickle(folder / "test_batch", batch_dict(*test, "labels", "test"))
    monkeypatch.setattr(CIFAR10, "train_list", train_list)
    monkeypatch.setattr(CIFAR10, "test_list", [["test_batch", md5]])
    names = {
        Py2Str(b"label_names"): [Py2Str(f"c{i}".encode()) for i in range(10)],
        Py2Str(b"num_cases_per_batch"): len(train[0][1]),
    }
    monkeypatch.setattr(CIFAR10, "meta", {**CIFAR10.meta, "md5": write_py2_pickle(folder / "batches.meta", names)})


def test_written_files_have_the_documented_bytes_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_cifar100(tmp_path, monkeypatch)
    with (tmp_path / "cifar-100-python" / "train").open("rb") as f:
        entry = pickle.load(f, encoding="bytes")
    assert {b"data", b"fine_labels", b"coarse_labels", b"filenames", b"batch_label"} == set(entry)
    assert entry[b"data"].shape == (12, 3072) and entry[b"data"].dtype == np.uint8


def test_cifar100_loads_through_torchvision(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    written = write_cifar100(tmp_path, monkeypatch)
    raw = load_dataset("cifar100", tmp_path)
    assert raw.name == "cifar100" and raw.num_classes == 100 and raw.hflip
    assert raw.train.x.shape == (12, 3, 32, 32) and raw.test.x.shape == (6, 3, 32, 32)
    assert raw.train.x.dtype == torch.uint8 and raw.train.y.dtype == torch.int64
    assert (raw.in_chans, raw.img_size) == (3, 32)
    red = raw.train.x[0]
    assert torch.all(red[0] == 255) and torch.all(red[1:] == 0)
    green = raw.train.x[1]
    assert green[1, 2, 5] == 200 and int(green.sum()) == 200  # channel, row and column all in place
    assert torch.all(raw.test.x[0, 0] == 255)
    assert torch.equal(raw.train.x, torch.from_numpy(written["train_x"]).permute(0, 3, 1, 2))
    assert raw.train.y.tolist() == written["train_y"]
    assert raw.test.y.tolist() == written["test_y"]


def test_cifar10_loads_all_five_batches_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    batches = []
    for b in range(1, 6):
        images = marked_images(3, b)
        images[2] = b  # tells the batches apart after concatenation
        batches.append((images, [b, 0, 9]))
    write_cifar10(tmp_path, monkeypatch, batches, (marked_images(4, 9), [1, 2, 3, 4]))

    raw = load_dataset("cifar10", tmp_path)
    assert raw.name == "cifar10" and raw.num_classes == 10
    assert raw.train.x.shape == (15, 3, 32, 32) and raw.test.x.shape == (4, 3, 32, 32)
    assert raw.train.y.tolist() == [label for b in range(1, 6) for label in (b, 0, 9)]
    assert [int(raw.train.x[3 * b + 2].max()) for b in range(5)] == [1, 2, 3, 4, 5]
    assert torch.all(raw.train.x[3, 0] == 255) and torch.all(raw.train.x[3, 1:] == 0)  # batch 2's red image
    assert raw.test.y.tolist() == [1, 2, 3, 4]


def test_missing_cifar_says_where_and_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(DatasetError) as err:
        load_dataset("cifar100", tmp_path)
    message = str(err.value)
    assert "--download" in message and str(tmp_path / "cifar-100-python") in message
    assert "\n" not in message
    with pytest.raises(DatasetError, match="cifar-10-batches-py"):
        load_dataset("cifar10", tmp_path)


def test_cifar_with_wrong_checksum_is_a_dataset_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_cifar100(tmp_path, monkeypatch)
    monkeypatch.undo()  # back to the real CIFAR-100 checksums, which these files do not have
    with pytest.raises(DatasetError, match="corrupted"):
        load_dataset("cifar100", tmp_path)


def test_cifar_folder_writes_the_image_folder_of_the_docs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """benchmarks/cifar_folder.py: every image as train|test/<class>/NNNN.jpg in the official order within its
    class, JPEG quality 75, and `imagefolder:` reads the folder back with the official test split."""
    spec = importlib.util.spec_from_file_location("cifar_folder", ROOT / "benchmarks" / "cifar_folder.py")
    assert spec is not None and spec.loader is not None
    cifar_folder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cifar_folder)
    train_x, test_x = marked_images(20, 0), marked_images(10, 1)
    train_y = [i % 10 for i in range(20)]  # image 0 (red) is c0's first, image 10 is c0's second
    train_x[10] = 0
    train_x[10, :, :, 2] = 255  # blue
    write_cifar10(tmp_path / "cifar", monkeypatch, [(train_x, train_y)], (test_x, list(range(10))))

    written = cifar_folder.write_cifar_folder(tmp_path / "folder", tmp_path / "cifar")
    assert written == {"train": {f"c{i}": 2 for i in range(10)}, "test": {f"c{i}": 1 for i in range(10)}}
    train = tmp_path / "folder" / "train"
    assert sorted(p.relative_to(train).as_posix() for p in (train / "c0").iterdir()) == ["c0/0000.jpg", "c0/0001.jpg"]
    first, second = (np.asarray(Image.open(train / "c0" / f"000{i}.jpg")).astype(int) for i in (0, 1))
    assert np.abs(first - [255, 0, 0]).max() <= 2 and np.abs(second - [0, 0, 255]).max() <= 2
    reference = io.BytesIO()
    Image.fromarray(train_x[0]).save(reference, "JPEG", quality=75)
    assert Image.open(train / "c0" / "0000.jpg").quantization == Image.open(reference).quantization

    raw = load_dataset(f"imagefolder:{tmp_path / 'folder'}", tmp_path)
    assert raw.num_classes == 10 and len(raw.train.y) == 20 and len(raw.test.y) == 10
    assert sorted(raw.test.y.tolist()) == list(range(10))
