"""Migration 0003: the Ray node per trial (`prs_trials.node_id`), added and removed without losing trials."""

from prs_search.schemas import NewSearch
from prs_search.store import ResultsStore, TrialRecord, current_revision, downgrade, head_revision, upgrade

NODE = "5f" * 28  # Ray node ids are 28 bytes, 56 hex digits


def _only_trial(store: ResultsStore) -> TrialRecord:
    search = store.get_search(name_or_id="s")
    assert search is not None
    (trial,) = store.list_trials(search_id=search.id)[0]
    return trial


def test_node_id_survives_and_migrates(empty_url: str) -> None:
    store = ResultsStore(empty_url)
    search = store.create_search(NewSearch(
        name="s", dataset="digits", num_samples=100, fraction=None, space="free", space_config={}, budget=1, epochs=2,
        model="tiny", model_config={}, stem="conv", seed=0, study_name="study-s",
    ))  # fmt: skip
    store.start_trial(search_id=search.id, trial_key="0", schedule=[2, 1, 0, 0], params={}, optuna_number=0)
    store.record_epoch(search_id=search.id, trial_key="0", epoch=0, metrics={"val_acc": 0.5})
    assert _only_trial(store).node_id is None
    assert store.set_trial_runtime(search_id=search.id, trial_key="0", node_id=NODE).node_id == NODE
    assert (
        store.set_trial_runtime(search_id=search.id, trial_key="0", checkpoint_path="/ckpt").node_id == NODE
    )  # kept when not given
    store.dispose()

    downgrade(empty_url, "0002")
    assert current_revision(empty_url) == "0002"
    upgrade(empty_url)
    assert current_revision(empty_url) == head_revision()
    with ResultsStore(empty_url, migrate=False) as store:
        trial = _only_trial(store)
        assert (trial.node_id, trial.checkpoint_path, trial.epochs_run) == (None, "/ckpt", 1)
