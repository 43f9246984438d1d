"""`recommend`: exact, the cross-size model, interpolated (log size, rounded), nearest (outside the range, or not
interpolable)."""

import math

import pytest
from factories import LARGE, SMALL, Rows, searched_at_both_ends, true_accuracy

from prs_search.errors import ConfigError, NotFoundError
from prs_search.recommend import recommend
from prs_search.schemas import Confirmation
from prs_search.store import ResultsStore


def test_exact_size(store: ResultsStore, rows: Rows) -> None:
    best = rows.finished("cifar100", 5000, [8, 6, 4, 2], 0.42, test_acc=0.40, pruned=3)
    rows.finished("cifar100", 20000, [4, 3, 1, 0], 0.55)

    answer = recommend(store, "cifar100", num_samples=5000)

    assert answer.method == "exact" and answer.warning is None
    assert answer.schedule == (8, 6, 4, 2) and answer.epochs == 10 and answer.model == "tiny"
    assert answer.val_acc == pytest.approx(0.42) and answer.test_acc == pytest.approx(0.40)
    assert answer.searched_sizes == (5000, 20000)
    (source,) = answer.provenance
    assert (source.search_id, source.trial_id, source.num_samples, source.weight) == (
        best.search_id, best.trial_id, 5000, 1.0,
    )  # fmt: skip
    assert source.search_name == best.search_name
    assert answer.trials_backing == 4  # the best trial and 3 pruned ones


def test_exact_size_of_a_re_evaluated_search_carries_its_confidence(store: ResultsStore, rows: Rows) -> None:
    confirmation = Confirmation(
        trial_id=None, schedule=(8, 6, 4, 2), seeds=3, val_acc=0.44, val_low=0.41, val_high=0.47,
        baseline_schedule=(5, 3, 2, 0), advantage=0.03, advantage_low=0.01, advantage_high=0.05,
    )  # fmt: skip
    rows.finished("cifar100", 5000, [8, 6, 4, 2], 0.42, confirmation=confirmation)
    rows.finished("cifar100", 20000, [4, 3, 1, 0], 0.55)

    answer = recommend(store, "cifar100", num_samples=5000)
    assert answer.val_acc == pytest.approx(0.44)  # the mean over seeds, not the single search trial's 0.42
    c = answer.confidence
    assert c is not None and c.seeds == 3 and (c.val_acc_low, c.val_acc_high) == (0.41, 0.47)
    assert c.baseline_schedule == (5, 3, 2, 0) and c.advantage == 0.03 and c.significant
    assert "3 seeds" in answer.confidence_note

    unconfirmed = recommend(store, "cifar100", num_samples=20000)
    assert unconfirmed.confidence is None and "did not re-evaluate" in unconfirmed.confidence_note
    between = recommend(store, "cifar100", num_samples=10000)
    assert between.method == "interpolated" and between.confidence is None
    assert "no interval exists at 10000 images" in between.confidence_note


def test_interpolated_in_log_size_with_rounding(store: ResultsStore, rows: Rows) -> None:
    rows.finished("cifar100", 1000, [10, 8, 6, 4], 0.30)
    rows.finished("cifar100", 4000, [6, 4, 1, 0], 0.50, test_acc=0.5)

    middle = recommend(store, "cifar100", num_samples=2000)  # log-midpoint: t = 0.5

    assert middle.method == "interpolated" and middle.warning is None
    assert middle.schedule == (8, 6, 4, 2)  # 3.5 rounds half up to 4
    assert middle.val_acc == pytest.approx(0.40)
    assert middle.test_acc is None
    assert [(p.num_samples, p.weight) for p in middle.provenance] == [(1000, 0.5), (4000, 0.5)]
    assert middle.trials_backing == 4

    near_low = recommend(store, "cifar100", num_samples=1200)
    t = math.log(1200 / 1000) / math.log(4)  # ~0.13
    expected = tuple(math.floor((1 - t) * a + t * b + 0.5) for a, b in zip([10, 8, 6, 4], [6, 4, 1, 0], strict=True))
    assert near_low.schedule == expected == (9, 7, 5, 3)
    assert near_low.val_acc == pytest.approx(0.30 + t * 0.20)


def test_interpolated_epochs_stay_in_range(store: ResultsStore, rows: Rows) -> None:
    rows.finished("d", 100, [10, 10, 0], 0.3)
    rows.finished("d", 10000, [10, 9, 0], 0.6)
    answer = recommend(store, "d", num_samples=9999)
    assert answer.method == "interpolated"
    assert all(0 <= e <= answer.epochs for e in answer.schedule) and answer.schedule == (10, 9, 0)


@pytest.mark.parametrize(("asked", "used"), [(500, 1000), (80000, 20000)])
def test_outside_the_searched_range_is_nearest_with_warning(
    store: ResultsStore, rows: Rows, asked: int, used: int
) -> None:
    rows.finished("cifar100", 1000, [9, 7, 5, 3], 0.3, test_acc=0.3)
    rows.finished("cifar100", 20000, [3, 2, 1, 0], 0.6, test_acc=0.6)

    answer = recommend(store, "cifar100", num_samples=asked)

    assert answer.method == "nearest"
    assert answer.schedule == ((9, 7, 5, 3) if used == 1000 else (3, 2, 1, 0))
    assert [p.num_samples for p in answer.provenance] == [used]
    assert answer.test_acc is None  # measured at another size
    assert answer.warning is not None
    assert "outside the searched range [1000, 20000]" in answer.warning
    assert f"nearest searched size, {used}" in answer.warning


@pytest.mark.parametrize(
    ("high", "difference"),
    [
        ({"model": "small"}, "model (tiny vs small)"),
        ({"stem": "patch"}, "stem (conv vs patch)"),
        ({"epochs": 12}, "epochs (10 vs 12)"),
        ({"schedule": [6, 4, 1, 0, 0]}, "depth (4 vs 5)"),
    ],
)
def test_mismatched_neighbours_fall_back_to_nearest_in_log_size(
    store: ResultsStore, rows: Rows, high: dict[str, object], difference: str
) -> None:
    schedule = high.pop("schedule", [6, 4, 1, 0])
    assert isinstance(schedule, list)
    rows.finished("cifar100", 1000, [10, 8, 6, 4], 0.30)
    rows.finished("cifar100", 4000, schedule, 0.50, **high)

    lower = recommend(store, "cifar100", num_samples=1900)  # log distance: 0.64 to 1000, 0.74 to 4000
    upper = recommend(store, "cifar100", num_samples=2100)
    tie = recommend(store, "cifar100", num_samples=2000)  # ties go to the larger size

    assert (lower.method, lower.schedule, lower.model) == ("nearest", (10, 8, 6, 4), "tiny")
    assert (upper.method, [p.num_samples for p in upper.provenance]) == ("nearest", [4000])
    assert [p.num_samples for p in tie.provenance] == [4000]
    for answer in (lower, upper, tie):
        assert answer.warning is not None
        assert difference in answer.warning and "cannot be interpolated" in answer.warning


def test_fraction_uses_the_training_split_size_of_fraction_searches(store: ResultsStore, rows: Rows) -> None:
    rows.finished("cifar100", 5000, [8, 6, 4, 2], 0.4, fraction=0.1)  # training split: 50,000
    rows.finished("cifar100", 20000, [4, 3, 1, 0], 0.6)

    exact = recommend(store, "cifar100", fraction=0.1)
    between = recommend(store, "cifar100", fraction=0.2)

    assert (exact.method, exact.num_samples, exact.fraction) == ("exact", 5000, 0.1)
    assert (between.method, between.num_samples) == ("interpolated", 10000)
    by_size = recommend(store, "cifar100", num_samples=10000).model_dump(mode="json")
    assert between.model_dump(mode="json") == {**by_size, "fraction": 0.2}


def test_fraction_without_any_fraction_search_asks_for_num_samples(store: ResultsStore, rows: Rows) -> None:
    rows.finished("cifar100", 5000, [8, 6, 4, 2], 0.4)
    with pytest.raises(ConfigError, match="ask with num_samples"):
        recommend(store, "cifar100", fraction=0.1)


def test_unknown_dataset_lists_the_known_ones(store: ResultsStore, rows: Rows) -> None:
    with pytest.raises(NotFoundError, match="datasets with searches: none yet"):
        recommend(store, "imagenet", num_samples=1000)
    rows.finished("cifar100", 5000, [8, 6, 4, 2], 0.4)
    rows.search("digits", 1000)
    with pytest.raises(
        NotFoundError, match=r"no searches for dataset 'imagenet'; datasets with searches: cifar100, digits"
    ):
        recommend(store, "imagenet", num_samples=1000)


def test_dataset_without_a_finished_search_says_how_to_run_one(store: ResultsStore, rows: Rows) -> None:
    search = rows.search("digits", 1200)
    rows.trial(search, [4, 3, 2, 1], [0.2], state="RUNNING")
    with pytest.raises(NotFoundError) as raised:
        recommend(store, "digits", num_samples=1000)
    message = str(raised.value)
    assert "none has finished yet" in message
    assert "prs-search run --dataset digits --num-samples 1200 --budget 50" in message


@pytest.mark.parametrize(
    ("num_samples", "fraction", "message"),
    [
        (None, None, "exactly one"),
        (1000, 0.1, "exactly one"),
        (0, None, "positive integer"),
        (True, None, "positive integer"),
        (None, 1.5, r"\(0, 1\]"),
        (None, 0.0, r"\(0, 1\]"),
        (None, math.nan, r"\(0, 1\]"),
    ],
)
def test_invalid_sizes(store: ResultsStore, num_samples: object, fraction: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        recommend(store, "cifar100", num_samples=num_samples, fraction=fraction)  # type: ignore[arg-type]


def test_invalid_dataset_names(store: ResultsStore) -> None:
    for bad in ("", "  ", "a\x00b", "x" * 129):
        with pytest.raises(ConfigError, match="dataset"):
            recommend(store, bad, num_samples=10)


def test_model_answers_from_two_sizes_of_eight_finished_trials(store: ResultsStore, rows: Rows) -> None:
    searched_at_both_ends(rows)

    answer = recommend(store, "cifar100", num_samples=1000)

    assert answer.method == "model" and answer.warning is None and answer.test_acc is None
    p = answer.prediction
    assert p is not None and p.runs == 16 and p.sizes == (SMALL, LARGE) and p.candidates == math.comb(14, 4)
    assert p.val_acc_low < answer.val_acc < p.val_acc_high
    assert p.val_acc_low <= true_accuracy(answer.schedule, 1000) <= p.val_acc_high
    assert all(a >= b for a, b in zip(answer.schedule, answer.schedule[1:], strict=False))  # the space's
    assert [(s.num_samples, s.weight) for s in answer.provenance] == [(SMALL, 0.5), (LARGE, 0.5)]
    assert answer.trials_backing == 16 and "16 finished runs" in answer.prediction_note
    assert recommend(store, "cifar100", num_samples=1000) == answer  # deterministic


def test_model_answers_near_the_range_and_not_far_outside(store: ResultsStore, rows: Rows) -> None:
    searched_at_both_ends(rows)
    assert recommend(store, "cifar100", num_samples=4000).method == "model"  # a factor 2 above the largest
    far = recommend(store, "cifar100", num_samples=4001)
    assert far.method == "nearest" and far.prediction is None and "factor 2" in far.prediction_note
    assert far.warning is not None and "outside the searched range" in far.warning
    exact = recommend(store, "cifar100", num_samples=SMALL)
    assert exact.method == "exact" and exact.prediction is None


def test_too_few_finished_runs_fall_back_to_interpolation_with_the_reason(store: ResultsStore, rows: Rows) -> None:
    searched_at_both_ends(rows, per_size=7)
    answer = recommend(store, "cifar100", num_samples=1000)
    assert answer.method == "interpolated" and answer.prediction is None
    assert "2 searched sizes with 8 finished runs each" in answer.prediction_note
    assert "500: 7, 2000: 7" in answer.prediction_note
