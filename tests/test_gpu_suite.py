"""benchmarks/gpu_suite.py: the one prepared GPU run, rehearsed on the CPU with `--smoke`, and its Markdown
(benchmarks/gpu_report.py).

The smoke runs every section's code path at tiny sizes (a real Ray search among them), so a suite broken
here is found before device time is spent on it.
"""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SUITE = ROOT / "benchmarks" / "gpu_suite.py"
REPORT = ROOT / "benchmarks" / "gpu_report.py"
SECTIONS = ("throughput", "epoch_time", "search", "extrapolation", "pytest_gpu", "throughput_compile")


def load(path: Path) -> ModuleType:
    """A benchmark as a module (benchmarks/ is no package); their top levels import the standard library only."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str]:
    out = tmp_path_factory.mktemp("gpu-suite")
    done = subprocess.run([sys.executable, str(SUITE), "--smoke", "--out", str(out)], cwd=ROOT, capture_output=True)
    assert done.returncode == 0, done.stdout.decode()[-3000:] + done.stderr.decode()[-3000:]
    return json.loads((out / "results.json").read_text()), (out / "results.md").read_text()


@pytest.mark.slow
def test_every_section_has_figures_or_an_error(smoke: tuple[dict[str, Any], str]) -> None:
    results, _ = smoke
    assert tuple(results["sections"]) == SECTIONS
    for name, section in results["sections"].items():
        assert section["status"] in {"ok", "partial", "error", "timeout", "skipped"}, name
        assert section["figures"] or section["error"], name
        if section["status"] != "ok":
            assert section["error"], name  # anything short of ok says why
    environment = results["environment"]
    assert environment["device"] and environment["date"]
    assert {"torch", "timm", "ray"} <= environment["versions"].keys()


@pytest.mark.slow
def test_the_markdown_names_every_section(smoke: tuple[dict[str, Any], str]) -> None:
    _, markdown = smoke
    for name in SECTIONS:
        assert f"## {name}:" in markdown
        assert f"| {name} |" in markdown  # its row in the summary table


@pytest.mark.slow
def test_the_report_renders_the_markdown_again_from_the_json(smoke: tuple[dict[str, Any], str]) -> None:
    results, markdown = smoke
    assert load(REPORT).markdown(results) + "\n" == markdown


def test_a_failed_section_shows_its_error_in_one_table_row() -> None:
    section = {"title": "Packed real search", "status": "error", "seconds": 1.5, "budget_s": 160.0, "estimate_s": 140.0,
               "error": "Ray died | twice\nat start", "figures": {"skipped": ["packing 8"]}}  # fmt: skip
    results = {
        "environment": {"device": "H100", "date": "2025-01-01"},
        "suite": {"mode": "gpu", "seconds": 2.0, "total_budget_s": 480.0},
        "sections": {"search": section},
    }
    lines = load(REPORT).markdown(results).splitlines()
    assert "| search | error | 1.5 | 160 | 140 | Ray died / twice at start |" in lines
    assert "## search: Packed real search" in lines
    assert "- skipped: packing 8" in lines


@pytest.mark.slow
def test_the_search_has_trials_per_hour_per_packing(smoke: tuple[dict[str, Any], str]) -> None:
    results, _ = smoke
    packings = {p["packing"]: p for p in results["sections"]["search"]["figures"]["packings"]}
    assert sorted(packings) == [1, 2]
    for run in packings.values():
        assert run["trials"] == run["budget"] == 2
        assert run["trials_per_hour"] > 0
        assert run["gpus_per_trial"] == 0.0 and run["cpus_per_trial"] > 0  # the CPU packs by CPUs per trial


@pytest.mark.slow
def test_throughput_is_compared_with_timm(smoke: tuple[dict[str, Any], str]) -> None:
    results, _ = smoke
    for name in ("throughput", "throughput_compile"):
        figures = results["sections"][name]["figures"]
        modes = {(row["batch"], row["mode"]) for row in figures["rows"]}
        assert {mode for _, mode in modes} == {"conv", "attention", "prs mix", "Conv2d block", "timm ViT"}
        assert all(row["vs_timm"] > 0 for row in figures["rows"])
        assert all(check["attention_vs_timm"] > 0 for check in figures["checks"])


@pytest.mark.slow
def test_the_extrapolation_uses_the_measured_epoch_and_packing(smoke: tuple[dict[str, Any], str]) -> None:
    results, _ = smoke
    figures = results["sections"]["extrapolation"]["figures"]
    assert figures["inputs"]["packing_measured"]
    epoch_runs = results["sections"]["epoch_time"]["figures"]["runs"]
    assert len(figures["estimates"]) == len(epoch_runs)
    for estimate in figures["estimates"]:
        assert 0 < estimate["gpu_hours"] < estimate["gpu_hours_no_pruning"]


def test_asha_expected_epochs_follow_its_rungs() -> None:
    suite = load(SUITE)
    # E = 10, grace 2, factor 3: rungs at 2 and 6; all train 2 epochs, 1/3 reach 6, 1/9 reach 10.
    assert suite.asha_expected_epochs(10, 2, 3) == pytest.approx(2 + 4 / 3 + 4 / 9)
    assert suite.asha_expected_epochs(100, 25, 3) == pytest.approx(25 + 50 / 3 + 25 / 9)
    assert suite.asha_expected_epochs(8, 8, 3) == 8  # grace = max_t: no rung, every trial trains all epochs
