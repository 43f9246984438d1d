"""Study runs in the results store (`prs_study_runs`), on every backend: recorded, listed, unique."""

from typing import Any

import pytest

from prs_search.errors import ConfigError
from prs_search.store import ResultsStore

RUN: dict[str, Any] = {
    "study": "s1", "dataset": "digits", "fraction": 0.25, "num_samples": 359, "schedule_label": "linear:4,0",
    "schedule": [4, 3, 1, 0], "epochs": 4, "model": "tiny", "stem": "conv", "conv": "shift", "seed": 0,
    "status": "completed", "val_acc": 0.5, "test_acc": 0.45, "train_acc": 0.75, "seconds": 2.5,
}  # fmt: skip


def test_add_and_list(store: ResultsStore) -> None:
    first = store.add_study_run(**RUN)
    assert (first.study, first.schedule, first.schedule_label) == ("s1", (4, 3, 1, 0), "linear:4,0")
    assert (first.val_acc, first.test_acc, first.train_acc, first.seconds) == (0.5, 0.45, 0.75, 2.5)
    assert first.conv == "shift"
    assert first.created_at.tzinfo is not None
    second = store.add_study_run(**{**RUN, "seed": 1, "status": "diverged", "test_acc": None})
    other = store.add_study_run(**{**RUN, "study": "s2", "dataset": "cifar10", "num_samples": 12500})
    assert store.study_runs(study="s1") == [first, second]
    assert store.study_runs(dataset="cifar10") == [other]
    assert store.study_runs(study="s1", dataset="cifar10") == []
    assert store.study_runs() == [first, second, other]
    assert second.test_acc is None and second.status == "diverged"


def test_a_run_is_stored_once(store: ResultsStore) -> None:
    store.add_study_run(**RUN)
    with pytest.raises(ConfigError, match="study 's1' already has a run of 'linear:4,0' at 359 images with seed 0"):
        store.add_study_run(**{**RUN, "val_acc": 0.9})
    assert [r.val_acc for r in store.study_runs()] == [0.5]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("status", "running", "'completed' or 'diverged'"),
        ("val_acc", float("nan"), "val_acc must be finite"),
        ("schedule", [2, -1], "must be >= 0"),
        ("conv", "wide", "'shift' or 'dense'"),
        ("train_acc", float("inf"), "train_acc must be finite"),
        ("num_samples", 0, "num_samples must be >= 1"),
        ("study", "", "study must be a non-empty string"),
    ],
)
def test_invalid_runs_are_refused(store: ResultsStore, field: str, value: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        store.add_study_run(**{**RUN, field: value})
    assert store.study_runs() == []


def test_the_plain_cnn_reference_has_no_schedule_and_no_conv_variant(store: ResultsStore) -> None:
    cnn_run = {"schedule_label": "plain-cnn", "schedule": [], "model": "plain-cnn", "conv": None}
    cnn = store.add_study_run(**{**RUN, **cnn_run})
    assert (cnn.schedule, cnn.conv, cnn.model) == ((), None, "plain-cnn")
    assert store.study_runs(study="s1") == [cnn]


def test_a_fourier_profile_is_kept_as_it_was_given(store: ResultsStore) -> None:
    profile = {"attention": [True, False], "reading": "park-kim", "delta": [[0.0, -1.25], [0.0, -2.5]], "images": 8}
    run = store.add_study_run(**{**RUN, "fourier": profile})
    (again,) = store.study_runs(study="s1")
    assert run.fourier == again.fourier == profile
