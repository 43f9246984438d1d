"""The results store's contract, run against every backend (SQLite and PostgreSQL)."""

import math
import pickle
from collections.abc import Callable
from datetime import UTC
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from prs_search.errors import ConfigError
from prs_search.schemas import Confirmation
from prs_search.store import ResultsStore, SearchRecord, SearchStatus, TrialState
from prs_search.store.models import BestSchedule, EpochMetric, Search, Trial, utcnow

SearchFactory = Callable[..., SearchRecord]
RunTrial = Callable[..., int]


class TestResultsStoreContract:
    # -- searches ---------------------------------------------------------------------------------

    def test_create_and_get_search(self, store: ResultsStore, new_search: SearchFactory) -> None:
        created = new_search("alpha", storage_path="/runs/alpha", ray_address="ray://head:10001")
        assert created.status == SearchStatus.PENDING == "pending"
        assert created.space_config == {"name": "free", "layers": 4, "epochs": 10}
        assert created.created_at.tzinfo is not None and created.created_at.utcoffset() == UTC.utcoffset(None)

        by_name = store.get_search(name_or_id="alpha")
        assert by_name == created
        assert store.get_search(name_or_id=created.id) == created
        assert store.get_search(name_or_id=str(created.id)) == created
        assert store.get_search(name_or_id="missing") is None
        assert store.get_search(name_or_id=10_000) is None
        assert by_name is not None and by_name.updated_at.tzinfo is not None

    def test_methods_take_keyword_arguments_only(self, store: ResultsStore, new_search: SearchFactory) -> None:
        search = new_search()
        with pytest.raises(TypeError):
            store.get_search(search.name)  # type: ignore[misc]
        with pytest.raises(TypeError):
            store.set_search_status(search.id, "running")  # type: ignore[misc]
        assert store.get_search(name_or_id=search.name) == search

    def test_duplicate_name_refused(self, store: ResultsStore, new_search: SearchFactory) -> None:
        new_search("alpha")
        with pytest.raises(ConfigError, match="already exists"):
            new_search("alpha", dataset="cifar10")
        assert store.list_searches()[1] == 1

    def test_create_search_validates_input(self, new_search: SearchFactory) -> None:
        # create_search takes a NewSearch record: a bad field is refused, by name, when the record is made.
        with pytest.raises(ValidationError, match="num_samples"):
            new_search("bad", num_samples=0)
        with pytest.raises(ValidationError, match="space_config"):
            new_search("bad", space_config={"x": object()})

    def test_json_columns_are_plain_json(self, store: ResultsStore, new_search: SearchFactory) -> None:
        class Scalar:  # stands in for a numpy / torch scalar
            def item(self) -> float:
                return 0.5

        search = new_search("json", model_config={"lr": Scalar(), "nan": math.nan, "nested": {"inf": math.inf}})
        # `model_config` is pydantic's own attribute: the record's field is `architecture` (alias model_config).
        assert search.architecture == {"lr": 0.5, "nan": None, "nested": {"inf": None}}
        stored = store.get_search(name_or_id="json")
        assert stored is not None and stored.architecture == search.architecture

    def test_list_searches_paginates_newest_first(self, store: ResultsStore, new_search: SearchFactory) -> None:
        names = [f"s{i}" for i in range(5)]
        for name in names:
            new_search(name)
        page, total = store.list_searches(offset=0, limit=2)
        assert total == 5
        assert [s.name for s in page] == ["s4", "s3"]
        page, total = store.list_searches(offset=4, limit=2)
        assert (total, [s.name for s in page]) == (5, ["s0"])
        assert store.list_searches(offset=10) == ([], 5)
        with pytest.raises(ConfigError):
            store.list_searches(offset=-1)

    def test_set_search_status(self, store: ResultsStore, new_search: SearchFactory) -> None:
        search = new_search()
        running = store.set_search_status(search_id=search.id, status="running")
        assert running.status == SearchStatus.RUNNING and running.finished_at is None
        failed = store.set_search_status(search_id=search.id, status=SearchStatus.FAILED, error="CUDA out of memory")
        assert failed.finished_at is not None and failed.error == "CUDA out of memory"
        assert failed.updated_at >= running.updated_at
        resumed = store.set_search_status(search_id=search.id, status="running")
        assert resumed.finished_at is None and resumed.error is None
        with pytest.raises(ConfigError, match="unknown search status"):
            store.set_search_status(search_id=search.id, status="done")
        with pytest.raises(ConfigError, match="no search"):
            store.set_search_status(search_id=search.id + 100, status="running")

    # -- trials -----------------------------------------------------------------------------------

    def test_start_trial_is_idempotent(self, store: ResultsStore, new_search: SearchFactory) -> None:
        search = new_search()
        first = store.start_trial(search_id=search.id, trial_key="trial_a", schedule=[3, 2, 1], params={"lr": 0.1})
        again = store.start_trial(
            search_id=search.id, trial_key="trial_a", schedule=[3, 2, 1], params={"lr": 0.1}, optuna_number=0
        )
        assert again.id == first.id
        assert again.optuna_number == 0 and again.state == TrialState.RUNNING
        assert again.schedule == (3, 2, 1) and again.params == {"lr": 0.1}
        trials, total = store.list_trials(search_id=search.id)
        assert total == 1 and trials[0].id == first.id

        store.finish_trial(search_id=search.id, trial_key="trial_a", state="COMPLETE")
        assert (
            store.start_trial(search_id=search.id, trial_key="trial_a", schedule=[3, 2, 1], params={}).state
            == TrialState.COMPLETE
        )

        store.start_trial(search_id=search.id, trial_key="trial_b", schedule=[1, 1, 1], params={})
        store.finish_trial(search_id=search.id, trial_key="trial_b", state="FAIL", error="worker died")
        retried = store.start_trial(
            search_id=search.id, trial_key="trial_b", schedule=[1, 1, 1], params={}
        )  # Ray restarts it, same id
        assert retried.state == TrialState.RUNNING and retried.error is None and retried.finished_at is None

    def test_start_trial_refuses_a_used_optuna_number(self, store: ResultsStore, new_search: SearchFactory) -> None:
        search = new_search()
        store.start_trial(search_id=search.id, trial_key="a", schedule=[1, 2], params={}, optuna_number=3)
        with pytest.raises(ConfigError, match="optuna trial number 3"):
            store.start_trial(search_id=search.id, trial_key="b", schedule=[1, 2], params={}, optuna_number=3)
        with pytest.raises(ConfigError, match="no search"):
            store.start_trial(search_id=search.id + 1, trial_key="c", schedule=[1, 2], params={})
        with pytest.raises(ConfigError, match="switch epoch"):
            store.start_trial(search_id=search.id, trial_key="d", schedule=[1, -2], params={})

    def test_record_epoch_upserts(self, store: ResultsStore, new_search: SearchFactory) -> None:
        search = new_search()
        trial = store.start_trial(search_id=search.id, trial_key="t", schedule=[2, 1, 0], params={})
        for epoch, (acc, secs) in enumerate([(0.1, 1.0), (0.3, 2.0), (0.5, 3.0)]):
            metrics = {"val_acc": acc, "val_loss": 2.0 - acc, "seconds": secs, "lr": 1e-3, "extra": "ignored"}
            store.record_epoch(search_id=search.id, trial_key="t", epoch=epoch, metrics=metrics)
        # resumed from the checkpoint of epoch 0: epoch 1 is reported again, with other values
        store.record_epoch(
            search_id=search.id, trial_key="t", epoch=1, metrics={"val_acc": 0.7, "val_loss": 0.9, "seconds": 4.0}
        )

        rows = store.epoch_metrics(trial_id=trial.id)
        assert [r.epoch for r in rows] == [0, 1, 2]
        assert (rows[1].val_acc, rows[1].val_loss, rows[1].seconds, rows[1].lr) == (0.7, 0.9, 4.0, None)
        assert [r.attention_layers for r in rows] == [1, 2, 3]  # from the schedule (2, 1, 0)
        assert rows[0].recorded_at.tzinfo is not None

        updated = store.get_trial(trial_id=trial.id)
        assert updated is not None
        assert updated.epochs_run == 3
        assert updated.val_acc == 0.5  # the latest epoch's
        assert updated.best_val_acc == 0.7
        assert updated.seconds == pytest.approx(1.0 + 4.0 + 3.0)

        store.record_epoch(
            search_id=search.id, trial_key="t", epoch=1, metrics={"val_acc": 0.7, "val_loss": 0.9, "seconds": 4.0}
        )  # idempotent
        assert len(store.epoch_metrics(trial_id=trial.id)) == 3
        assert store.get_trial(trial_id=trial.id) == updated

    def test_record_epoch_values(self, store: ResultsStore, new_search: SearchFactory) -> None:
        search = new_search()
        trial = store.start_trial(search_id=search.id, trial_key="t", schedule=[5, 5], params={})
        store.record_epoch(
            search_id=search.id,
            trial_key="t",
            epoch=0,
            metrics={"val_acc": 0.2, "train_loss": math.nan, "attention_layers": 2},
        )
        (row,) = store.epoch_metrics(trial_id=trial.id)
        assert row.train_loss is None and row.attention_layers == 2 and row.seconds == 0.0
        with pytest.raises(ConfigError, match="val_acc"):
            store.record_epoch(search_id=search.id, trial_key="t", epoch=1, metrics={"val_loss": 1.0})
        with pytest.raises(ConfigError, match="epoch"):
            store.record_epoch(search_id=search.id, trial_key="t", epoch=-1, metrics={"val_acc": 0.1})
        with pytest.raises(ConfigError, match="start_trial"):
            store.record_epoch(search_id=search.id, trial_key="unknown", epoch=0, metrics={"val_acc": 0.1})
        assert store.epoch_metrics(trial_id=trial.id + 1000) == []

    def test_record_epoch_counts_flops(self, store: ResultsStore, new_search: SearchFactory) -> None:
        """A trial's FLOPs are its epochs' sum, refreshed when an epoch is reported again; None while an epoch
        has no count (a part of the epochs is not the trial's cost)."""
        search = new_search()
        trial = store.start_trial(search_id=search.id, trial_key="t", schedule=[1, 0], params={})
        assert trial.flops is None
        for epoch, flops in enumerate([2.5e12, 4.0e12]):
            store.record_epoch(
                search_id=search.id, trial_key="t", epoch=epoch, metrics={"val_acc": 0.5, "flops": flops}
            )
        assert [e.flops for e in store.epoch_metrics(trial_id=trial.id)] == [2.5e12, 4.0e12]
        assert (store.get_trial(trial_id=trial.id) or trial).flops == 6.5e12
        store.record_epoch(search_id=search.id, trial_key="t", epoch=1, metrics={"val_acc": 0.5, "flops": 3.0e12})
        assert (store.get_trial(trial_id=trial.id) or trial).flops == 5.5e12
        store.record_epoch(search_id=search.id, trial_key="t", epoch=2, metrics={"val_acc": 0.5, "flops": None})
        assert (store.get_trial(trial_id=trial.id) or trial).flops is None
        with pytest.raises(ConfigError, match="flops"):
            store.record_epoch(search_id=search.id, trial_key="t", epoch=3, metrics={"val_acc": 0.5, "flops": -1.0})

    def test_record_epoch_keeps_the_layer_stats(self, store: ResultsStore, new_search: SearchFactory) -> None:
        """A Ray result's `layers` (the trainer's per-layer stats, as `dataclasses.asdict` gives them) round-trip;
        a result without them stores none, and non-finite values are stored as missing."""
        search = new_search()
        trial = store.start_trial(search_id=search.id, trial_key="t", schedule=[1, 0], params={})
        layers = (
            {"mode": "conv", "attention_distance": None, "tap_mass": None},
            {"mode": "attention", "attention_distance": 1.25, "tap_mass": 0.5},
        )
        result = {"val_acc": 0.4, "epoch": 0, "switched": [1], "layers": layers, "node_id": "n"}  # as Ray reports
        store.record_epoch(search_id=search.id, trial_key="t", epoch=0, metrics=result)
        store.record_epoch(search_id=search.id, trial_key="t", epoch=1, metrics={"val_acc": 0.5})
        first, second = store.epoch_metrics(trial_id=trial.id)
        assert first.layers is not None
        assert [layer.model_dump() for layer in first.layers] == list(layers)
        assert second.layers is None

        nan = {"mode": "attention", "attention_distance": math.nan, "tap_mass": math.inf}
        store.record_epoch(search_id=search.id, trial_key="t", epoch=1, metrics={"val_acc": 0.5, "layers": [nan]})
        (layer,) = store.epoch_metrics(trial_id=trial.id)[1].layers or []
        assert (layer.mode, layer.attention_distance, layer.tap_mass) == ("attention", None, None)
        with pytest.raises(ConfigError, match="layers"):
            store.record_epoch(search_id=search.id, trial_key="t", epoch=2, metrics={"val_acc": 0.5, "layers": [{}]})

    def test_finish_states_and_counts(
        self, store: ResultsStore, new_search: SearchFactory, run_trial: RunTrial
    ) -> None:
        search = new_search()
        run_trial(search.id, "c1", [0.5])
        run_trial(search.id, "c2", [0.6])
        run_trial(search.id, "p1", [0.1], state="PRUNED")
        run_trial(search.id, "f1", [], state="FAIL")
        run_trial(search.id, "r1", [0.2], state="RUNNING")

        assert store.trial_counts(search_id=search.id) == {"RUNNING": 1, "COMPLETE": 2, "PRUNED": 1, "FAIL": 1}
        assert store.trial_counts(search_id=search.id + 1) == dict.fromkeys(TrialState, 0)
        complete, total = store.list_trials(search_id=search.id, state="COMPLETE")
        assert total == 2 and [t.trial_key for t in complete] == ["c1", "c2"]
        assert all(t.finished_at is not None for t in complete)
        page, total = store.list_trials(search_id=search.id, offset=1, limit=2)
        assert total == 5 and [t.trial_key for t in page] == ["c2", "p1"]
        assert store.all_trials(search_id=search.id, state="COMPLETE") == complete
        assert [t.trial_key for t in store.all_trials(search_id=search.id)] == ["c1", "c2", "p1", "f1", "r1"]

        finished = store.finish_trial(search_id=search.id, trial_key="r1", state=TrialState.FAIL, error="OOM")
        assert finished.state == TrialState.FAIL and finished.error == "OOM"
        with pytest.raises(ConfigError, match="final state"):
            store.finish_trial(search_id=search.id, trial_key="c1", state="RUNNING")
        with pytest.raises(ConfigError, match="unknown trial state"):
            store.finish_trial(search_id=search.id, trial_key="c1", state="DONE")

    def test_best_trial_ordering(self, store: ResultsStore, new_search: SearchFactory, run_trial: RunTrial) -> None:
        search = new_search()
        assert store.best_trial(search_id=search.id) is None
        run_trial(search.id, "slow", [0.7, 0.8], seconds=5.0)
        fast = run_trial(search.id, "fast", [0.8], seconds=2.0)
        run_trial(search.id, "fast_later", [0.8], seconds=2.0)  # same acc and time: lower id wins
        run_trial(search.id, "pruned", [0.95], state="PRUNED")
        run_trial(search.id, "running", [0.99], state="RUNNING")
        best = store.best_trial(search_id=search.id)
        assert best is not None and best.id == fast and best.trial_key == "fast"

    # -- results ----------------------------------------------------------------------------------

    def test_update_best_schedule(self, store: ResultsStore, new_search: SearchFactory, run_trial: RunTrial) -> None:
        a = new_search("a")
        b = new_search("b")
        other_size = new_search("c", num_samples=10_000)
        assert store.update_best_schedule(search_id=a.id) is None  # no COMPLETE trial yet

        run_trial(a.id, "a1", [0.6, 0.8], schedule=(4, 3, 2, 1))
        stored = store.update_best_schedule(search_id=a.id)
        assert stored is not None
        assert (stored.search_id, stored.search_name, stored.val_acc) == (a.id, "a", 0.8)
        assert (stored.dataset, stored.num_samples, stored.schedule) == ("cifar100", 5000, (4, 3, 2, 1))
        assert (stored.epochs, stored.model, stored.stem) == (10, "tiny", "conv")

        run_trial(b.id, "b1", [0.7], schedule=(1, 1, 1, 1))
        kept = store.update_best_schedule(search_id=b.id)  # worse: the stored one stays
        assert kept is not None and kept.search_id == a.id and kept.val_acc == 0.8

        run_trial(b.id, "b2", [0.9], schedule=(2, 2, 2, 2))
        replaced = store.update_best_schedule(search_id=b.id)
        assert replaced is not None and replaced.search_id == b.id and replaced.schedule == (2, 2, 2, 2)

        # the stored row's own search may replace it even with a lower value (its trial was re-measured)
        store.record_epoch(search_id=b.id, trial_key="b2", epoch=0, metrics={"val_acc": 0.75})
        lowered = store.update_best_schedule(search_id=b.id)
        assert lowered is not None and lowered.search_id == b.id and lowered.val_acc == 0.75

        run_trial(other_size.id, "c1", [0.5])
        store.update_best_schedule(search_id=other_size.id)
        rows = store.best_schedules()
        assert [(r.dataset, r.num_samples, r.search_id) for r in rows] == [
            ("cifar100", 5000, b.id),
            ("cifar100", 10_000, other_size.id),
        ]
        assert store.best_schedules(dataset="cifar10") == []
        assert len(store.best_schedules(dataset="cifar100")) == 2
        # the answer a search stands behind: b's for its size; none for a, whose row b replaced
        assert [r.num_samples for r in store.best_schedules(search_id=b.id)] == [5000]
        assert store.best_schedules(search_id=a.id) == []

    def test_confirmation_runs_and_a_confirmed_best_schedule(
        self, store: ResultsStore, new_search: SearchFactory, run_trial: RunTrial
    ) -> None:
        search = new_search("a", val_size=500, sampler="tpe", early_stopping=True, confirm_top=3, confirm_seeds=2)
        assert (search.val_size, search.sampler, search.confirm_top, search.confirm_seeds) == (500, "tpe", 3, 2)
        trial = run_trial(search.id, "7", [0.8], schedule=(3, 2, 1, 0))
        common = {"search_id": search.id, "params": {"lr": 0.003}, "epochs_run": 10, "seconds": 2.0}
        first = store.add_confirmation_run(
            candidate="7", role="finalist", source_trial_id=trial, schedule=(3, 2, 1, 0), seed=0, reused=True,
            state="COMPLETE", val_acc=0.8, flops=7.5e13, checkpoint_path="/ckpt/7", **common,
        )  # fmt: skip
        again = store.add_confirmation_run(  # a repeated write keeps the first row
            candidate="7", role="finalist", source_trial_id=trial, schedule=(3, 2, 1, 0), seed=0, reused=False,
            state="FAIL", val_acc=None, **common,
        )  # fmt: skip
        assert again == first and again.reused and again.val_acc == 0.8
        store.add_confirmation_run(
            candidate="prs", role="baseline", source_trial_id=None, schedule=(5, 3, 2, 0), seed=1, reused=False,
            state="FAIL", val_acc=None, error="diverged", **common,
        )  # fmt: skip
        runs = store.confirmation_runs(search_id=search.id)
        assert [(r.candidate, r.seed, r.state) for r in runs] == [("7", 0, "COMPLETE"), ("prs", 1, "FAIL")]
        assert [r.flops for r in runs] == [7.5e13, None]
        assert store.confirmation_runs(search_id=search.id + 1) == []
        with pytest.raises(ConfigError, match="role"):
            store.add_confirmation_run(
                candidate="x", role="judge", source_trial_id=None, schedule=(1,), seed=0, reused=False,  # type: ignore[arg-type]
                state="COMPLETE", val_acc=0.5, **common,
            )  # fmt: skip

        # The PRS default won (no search trial ran it to the end): a best schedule without a trial.
        choice = Confirmation(
            trial_id=None, schedule=(5, 3, 2, 0), seeds=3, val_acc=0.84, val_low=0.80, val_high=0.88,
            baseline_schedule=(5, 3, 2, 0), advantage=0.0, advantage_low=0.0, advantage_high=0.0,
        )  # fmt: skip
        store.set_test_result(search_id=search.id, trial_id=None, test_acc=0.81)
        row = store.update_best_schedule(search_id=search.id, confirmation=choice)
        assert row is not None and row.trial_id is None and row.schedule == (5, 3, 2, 0)
        assert (row.seeds, row.val_acc, row.val_low, row.val_high, row.test_acc) == (3, 0.84, 0.80, 0.88, 0.81)
        plain = store.update_best_schedule(search_id=search.id)  # without a confirmation: its best trial, no interval
        assert plain is not None and plain.trial_id == trial and plain.seeds is None and plain.val_low is None

    def test_set_test_result(self, store: ResultsStore, new_search: SearchFactory, run_trial: RunTrial) -> None:
        a = new_search("a")
        b = new_search("b")
        trial = run_trial(a.id, "a1", [0.8])
        other = run_trial(b.id, "b1", [0.1])
        store.update_best_schedule(search_id=a.id)

        search = store.set_test_result(search_id=a.id, trial_id=trial, test_acc=0.77)
        assert (search.test_acc, search.test_trial_id) == (0.77, trial)
        (row,) = store.best_schedules()
        assert row.test_acc == 0.77
        again = store.update_best_schedule(search_id=a.id)
        assert again is not None and again.test_acc == 0.77  # kept when the row is refreshed
        with pytest.raises(ConfigError, match="does not belong"):
            store.set_test_result(search_id=a.id, trial_id=other, test_acc=0.5)

    def test_datasets_summary(self, store: ResultsStore, new_search: SearchFactory, run_trial: RunTrial) -> None:
        assert store.datasets() == []
        s1 = new_search("s1", dataset="cifar100", num_samples=5000)
        s2 = new_search("s2", dataset="cifar100", num_samples=1000)
        new_search("s3", dataset="cifar100", num_samples=5000)
        s4 = new_search("s4", dataset="cifar10", num_samples=2000)
        run_trial(s1.id, "a", [0.5])
        run_trial(s1.id, "b", [0.4], state="PRUNED")
        run_trial(s2.id, "a", [0.3])
        run_trial(s4.id, "a", [0.3], state="FAIL")
        store.update_best_schedule(search_id=s1.id)

        cifar10, cifar100 = store.datasets()
        assert (cifar10.dataset, cifar10.sizes, cifar10.searches, cifar10.trials) == (
            "cifar10",
            (2000,),
            1,
            1,
        )
        assert (cifar10.complete_trials, cifar10.best_sizes) == (0, ())
        assert cifar100.dataset == "cifar100" and cifar100.sizes == (1000, 5000)
        assert (cifar100.searches, cifar100.trials, cifar100.complete_trials) == (3, 3, 2)
        assert cifar100.best_sizes == (5000,)

    def test_store_can_be_pickled(self, store: ResultsStore, new_search: SearchFactory) -> None:
        search = new_search()
        copy = pickle.loads(pickle.dumps(store))  # e.g. shipped to a Ray worker
        try:
            assert copy.get_search(name_or_id=search.id) == search
            assert copy.url == store.url
        finally:
            copy.dispose()

    def test_records_are_immutable(self, store: ResultsStore, new_search: SearchFactory) -> None:
        search = new_search()
        with pytest.raises(ValidationError, match="frozen"):
            search.name = "other"  # type: ignore[misc]

    # -- the database enforces uniqueness, not only the code -------------------------------------

    def test_uniqueness_is_enforced_by_the_database(self, store: ResultsStore, new_search: SearchFactory) -> None:
        search = new_search("unique")
        trial = store.start_trial(search_id=search.id, trial_key="t", schedule=[1, 0], params={}, optuna_number=0)
        store.record_epoch(search_id=search.id, trial_key="t", epoch=0, metrics={"val_acc": 0.5})
        store.finish_trial(search_id=search.id, trial_key="t", state="COMPLETE")
        store.update_best_schedule(search_id=search.id)
        now = utcnow()
        search_fields: dict[str, Any] = {
            "dataset": "d",
            "num_samples": 1,
            "space": "s",
            "space_config": {},
            "budget": 1,
            "epochs": 1,
            "model": "m",
            "model_config": {},
            "stem": "conv",
            "seed": 0,
            "status": "pending",
            "study_name": "x",
        }
        duplicates: list[Any] = [
            Search(name="unique", **search_fields),
            Trial(search_id=search.id, trial_key="t", schedule=[], params={}, state="RUNNING"),
            Trial(search_id=search.id, trial_key="t2", optuna_number=0, schedule=[], params={}, state="RUNNING"),
            EpochMetric(trial_id=trial.id, epoch=0, val_acc=0.1, attention_layers=0),
            BestSchedule(
                dataset="cifar100",
                num_samples=5000,
                search_id=search.id,
                trial_id=trial.id,
                schedule=[],
                epochs=1,
                model="m",
                stem="conv",
                val_acc=0.1,
                updated_at=now,
            ),
            Search(name="bad-status", **{**search_fields, "status": "bogus"}),
            Trial(search_id=search.id, trial_key="t3", schedule=[], params={}, state="WAITING"),
        ]
        for row in duplicates:
            with Session(store.engine) as session, pytest.raises(IntegrityError):
                session.add(row)
                session.commit()
        with Session(store.engine) as session:  # a trial of a search that does not exist
            session.add(Trial(search_id=search.id + 99, trial_key="x", schedule=[], params={}, state="RUNNING"))
            with pytest.raises(IntegrityError):
                session.commit()
