"""`analyze fourier`, `study data-scale` and `report` end to end: real training, a real search, real files."""

import csv
import math
import sqlite3
from pathlib import Path

import pytest
from search.helpers import TINY_DEPTH, FinishedSearch
from sqlalchemy import text

from prs_search.data import load_dataset, make_splits
from prs_search.store import ResultsStore

from .helpers import assert_png, cli_subprocess, embedded_pngs, run_main

pytestmark = pytest.mark.slow

# The park-kim reading of an 8 x 8 grid: bins 0 .. 3 labelled linspace(0, 1, 4) pi (true 0 .. 0.75 pi).
FREQUENCIES = ["0.0000", "0.3333", "0.6667", "1.0000"]
SUBLAYERS = ["mixer", "mlp"]
STUDY_NAME = "s.p_alpha-1"
# A name a database from before the name rule may hold: HTML (escaped in the report), broken mathtext (drawn
# as text). New studies cannot be given it (`check_name`); the report test renames the study to it.
OLD_STUDY_NAME = "<b>s&p</b> $\\alpha_$"


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_fourier_of_a_trained_checkpoint(checkpoint: Path, tmp_path: Path) -> None:
    args = ["analyze", "fourier", "--checkpoint", str(checkpoint), "--out", str(tmp_path / "f")]
    done = cli_subprocess(args, tmp_path)
    assert done.returncode == 0, done.stderr
    rows = read_csv(tmp_path / "f" / "fourier.csv")
    assert list(rows[0]) == [
        "layer", "sublayer", "mode", "reading", "frequency", "true_frequency", "delta_log_amplitude",
    ]  # fmt: skip
    assert [(r["layer"], r["sublayer"], r["frequency"]) for r in rows] == [
        (str(layer), sub, f) for layer in range(1, TINY_DEPTH + 1) for sub in SUBLAYERS for f in FREQUENCIES
    ]
    assert {r["reading"] for r in rows} == {"park-kim"}
    # Schedule linear:2,0 of 2 epochs is 2,1,1,0: layer 1 never switched, the others did.
    modes = {r["layer"]: r["mode"] for r in rows}
    assert modes == {"1": "conv", "2": "attention", "3": "attention", "4": "attention"}
    assert all(float(r["delta_log_amplitude"]) == 0.0 for r in rows if r["frequency"] == "0.0000")
    assert all(math.isfinite(float(r["delta_log_amplitude"])) for r in rows)
    assert_png((tmp_path / "f" / "fourier.png").read_bytes())
    # The validation split of the data the checkpoint recorded (431 digits), not of all 1,438 digits.
    recorded = make_splits(load_dataset("digits", tmp_path / "data"), fraction=0.3, seed=0)
    assert len(recorded.val) < 100 and f"{len(recorded.val)} validation images" in done.stdout
    assert "1 mixer" in done.stdout and "4 mlp" in done.stdout


def test_fourier_of_a_stored_trial(
    finished_search: FinishedSearch, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with ResultsStore(finished_search.url, migrate=False) as store:
        search = store.get_search(name_or_id=finished_search.name)
        assert search is not None
        trials = [t for t in store.list_trials(search_id=search.id)[0] if t.checkpoint_path]
    trial = trials[-1]
    args = ["analyze", "fourier", "--search", finished_search.name, "--trial", trial.trial_key,
            "--db", finished_search.url, "--out", str(tmp_path)]  # fmt: skip
    code, out, err = run_main(args, monkeypatch, capsys)
    assert code == 0, err
    rows = read_csv(tmp_path / "fourier.csv")
    assert len(rows) == TINY_DEPTH * len(SUBLAYERS) * len(FREQUENCIES)
    # The modes are those of the trial's schedule after the epochs it ran.
    attention = [trial.epochs_run - 1 >= e for e in trial.schedule]
    expected = {str(i): "attention" if a else "conv" for i, a in enumerate(attention, start=1)}
    assert {r["layer"]: r["mode"] for r in rows} == expected
    assert f"trial {trial.trial_key}" in out
    assert_png((tmp_path / "fourier.png").read_bytes())


def copy_database(url: str, target: Path) -> str:
    """A consistent copy of a SQLite results database (WAL included), for a test that writes to it."""
    source = sqlite3.connect(url.removeprefix("sqlite:///"))
    copy = sqlite3.connect(target)
    with copy:
        source.backup(copy)
    source.close()
    copy.close()
    return f"sqlite:///{target}"


@pytest.fixture(scope="module")
def study_db(finished_search: FinishedSearch, tmp_path_factory: pytest.TempPathFactory) -> str:
    return copy_database(finished_search.url, tmp_path_factory.mktemp("study") / "prs.db")


def test_data_scale_study(
    study_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    args = ["study", "data-scale", "--dataset", "digits", "--fractions", "0.4,0.2", "--schedules", "all-conv,best",
            "--epochs", "1", "--model", "tiny", "--no-reference", "--repeats", "2", "--seed", "3", "--name", STUDY_NAME,
            "--out", str(out), "--db", study_db]  # fmt: skip
    code, stdout, err = run_main(args, monkeypatch, capsys)
    assert code == 0, err
    rows = read_csv(out / "data_scale.csv")
    assert [(r["fraction"], r["num_samples"], r["schedule"]) for r in rows] == [
        ("0.2", "288", "all-conv"), ("0.2", "288", "best"), ("0.4", "575", "all-conv"), ("0.4", "575", "best"),
    ]  # fmt: skip
    for r in rows:
        assert r["dataset"] == "digits" and r["repeats"] == "2"
        for key in ("val_acc_mean", "val_acc_std", "test_acc_mean", "test_acc_std"):
            assert 0.0 <= float(r[key]) <= 1.0, (key, r)
    with ResultsStore(study_db, migrate=False) as store:
        (best,) = store.best_schedules(dataset="digits")  # the search's 431 images: the nearest size to both
        runs = store.study_runs(study=STUDY_NAME)
    # 'best' is the searched schedule of 3 epochs, rescaled to this study's 1 epoch.
    scaled = ",".join(str(math.floor(e / 3 + 0.5)) for e in best.schedule)
    assert {r["concrete_schedule"] for r in rows if r["schedule"] == "best"} == {scaled}
    assert {r["concrete_schedule"] for r in rows if r["schedule"] == "all-conv"} == {"1,1,1,1"}
    assert sorted((r.num_samples, r.schedule_label, r.seed) for r in runs) == sorted(
        (n, label, seed) for n in (288, 575) for label in ("all-conv", "best") for seed in (3, 4)
    )
    assert all(r.status == "completed" and r.epochs == 1 and r.model == "tiny" for r in runs)
    # The table's means are those of the stored runs.
    cell = [r.test_acc for r in runs if (r.num_samples, r.schedule_label) == (575, "best")]
    assert float(rows[3]["test_acc_mean"]) == pytest.approx(sum(cell) / 2, abs=1e-4)  # type: ignore[arg-type]
    assert_png((out / "data_scale.png").read_bytes())
    assert "8 runs trained now" in stdout

    # Run again under the same name: every run is already stored, nothing trains, the table is the same.
    again = tmp_path / "again"
    code, stdout, err = run_main([*args[:-4], "--out", str(again), "--db", study_db], monkeypatch, capsys)
    assert code == 0, err
    assert "0 runs trained now" in stdout
    assert read_csv(again / "data_scale.csv") == rows


def test_report_of_a_search(
    finished_search: FinishedSearch, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "r.html"
    code, _, err = run_main(["report", finished_search.name, "--db", finished_search.url, "--out", str(path)],
                            monkeypatch, capsys)  # fmt: skip
    assert code == 0, err
    page = path.read_text()
    pngs = embedded_pngs(page)
    # history, accuracy against compute, best schedule, what each layer became, accuracy against size, Fourier
    assert len(pngs) == 6
    for png in pngs:
        assert_png(png)
    # The best trial's last epoch, per layer: its mode, attention distance and tap mass (the trial's epochs
    # reached SQL with their layers).
    section = page.split("<h2>What each layer became (best trial)</h2>")[1].split("<h2>")[0]
    assert section.count("<td>attention</td>") + section.count("<td>conv</td>") == TINY_DEPTH
    # Every trial's FLOPs were counted: the front is drawn, and tabled cheapest first.
    front = page.split("<h2>Accuracy against compute</h2>")[1].split("<h2>")[0]
    assert "no complete trial has counted" not in front and "more had no count" not in front
    assert front.count("FLOP</td>") >= 1
    best = finished_search.summary.best_schedule
    assert f"<h2>Best schedule: {','.join(map(str, best))}</h2>" in page
    assert "not available" not in page and "nothing stored" not in page
    # No study of digits in this database: accuracy against size comes from the searches' best schedules.
    assert "the best schedule of each searched size of digits" in page


def test_report_uses_the_newest_study_and_escapes_text(
    finished_search: FinishedSearch, study_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    with ResultsStore(study_db, migrate=False) as store:
        if not store.study_runs(study=STUDY_NAME):
            pytest.skip("needs test_data_scale_study's runs")
        with store.engine.begin() as conn:
            conn.execute(text("UPDATE prs_study_runs SET study = :old"), {"old": OLD_STUDY_NAME})
    path = tmp_path / "r.html"
    code, _, err = run_main(["report", finished_search.name, "--db", study_db, "--out", str(path)], monkeypatch, capsys)
    assert code == 0, err
    page = path.read_text()
    assert "data-scale study &lt;b&gt;s&amp;p&lt;/b&gt; $\\alpha_$" in page
    assert OLD_STUDY_NAME not in page
    assert len(embedded_pngs(page)) == 6


def test_report_default_file_name(
    finished_search: FinishedSearch, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run_main(["report", finished_search.name, "--db", finished_search.url, "--max-images", "8"],
                            monkeypatch, capsys)  # fmt: skip
    assert code == 0, err
    assert (tmp_path / f"report-{finished_search.name}.html").is_file()
