"""Migrations: shipped in the package, versioned apart from optuna's, reversible, in step with the models."""

import threading

import optuna
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from prs_search.errors import ConfigError, StoreError
from prs_search.schemas import NewSearch
from prs_search.store import ResultsStore, current_revision, downgrade, head_revision, make_engine, upgrade
from prs_search.store.migrations import VERSION_TABLE
from prs_search.store.models import Base

OUR_TABLES = {
    "prs_searches", "prs_trials", "prs_epoch_metrics", "prs_best_schedules", "prs_study_runs", "prs_confirmation_runs",
    "prs_driver_leases", "prs_dataset_versions", VERSION_TABLE,
}  # fmt: skip

optuna.logging.set_verbosity(optuna.logging.WARNING)


def table_names(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def optuna_alembic_revision(url: str) -> str | None:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()  # default table: alembic_version
    finally:
        engine.dispose()


def make_study(url: str, name: str, n_trials: int) -> None:
    storage = optuna.storages.RDBStorage(url)
    study = optuna.create_study(storage=storage, study_name=name, direction="maximize")
    study.optimize(lambda trial: trial.suggest_float("x", 0.0, 1.0), n_trials=n_trials)
    storage.engine.dispose()


def load_study_values(url: str, name: str) -> list[float]:
    storage = optuna.storages.RDBStorage(url)  # also checks optuna's own schema version
    values = [t.value for t in optuna.load_study(study_name=name, storage=storage).trials if t.value is not None]
    storage.engine.dispose()
    return values


def test_upgrade_creates_exactly_our_tables(empty_url: str) -> None:
    assert current_revision(empty_url) is None
    upgrade(empty_url)
    assert table_names(empty_url) == OUR_TABLES
    assert current_revision(empty_url) == head_revision()  # 0002 (study runs) or a later revision


def test_upgrade_twice_is_a_no_op(empty_url: str) -> None:
    store = ResultsStore(empty_url)
    search = store.create_search(NewSearch(
        name="kept", dataset="cifar100", num_samples=100, fraction=None, space="free", space_config={}, budget=1,
        epochs=1, model="tiny", model_config={}, stem="conv", seed=0, study_name="study",
    ))  # fmt: skip
    upgrade(empty_url)
    ResultsStore(empty_url).dispose()
    assert store.get_search(name_or_id="kept") == search
    assert current_revision(empty_url) == head_revision()
    store.dispose()


def test_models_match_the_migrations(empty_url: str) -> None:
    """Autogenerate finds nothing to do: the hand-written migration and the models agree."""
    upgrade(empty_url)
    engine = make_engine(empty_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn,
                opts={
                    "compare_type": True,
                    "version_table": VERSION_TABLE,
                    "include_name": lambda name, type_, parents: type_ != "table" or name.startswith("prs_"),
                },
            )
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def test_optuna_first_then_store(empty_url: str) -> None:
    make_study(empty_url, "before", n_trials=3)
    optuna_revision = optuna_alembic_revision(empty_url)
    assert optuna_revision is not None

    with ResultsStore(empty_url) as store:
        store.create_search(NewSearch(
            name="s", dataset="cifar100", num_samples=100, fraction=None, space="free", space_config={}, budget=1,
            epochs=1, model="tiny", model_config={}, stem="conv", seed=0, study_name="before",
        ))  # fmt: skip
        assert current_revision(empty_url) == head_revision()
        assert optuna_alembic_revision(empty_url) == optuna_revision
        assert len(load_study_values(store.url, "before")) == 3
        make_study(store.url, "after", n_trials=2)
    assert table_names(empty_url) > OUR_TABLES


def test_store_first_then_optuna(empty_url: str) -> None:
    with ResultsStore(empty_url) as store:
        storage = optuna.storages.RDBStorage(store.url, engine_kwargs=store.optuna_engine_kwargs())
        study = optuna.create_study(storage=storage, study_name="s", direction="maximize")
        study.optimize(lambda trial: trial.suggest_int("e", 0, 10), n_trials=2)
        storage.engine.dispose()
        assert optuna_alembic_revision(empty_url) is not None
        assert current_revision(empty_url) == head_revision()
    with ResultsStore(empty_url) as again:  # re-opening after optuna changed nothing for us
        assert again.list_searches() == ([], 0)
    assert len(load_study_values(empty_url, "s")) == 2


def test_downgrade_to_base_and_back_leaves_optuna_alone(empty_url: str) -> None:
    make_study(empty_url, "kept", n_trials=3)
    values = load_study_values(empty_url, "kept")
    optuna_revision = optuna_alembic_revision(empty_url)
    with ResultsStore(empty_url) as store:
        store.create_search(NewSearch(
            name="s", dataset="cifar100", num_samples=100, fraction=None, space="free", space_config={}, budget=1,
            epochs=1, model="tiny", model_config={}, stem="conv", seed=0, study_name="kept",
        ))  # fmt: skip

    downgrade(empty_url, "base")
    assert current_revision(empty_url) is None
    assert not (table_names(empty_url) & (OUR_TABLES - {VERSION_TABLE}))
    assert load_study_values(empty_url, "kept") == values

    upgrade(empty_url)
    assert current_revision(empty_url) == head_revision()
    assert optuna_alembic_revision(empty_url) == optuna_revision
    assert load_study_values(empty_url, "kept") == values
    with ResultsStore(empty_url) as store:
        assert store.list_searches() == ([], 0)


def test_concurrent_upgrades(empty_url: str) -> None:
    """The driver and the API starting at once: both upgrades succeed, the tables are made once."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(3)

    def start() -> None:
        try:
            barrier.wait()
            upgrade(empty_url)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert current_revision(empty_url) == head_revision()


def test_upgrade_to_an_explicit_revision_and_sql_state(empty_url: str) -> None:
    upgrade(empty_url, "0001")
    engine = make_engine(empty_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar_one() == "0001"
    finally:
        engine.dispose()


# Rows as older revisions wrote them, without the models of this version (one search, trial, epoch).
OLD_SEARCH = (
    "INSERT INTO prs_searches (name, dataset, num_samples, space, space_config, budget, epochs, model, model_config,"
    " stem, seed, status, study_name, created_at, updated_at) VALUES ('old', 'digits', 100, 'free', '{}', 1, 1,"
    " 'tiny', '{}', 'conv', 0, 'finished', 'old', :t, :t)"
)
OLD_TRIAL = (
    "INSERT INTO prs_trials (search_id, trial_key, schedule, params, state, epochs_run, seconds, started_at)"
    " SELECT id, '0', '[1, 0]', '{}', 'COMPLETE', 1, 1.0, :t FROM prs_searches"
)
OLD_EPOCH = (
    "INSERT INTO prs_epoch_metrics (trial_id, epoch, val_acc, seconds, attention_layers, recorded_at)"
    " SELECT id, 0, 0.5, 1.0, 1, :t FROM prs_trials"
)


def write_raw(url: str, *statements: str) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.execute(text(statement), {"t": "2026-01-01 00:00:00+00:00"})
    finally:
        engine.dispose()


def test_upgrade_from_0001_keeps_the_data_and_adds_study_runs(empty_url: str) -> None:
    """A database made by the first release (0001) gains the study-runs table; its searches stay."""
    upgrade(empty_url, "0001")
    assert "prs_study_runs" not in table_names(empty_url)
    write_raw(empty_url, OLD_SEARCH)
    with ResultsStore(empty_url) as store:  # opening it upgrades it
        assert current_revision(empty_url) == head_revision()
        assert "layers" in {c["name"] for c in inspect(store.engine).get_columns("prs_epoch_metrics")}  # 0004
        old = store.get_search(name_or_id="old")
        assert old is not None and old.status == "finished"
        store.add_study_run(
            study="s", dataset="digits", fraction=0.5, num_samples=50, schedule_label="all-conv", schedule=[1],
            epochs=1, model="tiny", stem="conv", conv="shift", seed=0, status="completed", val_acc=0.5, test_acc=0.4,
            train_acc=None, seconds=1.0,
        )  # fmt: skip
        assert len(store.study_runs(dataset="digits")) == 1
    downgrade(empty_url, "0001")
    assert "prs_study_runs" not in table_names(empty_url)
    engine = make_engine(empty_url)
    try:
        with engine.connect() as conn:  # the search stays; this version's models no longer fit the table
            assert conn.execute(text("SELECT name FROM prs_searches")).scalars().all() == ["old"]
    finally:
        engine.dispose()


def test_upgrade_from_0003_keeps_the_epochs_and_adds_their_layer_stats(empty_url: str) -> None:
    """A database of revision 0003 gains `prs_epoch_metrics.layers`: its epochs stay, with no layer stats."""
    upgrade(empty_url, "0003")
    write_raw(empty_url, OLD_SEARCH, OLD_TRIAL, OLD_EPOCH)
    with ResultsStore(empty_url) as store:  # opening it upgrades it
        assert current_revision(empty_url) == head_revision()
        search = store.get_search(name_or_id="old")
        assert search is not None
        trial = store.find_trial(search_id=search.id, trial_key="0")
        assert trial is not None
        (old,) = store.epoch_metrics(trial_id=trial.id)
        assert (old.val_acc, old.layers) == (0.5, None)
        layers = [{"mode": "attention", "attention_distance": 1.0, "tap_mass": 0.25}]
        store.record_epoch(search_id=search.id, trial_key="0", epoch=1, metrics={"val_acc": 0.6, "layers": layers})
        new = store.epoch_metrics(trial_id=trial.id)[1]
        assert new.layers is not None and [layer.model_dump() for layer in new.layers] == layers
    downgrade(empty_url, "0003")
    engine = make_engine(empty_url)
    try:
        with engine.connect() as conn:  # the epochs stay; this version's models no longer fit the table
            assert conn.execute(text("SELECT val_acc FROM prs_epoch_metrics ORDER BY epoch")).scalars().all() == [
                0.5,
                0.6,
            ]
    finally:
        engine.dispose()


def test_upgrade_from_0004_adds_driver_leases_versions_and_the_cancelled_status(empty_url: str) -> None:
    """A database of revision 0004 gains the driver leases, the dataset versions and the status `cancelled`
    (the CHECK constraint admits it); its searches stay. Downgrading turns a cancelled search interrupted."""
    upgrade(empty_url, "0004")
    write_raw(empty_url, OLD_SEARCH, OLD_TRIAL)
    with ResultsStore(empty_url) as store:  # opening it upgrades it
        assert current_revision(empty_url) == head_revision()
        old = store.get_search(name_or_id="old")
        assert old is not None and old.status == "finished"
        assert store.dataset_version(dataset="digits") == 0  # rows written before 0005 bumped nothing
        running = store.create_search(NewSearch(
            name="new", dataset="digits", num_samples=100, fraction=None, space="free", space_config={}, budget=1,
            epochs=1, model="tiny", model_config={}, stem="conv", seed=0, study_name="new",
        ))  # fmt: skip
        assert store.dataset_version(dataset="digits") == 1
        lease = store.acquire_driver(search_id=running.id, origin="cli", ttl_s=60)
        assert lease.alive and store.live_drivers(ttl_s=60) == [lease]
        store.release_driver(search_id=running.id, holder=lease.holder)
        assert store.cancel_search(search_id=running.id, ttl_s=60).status == "cancelled"
    downgrade(empty_url, "0004")
    assert not {"prs_driver_leases", "prs_dataset_versions"} & table_names(empty_url)
    engine = make_engine(empty_url)
    try:
        with engine.connect() as conn:
            statuses = dict(conn.execute(text("SELECT name, status FROM prs_searches")).tuples().all())
        assert statuses == {"old": "finished", "new": "interrupted"}
        with pytest.raises(IntegrityError), engine.begin() as conn:  # 0004's constraint: no `cancelled`
            conn.execute(text("UPDATE prs_searches SET status = 'cancelled'"))
    finally:
        engine.dispose()


OLD_BEST = (
    "INSERT INTO prs_best_schedules (dataset, num_samples, search_id, trial_id, schedule, epochs, model, stem, val_acc,"
    " updated_at) SELECT 'digits', 100, search_id, id, '[1, 0]', 1, 'tiny', 'conv', 0.5, :t FROM prs_trials"
)


def test_upgrade_from_0005_adds_the_re_evaluation_and_keeps_best_schedules(empty_url: str) -> None:
    """A database of revision 0005 gains `prs_confirmation_runs`, the best schedules' interval columns (NULL
    for the old ones: not re-evaluated) and a nullable best-schedule trial; its rows stay."""
    upgrade(empty_url, "0005")
    write_raw(empty_url, OLD_SEARCH, OLD_TRIAL, OLD_BEST)
    with ResultsStore(empty_url) as store:
        assert current_revision(empty_url) == head_revision()
        old = store.get_search(name_or_id="old")
        assert old is not None and old.val_size is None and old.sampler is None
        (best,) = store.best_schedules(dataset="digits")
        assert (best.schedule, best.val_acc, best.seeds, best.advantage) == ((1, 0), 0.5, None, None)
        assert store.confirmation_runs(search_id=old.id) == []
        run = store.add_confirmation_run(
            search_id=old.id, candidate="prs", role="baseline", source_trial_id=None, schedule=(1, 0), params={},
            seed=1, reused=False, state="COMPLETE", val_acc=0.6, epochs_run=1, seconds=1.0,
        )  # fmt: skip
        assert run.val_acc == 0.6
    downgrade(empty_url, "0005")
    assert "prs_confirmation_runs" not in table_names(empty_url)
    upgrade(empty_url)
    assert current_revision(empty_url) == head_revision()


OLD_STUDY_RUN = (
    "INSERT INTO prs_study_runs (study, dataset, fraction, num_samples, schedule_label, schedule, epochs, model, stem,"
    " seed, status, val_acc, test_acc, seconds, created_at)"
    " VALUES ('s', 'digits', NULL, 200, 'prs', '[1, 0]', 2, 'tiny', 'conv', 0, 'completed', 0.5, 0.4, 1.0, :t),"
    " ('s', 'digits', NULL, 200, 'prs', '[1, 0]', 2, 'small', 'conv', 1, 'completed', 0.5, 0.4, 1.0, :t)"
)


def test_upgrade_from_0006_gives_old_study_runs_their_preset_s_variant(empty_url: str) -> None:
    """Study runs stored before a study could choose the variant have their preset's (`small`: dense); their
    train accuracy was never measured, their profile not kept."""
    upgrade(empty_url, "0006")
    write_raw(empty_url, OLD_STUDY_RUN)
    with ResultsStore(empty_url) as store:
        assert current_revision(empty_url) == head_revision()
        tiny, small = store.study_runs(study="s")
        assert (tiny.conv, tiny.train_acc, tiny.fourier, tiny.schedule, tiny.test_acc) == (
            "shift",
            None,
            None,
            (1, 0),
            0.4,
        )
        assert (small.model, small.conv) == ("small", "dense")
    downgrade(empty_url, "0006")
    assert "conv" not in {c["name"] for c in inspect(make_engine(empty_url)).get_columns("prs_study_runs")}
    upgrade(empty_url)
    assert current_revision(empty_url) == head_revision()


@pytest.mark.parametrize("revision", ["9999", "nonsense"])
def test_unknown_target_revision_is_refused(empty_url: str, revision: str) -> None:
    with pytest.raises(ConfigError, match=f"unknown results-store schema revision '{revision}'"):
        upgrade(empty_url, revision)
    assert current_revision(empty_url) is None


def test_database_from_a_newer_version_is_refused(empty_url: str) -> None:
    upgrade(empty_url)
    engine = make_engine(empty_url)
    try:
        with engine.begin() as conn:
            conn.execute(text(f"UPDATE {VERSION_TABLE} SET version_num = '0099'"))
    finally:
        engine.dispose()
    with pytest.raises(StoreError, match="0099") as caught:
        ResultsStore(empty_url)
    assert "\n" not in str(caught.value)


def test_upgrade_from_0007_renames_searcher_to_sampler_and_keeps_the_value(empty_url: str) -> None:
    """0008 renames `prs_searches.searcher` (the Optuna sampler) to `sampler`: a search stored by 0007 with
    `random` reads back as `sampler="random"`, and a downgrade gives the column its old name back."""
    upgrade(empty_url, "0007")
    write_raw(empty_url, OLD_SEARCH, "UPDATE prs_searches SET searcher = 'random' WHERE name = 'old'")
    with ResultsStore(empty_url) as store:
        assert current_revision(empty_url) == head_revision()
        old = store.get_search(name_or_id="old")
        assert old is not None and old.sampler == "random"
    downgrade(empty_url, "0007")
    engine = make_engine(empty_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT searcher FROM prs_searches")).scalar_one() == "random"
    finally:
        engine.dispose()


def test_upgrade_from_0008_keeps_trials_with_no_flops_and_no_warm_start(empty_url: str) -> None:
    """0009 adds the counted FLOPs (trials, epochs, re-evaluation runs) and the warm start: rows stored
    before it read back with None for both, not 0 (nothing was counted), and a downgrade drops the columns."""
    upgrade(empty_url, "0008")
    write_raw(empty_url, OLD_SEARCH, OLD_TRIAL, OLD_EPOCH)
    with ResultsStore(empty_url) as store:
        old = store.get_search(name_or_id="old")
        assert old is not None and old.warm_started is None
        (trial,), _ = store.list_trials(search_id=old.id)
        assert trial.flops is None and trial.seconds == 1.0
        assert [e.flops for e in store.epoch_metrics(trial_id=trial.id)] == [None]
    downgrade(empty_url, "0008")
    engine = make_engine(empty_url)
    try:
        columns = {c["name"] for c in inspect(engine).get_columns("prs_trials")}
        assert "flops" not in columns and "seconds" in columns
        assert "warm_started" not in {c["name"] for c in inspect(engine).get_columns("prs_searches")}
    finally:
        engine.dispose()
