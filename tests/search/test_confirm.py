"""The finalists' re-evaluation, on a real 4-trial search (Ray Tune + Optuna + SQLite): the top k complete
trials and the PRS default are retrained with m more seeds, every run is stored, Optuna's trials are only
the budget's, and the recommendation's interval is computed from the stored runs."""

from collections.abc import Iterator

import optuna
import pytest

from prs_search.recommend import recommend
from prs_search.schedule import Schedule
from prs_search.search import cluster, run_search
from prs_search.search.confirm import BASELINE_KEY, STUDY_ATTR
from prs_search.stats import accuracy_interval, paired_difference
from prs_search.store import ResultsStore

from .helpers import TINY_DEPTH, FinishedSearch, tiny_request

pytestmark = pytest.mark.slow

BUDGET, TOP, EXTRA_SEEDS = 4, 2, 1


@pytest.fixture(scope="module")
def confirmed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FinishedSearch]:
    tmp = tmp_path_factory.mktemp("confirm")
    request = tiny_request(
        tmp, f"sqlite:///{tmp / 'prs.db'}", budget=BUDGET, name="confirmed", confirm_top=TOP,
        confirm_seeds=EXTRA_SEEDS, grace_period=3,  # no ASHA stop: every trial completes, TOP finalists exist
    )  # fmt: skip
    try:
        summary = run_search(request)
    finally:
        cluster.shutdown()
    yield FinishedSearch(request.database_url, "confirmed", request, summary, 0.0)


def test_k_finalists_and_the_prs_default_are_retrained_with_m_more_seeds(confirmed: FinishedSearch) -> None:
    with ResultsStore(confirmed.url, migrate=False) as store:
        search = store.get_search(name_or_id="confirmed")
        assert search is not None and search.status == "finished", search and search.error
        runs = store.confirmation_runs(search_id=search.id)
        trials = {t.trial_key: t for t in store.list_trials(search_id=search.id)[0]}
    seeds = {search.seed, search.seed + EXTRA_SEEDS}
    candidates = {r.candidate for r in runs}
    assert len(candidates) == TOP + 1  # k finalists + the PRS default (here never one of them)
    assert BASELINE_KEY in candidates
    for key in candidates:
        mine = [r for r in runs if r.candidate == key]
        assert {r.seed for r in mine} == seeds
        assert all(r.state == "COMPLETE" and r.epochs_run == search.epochs for r in mine)
    prs = [r for r in runs if r.candidate == BASELINE_KEY]
    assert all(tuple(r.schedule) == Schedule.prs(TINY_DEPTH, search.epochs).switch_epochs for r in prs)
    assert not any(r.reused for r in prs)  # no search trial ran the PRS default: trained at both seeds
    complete = [t for t in trials.values() if t.state == "COMPLETE"]
    chosen = candidates - {BASELINE_KEY}
    finalists = sorted((trials[key] for key in chosen), key=lambda t: -(t.val_acc or 0.0))
    for r in runs:
        if r.candidate != BASELINE_KEY:
            trial = trials[r.candidate]
            assert r.source_trial_id == trial.id and tuple(r.schedule) == trial.schedule
            # The finalist's own run at the search's seed is its trial, reused, not retrained.
            assert r.reused == (r.seed == search.seed)
            if r.reused:
                assert r.val_acc == trial.val_acc
    # The k best by validation accuracy (ties may go either way: the product breaks them by training time).
    assert len(finalists) == TOP
    assert all((t.val_acc or 0.0) <= (finalists[-1].val_acc or 0.0) for t in complete if t.trial_key not in chosen)
    # The PRS default trains with the best finalist's hyper-parameters (the seed is a column of its own).
    assert prs[0].params == prs[1].params
    assert prs[0].params in [t.params for t in finalists if t.val_acc == finalists[0].val_acc]


def test_every_trial_and_run_stores_its_counted_flops(confirmed: FinishedSearch) -> None:
    """A trial's FLOPs are its epochs' sum; a run's depend on its schedule only, not on its seed: a finalist's
    retrained run counts what its search trial counted, and the PRS default counts the same at both seeds."""
    with ResultsStore(confirmed.url, migrate=False) as store:
        search = store.get_search(name_or_id="confirmed")
        assert search is not None
        trials = {t.trial_key: t for t in store.list_trials(search_id=search.id)[0]}
        epochs = {key: store.epoch_metrics(trial_id=t.id) for key, t in trials.items()}
        runs = store.confirmation_runs(search_id=search.id)
    for key, trial in trials.items():
        assert all(e.flops is not None and e.flops > 0 for e in epochs[key])
        assert trial.flops == pytest.approx(sum(e.flops or 0.0 for e in epochs[key]), rel=1e-12)
    for r in runs:
        if r.candidate == BASELINE_KEY:
            assert r.flops is not None and r.flops == next(p.flops for p in runs if p.candidate == BASELINE_KEY)
        else:
            assert r.flops == trials[r.candidate].flops, (r.candidate, r.seed)


def test_tpe_sees_only_the_budget_and_the_study_records_the_outcome(confirmed: FinishedSearch) -> None:
    with ResultsStore(confirmed.url, migrate=False) as store:
        search = store.get_search(name_or_id="confirmed")
        assert search is not None
    study = optuna.load_study(study_name=search.study_name, storage=confirmed.url)
    assert len(study.trials) == BUDGET  # the re-evaluation asked Optuna for nothing
    outcome = study.user_attrs[STUDY_ATTR]
    assert set(outcome["candidates"]) >= {BASELINE_KEY}
    assert len(outcome["candidates"]) == TOP + 1
    assert outcome["recommended"]["seeds"] == 1 + EXTRA_SEEDS


def test_the_recommendation_carries_the_interval_of_the_stored_runs(confirmed: FinishedSearch) -> None:
    with ResultsStore(confirmed.url, migrate=False) as store:
        search = store.get_search(name_or_id="confirmed")
        assert search is not None
        runs = store.confirmation_runs(search_id=search.id)
        answer = recommend(store, "digits", num_samples=search.num_samples)
        (row,) = store.best_schedules(dataset="digits")
    by_key: dict[str, dict[int, float]] = {}
    for r in runs:
        assert r.val_acc is not None
        by_key.setdefault(r.candidate, {})[r.seed] = r.val_acc
    means = {key: accuracy_interval([v[s] for s in sorted(v)]) for key, v in by_key.items()}
    best = max(means.values(), key=lambda m: m.mean)
    assert answer.method == "exact" and answer.val_acc == pytest.approx(best.mean)
    chosen = next(r for r in runs if tuple(r.schedule) == answer.schedule)
    assert means[chosen.candidate].mean == pytest.approx(best.mean)
    c = answer.confidence
    assert c is not None and c.seeds == 1 + EXTRA_SEEDS
    assert (c.val_acc_low, c.val_acc_high) == pytest.approx((best.low, best.high))
    advantage = paired_difference(
        [by_key[chosen.candidate][s] for s in sorted(by_key[chosen.candidate])],
        [by_key[BASELINE_KEY][s] for s in sorted(by_key[BASELINE_KEY])],
    )
    assert c.advantage == pytest.approx(advantage.mean)
    assert (c.advantage_low, c.advantage_high) == pytest.approx((advantage.low, advantage.high))
    assert c.baseline_schedule == Schedule.prs(TINY_DEPTH, search.epochs).switch_epochs
    assert "seeds" in answer.confidence_note
    # The test accuracy is measured once, for the chosen schedule.
    assert answer.test_acc is not None and row.test_acc == answer.test_acc == search.test_acc
    assert row.trial_id == (chosen.source_trial_id if chosen.candidate != BASELINE_KEY else None)


def test_an_interpolated_answer_says_no_interval_exists(confirmed: FinishedSearch) -> None:
    with ResultsStore(confirmed.url, migrate=False) as store:
        search = store.get_search(name_or_id="confirmed")
        assert search is not None
        answer = recommend(store, "digits", num_samples=search.num_samples * 2)
    assert answer.method == "nearest" and answer.confidence is None
    assert "no interval exists" in answer.confidence_note
