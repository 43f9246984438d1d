"""Stratified, seeded subsets and splits of a labelled dataset.

The search trains on "N images of this dataset", so a subset must keep the class balance of the full
training split and be reproducible from a seed. Both functions return index tensors (sorted, int64);
taking the images is the caller's business.

With the same seed, subsets of different sizes overlap as much as possible: every class has one fixed
random order per seed and a subset takes a prefix of it, so (apart from a rounding difference of one
sample in a class) the subset of 5,000 images lies inside the subset of 10,000 and a sweep over dataset
sizes compares like with like.
"""

import heapq
import math

import torch

from prs_search.errors import ConfigError

__all__ = ["stratified_split", "stratified_subset"]


def check_size(asked: str, total: int, classes: int, available: int) -> None:
    """A subset of `total` images of a split of `available` with `classes` classes: one per class at least."""
    if not classes <= total <= available:
        raise ConfigError(f"{asked}; need between {classes} (one per class) and {available} images")


def stratified_subset(
    labels: torch.Tensor,
    *,
    num_samples: int | None = None,
    fraction: float | None = None,
    seed: int,
) -> torch.Tensor:
    """Indices of a class-balanced random subset of `labels`.

    Give exactly one of `num_samples` (in [number of classes, N]) or `fraction` (in (0, 1], meaning
    round(fraction * N) samples). The total is exact; every class gets its proportional share, within
    one sample, and at least one sample (which wins for a class whose share is below one).
    """
    labels = _check_labels(labels)
    n = len(labels)
    if (num_samples is None) == (fraction is None):
        raise ConfigError("give exactly one of num_samples or fraction for the dataset size")
    if fraction is not None:
        if not 0.0 < fraction <= 1.0:
            raise ConfigError(f"fraction must be in (0, 1], got {fraction}")
        total = round(fraction * n)
        asked = f"fraction {fraction} of {n} images gives {total}"
    else:
        assert num_samples is not None  # for the type checker: exactly one was given
        total = num_samples
        asked = f"num_samples {num_samples}"
    sizes = torch.bincount(torch.unique(labels, return_inverse=True)[1]).tolist()
    check_size(asked, total, len(sizes), n)
    if total == n:
        return torch.arange(n)
    generator = torch.Generator().manual_seed(seed)
    counts = _allocate(sizes, total, lower=[1] * len(sizes), upper=sizes, generator=generator)
    return _take_per_class(labels, counts, generator)


def stratified_split(labels: torch.Tensor, holdout_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Split indices into (keep, holdout) with about `holdout_fraction` of every class held out.

    Every class with at least two samples keeps at least one on each side; a class with a single
    sample stays on the keep side (training on it beats never seeing it).
    """
    labels = _check_labels(labels)
    if not 0.0 < holdout_fraction < 1.0:
        raise ConfigError(f"holdout fraction must be in (0, 1), got {holdout_fraction}")
    sizes = torch.bincount(torch.unique(labels, return_inverse=True)[1]).tolist()
    lower = [1 if s >= 2 else 0 for s in sizes]
    upper = [s - 1 for s in sizes]
    # The per-class guarantees can force a holdout bigger or smaller than asked for.
    total = min(max(round(holdout_fraction * len(labels)), sum(lower)), sum(upper))
    generator = torch.Generator().manual_seed(seed)
    counts = _allocate(sizes, total, lower=lower, upper=upper, generator=generator)
    holdout = _take_per_class(labels, counts, generator)
    keep = torch.ones(len(labels), dtype=torch.bool)
    keep[holdout] = False
    return keep.nonzero().flatten(), holdout


def _check_labels(labels: torch.Tensor) -> torch.Tensor:
    if labels.ndim != 1 or labels.is_floating_point() or len(labels) == 0:
        raise ConfigError(f"labels must be a non-empty 1-D integer tensor, got {labels.dtype} {tuple(labels.shape)}")
    return labels.cpu()


def _allocate(
    sizes: list[int], total: int, *, lower: list[int], upper: list[int], generator: torch.Generator
) -> list[int]:
    """Per-class counts summing to `total`, as close to proportional as the bounds allow.

    Largest-remainder rounding: start from the floor of each class's quota (clamped to its bounds), then
    hand out the missing samples to the classes furthest below their quota, or take the surplus from the
    classes furthest above it. Ties, common for balanced datasets, are broken by a seeded random key so
    the extra samples do not always go to the low class indices.
    """
    n = sum(sizes)
    quota = [total * s / n for s in sizes]
    counts = [min(max(math.floor(q), lo), hi) for q, lo, hi in zip(quota, lower, upper, strict=True)]
    tiebreak = torch.rand(len(sizes), generator=generator).tolist()
    missing = total - sum(counts)
    sign = 1 if missing > 0 else -1
    # heapq pops the smallest, so order by "most deserving first" for the direction we move in.
    heap = [(-sign * (quota[c] - counts[c]), tiebreak[c], c) for c in range(len(sizes))]
    heapq.heapify(heap)
    while missing != 0:
        _, key, c = heapq.heappop(heap)
        if (sign > 0 and counts[c] >= upper[c]) or (sign < 0 and counts[c] <= lower[c]):
            continue  # this class cannot move further; drop it from the heap
        counts[c] += sign
        missing -= sign
        heapq.heappush(heap, (-sign * (quota[c] - counts[c]), key, c))
    return counts


def _take_per_class(labels: torch.Tensor, counts: list[int], generator: torch.Generator) -> torch.Tensor:
    """The first `counts[c]` samples of each class c in a seeded random order, as sorted indices."""
    classes = torch.unique(labels, return_inverse=True)[1]
    perm = torch.randperm(len(labels), generator=generator)
    # A stable sort by class of a random permutation lists every class's samples in random order.
    grouped = perm[torch.argsort(classes[perm], stable=True)]
    grouped_classes = classes[grouped]
    class_sizes = torch.bincount(classes)
    class_start = torch.cumsum(class_sizes, 0) - class_sizes
    rank = torch.arange(len(labels)) - class_start[grouped_classes]
    keep = rank < torch.tensor(counts)[grouped_classes]
    return grouped[keep].sort().values
