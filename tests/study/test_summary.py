"""The data-scale study's arithmetic and its text outputs on hand-made runs with known answers (no training).

Known t quantiles: t(0.975, 1) = 12.7062, t(0.975, 2) = 4.3027.
"""

import csv
import math
from datetime import UTC, datetime
from pathlib import Path

import pytest

from prs_search.errors import ConfigError
from prs_search.schedule import Schedule
from prs_search.store import StudyRunRecord
from prs_search.study.driver import StudyResult, reference_notes
from prs_search.study.protocol import DataScaleRequest, Protocol, StudySize, epochs_for_budget, parse_sizes, rescale
from prs_search.study.summary import summarize
from prs_search.study.tables import CSV_COLUMNS, TABLE_HEADER, row_cells, study_markdown, write_csv

T2 = 4.302653  # t(0.975, 2): three seeds
T1 = 12.706205  # t(0.975, 1): two seeds
# Test accuracies per seed (0, 1, 2) at 100 images; the validation accuracy is the test's minus 0.1.
CELLS = {
    "all-conv": [0.80, 0.82, 0.84],  # mean 0.82, sd 0.02
    "prs": [0.83, 0.86, 0.86],  # paired with all-conv: +0.03, +0.04, +0.02 -> mean 0.03, sd 0.01
    "uniform:5": [0.81, 0.80, 0.87],  # against all-conv: +0.01, -0.02, +0.03 -> mean 1/150, interval spans 0
}


def run(label: str, seed: int, test: float | None, num_samples: int = 100, epochs: int = 10) -> StudyRunRecord:
    return StudyRunRecord(
        id=1, study="s", dataset="digits", fraction=None, num_samples=num_samples, schedule_label=label,
        schedule=[epochs] * 4 if label == "all-conv" else [5, 3, 2, 0], epochs=epochs, model="tiny", stem="conv",
        seed=seed, status="completed" if test is not None else "diverged",
        val_acc=(test or 0.5) - 0.1, test_acc=test, train_acc=None if test is None else min(1.0, test + 0.1),
        seconds=1.0, created_at=datetime.now(UTC),
    )  # fmt: skip


def hand_made_runs() -> list[StudyRunRecord]:
    return [run(label, seed, test) for seed in range(3) for label, tests in CELLS.items() for test in [tests[seed]]]


def test_means_intervals_and_paired_differences_have_the_known_values() -> None:
    rows = {r.label: r for r in summarize(hand_made_runs())}
    assert list(rows) == ["all-conv", "prs", "uniform:5"]
    conv = rows["all-conv"]
    assert conv.repeats == 3 and conv.test is not None and conv.val is not None
    half = T2 * 0.02 / math.sqrt(3)  # 0.049683
    assert (conv.test.mean, conv.test.low, conv.test.high) == pytest.approx((0.82, 0.82 - half, 0.82 + half))
    assert (conv.val.mean, conv.val.low) == pytest.approx((0.72, 0.72 - half))
    assert conv.train is not None and (conv.train.mean, conv.train.low) == pytest.approx((0.92, 0.92 - half))
    assert conv.test_std == pytest.approx(0.02)
    assert conv.vs_all_conv is None  # not against itself
    prs = rows["prs"]
    assert prs.vs_prs is None and prs.vs_all_conv is not None
    half = T2 * 0.01 / math.sqrt(3)  # 0.024841
    assert (prs.vs_all_conv.mean, prs.vs_all_conv.low, prs.vs_all_conv.high) == pytest.approx(
        (0.03, 0.03 - half, 0.03 + half)
    )
    assert prs.vs_all_conv.excludes_zero and prs.vs_all_conv.n == 3
    assert conv.vs_prs is not None and conv.vs_prs.mean == pytest.approx(-0.03) and conv.vs_prs.excludes_zero
    uniform = rows["uniform:5"].vs_all_conv
    assert uniform is not None and uniform.mean == pytest.approx(0.02 / 3)
    half = T2 * math.sqrt(((0.01 - 0.02 / 3) ** 2 + (0.02 + 0.02 / 3) ** 2 + (0.03 - 0.02 / 3) ** 2) / 2) / math.sqrt(3)
    assert uniform.high == pytest.approx(0.02 / 3 + half) and not uniform.excludes_zero


def test_pairs_are_matched_by_seed_and_a_diverged_run_drops_out() -> None:
    # Seed 1 of all-conv diverged: prs is compared on seeds 0 and 2 only (+0.03, +0.02).
    runs = [run("all-conv", 0, 0.80), run("all-conv", 1, None), run("all-conv", 2, 0.84)]
    runs += [run("prs", 2, 0.86), run("prs", 1, 0.86), run("prs", 0, 0.83)]  # stored in another order
    rows = {r.label: r for r in summarize(runs)}
    assert rows["all-conv"].repeats == 3 and rows["all-conv"].test is not None and rows["all-conv"].test.n == 2
    diff = rows["prs"].vs_all_conv
    assert diff is not None and diff.n == 2
    half = T1 * math.sqrt(0.005**2 * 2) / math.sqrt(2)
    assert (diff.mean, diff.low, diff.high) == pytest.approx((0.025, 0.025 - half, 0.025 + half))


def test_one_seed_has_no_interval() -> None:
    rows = {r.label: r for r in summarize([run("all-conv", 0, 0.8), run("prs", 0, 0.9)])}
    prs = rows["prs"]
    assert prs.test is not None and prs.test.low is None and prs.test.high is None
    assert prs.vs_all_conv is not None and prs.vs_all_conv.mean == pytest.approx(0.1)
    assert not prs.vs_all_conv.excludes_zero
    assert row_cells(prs)[5:] == ("100.0 (n = 1)", "80.0 (n = 1)", "90.0 (n = 1)", "+10.0 (n = 1)", "ref")


def test_references_missing_from_the_study_leave_their_columns_empty() -> None:
    rows = summarize([run("uniform:5", s, 0.8 + s / 100) for s in range(2)])
    assert rows[0].vs_all_conv is None and rows[0].vs_prs is None
    assert row_cells(rows[0])[-2:] == ("-", "-")
    notes = reference_notes(["uniform:5", "All-Conv"])  # matched case-insensitively
    assert notes == [
        "no prs among the schedules: the paired differences against prs are empty (add prs to --schedules)"
    ]


def test_step_budget_and_rescaling() -> None:
    assert epochs_for_budget(100, 7) == 14  # 14.29
    assert epochs_for_budget(100, 8) == 13  # 12.5, half up
    assert epochs_for_budget(3, 10) == 1  # never below one epoch
    prs = Schedule.prs(4, 10)  # 5,3,2,0
    assert rescale(prs, 20).switch_epochs == (10, 6, 4, 0)
    assert rescale(prs, 3).switch_epochs == (2, 1, 1, 0)  # 1.5 -> 2, 0.9 -> 1, 0.6 -> 1
    assert rescale(Schedule.all_conv(4, 10), 7).switch_epochs == (7,) * 4
    assert rescale(Schedule.all_attention(4, 10), 7).switch_epochs == (0,) * 4
    assert rescale(prs, 10) == prs


def test_size_lists() -> None:
    assert parse_sizes("500,250, 4000") == (250, 500, 4000)
    for text, message in (("250,x", "cannot read the size list"), ("0,5", "positive"), ("5,5", "repeats a size")):
        with pytest.raises(ConfigError, match=message):
            parse_sizes(text)


def protocol(step_budget: int | None) -> Protocol:
    return Protocol(10, step_budget, 32, (StudySize(100, None, 80, 2, 14 if step_budget else 10),))


def test_csv_and_markdown_of_hand_made_runs(tmp_path: Path) -> None:
    rows = summarize(hand_made_runs())
    write_csv(rows, protocol(None), tmp_path / "t.csv")
    with (tmp_path / "t.csv").open(newline="") as f:
        table = list(csv.DictReader(f))
    assert tuple(table[0]) == CSV_COLUMNS
    prs = table[1]
    assert (prs["schedule"], prs["protocol"], prs["epochs"], prs["steps_per_epoch"], prs["steps"]) == (
        "prs", "fixed-epochs", "10", "2", "20",
    )  # fmt: skip
    assert (prs["test_acc_mean"], prs["test_acc_ci_low"], prs["test_acc_ci_high"]) == ("0.8500", "0.8070", "0.8930")
    assert (prs["vs_all_conv_n"], prs["vs_all_conv_mean"], prs["vs_all_conv_ci_low"]) == ("3", "0.0300", "0.0052")
    assert (prs["vs_all_conv_excludes_0"], prs["vs_prs_mean"], prs["vs_prs_excludes_0"]) == ("true", "", "")
    assert table[2]["vs_all_conv_excludes_0"] == "false" and table[0]["vs_all_conv_mean"] == ""

    request = DataScaleRequest(dataset="digits", schedules="all-conv,prs,uniform:5", data_dir=tmp_path, sizes=(100,),
                               repeats=3, steps=280)  # fmt: skip
    result = StudyResult("s", rows, [], 0, protocol(280), ("all-conv", "prs", "uniform:5"), [], ["a note"], "shift")
    page = study_markdown(result, request, "prs-search study data-scale --steps 280")
    lines = page.splitlines()
    assert lines[2] == "Command: `prs-search study data-scale --steps 280`"
    assert any("fixed optimiser-step budget N = 280" in line and "100 images: 14 epochs x 2 steps = 28" in line
               for line in lines)  # fmt: skip
    assert "- Note: a note" in lines
    table_lines = [line for line in lines if line.startswith("| ")]
    assert table_lines[0] == "| " + " | ".join(TABLE_HEADER) + " |"
    assert len(table_lines) == 2 + 3  # the header, its rule and one row per (size, schedule)
    assert (
        table_lines[3] == "| 100 | 10 | prs | 5,3,2,0 | 3 | 95.0 [90.7, 99.3] | 75.0 [70.7, 79.3] | 85.0 [80.7, 89.3] "
        "| +3.0 [+0.5, +5.5] * | ref |"
    )
    # uniform:5 - all-conv = +0.01, -0.02, +0.03; uniform:5 - prs = -0.02, -0.06, +0.01: both spans 0.
    assert table_lines[4].endswith("| +0.7 [-5.6, +6.9] | -2.3 [-11.1, +6.4] |")
