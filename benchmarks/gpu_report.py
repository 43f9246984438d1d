"""The GPU suite's results as Markdown: a table per section from the figures in its results.json.

benchmarks/gpu_suite.py writes results.md with `markdown` after every section. Run alone, this re-renders a
results.json, e.g. one fetched from the device machine after a renderer changed (no device time needed):

    python benchmarks/gpu_report.py OUT/gpu/results.json > OUT/gpu/results.md
"""

import contextlib
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


def fmt(value: Any, spec: str = ".1f", scale: float = 1.0, suffix: str = "") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{value * scale:{spec}}{suffix}"


def table(headers: list[str], rows: list[list[str]]) -> list[str]:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(" ".join(c.replace("|", "/").split()) for c in cells) + " |"  # one line per row

    return [line(headers), "|" + "---|" * len(headers)] + [line(row) for row in rows] + [""] if rows else []


def throughput_md(figures: dict[str, Any]) -> list[str]:
    rows = [
        [r["preset"], str(r["batch"]), r["mode"], fmt(r["images_per_s"], ",.0f"), fmt(r["spread"], ".0f", 100, "%"),
         fmt(r["flops_per_image"], ".3f", 1e-9), fmt(r["tflops"], ".2f"), fmt(r["mfu"], ".1f", 100, "%"),
         fmt(r["vs_timm"], ".2f", suffix="x")]
        for r in figures.get("rows", [])
    ]  # fmt: skip
    checks = [
        [c["preset"], str(c["batch"]), fmt(c["attention_vs_timm"], ".2f", suffix="x"),
         fmt(c["conv_vs_attention"], ".2f", suffix="x")]
        for c in figures.get("checks", [])
    ]  # fmt: skip
    head = ["preset", "batch", "mode", "images/s", "spread", "GFLOP/img", "TFLOP/s", "MFU", "vs timm"]
    return table(head, rows) + table(
        ["preset", "batch", "attention / timm (goal >= 1.0)", "conv / attention (goal >= 1.5)"], checks
    )


def epoch_time_md(figures: dict[str, Any]) -> list[str]:
    rows, trials = [], []
    for run in figures.get("runs", []):
        batch = f"{run['batch']}{' (space)' if run['space_batch'] else ''}"
        for m in run["modes"]:
            rows.append(
                [batch, f"{run['train_images']:,}", m["label"], f"{m['mean']:.3f} ± {m['sd']:.3f}",
                 fmt(m["images_per_s"], ",.0f"), fmt(m["s_per_epoch_50k"], ".3f")]
            )  # fmt: skip
        trials.append(
            [batch, str(run["trial_epochs"]), fmt(run["trial_seconds_50k"]), fmt(run["goal_trial_seconds"], ".0f")]
        )
    head = ["batch", "train images", "mode", "s/epoch", "images/s", "s/epoch at 50,000"]
    return table(head, rows) + table(["batch", "epochs", "prs trial s (50,000 images)", "goal s"], trials)


def search_md(figures: dict[str, Any]) -> list[str]:
    rows = [
        [str(p["packing"]), fmt(p["gpus_per_trial"], ".3g"), fmt(p["cpus_per_trial"], ".3g"),
         f"{p['trials']}/{p['budget']}", fmt(p["seconds"]), fmt(p["trials_per_hour"], ",.0f"), fmt(p["busy"]),
         fmt(p["busy_active"])]
        for p in figures.get("packings", [])
    ]  # fmt: skip
    head = [
        "trials at once",
        "GPUs/trial",
        "CPUs/trial",
        "trials",
        "wall s",
        "trials/hour",
        "busy %",
        "busy % training",
    ]
    return table(head, rows)


def extrapolation_md(figures: dict[str, Any]) -> list[str]:
    lines = [figures["method"], ""] if "method" in figures else []
    inputs = figures.get("inputs", {})
    if inputs:
        lines += table(
            ["input", "value"], [[k, fmt(v, ".3g") if isinstance(v, float) else str(v)] for k, v in inputs.items()]
        )
    rows = [
        [f"`{e['command']}`", f"{e['batch']}{' (space)' if e['space_batch'] else ''}", fmt(e["s_per_epoch"], ".3f"),
         fmt(e["trial_epochs_total"], ",.0f"), fmt(e["gpu_hours"], ".2f"), fmt(e["gpu_hours_no_pruning"], ".2f"),
         fmt(e["goal_gpu_hours"], ".1f")]
        for e in figures.get("estimates", [])
    ]  # fmt: skip
    head = ["search", "batch", "s/epoch", "trial-epochs", "GPU-hours", "no pruning", "goal"]
    return lines + table(head, rows)


def pytest_md(figures: dict[str, Any]) -> list[str]:
    counts = figures.get("counts")
    if not counts:
        return []
    row = [str(counts[k]) for k in ("passed", "failures", "errors", "skipped")] + [str(figures.get("returncode"))]
    lines = table(["passed", "failed", "errors", "skipped", "exit"], [row])
    return lines + [f"- failing: `{name}`" for name in counts["failing"]] + ([""] if counts["failing"] else [])


RENDER: dict[str, Callable[[dict[str, Any]], list[str]]] = {
    "throughput": throughput_md, "throughput_compile": throughput_md, "epoch_time": epoch_time_md,
    "search": search_md, "extrapolation": extrapolation_md, "pytest_gpu": pytest_md,
}  # fmt: skip


def markdown(results: dict[str, Any]) -> str:
    env, suite, sections = results.get("environment", {}), results["suite"], results["sections"]
    lines = [f"# GPU suite ({suite['mode']}): {env.get('device', '?')}, {env.get('date', '?')}", ""]
    versions = ", ".join(f"{k} {v}" for k, v in env.get("versions", {}).items())
    smi = env.get("nvidia_smi") or "no nvidia-smi"
    lines += [f"Python {env.get('python')}, {versions}; CUDA {env.get('cuda')}; {smi}.", ""]
    total = f"{fmt(suite.get('seconds'))} s of a {suite['total_budget_s']:.0f} s budget"
    lines += [f"Total {total}; prs_search: {suite.get('prs_search')}.", ""]
    summary = [
        [name, s["status"], fmt(s["seconds"]), fmt(s["budget_s"], ".0f"), fmt(s["estimate_s"], ".0f"), s["error"] or ""]
        for name, s in sections.items()
    ]  # fmt: skip
    lines += table(["section", "status", "seconds", "budget s", "estimate s", "error"], summary)
    for name, s in sections.items():
        lines += [
            f"## {name}: {s['title']}",
            "",
            f"Status: {s['status']}" + (f": {s['error']}" if s["error"] else ""),
            "",
        ]
        with contextlib.suppress(KeyError, TypeError):  # a section stopped mid-row still shows its other figures
            lines += RENDER[name](s["figures"])
        lines += [f"- skipped: {what}" for what in s["figures"].get("skipped", [])]
    return "\n".join(lines)


def main() -> int:
    if len(sys.argv) != 2:
        print(f"usage: {sys.argv[0]} RESULTS_JSON", file=sys.stderr)
        return 2
    print(markdown(json.loads(Path(sys.argv[1]).read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
