"""`imagefolder:PATH` from the API: only folders under the operator's roots, checked before anything reads them.

`PRS_API_IMAGEFOLDER_ROOTS` lists the folders (none by default: the API then refuses every image folder).
A requested path must be absolute; it is resolved (symbolic links followed, `..` removed) and must lie
inside a resolved root. Then the tree is walked without following links, and refused when it holds a
symbolic link anywhere (torchvision's `ImageFolder` follows them: a link out of the root would read
another folder, a link loop would never end), is deeper than an image folder is (root/train/class/image),
or holds more than `PRS_API_IMAGEFOLDER_MAX_ENTRIES` files and folders. The search then runs on the
resolved path, so what was checked is what is read.

Refusals are `ConfigError`s (422) whose message names neither the resolved path nor anything found on
the server, so a client cannot learn from them what exists outside the roots.
"""

import os
from pathlib import Path

from prs_search.dataset_registry import IMAGEFOLDER_PREFIX
from prs_search.errors import ConfigError

# root/train/class/image.png is 3 levels below the root; a little room for class folders in sub-folders.
MAX_DEPTH = 5


def checked_dataset(dataset: str, roots: list[Path], max_entries: int) -> str:
    """`dataset` as the search should run it: unchanged unless it is an image folder, which must pass the
    checks of the module docstring and comes back as `imagefolder:RESOLVED`."""
    if not dataset.startswith(IMAGEFOLDER_PREFIX):
        return dataset
    if not roots:
        raise ConfigError(
            "image folders are turned off on this API (the operator lists the folders it may read in "
            "PRS_API_IMAGEFOLDER_ROOTS); use a built-in dataset, or run the search with the CLI"
        )
    given = Path(dataset.removeprefix(IMAGEFOLDER_PREFIX))
    if not given.is_absolute():
        raise ConfigError(f"{IMAGEFOLDER_PREFIX}PATH needs an absolute PATH inside one of the API's image-folder roots")
    try:
        folder = given.resolve(strict=True)
    except (OSError, RuntimeError):  # missing, unreadable, or a link loop on the way
        folder = None
    inside = folder is not None and folder.is_dir() and any(_within(folder, root) for root in roots)
    if folder is None or not inside:
        raise ConfigError(f"{IMAGEFOLDER_PREFIX}PATH is not a folder inside the API's image-folder roots")
    _walk(folder, max_entries)
    return f"{IMAGEFOLDER_PREFIX}{folder}"


def _within(folder: Path, root: Path) -> bool:
    try:
        return folder.is_relative_to(root.resolve(strict=True))
    except (OSError, RuntimeError):
        return False


def _walk(folder: Path, max_entries: int) -> None:
    """Every entry below `folder`, links not followed; refuses links, depth and size (see the module)."""
    pending: list[tuple[str, int]] = [(str(folder), 0)]
    seen = 0
    while pending:
        path, depth = pending.pop()
        try:
            with os.scandir(path) as entries:
                for entry in entries:
                    seen += 1
                    if seen > max_entries:
                        raise ConfigError(f"the image folder holds more than {max_entries} files and folders")
                    if entry.is_symlink():
                        raise ConfigError("the image folder holds a symbolic link, which this API does not follow")
                    if entry.is_dir(follow_symlinks=False):
                        if depth + 1 > MAX_DEPTH:
                            raise ConfigError(f"the image folder is nested deeper than {MAX_DEPTH} levels")
                        pending.append((entry.path, depth + 1))
        except OSError:
            raise ConfigError("the image folder cannot be read") from None
