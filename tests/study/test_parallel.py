"""The data-scale study's runs: `--jobs 2` (Ray tasks) gives the numbers `--jobs 1` gives, the plain CNN
reference trains beside the schedules, reverse PRS parses, and a study of a real image folder writes its
table, plot and Fourier reading (with the convolution-time trend)."""

import csv
import math
from pathlib import Path

import numpy as np
import pytest
from analysis.helpers import assert_png, run_main
from PIL import Image

from prs_search.baseline import NAME as CNN
from prs_search.schedule import Schedule
from prs_search.search import cluster
from prs_search.settings import get_settings
from prs_search.store import ResultsStore, StudyRunRecord
from prs_search.study.driver import run_data_scale
from prs_search.study.protocol import DataScaleRequest, split_schedules

pytestmark = pytest.mark.slow


def numbers(runs: list[StudyRunRecord]) -> dict[tuple[int, str, int], tuple[object, ...]]:
    return {
        (r.num_samples, r.schedule_label, r.seed): (r.schedule, r.epochs, r.val_acc, r.test_acc, r.train_acc)
        for r in runs
    }


def test_two_jobs_on_ray_give_the_numbers_of_one_job_in_process(tmp_path: Path) -> None:
    request = DataScaleRequest(
        dataset="digits", schedules="all-conv,linear:0,2", data_dir=tmp_path / "data", sizes=(150, 300), epochs=2,
        model="tiny", repeats=1, threads=1, fourier=False,
    )  # fmt: skip
    results = {}
    for jobs in (1, 2):
        with ResultsStore(f"sqlite:///{tmp_path / f'jobs{jobs}.db'}") as store:
            try:
                results[jobs] = run_data_scale(DataScaleRequest(**{**request.__dict__, "jobs": jobs}), store)
            finally:
                cluster.shutdown()
    one, two = numbers(results[1].runs), numbers(results[2].runs)
    assert len(one) == 2 * 3 and one == two  # same seeds, same thread count: the same numbers, to the last bit
    assert {label for _, label, _ in one} == {"all-conv", "linear:0,2", CNN}
    cnn = [r for r in results[2].runs if r.schedule_label == CNN]
    assert {(r.model, r.conv, r.schedule) for r in cnn} == {(CNN, None, ())}
    hybrid = [r for r in results[2].runs if r.schedule_label != CNN]
    assert {(r.model, r.conv) for r in hybrid} == {("tiny", "shift")}
    assert all(r.train_acc is not None and 0.0 <= r.train_acc <= 1.0 for r in results[2].runs)


def test_runs_go_seed_by_seed(tmp_path: Path) -> None:
    request = DataScaleRequest(
        dataset="digits", schedules="all-conv", data_dir=tmp_path / "data", sizes=(150, 300), epochs=1,
        model="tiny", repeats=2, reference=False, threads=1,
    )  # fmt: skip
    with ResultsStore(f"sqlite:///{tmp_path / 'order.db'}") as store:
        run_data_scale(request, store)
        stored = store.study_runs()
    # Stored as they finished, in the study's order: every size of seed 0 before seed 1.
    assert [(r.seed, r.num_samples) for r in stored] == [(0, 150), (0, 300), (1, 150), (1, 300)]


def test_reverse_prs_parses_as_early_layers_first() -> None:
    labels = split_schedules("all-conv,prs,linear:0,5,uniform:5,all-attention", depth=6)
    assert labels == ("all-conv", "prs", "linear:0,5", "uniform:5", "all-attention")
    reverse, prs = Schedule.parse("linear:0,5", 6, 10), Schedule.parse("prs", 6, 10)
    assert reverse.switch_epochs[0] == 0 and reverse.switch_epochs[-1] == 5
    assert list(reverse.switch_epochs) == sorted(reverse.switch_epochs)  # early layers switch first
    assert list(reverse.switch_epochs) == list(reversed(prs.switch_epochs))


def test_the_plain_cnn_label_is_not_a_schedule(tmp_path: Path) -> None:
    request = DataScaleRequest(
        dataset="digits", schedules=f"all-conv,{CNN}", data_dir=tmp_path, sizes=(150,), epochs=1, model="tiny"
    )
    with ResultsStore(f"sqlite:///{tmp_path / 'x.db'}") as store, pytest.raises(ValueError, match="reference's label"):
        run_data_scale(request, store)


def make_image_folder(root: Path, per_class: int = 40, test_per_class: int = 10) -> Path:
    """Two classes of 32x32 PNGs a model can tell apart (bright and dark, with noise), train/ and test/."""
    rng = np.random.default_rng(0)
    for split, count in (("train", per_class), ("test", test_per_class)):
        for label, level in (("dark", 60), ("bright", 190)):
            folder = root / split / label
            folder.mkdir(parents=True)
            for i in range(count):
                pixels = np.clip(rng.normal(level, 40, (32, 32, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(folder / f"{i}.png")
    return root


def test_an_image_folder_study_writes_table_plot_and_fourier_numbers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PRS_HOME", str(tmp_path / "home"))  # the folder's decoded cache goes there
    get_settings.cache_clear()
    folder = make_image_folder(tmp_path / "images")
    out = tmp_path / "out"
    args = [
        "study", "data-scale", "--dataset", f"imagefolder:{folder}", "--sizes", "40,80", "--repeats", "2",
        "--schedules", "all-conv,all-attention", "--epochs", "2", "--model", "tiny", "--threads", "1",
        "--max-images", "8", "--out", str(out), "--db", f"sqlite:///{tmp_path / 'prs.db'}",
    ]  # fmt: skip
    try:
        code, stdout, err = run_main(args, monkeypatch, capsys)
    finally:
        get_settings.cache_clear()
    assert code == 0, err
    with (out / "data_scale.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["num_samples"], r["schedule"]) for r in rows] == [
        (n, label) for n in ("40", "80") for label in ("all-conv", "all-attention", CNN)
    ]
    for r in rows:
        assert r["test_n"] == r["train_n"] == "2"
        assert 0.0 <= float(r["train_acc_mean"]) <= 1.0 and 0.0 <= float(r["test_acc_mean"]) <= 1.0
    cnn = [r for r in rows if r["schedule"] == CNN]
    assert all(r["concrete_schedule"] == "" and r["vs_all_conv_n"] == "2" for r in cnn)
    assert_png((out / "data_scale.png").read_bytes())
    page = (out / "data_scale.md").read_text()
    assert "| train acc % |" in page and f"| {CNN} | - | 2 |" in page
    # Fourier numbers of both schedules at both ends, and the trend over them, per sub-layer.
    for n in (40, 80):
        for label in ("all-conv", "all-attention"):
            assert (out / f"fourier_{n}_{label}.csv").is_file()
    assert "Spearman's rank correlation" in page and "| rho at 40 (2 runs) | rho at 80 (2 runs) |" in page
    trend_rows = [line for line in page.splitlines() if line.startswith("| 1 mixer |")]
    assert len(trend_rows) == 2  # the amplitude table's row and the trend table's
    rho = trend_rows[1].split(" | ")[1]
    assert rho == "-" or math.isfinite(float(rho.split()[0]))
    assert "convolution time against high frequency" in stdout
