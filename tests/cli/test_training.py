"""The `prs-search` command: `train --json` prints one JSON object and `--save` writes a loadable checkpoint
(the console script in a subprocess); every user error is exit code 2 with one clear line on stderr (the
error matrix through `main()` in this process, which is what the console script calls, plus end-to-end
subprocess checks)."""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from prs_search.cli import main
from prs_search.data import load_dataset, make_splits
from prs_search.recipe import TrainConfig
from prs_search.saved_model import load_model
from prs_search.search_request import SearchRequest
from prs_search.train import evaluate

SCRIPT = Path(sys.executable).with_name("prs-search")


def run_cli(*args: str, data_dir: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PRS_DATA_DIR": str(data_dir),
        "PRS_HOME": str(data_dir / "home"),  # nothing written to the real home
        "OMP_NUM_THREADS": "1",  # small shared CPUs
        "COLUMNS": "80",  # a narrow terminal must not wrap the one-line error
        "NO_COLOR": "1",
    }
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data")


def test_console_script_is_installed() -> None:
    assert SCRIPT.is_file(), f"{SCRIPT} missing: is the package installed in this venv?"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> tuple[dict[str, Any], Path, str]:
    """One real `train --json --save` run shared by the tests that inspect its output."""
    save = tmp_path_factory.mktemp("ckpt") / "model.pt"
    proc = run_cli(
        "train", "--dataset", "digits", "--model", "tiny", "--epochs", "2", "--json", "--schedule", "linear:2,0",
        "--batch-size", "32", "--save", str(save), "--data-dir", str(data_dir), data_dir=data_dir,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stdout  # --json: nothing but the one object
    return json.loads(lines[0]), save, proc.stderr


@pytest.mark.slow
def test_train_json_prints_one_result_object(trained: tuple[dict[str, Any], Path, str]) -> None:
    result, _, stderr = trained
    assert "Traceback" not in stderr
    assert result["dataset"] == "digits"
    assert result["status"] == "completed"
    assert result["schedule"] == [2, 1, 1, 0]  # linear from layer 1 at 2 down to layer 4 at 0
    assert result["epochs"] == result["epochs_run"] == 2
    assert result["num_samples"] == 1438  # all of digits' train split (1797 less the fixed 359 test)
    assert 0.1 < result["val_acc"] <= 1.0  # chance is 0.1
    assert isinstance(result["test_acc"], float) and 0.0 <= result["test_acc"] <= 1.0
    assert result["seconds"] > 0
    assert "history" not in result and "config" not in result
    # What each layer became: layer 1 stayed a convolution, the others are attention (schedule 2,1,1,0).
    assert [layer["mode"] for layer in result["layers"]] == ["conv", "attention", "attention", "attention"]
    assert result["layers"][0] == {"mode": "conv", "attention_distance": None, "tap_mass": None}
    for layer in result["layers"][1:]:
        assert set(layer) == {"mode", "attention_distance", "tap_mass"}
        assert 0.0 < layer["tap_mass"] < 1.0 and layer["attention_distance"] > 0.0


@pytest.mark.slow
def test_train_save_writes_a_loadable_checkpoint(trained: tuple[dict[str, Any], Path, str], data_dir: Path) -> None:
    result, save, _ = trained
    model, meta = load_model(save)
    # Schedule (2, 1, 1, 0) over 2 epochs: layer 1 stayed a convolution, the others became attention.
    assert model.attention_layers() == (False, True, True, True)
    assert meta["dataset"] == "digits" and meta["schedule"] == [2, 1, 1, 0]
    assert meta["test_acc"] == result["test_acc"]
    # The rebuilt model computes the trained model's logits: it scores exactly the reported test accuracy.
    splits = make_splits(load_dataset("digits", data_dir), seed=0)
    _, test_acc = evaluate(model, splits.test, splits, torch.device("cpu"))
    assert test_acc == result["test_acc"]


def one_error_line(code: int | str | None, stderr: str) -> str:
    assert code == 2, (code, stderr)
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ") and len(lines[0]) > len("error: ")
    return lines[0]


def run_main(args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> tuple[Any, str]:
    """`main()` in this process (torch already imported: fast), exactly as the console script calls it."""
    monkeypatch.setattr(sys, "argv", ["prs-search", *args])
    with pytest.raises(SystemExit) as done:
        main()
    return done.value.code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["train", "--dataset", "mnist"], "unknown dataset 'mnist'"),
        (["train", "--model", "tiny", "--schedule", "1,2"], "has 2 switch epochs but the model has 4 layers"),
        (["train", "--schedule", "linear:x"], "cannot read schedule 'linear:x'"),
        (["train", "--epochs", "0"], "--epochs"),
        (["train", "--model", "huge"], "unknown model preset 'huge'"),
        (["train", "--stem", "pixels"], "unknown stem 'pixels'"),
        (["train", "--no-such-option"], "No such option: --no-such-option"),
        (["train", "--fraction", "0"], "fraction"),
        (["train", "--fraction", "0.5", "--num-samples", "100"], "either --fraction or --num-samples"),
        (["train", "--dataset", "cifar100"], "--download"),
        (["train", "--batch-size", "zero"], "--batch-size"),
        (["no-such-command"], "no-such-command"),
    ],
    ids=[
        "unknown-dataset", "wrong-length", "bad-linear", "zero-epochs", "unknown-model", "unknown-stem",
        "unknown-option", "zero-fraction", "fraction-and-num-samples", "cifar-missing", "not-an-int",
        "unknown-command",
    ],
)  # fmt: skip
def test_user_errors_are_one_line_and_exit_code_2(
    args: list[str],
    expected: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if args[0] == "train":  # an empty data dir: nothing downloaded, nothing to find
        args = [*args, "--data-dir", str(tmp_path)]
    code, stderr = run_main(args, monkeypatch, capsys)
    assert expected in one_error_line(code, stderr)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--save", "{tmp}"], "is a folder: give the file to write, e.g. --save {tmp}/model.pt"),
        (["--save", "{file}/model.pt"], "--save: {file} is a file, not a folder"),
    ],
    ids=["a-folder", "under-a-file"],
)
def test_train_save_is_checked_before_training(
    args: list[str], expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "a-file"
    file.write_text("")
    args = ["train", "--model", "tiny", "--epochs", "1", *(a.format(tmp=tmp_path, file=file) for a in args)]
    code, stderr = run_main(args, monkeypatch, capsys)
    assert expected.format(tmp=tmp_path, file=file) in one_error_line(code, stderr)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["train", "--no-such-option"], "No such option"),
        (["train", "--dataset", "cifar100", "--fraction", "0.5"], "--download"),  # long: must not wrap
    ],
)
def test_console_script_user_errors_end_to_end(args: list[str], expected: str, tmp_path: Path) -> None:
    proc = run_cli(*args, data_dir=tmp_path)
    assert expected in one_error_line(proc.returncode, proc.stderr)
    assert proc.stdout == ""


def test_no_arguments_shows_usage_without_an_empty_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["prs-search"])
    with pytest.raises(SystemExit):
        main()
    out, err = capsys.readouterr()
    assert "Usage" in out + err
    assert not [line for line in err.splitlines() if line.strip() == "error:"]


def test_help_mentions_every_train_option(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "argv", ["prs-search", "train", "--help"])
    monkeypatch.setenv("COLUMNS", "200")  # a wide help table: option names and forms not cut
    try:
        main()  # click returns after printing the help when not in standalone mode
    except SystemExit as done:
        assert done.code in (0, None)
    stdout = capsys.readouterr().out
    options = [
        "--dataset", "--schedule", "--epochs", "--model", "--stem", "--fraction", "--num-samples",
        "--batch-size", "--lr", "--seed", "--data-dir", "--download", "--save", "--json",
    ]  # fmt: skip
    missing = [opt for opt in options if opt not in stdout]
    assert not missing, stdout
    for form in ("linear:FIRST,LAST", "uniform:E", "all-conv", "all-attention"):
        assert form in stdout


@pytest.mark.parametrize("command", ["run", "train"])
def test_the_default_model_is_small(
    command: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`small` unless told: `run`, `train`, `POST /v1/searches` (SearchRequest) and a trial's config."""
    assert TrainConfig().model == SearchRequest.model_fields["model"].default == "small"
    monkeypatch.setattr(sys, "argv", ["prs-search", command, "--help"])
    monkeypatch.setenv("COLUMNS", "200")  # the option's line whole, its default on it
    try:
        main()
    except SystemExit as done:
        assert done.code in (0, None)
    (line,) = [line for line in capsys.readouterr().out.splitlines() if "--model" in line]
    assert "[default: small]" in line


def test_train_model_tiny_still_trains_the_four_layer_preset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["train", "--model", "tiny", "--num-samples", "100", "--epochs", "1", "--schedule", "1,1,0,0", "--json"]
    monkeypatch.setattr(sys, "argv", ["prs-search", *args, "--data-dir", str(tmp_path)])
    main()  # success returns; only errors and --help exit
    (line,) = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    result = json.loads(line)
    assert result["status"] == "completed" and result["schedule"] == [1, 1, 0, 0]
    assert [layer["mode"] for layer in result["layers"]] == ["conv", "conv", "attention", "attention"]
