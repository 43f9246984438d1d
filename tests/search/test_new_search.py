"""A search is said once (docs/DESIGN.md, "Adding a setting to a search"): the request's fields that a
stored search keeps reach the store by name, and the stored record and the table have the same fields."""

from pathlib import Path

from sqlalchemy import inspect as sql_inspect

from prs_search.schemas import NewSearch, SearchRecord
from prs_search.search.plan import make_plan
from prs_search.search_request import SearchJob
from prs_search.store.models import Search

from .helpers import tiny_request

# Set by the store when it stores or runs a search, never by the caller.
STORE_OWN = {"id", "status", "created_at", "updated_at", "finished_at", "test_acc", "test_trial_id", "error"}


def test_every_new_search_field_is_a_column_and_every_other_column_is_the_store_s_own() -> None:
    columns = {c.key for c in sql_inspect(Search).columns}
    fields = {f.alias or name for name, f in NewSearch.model_fields.items()}
    assert fields <= columns
    assert columns - fields == STORE_OWN
    assert {f.alias or name for name, f in SearchRecord.model_fields.items()} == columns


def test_the_request_fields_a_search_keeps_arrive_in_it_unchanged(tmp_path: Path) -> None:
    job = tiny_request(
        tmp_path, f"sqlite:///{tmp_path / 'prs.db'}", budget=7, name="flow", seed=5, sampler="random",
        early_stopping=False, confirm_top=1, confirm_seeds=4, ray_address="127.0.0.1:6379", space="monotone",
    )  # fmt: skip
    plan = make_plan(job)
    new = plan.new_search("flow")
    kept = NewSearch.model_fields.keys() & SearchJob.model_fields.keys()
    resolved = {"name", "num_samples", "space", "storage_path"}  # what the plan works out from the request
    assert kept - resolved >= {"dataset", "fraction", "budget", "epochs", "model", "stem", "seed", "sampler",
                               "early_stopping", "confirm_top", "confirm_seeds", "ray_address"}  # fmt: skip
    for name in kept - resolved:
        assert getattr(new, name) == getattr(job, name), name
    assert (new.name, new.study_name, new.space) == ("flow", "prs-flow", "monotone")
    assert new.storage_path == str(job.storage_path)
    assert new.num_samples == plan.splits.num_samples and new.val_size == len(plan.splits.val)
    assert new.architecture == plan.architecture
