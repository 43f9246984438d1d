"""Every registered dataset is named wherever datasets are listed: the CLI's `--dataset` help, the OpenAPI
schema of a search request, and `prs-search datasets` (they all read `prs_search.dataset_registry`)."""

import re
import sys
from pathlib import Path

import pytest

from prs_search.api.main import create_app
from prs_search.api.settings import ApiSettings
from prs_search.cli import main
from prs_search.dataset_registry import IMAGEFOLDER_PREFIX, list_datasets

NAMES = [*list_datasets(), f"{IMAGEFOLDER_PREFIX}PATH"]


def _unnamed(text: str) -> list[str]:
    """The names `text` lacks, as whole words (`cifar10` is not found inside `cifar100`)."""
    return [name for name in NAMES if not re.search(rf"(?<![\w:]){re.escape(name)}(?![\w:])", text)]


def _cli_output(args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> str:
    monkeypatch.setattr(sys, "argv", ["prs-search", *args])
    monkeypatch.setenv("COLUMNS", "250")  # each option's help on one line
    try:
        main()  # click returns after printing the help when not in standalone mode
    except SystemExit as done:
        assert done.code in (0, None)
    return capsys.readouterr().out


def test_the_registry_has_the_builtin_datasets() -> None:
    assert list_datasets() == ["cifar10", "cifar100", "digits", "mnist5k", "synthetic"]


@pytest.mark.parametrize("command", [["run"], ["train"], ["study", "data-scale"]])
def test_cli_dataset_help_names_every_dataset(
    command: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    help_text = _cli_output([*command, "--help"], monkeypatch, capsys)
    (line,) = [line for line in help_text.splitlines() if "--dataset" in line]
    assert not _unnamed(line), line


def test_datasets_command_lists_every_dataset(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [line.split()[0] for line in _cli_output(["datasets"], monkeypatch, capsys).splitlines() if line.strip()]
    assert [name for name in NAMES if name not in rows] == []


def test_openapi_search_request_names_every_dataset(tmp_path: Path) -> None:
    settings = ApiSettings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=f"sqlite:///{tmp_path / 'db.sqlite'}", home=tmp_path, api_runner="none",
    )  # fmt: skip
    dataset = create_app(settings).openapi()["components"]["schemas"]["SearchCreate"]["properties"]["dataset"]
    assert not _unnamed(dataset["description"]), dataset["description"]
    assert set(list_datasets()) <= set(dataset["examples"])
    assert all(re.fullmatch(dataset["pattern"], example) for example in dataset["examples"])
