"""`prs-search run`'s search options are `SearchRequest`'s fields: the same names, defaults and help, so a
changed default or text in the request is the CLI's at once (they used to be written twice and drift)."""

from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from prs_search.cli import app
from prs_search.search_request import SearchRequest

# `run`'s options that say where a search runs, not what it searches: not request fields.
WHERE = {"db", "ray_address", "resume", "data_dir", "download"}


def run_options() -> dict[str, Any]:
    command: Any = typer.main.get_command(app)  # typer's own click: read by attribute
    return {p.name: p for p in command.commands["run"].params if p.name and p.name != "help"}


def test_every_request_field_is_an_option_with_its_default_and_help() -> None:
    options = run_options()
    assert set(options) == set(SearchRequest.model_fields) | WHERE
    for name, field in SearchRequest.model_fields.items():
        option = options[name]
        assert option.required == field.is_required(), name
        if not field.is_required():
            assert option.default == field.default, name
        assert option.help == field.description, name


@pytest.mark.parametrize(("option", "allowed"), [("--stem", "conv"), ("--sampler", "random"), ("--conv", "dense")])
def test_a_literal_field_refuses_other_values_before_anything_runs(option: str, allowed: str) -> None:
    result = CliRunner().invoke(app, ["run", "--dataset", "digits", "--budget", "1", option, "nope"])
    assert result.exit_code == 2
    assert "nope" in result.output and allowed in result.output


def test_the_old_field_name_searcher_is_still_accepted() -> None:
    """`searcher` was the sampler's name in 0.1: a request body that uses it still works, until 0.2."""
    request = SearchRequest.model_validate({"dataset": "digits", "budget": 2, "searcher": "random"})
    assert request.sampler == "random"
