"""Every data test gets its own PRS_HOME: loading an image folder writes its cache there, never to ~."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from prs_search.settings import get_settings


@pytest.fixture(autouse=True)
def prs_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("prs-home")
    monkeypatch.setenv("PRS_HOME", str(home))
    get_settings.cache_clear()  # settings are read once per process; make it read this home
    yield home
    get_settings.cache_clear()  # and let later tests read theirs
