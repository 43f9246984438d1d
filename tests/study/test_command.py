"""`prs-search study data-scale` end to end on digits with `tiny`: two sizes x two schedules x two seeds, real
training of one or two epochs, and the CSV, Markdown, PNG and Fourier files it writes."""

import csv
import math
from pathlib import Path

import pytest
from analysis.helpers import assert_png, run_main

from prs_search.data import load_dataset, make_splits
from prs_search.store import ResultsStore
from prs_search.study.tables import CSV_COLUMNS, TABLE_HEADER

pytestmark = pytest.mark.slow

SIZES = (200, 400)
BATCH = 32


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def table_rows(markdown: str) -> list[list[str]]:
    """The cells of the first Markdown table, header and rule included."""
    lines = markdown.split("\n\n| ")[1].split("\n\n")[0]
    return [[c.strip() for c in line.strip("| ").split(" | ")] for line in ("| " + lines).splitlines()]


def study_args(tmp_path: Path, out: str, *extra: str) -> list[str]:
    return ["study", "data-scale", "--dataset", "digits", "--sizes", ",".join(map(str, SIZES)), "--repeats", "2",
            "--epochs", "2", "--model", "tiny", "--no-reference", "--out", str(tmp_path / out),
            "--db", f"sqlite:///{tmp_path / 'prs.db'}", "--data-dir", str(tmp_path / "data"), "--max-images", "16",
            *extra]  # fmt: skip


def steps_per_epoch(tmp_path: Path, num_samples: int) -> int:
    """What the trainer takes on the first seed's training split (the last incomplete batch dropped)."""
    splits = make_splits(load_dataset("digits", tmp_path / "data"), num_samples=num_samples, seed=0)
    return len(splits.train) // BATCH


def test_fixed_epochs_with_intervals_and_paired_differences(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    args = study_args(tmp_path, "out", "--schedules", "all-conv,prs", "--name", "fixed")
    code, stdout, err = run_main(args, monkeypatch, capsys)
    assert code == 0, err
    out = tmp_path / "out"
    rows = read_csv(out / "data_scale.csv")
    assert tuple(rows[0]) == CSV_COLUMNS
    assert [(r["num_samples"], r["schedule"], r["concrete_schedule"]) for r in rows] == [
        ("200", "all-conv", "2,2,2,2"), ("200", "prs", "1,1,0,0"),
        ("400", "all-conv", "2,2,2,2"), ("400", "prs", "1,1,0,0"),
    ]  # fmt: skip
    for r in rows:
        assert (r["protocol"], r["reference_epochs"], r["step_budget"], r["epochs"], r["repeats"]) == (
            "fixed-epochs", "2", "", "2", "2",
        )  # fmt: skip
        assert int(r["steps"]) == 2 * int(r["steps_per_epoch"]) == 2 * steps_per_epoch(tmp_path, int(r["num_samples"]))
        low, mean, high = float(r["test_acc_ci_low"]), float(r["test_acc_mean"]), float(r["test_acc_ci_high"])
        assert low <= mean <= high and r["test_n"] == "2"
        # Two seeds: the half-width is t(0.975, 1) = 12.706 standard errors, std / sqrt(2) (the CSV's 4 decimals
        # of std, times 9, leave up to 5e-4 of rounding).
        assert high - mean == pytest.approx(12.7062 * float(r["test_acc_std"]) / math.sqrt(2), abs=6e-4)
        other = "prs" if r["schedule"] == "all-conv" else "all-conv"
        key = f"vs_{other.replace('-', '_')}"
        assert r[f"{key}_n"] == "2" and r[f"{key}_excludes_0"] in ("true", "false")
        assert float(r[f"{key}_ci_low"]) <= float(r[f"{key}_mean"]) <= float(r[f"{key}_ci_high"])
        assert r[f"vs_{r['schedule'].replace('-', '_')}_mean"] == ""  # not against itself
    # Paired means are the differences of the cell means (same seeds on both sides).
    assert float(rows[1]["vs_all_conv_mean"]) == pytest.approx(
        float(rows[1]["test_acc_mean"]) - float(rows[0]["test_acc_mean"]), abs=2e-4
    )

    page = (out / "data_scale.md").read_text()
    assert page.startswith(
        "# Data-scale study: digits\n\nCommand: `prs-search study data-scale --dataset digits --sizes"
    )
    assert "- Protocol (fixed-epochs): fixed epochs (the paper's protocol): E = 2 at every size" in page
    table = table_rows(page)
    assert table[0] == list(TABLE_HEADER) and len(table) == 2 + 4
    assert [(row[0], row[2], row[4]) for row in table[2:]] == [
        (str(n), label, "2") for n in SIZES for label in ("all-conv", "prs")
    ]
    assert table[3][-1] == "ref" and table[3][-2].count("[") == 1  # prs: ref for itself, interval against all-conv
    assert "Fourier" not in page  # no all-attention: no analysis, and nothing says it was skipped
    assert_png((out / "data_scale.png").read_bytes())
    assert not list(out.glob("fourier*"))
    assert "8 runs trained now" in stdout and "protocol (fixed-epochs)" in stdout
    with ResultsStore(f"sqlite:///{tmp_path / 'prs.db'}", migrate=False) as store:
        runs = store.study_runs(study="fixed")
    assert sorted((r.num_samples, r.schedule_label, r.seed, r.epochs, r.fraction) for r in runs) == sorted(
        (n, label, seed, 2, None) for n in SIZES for label in ("all-conv", "prs") for seed in (0, 1)
    )

    # The same study with a step budget would train other epochs: refused before anything trains.
    code, _, err = run_main([*args, "--steps", "1000"], monkeypatch, capsys)
    assert code == 2
    (line,) = err.strip().splitlines()
    assert "study 'fixed' trained all-conv at 200 images for 2 epochs" in line and "--epochs/--steps" in line


def test_step_budget_gives_smaller_sizes_more_epochs_and_the_fourier_profiles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    per_epoch = {n: steps_per_epoch(tmp_path, n) for n in SIZES}
    budget = 2 * per_epoch[200]
    epochs = {n: max(1, math.floor(budget / per_epoch[n] + 0.5)) for n in SIZES}
    assert epochs[200] == 2 > epochs[400] == 1
    options = ("--schedules", "all-conv,all-attention", "--steps", str(budget), "--name", "st")
    code, stdout, err = run_main(study_args(tmp_path, "out", *options), monkeypatch, capsys)
    assert code == 0, err
    out = tmp_path / "out"
    rows = read_csv(out / "data_scale.csv")
    assert [(r["num_samples"], r["schedule"], r["epochs"], r["concrete_schedule"]) for r in rows] == [
        ("200", "all-conv", "2", "2,2,2,2"), ("200", "all-attention", "2", "0,0,0,0"),
        ("400", "all-conv", "1", "1,1,1,1"), ("400", "all-attention", "1", "0,0,0,0"),
    ]  # fmt: skip
    assert {(r["protocol"], r["reference_epochs"], r["step_budget"]) for r in rows} == {
        ("fixed-steps", "2", str(budget))
    }
    assert all(r["vs_prs_mean"] == "" for r in rows)
    page = (out / "data_scale.md").read_text()
    assert f"fixed optimiser-step budget N = {budget}" in page
    assert (
        f"200 images: 2 epochs x {per_epoch[200]} steps" in page and f"400 images: 1 epochs x {per_epoch[400]}" in page
    )
    assert "round(e * E_s / E)" in page
    assert "- Note: no prs among the schedules" in page
    assert len(table_rows(page)) == 2 + 4

    # The Fourier profiles of all-conv and all-attention at both ends (first seed), two maps per block.
    stems = [f"fourier_{n}_{label}" for n in SIZES for label in ("all-conv", "all-attention")]
    for stem in stems:
        profile = read_csv(out / f"{stem}.csv")
        assert len(profile) == 4 * 2 * 4  # 4 blocks x (mixer, mlp) x 4 park-kim bins of an 8 x 8 grid
        assert [r["sublayer"] for r in profile[::4]] == ["mixer", "mlp"] * 4
        assert {r["reading"] for r in profile} == {"park-kim"}
        assert {r["mode"] for r in profile} == {"conv" if "all-conv" in stem else "attention"}
        assert [r["true_frequency"] for r in profile[:4]] == ["0.0000", "0.2500", "0.5000", "0.7500"]
        assert_png((out / f"{stem}.png").read_bytes())
    assert_png((out / "fourier_comparison.png").read_bytes())
    assert "## Fourier profile" in page and "| 4 mlp |" in page
    assert "validation split (16 images at 200, 16 images at 400)" in page  # --max-images 16, per size
    assert "delta log amplitude at 1.00 pi (park-kim reading: true 0.75 pi)" in stdout

    # Resumed: nothing trains; the profiles come back from the results store, the same numbers.
    code, stdout, err = run_main(study_args(tmp_path, "again", *options), monkeypatch, capsys)
    assert code == 0, err
    assert "0 runs trained now" in stdout and "no Fourier profile" not in stdout
    for stem in stems:
        assert read_csv(tmp_path / "again" / f"{stem}.csv") == read_csv(out / f"{stem}.csv")
    assert read_csv(tmp_path / "again" / "data_scale.csv") == rows

    # Reported before it is complete: a third seed asked, nothing trained, the stored cells with their two
    # seeds, and one note naming what is missing.
    code, stdout, err = run_main(
        [*study_args(tmp_path, "partial", *options), "--repeats", "3", "--report-only"], monkeypatch, capsys
    )
    assert code == 0, err
    assert "0 runs trained now" in stdout
    assert [r["repeats"] for r in read_csv(tmp_path / "partial" / "data_scale.csv")] == ["2"] * 4
    page = (tmp_path / "partial" / "data_scale.md").read_text()
    assert "seeds 0..2 (2 per cell), 0 of 8 runs trained" in page
    assert (
        "report only: 4 of 12 runs are not stored yet, so their cells are missing or have fewer seeds (200 images, "
        "seed 2 (2 runs); 400 images, seed 2 (2 runs))" in page
    )
    with ResultsStore(f"sqlite:///{tmp_path / 'prs.db'}", migrate=False) as store:
        assert len(store.study_runs(study="st")) == 8

    # Nothing stored under the name: one line, exit 2.
    code, _, err = run_main(
        [*study_args(tmp_path, "none", *options), "--name", "other", "--report-only"], monkeypatch, capsys
    )
    assert code == 2
    (line,) = err.strip().splitlines()
    assert "study 'other' has no stored runs" in line and "without --report-only" in line
