"""The cross-size model's data in the store: which runs count as finished, which searches are fitted
together, and that every write of such a run moves the dataset's version (the API's cache key)."""

from typing import Literal

from factories import Rows, searched_at_both_ends

from prs_search.store import ResultsStore
from prs_search.surrogate import MIN_RUNS, load_groups, warm_start_refusal, why_not


def rerun(
    store: ResultsStore, search_id: int, seed: int, *, reused: bool = False,
    state: Literal["COMPLETE", "FAIL"] = "COMPLETE",
) -> None:  # fmt: skip
    store.add_confirmation_run(
        search_id=search_id, candidate="prs", role="baseline", source_trial_id=None, schedule=(5, 3, 2, 0),
        params={}, seed=seed, reused=reused, state=state, val_acc=0.5 if state == "COMPLETE" else None,
        epochs_run=10, seconds=1.0,
    )  # fmt: skip


def test_finished_runs_are_complete_trials_of_every_epoch_and_new_reruns(store: ResultsStore, rows: Rows) -> None:
    search = rows.searched("digits", 300, [(8, 6, 4, 2)], [0.6])
    rows.trial(search, [9, 9, 9, 9], [0.1, 0.2], state="PRUNED")  # stopped by ASHA
    rows.trial(search, [7, 7, 7, 7], [0.3, 0.4])  # COMPLETE after 2 of 10 epochs: not finished
    rows.trial(search, [6, 6, 6, 6], [0.1] * 10, state="FAIL")
    rerun(store, search.id, 0, reused=True)  # the trial's own run again
    rerun(store, search.id, 1)
    rerun(store, search.id, 2, state="FAIL")

    runs = store.finished_runs(dataset="digits")

    assert [(r.schedule, r.val_acc, r.source) for r in runs] == [
        ((8, 6, 4, 2), 0.6, "trial"), ((5, 3, 2, 0), 0.5, "rerun"),
    ]  # fmt: skip
    assert {r.num_samples for r in runs} == {300} and store.finished_runs(dataset="other") == []


def test_every_write_of_a_finished_run_moves_the_version(store: ResultsStore, rows: Rows) -> None:
    search = rows.searched("digits", 300, [(8, 6, 4, 2)], [0.6])
    before = store.dataset_version(dataset="digits")
    rerun(store, search.id, 1)
    assert store.dataset_version(dataset="digits") == before + 1
    (trial,) = store.list_trials(search_id=search.id)[0]
    store.record_epoch(search_id=search.id, trial_key=trial.trial_key, epoch=9, metrics={"val_acc": 0.7})
    assert store.dataset_version(dataset="digits") == before + 2  # a finished trial's accuracy changed


def test_groups_split_by_model_stem_conv_depth_and_epochs(store: ResultsStore, rows: Rows) -> None:
    schedules = [(e, e, 0, 0) for e in range(MIN_RUNS)]
    rows.searched("digits", 300, schedules, [0.5] * MIN_RUNS)
    rows.searched("digits", 600, schedules, [0.6] * MIN_RUNS)
    rows.searched("digits", 1200, schedules, [0.7] * MIN_RUNS, stem="patch")

    groups = load_groups(store, "digits")

    assert sorted((k.stem, g.sizes) for k, g in groups.items()) == [("conv", (300, 600)), ("patch", (1200,))]
    conv = next(g for k, g in groups.items() if k.stem == "conv")
    assert why_not(conv, 150) is None and why_not(conv, 1200) is None  # within a factor 2 of the ends
    assert "factor 2" in (why_not(conv, 149) or "") and "factor 2" in (why_not(conv, 1201) or "")
    assert "2 searched sizes" in (why_not(groups[next(k for k in groups if k.stem == "patch")], 1200) or "")
    without = load_groups(store, "digits", without_size=600)
    assert [g.sizes for k, g in without.items() if k.stem == "conv"] == [(300,)]


def test_the_apis_warm_start_check_reads_the_stored_searches(store: ResultsStore, rows: Rows) -> None:
    """Without building the model: alike searches at two sizes of 8 runs allow a warm start between them (and
    for a fraction, whose size is unknown here); other epochs, or a size far outside, say why not."""
    searched_at_both_ends(rows)
    alike = {"model": "tiny", "stem": "conv", "epochs": 10}
    assert warm_start_refusal(store, "cifar100", 1000, **alike) is None
    assert warm_start_refusal(store, "cifar100", None, **alike) is None
    other_epochs = warm_start_refusal(store, "cifar100", 1000, **{**alike, "epochs": 20})
    assert other_epochs == "no other size of cifar100 was searched with model tiny, stem conv and 20 epochs"
    far = warm_start_refusal(store, "cifar100", 100_000, **alike)
    assert far is not None and "more than a factor 2 outside" in far
