"""Search efficiency, two comparisons on the same space, budget and seeds:

- samplers (the default): TPE + ASHA (prs-search's default) against random search + ASHA and random search
  without early stopping; the target is random search without early stopping's final best.
- `--warm-from DB`: a search at `--num-samples` warm-started by the cross-size model (fitted on the other
  sizes searched in DB, a SQLite file such as `benchmarks/surrogate_validation.py` reads) against the same
  search started cold; the target is the cold search's final best.

    python benchmarks/search_efficiency.py --out benchmarks/search_efficiency         # digits, tiny, 3 repeats
    python benchmarks/search_efficiency.py --budget 16 --epochs 10 --repeats 5 --dataset mnist5k --fraction 0.25
    python benchmarks/search_efficiency.py --warm-from /tmp/digits.db --num-samples 600 --concurrent 1

Every run is a real `prs-search` search (local Ray, Optuna, its own SQLite file: a copy of DB when warm
starting), finalists not re-evaluated (`confirm_top=0`: the comparison is about the search itself). Compute
is training seconds: the sum of every trial's epoch times, in the order trials finished, so it does not
depend on how many ran at once. For each run: the best validation accuracy of a complete trial against
cumulative compute; then the trials and compute each needs to reach the target (the median over the
reference's repeats of its final best). Writes search_efficiency.json, .md and .png to --out and prints the
table (warm_start.* for the warm-start comparison).
"""

import argparse
import json
import shutil
import statistics
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from prs_search.search import cluster, run_search
from prs_search.search_request import Sampler, SearchJob
from prs_search.store import ResultsStore


@dataclass(frozen=True)
class Method:
    sampler: Sampler
    early_stopping: bool
    warm_start: bool | None = None  # None: the default (on only where other sizes were searched)


SAMPLERS = {
    "TPE + ASHA (ours)": Method("tpe", True),
    "random + ASHA": Method("random", True),
    "random, no early stopping": Method("random", False),
}
WARM_START = {"warm start (ours)": Method("tpe", True, True), "cold start": Method("tpe", True, False)}
REFERENCES = {"random, no early stopping", "cold start"}  # the target is the reference's median final best


@dataclass(frozen=True)
class Run:
    method: str
    seed: int
    curve: list[tuple[float, float]]  # (cumulative training seconds, best complete val_acc so far), per trial
    total_seconds: float
    final_best: float


def methods(args: argparse.Namespace) -> dict[str, Method]:
    return WARM_START if args.warm_from else SAMPLERS


def search_once(label: str, seed: int, args: argparse.Namespace, folder: Path) -> Run:
    method = methods(args)[label]
    if args.warm_from:
        shutil.copyfile(args.warm_from, folder / "prs.db")  # the other sizes; each run writes its own copy
    size = {"num_samples": args.num_samples} if args.num_samples else {"fraction": args.fraction}
    job = SearchJob(
        dataset=args.dataset, **size, budget=args.budget, epochs=args.epochs, space=args.space,
        model="tiny", seed=seed, sampler=method.sampler, early_stopping=method.early_stopping,
        warm_start=method.warm_start, confirm_top=0, cpus_per_trial=1.0, max_concurrent=args.concurrent,
        name=f"{label.split()[0]}-{method.sampler}-{'asha' if method.early_stopping else 'fifo'}-{seed}",
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
    return Run(label, seed, curve, spent, best)


def to_reach(run: Run, target: float) -> tuple[int, float] | None:
    """(trials, cumulative training seconds) when the run's best complete trial first reached `target`."""
    return next(((i, spent) for i, (spent, best) in enumerate(run.curve, 1) if best >= target), None)


def summarize(runs: list[Run], labels: dict[str, Method]) -> tuple[float, list[dict[str, object]]]:
    reference = [r for r in runs if r.method in REFERENCES]
    target = statistics.median(r.final_best for r in reference)
    reference_total = statistics.fmean(r.total_seconds for r in reference)
    rows: list[dict[str, object]] = []
    for label in labels:
        mine = [r for r in runs if r.method == label]
        reached = [hit for r in mine if (hit := to_reach(r, target)) is not None]
        seconds = statistics.fmean(s for _, s in reached) if reached else None
        rows.append({
            "method": label, "repeats": len(mine),
            "final_best": statistics.fmean(r.final_best for r in mine),
            "final_best_sd": statistics.stdev(r.final_best for r in mine) if len(mine) > 1 else 0.0,
            "total_seconds": statistics.fmean(r.total_seconds for r in mine),
            "reached": len(reached),
            "trials_to_target": statistics.fmean(t for t, _ in reached) if reached else None,
            "seconds_to_target": seconds,
            "fraction_of_reference_compute": seconds / reference_total if seconds is not None else None,
        })  # fmt: skip
    return target, rows


def markdown(target: float, rows: list[dict[str, object]], args: argparse.Namespace) -> str:
    size = f"{args.num_samples} images" if args.num_samples else f"fraction {args.fraction}"
    reference = "the cold search's" if args.warm_from else "random search's"
    warm = f", warm start fitted on the other sizes in {args.warm_from.name}" if args.warm_from else ""
    lines = [
        f"{args.dataset} ({size}), `tiny`, space `{args.space}`, budget {args.budget}, {args.epochs} epochs, "
        f"{args.concurrent} trials at once, seeds 0..{args.repeats - 1}{warm}; target = {reference} median final "
        f"best, {target:.4f}.",
        "",
        "| method | repeats | final best (mean ± sd) | training s (mean) | reached target | trials to target "
        "(mean) | s to target (mean) | as share of the reference's compute |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        trials = "-" if r["trials_to_target"] is None else f"{r['trials_to_target']:.1f}"
        to_target = "-" if r["seconds_to_target"] is None else f"{r['seconds_to_target']:.0f}"
        share = "-" if r["fraction_of_reference_compute"] is None else f"{r['fraction_of_reference_compute']:.2f}"
        lines.append(
            f"| {r['method']} | {r['repeats']} | {r['final_best']:.4f} ± {r['final_best_sd']:.4f} | "
            f"{r['total_seconds']:.0f} | {r['reached']}/{r['repeats']} | {trials} | {to_target} | {share} |"
        )
    return "\n".join(lines) + "\n"


def plot(runs: list[Run], labels: dict[str, Method], target: float, path: Path) -> None:
    fig = Figure(figsize=(8, 4.5), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    colors = dict(zip(labels, ("tab:orange", "tab:blue", "tab:grey"), strict=False))
    lowest = target
    for method in labels:
        for i, run in enumerate(r for r in runs if r.method == method):
            points = [(spent, best) for spent, best in run.curve if best > 0]  # from its first complete trial
            if not points:
                continue
            xs, ys = zip(*points, strict=True)
            lowest = min(lowest, *ys)
            ax.step(xs, ys, where="post", color=colors[method], alpha=0.8, label=method if i == 0 else None)
    ax.set_ylim(lowest - 0.005, 1.0)  # the curves differ by a few images: zoom onto them
    ax.axhline(target, color="black", linestyle="--", linewidth=1, label="target: the reference's median final best")
    ax.set_xlabel("cumulative training seconds")
    ax.set_ylabel("best validation accuracy (complete trials)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--fraction", type=float, default=1.0)
    parser.add_argument("--num-samples", type=int, help="the size in images (instead of --fraction)")
    parser.add_argument("--warm-from", type=Path, help="SQLite file with searches of other sizes: warm against cold")
    parser.add_argument("--space", default="monotone")
    parser.add_argument("--budget", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--concurrent", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("search_efficiency"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    labels = methods(args)
    runs = []
    try:
        for seed in range(args.repeats):
            for method in labels:  # the methods take turns: a slow phase of the machine hits all alike
                with tempfile.TemporaryDirectory() as tmp:
                    runs.append(search_once(method, seed, args, Path(tmp)))
                print(f"{method}, seed {seed}: final best {runs[-1].final_best:.4f}, {runs[-1].total_seconds:.0f} s")
    finally:
        cluster.shutdown()
    target, rows = summarize(runs, labels)
    table = markdown(target, rows, args)
    print(table)
    stem = "warm_start" if args.warm_from else "search_efficiency"
    (args.out / f"{stem}.md").write_text(table)
    (args.out / f"{stem}.json").write_text(
        json.dumps(
            {
                "args": vars(args) | {"out": str(args.out), "warm_from": str(args.warm_from or "")},
                "target": target,
                "rows": rows,
                "runs": [asdict(r) for r in runs],
            },
            indent=1,
        )  # fmt: skip
    )
    plot(runs, labels, target, args.out / f"{stem}.png")


if __name__ == "__main__":
    main()
