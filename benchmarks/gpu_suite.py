"""Every GPU figure issue 15 asks for, in one prepared run that writes them as JSON and Markdown.

On a GPU machine with the project installed (`make setup`; the suite needs about 600 s):

    python benchmarks/gpu_suite.py --out OUT/gpu

Its rehearsal on the CPU, the same code paths at tiny sizes (about 95 s of CPU time; tests/test_gpu_suite.py runs it):

    python benchmarks/gpu_suite.py --smoke --out /tmp/gpu-smoke

Sections, in the order they run, with their budget and the estimate of their time on one H100/H200
(the suite's total budget, `--total-budget`, is 480 s on the GPU; a section gets at most what is left of it;
start-up comes on top, so a 600 s limit fits it):

    section             budget        estimate   what
    throughput          60 s          ~40 s      throughput.py, eager, bf16: cifar_s, cifar_m, tiny in conv,
                                                 attention and PRS mix beside timm's ViT twin, batch 256 and 512:
                                                 images/s, MFU, ratio to timm
    epoch_time          60 s          ~35 s      epoch_time.py: cifar_s on 50,000 synthetic 32x32 images at batch
                                                 256, and at the search space's batch (32) on 10,000 images scaled
                                                 to 50,000: s/epoch and the 100-epoch `prs` trial
    search              160 s         ~140 s     packed_search.py: real searches (local Ray, SQLite), cifar_s, 5,000
                                                 images, 2 epochs, 1/2/4/8 trials per GPU, 2 rounds each:
                                                 trials/hour, GPU busy % sampled with nvidia-smi
    extrapolation       20 s          ~2 s       `prs-search run --dataset cifar100 --budget 200` (cifar_s, 100
                                                 epochs) in GPU-hours, from the two above
    pytest_gpu          60 s          ~30 s      `pytest -m gpu`: pass/fail counts
    throughput_compile  rest, <=170 s ~45 s per  as throughput with `--compile` (cold Inductor); the (preset,
                                      group      batch) groups that no longer fit are recorded as skipped

A section runs in its own process (a CUDA error or a hung Ray cannot take the others down) and writes its
figures after every measurement, so one stopped at its budget keeps what it measured; a section that fails
records its error and the suite goes on. `--out DIR` receives `results.json` (every figure, the device, the
versions, the date), `results.md` (the same as tables, rendered by benchmarks/gpu_report.py) and `log.txt`
(the sections' output), rewritten after every section. The checkout is made importable first: a tree only
put on PYTHONPATH lacks `prs_search.search_spaces` (see `importable`). `--sections a,b` reruns a subset,
e.g. `--sections throughput_compile` if device time is left.

`--smoke` runs `tiny` only, batch 8 and 16, one step, Dynamo with the `aot_eager` backend (tracing without
Inductor's C++ build, which takes minutes on the CPU), a 2-trial 1-epoch search at packing 1 and 2
(`--cpus-per-trial 2/k`), and `pytest -m gpu` (collected; it skips without CUDA). Its budgets (900 s in
all) are ceilings for a busy CI machine, not its expected time.
"""

import argparse
import contextlib
import functools
import importlib.metadata
import importlib.util
import json
import math
import os
import platform
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS_JSON, RESULTS_MD, LOG = "results.json", "results.md", "log.txt"
CIFAR_TRAIN = 50_000  # CIFAR-100's training images: what the epoch figures are scaled to
TRIAL_GOAL_S, GPU_HOURS_GOAL = 60.0, 1.0  # issue 15's goals: a 100-epoch cifar_s trial, the budget-200 search
KILL_GRACE_S = 15.0  # past its budget a section has this long to notice its deadline before it is stopped
MIN_SECTION_S = 5.0  # less left than this of the total: the section is skipped, not started


GPU_TIMES = {
    "throughput": (60, 40), "epoch_time": (60, 35), "search": (160, 140), "extrapolation": (20, 2),
    "pytest_gpu": (60, 30), "throughput_compile": (170, 150),
}  # fmt: skip
# Ceilings for a busy CI machine, not the expected times (the estimates).
SMOKE_TIMES = {
    "throughput": (120, 15), "epoch_time": (120, 10), "search": (360, 60), "extrapolation": (30, 1),
    "pytest_gpu": (150, 10), "throughput_compile": (200, 25),
}  # fmt: skip


@dataclass(frozen=True)
class Sizes:
    """What each section measures, and its time budget (s); the GPU run and the CPU smoke differ only here."""

    presets: tuple[str, ...]
    batches: tuple[int, ...]
    steps: int
    rounds: int
    compile_backend: str | None  # None: torch.compile's default (Inductor)
    epoch_model: str
    epoch_runs: tuple[tuple[int | None, int], ...]  # (batch, training images); batch None: the search space's
    epoch_repeats: int
    epoch_test: int
    trial_epochs: int  # E of the extrapolated trial and search
    search_model: str
    search_samples: int
    search_epochs: int
    packings: tuple[int, ...]
    search_rounds: int  # trials per packing slot: a packing of k runs max(k * rounds, min_trials) trials
    search_min_trials: int
    search_budget: int  # the budget of the extrapolated `prs-search run`
    total: float
    times: dict[str, tuple[float, float]]  # per section: (budget, estimate), seconds


GPU = Sizes(
    presets=("cifar_s", "cifar_m", "tiny"),  # the goals' preset first: a short budget still measures it
    batches=(256, 512),
    steps=10,
    rounds=3,
    compile_backend=None,
    epoch_model="cifar_s",
    epoch_runs=((256, CIFAR_TRAIN), (None, 10_000)),  # at batch 32 a step costs the same at any data size
    epoch_repeats=1,
    epoch_test=1000,
    trial_epochs=100,
    search_model="cifar_s",
    search_samples=5000,
    search_epochs=2,
    packings=(1, 2, 4, 8),
    search_rounds=2,
    search_min_trials=2,
    search_budget=200,
    total=480.0,
    times=GPU_TIMES,
)
# The same code paths at the smallest sizes that still run every branch (two batches, two packings).
SMOKE = replace(
    GPU, presets=("tiny",), batches=(8, 16), steps=1, rounds=1, compile_backend="aot_eager", epoch_model="tiny",
    epoch_runs=((16, 128), (None, 128)), epoch_test=64, search_model="tiny", search_samples=300, search_epochs=1,
    packings=(1, 2), search_rounds=1, total=900.0, times=SMOKE_TIMES,
)  # fmt: skip


class Recorder:
    """One section's figures, rewritten to its JSON file after every change: a section stopped at its
    budget leaves what it had measured."""

    def __init__(self, path: Path, deadline: float) -> None:
        self.path, self.deadline = path, deadline
        self.data: dict[str, Any] = {}

    def put(self, key: str, value: Any) -> None:
        self.data[key] = value
        self._save()

    def add(self, key: str, value: Any) -> None:
        self.data.setdefault(key, []).append(value)
        self._save()

    def measure_each(self, items: Iterable[tuple[str, Callable[[], None]]]) -> None:
        """Run each (name, measure) in turn while it still fits before the deadline, judged by how long the
        one before took; the rest are recorded as skipped. A failure is recorded with its name and the
        next one follows."""
        last = 0.0
        for what, measure in items:
            if time.time() + last >= self.deadline:
                self.add("skipped", f"{what}: out of time")
                continue
            start = time.time()
            try:
                measure()
            except Exception as err:
                traceback.print_exc()
                self.add("errors", {"item": what, "error": f"{type(err).__name__}: {err}"})
            last = time.time() - start
            print(f"{self.path.stem} {what}: {last:.1f} s")

    def _save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(finite(self.data), indent=1))
        tmp.replace(self.path)  # atomic: the suite never reads half a file


def finite(value: Any) -> Any:
    """`value` with NaN and infinities as None (JSON has neither)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


@contextlib.contextmanager
def compile_backend(backend: str | None) -> Iterator[None]:
    """Every `nn.Module.compile()` inside uses `backend`: the smoke traces with Dynamo and AOTAutograd as the
    GPU run does, without Inductor's C++ build (minutes on the CPU). `compile_blocks` takes no backend, and a
    copy of it here would drift from the trainer's."""
    if backend is None:
        yield
        return
    from torch import nn

    original = nn.Module.compile

    def compile_with(self: nn.Module, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **{"backend": backend, **kwargs})

    nn.Module.compile = compile_with  # type: ignore[method-assign]
    try:
        yield
    finally:
        nn.Module.compile = original  # type: ignore[method-assign]


# -- the sections (each runs in a child process; imports are local so a child loads only what it needs) ----


def throughput_section(rec: Recorder, sizes: Sizes, compile_models: bool = False) -> None:
    import torch
    from throughput import describe_device, device_peak, preset_throughput

    from prs_search.train import default_device

    device = default_device()
    peak = device_peak(device, None)
    backend = (sizes.compile_backend or "inductor") if compile_models else None
    precision = "bf16 autocast" if device.type == "cuda" else "float32"
    rec.put(
        "config",
        {"device": describe_device(device), "peak_tflops": peak, "steps": sizes.steps, "rounds": sizes.rounds,
         "compile": compile_models, "backend": backend, "precision": precision, "stem": "patch"},
    )  # fmt: skip

    def measure(preset: str, batch: int) -> None:
        if compile_models:
            # Static graphs per (preset, batch), as a trial compiles them: without a reset the second batch
            # size would recompile the blocks with a dynamic batch dimension.
            torch._dynamo.reset()
        rows = preset_throughput(preset, device, batch, sizes.steps, sizes.rounds, compile_models, convs=("shift",))
        for row in rows:
            rec.add("rows", {**asdict(row), "batch": batch, "tflops": row.tflops, "mfu": row.mfu(peak)})
        rate = {row.mode: row.images_per_s for row in rows}
        rec.add(
            "checks",
            {"preset": preset, "batch": batch, "attention_vs_timm": rate["attention"] / rate["timm ViT"],
             "conv_vs_attention": rate["conv"] / rate["attention"]},
        )  # fmt: skip

    groups = [(p, b) for b in sizes.batches for p in sizes.presets]
    with compile_backend(sizes.compile_backend if compile_models else None):
        rec.measure_each((f"{p} batch {b}", functools.partial(measure, p, b)) for p, b in groups)


def throughput_compile_section(rec: Recorder, sizes: Sizes) -> None:
    throughput_section(rec, sizes, compile_models=True)


def epoch_time_section(rec: Recorder, sizes: Sizes) -> None:
    import yaml
    from epoch_time import MIX_EPOCHS, cifar_sized_splits, full_trial_seconds, time_modes

    from prs_search.recipe import TrainConfig
    from prs_search.search_request import SearchRequest
    from prs_search.search_spaces import builtin_spaces
    from prs_search.train import default_device

    space = SearchRequest.model_fields["space"].default
    # The space file's own `train:` table, read without importing prs_search.search (Ray, Optuna: ~9 s here).
    train = yaml.safe_load(builtin_spaces()[space].read_text()).get("train", {})
    space_batch = int(train.get("batch_size", TrainConfig().batch_size))
    rec.put(
        "config",
        {"device": str(default_device()), "model": sizes.epoch_model, "schedule": "prs", "space": space,
         "space_batch": space_batch, "repeats": sizes.epoch_repeats, "trial_epochs": sizes.trial_epochs},
    )  # fmt: skip

    def measure(batch: int, images: int) -> None:
        splits = cifar_sized_splits(images, num_test=sizes.epoch_test)
        config = TrainConfig(model=sizes.epoch_model, batch_size=batch)
        modes = time_modes(config, splits, MIX_EPOCHS, sizes.epoch_repeats)
        # Per epoch a batch of this size costs the same at any data size: scale to CIFAR-100's 50,000.
        scale = CIFAR_TRAIN / len(splits.train)
        depth = modes[1].attention_layers  # the all-attention mode has every layer switched
        trial = full_trial_seconds(modes[0].mean, modes[1].mean, depth, sizes.trial_epochs) * scale
        rec.add(
            "runs",
            {"batch": batch, "space_batch": batch == space_batch, "train_images": len(splits.train),
             "scale_to_50k": scale, "modes": [{**asdict(m), "s_per_epoch_50k": m.mean * scale} for m in modes],
             "trial_epochs": sizes.trial_epochs, "trial_seconds_50k": trial, "goal_trial_seconds": TRIAL_GOAL_S},
        )  # fmt: skip

    runs = [(batch or space_batch, images) for batch, images in sizes.epoch_runs]
    rec.measure_each((f"batch {b} on {n} images", functools.partial(measure, b, n)) for b, n in runs)


def search_section(rec: Recorder, sizes: Sizes) -> None:
    import torch
    from packed_search import SPACE, run_packed

    gpu = torch.cuda.is_available()
    rec.put(
        "config",
        {"model": sizes.search_model, "num_samples": sizes.search_samples, "epochs": sizes.search_epochs,
         "space": SPACE, "asha": False, "confirm_top": 0, "store": "SQLite", "ray": "local",
         "busy": "nvidia-smi utilization.gpu" if gpu else "psutil CPU % of all cores", "cpus": os.cpu_count()},
    )  # fmt: skip

    def measure(k: int) -> None:
        trials = max(k * sizes.search_rounds, sizes.search_min_trials)
        with tempfile.TemporaryDirectory() as tmp:
            run = run_packed(
                k, budget=trials, model=sizes.search_model, num_samples=sizes.search_samples,
                epochs=sizes.search_epochs, compile=False, gpu=gpu, folder=Path(tmp),
            )  # fmt: skip
        rec.add("packings", {**asdict(run), "budget": trials, "trials_per_hour": run.trials_per_hour})

    rec.measure_each((f"packing {k}", functools.partial(measure, k)) for k in sizes.packings)


def asha_expected_epochs(max_t: int, grace: int, reduction_factor: int) -> float:
    """Epochs a trial trains on average under ASHA if each rung passes on 1 / reduction_factor of the trials
    that reach it (ideal halving: asynchronous ASHA passes more while its rungs fill). The rungs are where
    Ray's ASHAScheduler puts them: grace * rf**i, as many as fit below max_t."""
    count = int(math.log(max_t / grace) / math.log(reduction_factor) + 1)
    rungs = [r for r in (grace * reduction_factor**i for i in range(count)) if r < max_t]
    epochs, reach, previous = 0.0, 1.0, 0
    for rung in rungs:
        epochs += reach * (rung - previous)
        reach, previous = reach / reduction_factor, rung
    return epochs + reach * (max_t - previous)


def extrapolation_section(rec: Recorder, sizes: Sizes) -> None:
    from prs_search.search_request import SearchRequest

    work = rec.path.parent
    runs = read_json(work / "epoch_time.json").get("runs", [])
    packings = [p for p in read_json(work / "search.json").get("packings", []) if p["trials"]]
    if not runs:
        raise RuntimeError("no epoch_time figure to extrapolate from")
    defaults = {name: info.default for name, info in SearchRequest.model_fields.items()}
    epochs, budget, rf = sizes.trial_epochs, sizes.search_budget, defaults["reduction_factor"]
    grace = max(1, epochs // 4)  # the driver's default grace period (prs_search.search.driver._fit): E/4
    expected = asha_expected_epochs(epochs, grace, rf)
    # After the budget the best confirm_top trials and the PRS default are retrained with confirm_seeds seeds.
    confirm_runs = (defaults["confirm_top"] + 1) * defaults["confirm_seeds"]
    rates = {p["packing"]: p["trials_per_hour"] for p in packings}
    best = max(rates, key=rates.__getitem__) if rates else 1
    speedup = rates[best] / rates[1] if 1 in rates else 1.0
    rec.put(
        "method",
        "GPU-hours = (budget x ASHA's expected epochs per trial + finalist re-runs x E) x s/epoch (50,000 images, "
        "mean over the prs schedule, training steps) / packing speedup (best trials/hour over 1 trial per GPU, "
        "from the search section) / 3600. Excludes validation passes, Ray's start and per-trial hand-over; "
        "the no-pruning figure bounds ASHA's asynchronous promotions from above.",
    )
    rec.put(
        "inputs",
        {"budget": budget, "epochs": epochs, "grace_period": grace, "reduction_factor": rf,
         "asha_expected_epochs": expected, "asha_fraction": expected / epochs, "confirm_runs": confirm_runs,
         "best_packing": best, "packing_speedup": speedup, "packing_measured": 1 in rates},
    )  # fmt: skip
    trial_epochs = budget * expected + confirm_runs * epochs
    for run in runs:
        s_per_epoch = run["trial_seconds_50k"] / run["trial_epochs"]
        command = (
            f"prs-search run --dataset cifar100 --budget {budget} --model {sizes.epoch_model} --epochs {epochs} "
            f"--gpus-per-trial {1 / best:g}"
        )
        rec.add(
            "estimates",
            {"command": command, "batch": run["batch"], "space_batch": run["space_batch"], "s_per_epoch": s_per_epoch,
             "trial_epochs_total": trial_epochs, "gpu_hours": trial_epochs * s_per_epoch / speedup / 3600,
             "gpu_hours_no_pruning": (budget + confirm_runs) * epochs * s_per_epoch / speedup / 3600,
             "goal_gpu_hours": GPU_HOURS_GOAL},
        )  # fmt: skip


def gpu_test_files() -> list[str]:
    """The test files that mark tests `gpu`. Collecting only these keeps `pytest -m gpu` from importing the
    whole suite: seconds here, and on the device machine modules whose test-only dependencies its image
    lacks (schemathesis) would count as collection errors."""
    marked = (path for path in sorted((ROOT / "tests").rglob("test_*.py")) if "mark.gpu" in path.read_text())
    return [str(path.relative_to(ROOT)) for path in marked]


def pytest_section(rec: Recorder, sizes: Sizes) -> None:
    report = rec.path.with_suffix(".xml")
    files = gpu_test_files()  # none found: the whole tree, as a plain `pytest -m gpu` does
    arguments = ["-m", "gpu", "-q", "-p", "no:cacheprovider", "--continue-on-collection-errors", *files]
    rec.put("command", " ".join(["pytest", *arguments]))
    # -P: no working directory on sys.path, so prs_search is the importable one the suite set up (see importable()).
    command = [sys.executable, "-P", "-m", "pytest", *arguments, f"--junitxml={report}"]
    try:
        done = subprocess.run(
            command, cwd=ROOT, capture_output=True, text=True, timeout=max(1.0, rec.deadline - time.time())
        )
    except subprocess.TimeoutExpired as err:
        output = err.stdout.decode(errors="replace") if isinstance(err.stdout, bytes) else err.stdout or ""
        print(output)
        raise RuntimeError(f"pytest ran past the section's budget ({err.timeout:.0f} s)") from None
    print(done.stdout, done.stderr)
    rec.put("returncode", done.returncode)
    rec.put("tail", done.stdout.strip().splitlines()[-5:])
    if not report.exists():
        raise RuntimeError(f"pytest wrote no report (exit {done.returncode}): {done.stderr.strip()[-500:]}")
    rec.put("counts", junit_counts(report))
    if done.returncode not in (0, 1):  # 1: tests failed, which the counts say; anything else: pytest itself
        raise RuntimeError(f"pytest exited with {done.returncode}")


def junit_counts(report: Path) -> dict[str, Any]:
    root = ET.parse(report).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    total = {key: sum(int(s.get(key, 0)) for s in suites) for key in ("tests", "failures", "errors", "skipped")}
    failing = [
        f"{case.get('classname')}::{case.get('name')}"
        for case in root.iter("testcase")
        if case.find("failure") is not None or case.find("error") is not None
    ]
    passed = total["tests"] - total["failures"] - total["errors"] - total["skipped"]
    return {"passed": passed, **total, "failing": failing}


SECTIONS: dict[str, tuple[str, Callable[[Recorder, Sizes], None]]] = {
    "throughput": ("Train-step throughput, eager", throughput_section),
    "epoch_time": ("Seconds per epoch, CIFAR-100-sized", epoch_time_section),
    "search": ("Packed real search", search_section),
    "extrapolation": ("prs-search run --dataset cifar100 --budget 200, extrapolated", extrapolation_section),
    "pytest_gpu": ("pytest -m gpu", pytest_section),
    "throughput_compile": ("Train-step throughput, --compile", throughput_compile_section),
}


# -- the driver -----------------------------------------------------------------------------------------------


def read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def importable(work: Path, env: dict[str, str]) -> str:
    """Make `prs_search` whole for the children; returns how.

    A checkout only put on PYTHONPATH (the device machine) lacks `prs_search.search_spaces` and
    `prs_search.api`, which pyproject.toml maps from top-level folders: the search cannot load a space. A
    copy installed into the work folder has them, and goes first on the children's PYTHONPATH.
    """
    with contextlib.suppress(ModuleNotFoundError):
        if importlib.util.find_spec("prs_search.search_spaces") is not None:
            return "installed"
    site = work / "site"
    command = [
        sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index",
        "--no-compile", "--target", str(site), str(ROOT),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=180)
    if done.returncode != 0:
        raise RuntimeError(f"pip install --target {site} failed: {done.stderr.strip()[-400:]}")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(site), env.get("PYTHONPATH")) if p)
    return f"copy installed for this run ({site})"


def environment() -> dict[str, Any]:
    import torch

    cuda = torch.cuda.is_available()
    names = ("torch", "timm", "ray", "optuna", "sqlalchemy", "fastapi", "numpy", "pytest")
    versions = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    smi = None
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        query = ["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"]
        smi = subprocess.run(query, capture_output=True, text=True, timeout=20, check=True).stdout.strip()
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "device": torch.cuda.get_device_name(0) if cuda else f"CPU ({os.cpu_count()} cores, no CUDA)",
        "cuda": torch.version.cuda if cuda else None,
        "gpus": torch.cuda.device_count() if cuda else 0,
        "nvidia_smi": smi,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "versions": versions,
    }


def stop(process: subprocess.Popen[bytes]) -> None:
    """End a section's process group (it and Ray's processes): TERM, then KILL if it lingers."""
    for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 10.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=wait)
            return


def run_section(
    name: str, sizes: Sizes, smoke: bool, work: Path, end: float, env: dict[str, str], log: Path
) -> dict[str, Any]:
    title = SECTIONS[name][0]
    planned, estimate = sizes.times[name]
    budget = min(planned, end - time.time())
    entry: dict[str, Any] = {"title": title, "budget_s": budget, "estimate_s": estimate, "seconds": 0.0, "error": None}
    if budget < MIN_SECTION_S:
        return {**entry, "status": "skipped", "error": "no time left in the suite's total budget", "figures": {}}
    deadline = f"{time.time() + budget}"
    command = [sys.executable, __file__, "--section", name, "--work", str(work), "--deadline", deadline]
    command += ["--smoke"] if smoke else []
    start = time.time()
    with log.open("a") as out:
        out.write(f"\n===== {name} (budget {budget:.0f} s) =====\n")
        out.flush()
        # Its own process group: a timed-out section is stopped with everything it started (Ray among it).
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:
            returncode: int | None = process.wait(timeout=budget + KILL_GRACE_S)
        except subprocess.TimeoutExpired:
            stop(process)
            returncode = None
    figures = read_json(work / f"{name}.json")
    error = figures.pop("error", None)
    entry.update(seconds=time.time() - start, figures=figures)
    item_errors = "; ".join(f"{e['item']}: {e['error']}" for e in figures.get("errors", []))
    if returncode is None:
        status, error = "timeout", f"ran past its budget of {budget:.0f} s and was stopped (figures so far kept)"
    elif returncode != 0 or error:
        status, error = "error", error or f"exited with {returncode} (see {LOG})"
    elif item_errors:
        status, error = "partial", item_errors
    else:
        status = "partial" if figures.get("skipped") else "ok"
    return {**entry, "status": status, "error": error}


def write(out: Path, results: dict[str, Any]) -> None:
    from gpu_report import markdown  # beside this file; a section's process never needs it

    for name, text in ((RESULTS_JSON, json.dumps(finite(results), indent=1)), (RESULTS_MD, markdown(results))):
        tmp = out / f".{name}.tmp"
        tmp.write_text(text + "\n")
        tmp.replace(out / name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, help="folder for results.json, results.md and log.txt")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes on the CPU: the same code paths")
    parser.add_argument("--total-budget", type=float, default=None, help="seconds (default: 480 GPU, 900 smoke)")
    parser.add_argument("--sections", default=",".join(SECTIONS), help="a subset, comma-separated (a rerun)")
    parser.add_argument("--section", help=argparse.SUPPRESS)  # the suite runs each section as a child
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--deadline", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = SMOKE if args.smoke else GPU
    if args.section:
        return child(args.section, sizes, args.work, args.deadline)
    if args.out is None:
        parser.error("--out DIR is required")
    names = [n.strip() for n in args.sections.split(",") if n.strip()]
    if unknown := set(names) - set(SECTIONS):
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}; known: {', '.join(SECTIONS)}")
    args.out.mkdir(parents=True, exist_ok=True)
    total = args.total_budget or sizes.total
    started = time.time()
    end = started + total
    log = args.out / LOG
    log.write_text("")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    results: dict[str, Any] = {
        "suite": {
            "mode": "smoke" if args.smoke else "gpu", "command": shlex.join(sys.argv),
            "started": datetime.now(UTC).isoformat(timespec="seconds"), "total_budget_s": total,
            "sizes": finite(asdict(sizes)),
        },
        "sections": {},
    }  # fmt: skip
    results["environment"] = environment()
    if not args.smoke and results["environment"]["gpus"] == 0:
        print("gpu_suite: no CUDA device; the GPU sizes will mostly run out of time here (use --smoke)")
    with tempfile.TemporaryDirectory(prefix="gpu-suite-") as tmp:
        work = Path(tmp)
        try:
            results["suite"]["prs_search"] = importable(work, env)
        except (OSError, RuntimeError, subprocess.SubprocessError) as err:
            results["suite"]["prs_search"] = f"not made importable: {err}"  # the sections that need it say so
        for name in names:
            entry = run_section(name, sizes, args.smoke, work, end, env, log)
            results["sections"][name] = entry
            results["suite"]["seconds"] = time.time() - started
            write(args.out, results)
            print(
                f"gpu_suite: {name}: {entry['status']} in {entry['seconds']:.1f} s (budget {entry['budget_s']:.0f} s)"
            )
            if entry["error"]:
                print(f"    {entry['error']}")
    results["suite"]["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    write(args.out, results)
    print((args.out / RESULTS_MD).read_text())
    return 0


def child(name: str, sizes: Sizes, work: Path, deadline: float) -> int:
    rec = Recorder(work / f"{name}.json", deadline)
    start = time.time()
    try:
        SECTIONS[name][1](rec, sizes)
    except Exception as err:
        traceback.print_exc()
        rec.put("error", f"{type(err).__name__}: {err}")
        return 1
    finally:
        print(f"{name}: {time.time() - start:.1f} s, {deadline - time.time():.0f} s of its budget left")
    return 0


if __name__ == "__main__":
    sys.exit(main())
