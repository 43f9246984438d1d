"""Stratified subsets and splits: exact sizes, class balance, determinism, bad input."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from prs_search.data import stratified_split, stratified_subset
from prs_search.errors import ConfigError


def make_labels(class_sizes: list[int], seed: int = 0) -> torch.Tensor:
    labels = torch.repeat_interleave(torch.arange(len(class_sizes)), torch.tensor(class_sizes))
    return labels[torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))]


def assert_proportional(labels: torch.Tensor, idx: torch.Tensor, total: int) -> None:
    sizes = torch.bincount(labels)
    counts = torch.bincount(labels[idx], minlength=len(sizes))
    quota = total * sizes.double() / len(labels)
    assert len(idx) == total
    assert len(torch.unique(idx)) == total, "indices repeat"
    assert torch.all((counts - quota).abs() < 1.0 + 1e-9), (counts, quota)
    assert torch.all(counts >= 1)


def test_subset_keeps_class_balance_on_imbalanced_labels() -> None:
    labels = make_labels([500, 300, 120, 60, 20])
    idx = stratified_subset(labels, num_samples=100, seed=0)
    assert_proportional(labels, idx, 100)
    assert torch.equal(torch.bincount(labels[idx]), torch.tensor([50, 30, 12, 6, 2]))
    assert torch.equal(idx, idx.sort().values)


def test_subset_by_fraction_rounds_to_the_exact_total() -> None:
    labels = make_labels([37, 41, 29])  # 107 samples
    idx = stratified_subset(labels, fraction=0.33, seed=1)
    assert_proportional(labels, idx, round(0.33 * 107))


def test_subset_spreads_rounding_over_classes_by_seed() -> None:
    """Balanced classes with a total that does not divide: the extra samples go to seeded classes."""
    labels = make_labels([20] * 10)
    winners = set()
    for seed in range(6):
        counts = torch.bincount(labels[stratified_subset(labels, num_samples=15, seed=seed)], minlength=10)
        assert sorted(counts.tolist()) == [1] * 5 + [2] * 5
        winners.add(tuple(counts.tolist()))
    assert len(winners) > 1, "rounding always favoured the same classes"


def test_fraction_one_is_everything() -> None:
    labels = make_labels([5, 7])
    assert torch.equal(stratified_subset(labels, fraction=1.0, seed=3), torch.arange(12))


def test_subset_is_deterministic_per_seed_and_differs_across_seeds() -> None:
    labels = make_labels([100] * 5)
    a = stratified_subset(labels, num_samples=50, seed=7)
    b = stratified_subset(labels, num_samples=50, seed=7)
    c = stratified_subset(labels, num_samples=50, seed=8)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_smaller_subset_lies_inside_larger_one_for_the_same_seed() -> None:
    labels = make_labels([100] * 10)
    small = set(stratified_subset(labels, num_samples=200, seed=4).tolist())
    large = set(stratified_subset(labels, num_samples=500, seed=4).tolist())
    assert small <= large


@pytest.mark.parametrize(
    "kwargs",
    [
        {"fraction": 0.0},
        {"fraction": -0.5},
        {"fraction": 1.5},
        {"fraction": 0.01},  # rounds to 0 samples, fewer than the 3 classes
        {"num_samples": 2},  # fewer than the 3 classes
        {"num_samples": 31},  # more than the 30 samples
        {"num_samples": 10, "fraction": 0.5},
        {},
    ],
)
def test_bad_sizes_are_config_errors(kwargs: dict) -> None:
    labels = make_labels([10, 10, 10])
    with pytest.raises(ConfigError):
        stratified_subset(labels, seed=0, **kwargs)


def test_too_small_size_message_names_the_class_count() -> None:
    with pytest.raises(ConfigError, match="3 \\(one per class\\)"):
        stratified_subset(make_labels([10, 10, 10]), num_samples=2, seed=0)


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=1, max_value=60), min_size=2, max_size=12),
    share=st.floats(min_value=0.0, max_value=1.0),
    seed=st.integers(min_value=0, max_value=2**31),
)
def test_subset_property(sizes: list[int], share: float, seed: int) -> None:
    labels = make_labels(sizes, seed)
    n = len(labels)
    total = len(sizes) + round(share * (n - len(sizes)))
    idx = stratified_subset(labels, num_samples=total, seed=seed)
    counts = torch.bincount(labels[idx], minlength=len(sizes))
    assert len(idx) == total == int(counts.sum())
    assert len(torch.unique(idx)) == total
    assert torch.all(counts >= 1) and torch.all(counts <= torch.tensor(sizes))
    quota = total * torch.tensor(sizes, dtype=torch.float64) / n
    if torch.all(quota >= 1):  # the at-least-one rule cannot have pulled samples from other classes
        assert torch.all((counts - quota).abs() < 1.0 + 1e-9)


def test_split_is_a_partition_with_every_class_on_both_sides() -> None:
    labels = make_labels([40, 20, 5, 2, 1])
    keep, holdout = stratified_split(labels, 0.2, seed=0)
    assert len(keep) + len(holdout) == len(labels)
    assert set(keep.tolist()).isdisjoint(holdout.tolist())
    assert set(keep.tolist()) | set(holdout.tolist()) == set(range(len(labels)))
    assert len(holdout) == round(0.2 * len(labels))
    kept = torch.bincount(labels[keep], minlength=5)
    held = torch.bincount(labels[holdout], minlength=5)
    assert torch.all(kept[:4] >= 1) and torch.all(held[:4] >= 1)
    assert kept[4] == 1 and held[4] == 0  # a single sample trains rather than validates


def test_split_deterministic_and_seeded() -> None:
    labels = make_labels([30] * 4)
    a = stratified_split(labels, 0.25, seed=1)[1]
    assert torch.equal(a, stratified_split(labels, 0.25, seed=1)[1])
    assert not torch.equal(a, stratified_split(labels, 0.25, seed=2)[1])


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 2.0])
def test_split_rejects_bad_fraction(fraction: float) -> None:
    with pytest.raises(ConfigError):
        stratified_split(make_labels([5, 5]), fraction, seed=0)
