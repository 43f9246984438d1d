"""Bad input to `analyze fourier`, `study data-scale` and `report`: exit code 2 and exactly one line."""

from pathlib import Path
from typing import Any

import pytest
from analysis.helpers import run_main

from prs_search.store import ResultsStore

# {tmp}: the test's folder (it holds notes.txt, which is no checkpoint); {db}: an empty SQLite database.
STUDY = ["study", "data-scale", "--dataset", "digits", "--epochs", "1", "--out", "{tmp}", "--db", "{db}"]
CASES: dict[str, tuple[list[str], str]] = {
    "missing-checkpoint": (["analyze", "fourier", "--checkpoint", "{tmp}/absent.pt"], "no checkpoint at"),
    "not-a-checkpoint": (["analyze", "fourier", "--checkpoint", "{tmp}/notes.txt"], "is not a prs-search"),
    "no-model-given": (["analyze", "fourier"], "give either --checkpoint PATH or --search NAME"),
    "trial-without-search": (["analyze", "fourier", "--checkpoint", "x.pt", "--trial", "1"], "--trial needs --search"),
    "unknown-search": (["analyze", "fourier", "--search", "nope", "--db", "{db}"], "no search named 'nope'"),
    "bad-fraction-list": ([*STUDY, "--fractions", "0.1,abc"], "cannot read the fraction list '0.1,abc'"),
    "fraction-out-of-range": ([*STUDY, "--fractions", "0.5,1.5"], "fractions must be in (0, 1], got 1.5"),
    "repeated-fraction": ([*STUDY, "--fractions", "0.5,0.5"], "repeats a fraction"),
    "unknown-schedule": ([*STUDY, "--fractions", "0.5", "--schedules", "all-conv,bogus"], "schedule 'bogus'"),
    "linear-missing-number": ([*STUDY, "--fractions", "0.5", "--schedules", "linear:3"], "needs 1 more number"),
    "best-without-searches": ([*STUDY, "--fractions", "0.5", "--schedules", "best"], "no searches for dataset"),
    "sizes-and-fractions": ([*STUDY, "--sizes", "200", "--fractions", "0.5"], "either as --sizes (images) or as"),
    "bad-size-list": ([*STUDY, "--sizes", "200,x"], "cannot read the size list '200,x'"),
    "size-too-large": ([*STUDY, "--sizes", "200,5000"], "need between 10 (one per class) and 1438 images"),
    "fractions-of-one-size": ([*STUDY, "--fractions", "0.1,0.1001"], "two of the sizes asked give 144 images"),
    "fourier-without-all-attention": (
        [*STUDY, "--sizes", "200", "--schedules", "all-conv,prs", "--fourier"],
        "--fourier compares the schedules with all-conv and all-attention",
    ),
    "jobs-zero": ([*STUDY, "--sizes", "200", "--jobs", "0"], "--jobs"),
    "gpus-on-a-cpu-machine": (
        [*STUDY, "--sizes", "200", "--model", "tiny", "--gpus-per-trial", "1"],
        "--gpus-per-trial 1 is more than any node of the Ray cluster has",
    ),
    "schedules-name-the-cnn": ([*STUDY, "--sizes", "200", "--schedules", "all-conv,plain-cnn"], "reference's label"),
    "study-unknown-reading": ([*STUDY, "--sizes", "200", "--reading", "pi"], "unknown Fourier reading 'pi'"),
    "fourier-unknown-reading": (
        ["analyze", "fourier", "--checkpoint", "x.pt", "--reading", "Nyquist"],
        "use park-kim or nyquist",
    ),
    "report-unknown-reading": (["report", "nope", "--db", "{db}", "--reading", "x"], "unknown Fourier reading 'x'"),
    "unknown-dataset": ([*STUDY[:2], "--dataset", "nope", *STUDY[6:]], "unknown dataset 'nope'"),
    "report-unknown-search": (["report", "nope", "--db", "{db}"], "no search named 'nope'"),
    "fourier-out-is-a-file": (
        ["analyze", "fourier", "--checkpoint", "{tmp}/absent.pt", "--out", "{tmp}/notes.txt"],
        "is a file, not a folder",
    ),
    "study-out-is-a-file": ([*STUDY[:6], "--sizes", "200", "--out", "{tmp}/notes.txt", "--db", "{db}"], "is a file"),
    "report-out-is-a-folder": (
        ["report", "nope", "--out", "{tmp}", "--db", "{db}"],
        "is a folder: give the file to write",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_and_exit_code_2(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "notes.txt").write_text("hello\n")
    db = f"sqlite:///{tmp_path / 'prs.db'}"
    template, expected = CASES[case]
    args = [a.format(tmp=tmp_path, db=db) for a in template]
    code, _, err = run_main(args, monkeypatch, capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert err == err.lstrip(), "a blank line (a progress bar's end) before the error"
    assert lines[0].startswith("error: ") and expected in lines[0], lines[0]
    if "--db" in template:  # nothing was trained or stored
        with ResultsStore(db) as store:
            assert store.study_runs() == []


@pytest.mark.parametrize("path", [("analyze", "fourier"), ("study", "data-scale"), ("report",)])
def test_every_option_is_explained(path: tuple[str, ...]) -> None:
    """`--help` says what every option and argument means (typer vendors click: duck-typed access)."""
    import typer

    from prs_search.cli import app

    command: Any = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]
    assert command.help and len(command.help) > 40
    for param in command.params:
        assert param.help and len(param.help) > 10, f"{' '.join(path)} {param.name} has no help"
