"""Shared pieces of the analysis tests: the CLI in a subprocess and in this process, PNG checks."""

import base64
import io
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from search.helpers import CLI, cli_env

from prs_search.cli import main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def cli_subprocess(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """The installed console script, with a clean environment and a wide terminal."""
    env = cli_env(cwd / "home", OMP_NUM_THREADS="1", COLUMNS="200", NO_COLOR="1")
    return subprocess.run([str(CLI), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300)


def run_main(
    args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[Any, str, str]:
    """`main()` in this process, as the console script calls it: (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["prs-search", *args])
    monkeypatch.setenv("COLUMNS", "200")
    try:
        main()
        code: Any = 0  # success returns; only errors and `--help` exit
    except SystemExit as done:
        code = done.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_png(data: bytes) -> tuple[int, int]:
    """A PNG that decodes, of a sensible size; returns (width, height)."""
    assert data.startswith(PNG_MAGIC)
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        assert image.width > 200 and image.height > 100
        return image.size


def embedded_pngs(page: str) -> list[bytes]:
    """The base64 PNGs of every <img> in an HTML page (every <img> must be one)."""
    sources = re.findall(r"<img [^>]*src=\"([^\"]*)\"", page)
    assert len(sources) == page.count("<img ")
    prefix = "data:image/png;base64,"
    assert all(s.startswith(prefix) for s in sources), [s[:40] for s in sources]
    return [base64.b64decode(s[len(prefix) :], validate=True) for s in sources]
