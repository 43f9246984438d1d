"""Image folders decoded once, then read back from a uint8 tensor file under `PRS_HOME`/cache/imagefolder.

Decoding 60,000 small JPEGs costs seconds; reading one tensor file costs a fraction of one. The cache is
keyed on what decoding depends on: the folder's resolved path, its image files with their sizes and
modification times (a stat per file, no reads), and the decode settings. A changed folder is decoded
again. Each folder has one cache file (named after its path and the image size), so a changed folder
replaces its old cache instead of piling up new ones.

A cache file is written whole or not at all (a temporary file renamed over it) and is checked on every
read; one that fails a check is deleted and rebuilt. A home folder that cannot be written only costs
the cache.
"""

import hashlib
import logging
import os
import stat
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image
from torchvision import transforms
from torchvision.datasets import ImageFolder
from torchvision.datasets.folder import IMG_EXTENSIONS, has_file_allowed_extension, pil_loader
from torchvision.io import ImageReadMode, decode_jpeg
from torchvision.transforms.functional import pil_to_tensor

from prs_search.settings import get_settings

__all__ = ["DecodedFolder", "FolderListing", "cache_dir", "decode_folder", "list_folder", "read_folder"]

logger = logging.getLogger(__name__)

# Part of every key: bump it when decoding changes what comes out, so old caches stop matching.
CACHE_FORMAT = 1
_JPEG_MAGIC = b"\xff\xd8\xff"  # what PIL's JPEG plugin recognises a JPEG by, whatever the file's extension
_MAX_THREADS = 8
_CHUNK = 512  # images per thread-pool task: one future per image would cost more than decoding it


@dataclass(frozen=True)
class FolderListing:
    """The image files ImageFolder would read (path, label), in its order, and the cache key they make."""

    folder: Path  # resolved
    classes: list[str]
    samples: list[tuple[str, int]]
    key: str

    @property
    def targets(self) -> torch.Tensor:
        return torch.tensor([label for _, label in self.samples], dtype=torch.int64)


@dataclass(frozen=True)
class DecodedFolder:
    """Images (uint8, N x 3 x size x size), labels (int64, N) and the class names in label order."""

    x: torch.Tensor
    y: torch.Tensor
    classes: list[str]


def cache_dir() -> Path:
    return get_settings().home.expanduser() / "cache" / "imagefolder"


def read_folder(folder: Path, size: int) -> DecodedFolder:
    """A class-per-subfolder tree as RGB size x size images: from the cache if the folder is unchanged.

    Raises OSError when the folder has no class folders, an empty class, or an image that does not decode.
    """
    listing = list_folder(folder, size)
    path = _cache_file(listing.folder, size)
    cached = _read_cache(path, listing, size)
    if cached is not None:
        return cached
    decoded = decode_folder(listing, size)
    _write_cache(path, listing.key, decoded)
    return decoded


def list_folder(folder: Path, size: int) -> FolderListing:
    """ImageFolder's listing of regular image files, and its key: one stat per file, no file read."""
    resolved = folder.expanduser().resolve()
    check = _RegularImages()
    listed = ImageFolder(str(resolved), is_valid_file=check)
    if check.skipped:
        logger.warning(
            "skipped %d entries of %s that are not regular files (e.g. %s)",
            len(check.skipped),
            folder,
            check.skipped[0],
        )
    key = hashlib.sha256(f"{CACHE_FORMAT}\0{size}\0".encode())
    key.update(os.fsencode(resolved))
    for name in listed.classes:
        key.update(b"\0class\0" + os.fsencode(name))
    for path, label in listed.samples:
        info = check.stats[path]
        key.update(b"\0" + os.fsencode(path) + f"\0{label}\0{info.st_size}\0{info.st_mtime_ns}".encode())
    return FolderListing(resolved, listed.classes, listed.samples, key.hexdigest())


class _RegularImages:
    """ImageFolder's `is_valid_file`: an image extension and a regular file once symlinks are followed.

    Anything else (a FIFO, a socket, a device, a dangling link) is skipped: opening a FIFO would block
    forever. The stats are kept, as the cache key is made of them.
    """

    def __init__(self) -> None:
        self.stats: dict[str, os.stat_result] = {}
        self.skipped: list[str] = []

    def __call__(self, path: str) -> bool:
        if not has_file_allowed_extension(path, IMG_EXTENSIONS):
            return False
        try:
            info = os.stat(path)
        except FileNotFoundError:  # a dangling symlink
            self.skipped.append(path)
            return False
        if not stat.S_ISREG(info.st_mode):
            self.skipped.append(path)
            return False
        self.stats[path] = info
        return True


def decode_folder(listing: FolderListing, size: int) -> DecodedFolder:
    """Decode every listed image, in a thread pool.

    PIL releases the GIL while it decodes and resizes, so PNGs and large photos decode in parallel;
    torchvision's JPEG decoder holds it, but alone beats PIL on CIFAR's JPEGs at any thread count.
    """
    start = time.perf_counter()
    paths = [path for path, _ in listing.samples]
    x = torch.empty((len(paths), 3, size, size), dtype=torch.uint8)
    resize = transforms.Resize((size, size))

    def decode_chunk(first: int) -> None:
        for i in range(first, min(first + _CHUNK, len(paths))):
            x[i] = _decode_file(paths[i], resize)

    threads = min(_MAX_THREADS, os.cpu_count() or 1)
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(decode_chunk, range(0, len(paths), _CHUNK)))  # re-raises a worker's exception
    logger.info(
        "decoded %d images of %s in %.1f s (%d threads)",
        len(paths),
        listing.folder,
        time.perf_counter() - start,
        threads,
    )
    return DecodedFolder(x, listing.targets, listing.classes)


def _decode_file(path: str, resize: transforms.Resize) -> torch.Tensor:
    """One image as ImageFolder's PIL loader, `resize` and PILToTensor would make it, pixel for pixel.

    JPEGs go through torchvision's decoder: 2-3x faster than PIL on 32x32 JPEGs, and the same
    libjpeg output (checked on all of CIFAR-10). CMYK JPEGs, broken JPEGs and other formats go through
    PIL, whose colour conversions and error messages are the reference.
    """
    data = Path(path).read_bytes()
    if data.startswith(_JPEG_MAGIC):
        try:
            image = decode_jpeg(torch.frombuffer(bytearray(data), dtype=torch.uint8), mode=ImageReadMode.UNCHANGED)
        except RuntimeError:  # truncated or corrupt: let PIL raise its OSError below
            image = None
        if image is not None and image.shape[0] in (1, 3):
            rgb = image.expand(3, -1, -1)  # PIL's L -> RGB repeats the channel as well
            if tuple(rgb.shape[1:]) == tuple(resize.size):
                return rgb
            return pil_to_tensor(resize(Image.fromarray(rgb.permute(1, 2, 0).numpy())))
    return pil_to_tensor(resize(pil_loader(path)))  # from the path, which PIL's errors then name


def _cache_file(folder: Path, size: int) -> Path:
    slot = hashlib.sha256(os.fsencode(folder) + f"\0{size}".encode()).hexdigest()[:32]
    return cache_dir() / f"{slot}.pt"


def _read_cache(path: Path, listing: FolderListing, size: int) -> DecodedFolder | None:
    """The cached images if `path` holds a sound cache of this exact listing; else None (deleted if there)."""
    start = time.perf_counter()
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:  # the first load of this folder
        return None
    except Exception as err:  # a truncated or foreign file can make the unpickler raise almost anything
        _discard(path, f"unreadable ({type(err).__name__}: {err})")
        return None
    if isinstance(saved, dict) and saved.get("format") == CACHE_FORMAT and saved.get("key") != listing.key:
        logger.info("%s changed since it was cached; decoding it again", listing.folder)
        _discard(path, None)
        return None
    problem = _problem(saved, listing, size)
    if problem:
        _discard(path, problem)
        return None
    logger.info(
        "read %d images of %s from the cache %s in %.2f s",
        len(listing.samples),
        listing.folder,
        path,
        time.perf_counter() - start,
    )
    return DecodedFolder(saved["x"], saved["y"], saved["classes"])


def _problem(saved: object, listing: FolderListing, size: int) -> str | None:
    """What is wrong with a loaded cache file, if anything: it must be exactly what decoding would give."""
    if not isinstance(saved, dict) or saved.get("format") != CACHE_FORMAT or saved.get("key") != listing.key:
        return "not a cache of this folder"
    x, y, classes = saved.get("x"), saved.get("y"), saved.get("classes")
    n = len(listing.samples)
    if not isinstance(x, torch.Tensor) or x.dtype != torch.uint8 or tuple(x.shape) != (n, 3, size, size):
        return f"images are not uint8 {n} x 3 x {size} x {size}"
    if not isinstance(y, torch.Tensor) or y.dtype != torch.int64 or not torch.equal(y, listing.targets):
        return "labels do not match the folder"
    if classes != listing.classes:
        return "class names do not match the folder"
    return None


def _discard(path: Path, problem: str | None) -> None:
    if problem:
        logger.warning("ignoring the image-folder cache %s: %s; decoding again", path, problem)
    try:
        path.unlink(missing_ok=True)
    except OSError as err:  # a read-only cache folder: the rebuilt cache will not be written either
        logger.warning("could not delete %s: %s", path, err)


def _write_cache(path: Path, key: str, decoded: DecodedFolder) -> None:
    """Write to a temporary file beside `path`, then rename it over: readers see the old file or the new.

    No fsync: a killed process leaves at worst a stray temporary file, and the file a power cut might
    tear is caught by the checks on reading.
    """
    saved = {"format": CACHE_FORMAT, "key": key, "x": decoded.x, "y": decoded.y, "classes": decoded.classes}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Not tempfile.mkstemp: its files are private (0600), and a shared PRS_HOME needs the umask's mode.
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            with tmp.open("xb") as f:
                torch.save(saved, f)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    except OSError as err:
        logger.warning("could not cache the decoded images in %s (%s); they will be decoded again next time", path, err)
        return
    logger.info("cached %d images as %s", len(decoded.x), path)
