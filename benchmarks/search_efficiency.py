"""Search efficiency: TPE + ASHA (prs-search's default) against random search + ASHA and random search
without early stopping, on the same space, budget and seeds.

    python benchmarks/search_efficiency.py --out benchmarks/search_efficiency         # digits, tiny, 3 repeats
    python benchmarks/search_efficiency.py --budget 16 --epochs 10 --repeats 5 --dataset mnist5k --fraction 0.25

Every run is a real `prs-search` search (local Ray, Optuna, its own SQLite file), finalists not re-evaluated
(`confirm_top=0`: the comparison is about the search itself). Compute is training seconds: the sum of every
trial's epoch times, in the order trials finished, so it does not depend on how many ran at once. For each
run: the best validation accuracy of a complete trial against cumulative compute; then the compute each
needs to reach random search's final best (the median over its repeats of random search without early
stopping). Writes search_efficiency.json, .md and .png to --out and prints the table.
"""

import argparse
import json
import statistics
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from prs_search.search import cluster, run_search
from prs_search.search_request import SearchJob
from prs_search.store import ResultsStore

METHODS = {  # label: (sampler, early stopping)
    "TPE + ASHA (ours)": ("tpe", True),
    "random + ASHA": ("random", True),
    "random, no early stopping": ("random", False),
}
REFERENCE = "random, no early stopping"


@dataclass(frozen=True)
class Run:
    method: str
    seed: int
    curve: list[tuple[float, float]]  # (cumulative training seconds, best complete val_acc so far)
    total_seconds: float
    final_best: float


def search_once(method: str, seed: int, args: argparse.Namespace, folder: Path) -> Run:
    sampler, early = METHODS[method]
    job = SearchJob(
        dataset=args.dataset, fraction=args.fraction, budget=args.budget, epochs=args.epochs, space=args.space,
        model="tiny", seed=seed, sampler=sampler, early_stopping=early, confirm_top=0, cpus_per_trial=1.0,
        max_concurrent=args.concurrent, name=f"{sampler}-{'asha' if early else 'fifo'}-{seed}",
        database_url=f"sqlite:///{folder / 'prs.db'}", storage_path=folder / "ray", data_dir=folder / "data",
    )  # fmt: skip
    run_search(job)
    with ResultsStore(job.database_url, migrate=False) as store:
        search = store.get_search(name_or_id=job.name or "")
        assert search is not None and search.status == "finished", search
        trials, _ = store.list_trials(search_id=search.id, limit=1000)
    trials.sort(key=lambda t: (t.finished_at or t.started_at, t.id))
    curve, spent, best = [], 0.0, 0.0
    for t in trials:
        spent += t.seconds
        if t.state == "COMPLETE" and t.val_acc is not None:
            best = max(best, t.val_acc)
        curve.append((spent, best))
    return Run(method, seed, curve, spent, best)


def seconds_to_reach(run: Run, target: float) -> float | None:
    return next((spent for spent, best in run.curve if best >= target), None)


def summarize(runs: list[Run]) -> tuple[float, list[dict[str, object]]]:
    target = statistics.median(r.final_best for r in runs if r.method == REFERENCE)
    reference_total = statistics.fmean(r.total_seconds for r in runs if r.method == REFERENCE)
    rows: list[dict[str, object]] = []
    for method in METHODS:
        mine = [r for r in runs if r.method == method]
        reached = [s for r in mine if (s := seconds_to_reach(r, target)) is not None]
        rows.append({
            "method": method, "repeats": len(mine),
            "final_best": statistics.fmean(r.final_best for r in mine),
            "final_best_sd": statistics.stdev(r.final_best for r in mine) if len(mine) > 1 else 0.0,
            "total_seconds": statistics.fmean(r.total_seconds for r in mine),
            "reached": len(reached),
            "seconds_to_target": statistics.fmean(reached) if reached else None,
            "fraction_of_random_compute": statistics.fmean(reached) / reference_total if reached else None,
        })  # fmt: skip
    return target, rows


def markdown(target: float, rows: list[dict[str, object]], args: argparse.Namespace) -> str:
    lines = [
        f"{args.dataset} (fraction {args.fraction}), `tiny`, space `{args.space}`, budget {args.budget}, "
        f"{args.epochs} epochs, {args.concurrent} trials at once, seeds 0..{args.repeats - 1}; target = random "
        f"search's median final best, {target:.4f}.",
        "",
        "| method | repeats | final best (mean ± sd) | training s (mean) | reached target | s to target (mean) "
        "| as share of random's compute |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        to_target = "-" if r["seconds_to_target"] is None else f"{r['seconds_to_target']:.0f}"
        share = "-" if r["fraction_of_random_compute"] is None else f"{r['fraction_of_random_compute']:.2f}"
        lines.append(
            f"| {r['method']} | {r['repeats']} | {r['final_best']:.4f} ± {r['final_best_sd']:.4f} | "
            f"{r['total_seconds']:.0f} | {r['reached']}/{r['repeats']} | {to_target} | {share} |"
        )
    return "\n".join(lines) + "\n"


def plot(runs: list[Run], target: float, path: Path) -> None:
    fig = Figure(figsize=(8, 4.5), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    colors = dict(zip(METHODS, ("tab:orange", "tab:blue", "tab:grey"), strict=True))
    lowest = target
    for method in METHODS:
        for i, run in enumerate(r for r in runs if r.method == method):
            points = [(spent, best) for spent, best in run.curve if best > 0]  # from its first complete trial
            if not points:
                continue
            xs, ys = zip(*points, strict=True)
            lowest = min(lowest, *ys)
            ax.step(xs, ys, where="post", color=colors[method], alpha=0.8, label=method if i == 0 else None)
    ax.set_ylim(lowest - 0.005, 1.0)  # the curves differ by a few images: zoom onto them
    ax.axhline(target, color="black", linestyle="--", linewidth=1, label="random search's median final best")
    ax.set_xlabel("cumulative training seconds")
    ax.set_ylabel("best validation accuracy (complete trials)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--fraction", type=float, default=1.0)
    parser.add_argument("--space", default="monotone")
    parser.add_argument("--budget", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--concurrent", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("search_efficiency"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    runs = []
    try:
        for seed in range(args.repeats):
            for method in METHODS:  # the methods take turns: a slow phase of the machine hits all alike
                with tempfile.TemporaryDirectory() as tmp:
                    runs.append(search_once(method, seed, args, Path(tmp)))
                print(f"{method}, seed {seed}: final best {runs[-1].final_best:.4f}, {runs[-1].total_seconds:.0f} s")
    finally:
        cluster.shutdown()
    target, rows = summarize(runs)
    table = markdown(target, rows, args)
    print(table)
    (args.out / "search_efficiency.md").write_text(table)
    (args.out / "search_efficiency.json").write_text(
        json.dumps(
            {
                "args": vars(args) | {"out": str(args.out)},
                "target": target,
                "rows": rows,
                "runs": [asdict(r) for r in runs],
            },
            indent=1,
        )  # fmt: skip
    )
    plot(runs, target, args.out / "search_efficiency.png")


if __name__ == "__main__":
    main()
