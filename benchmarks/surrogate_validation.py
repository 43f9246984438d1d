"""Leave one size out: does the cross-size model predict a searched size it never saw, and better than
today's interpolation between searched sizes?

    python benchmarks/surrogate_validation.py --db sqlite:////tmp/digits.db --dataset digits --out benchmarks/figures

For every searched size N of the dataset's largest group (same model, stem, conv, depth, epochs), with N's
searches left out:
- `model`: the model fitted on every other size's finished runs (`fit on: others`), and, for a size
  between two others, on its two neighbours alone (`fit on: neighbours`, the two-size case), picks the best
  schedule of the space at N, with its predicted val_acc and 95% interval;
- `interpolation`: what `recommend` answers from the other sizes' best schedules (interpolated or nearest);
- against what N's own search observed: its best finished trial, the observed mean val_acc of the held-out
  schedule nearest (L1 in switch epochs) to each answer, that schedule's rank among the held-out
  schedules (1 = best), and, for the model, how it ranks all held-out runs (Spearman), its error (RMSE)
  and how often one run's 95% predictive interval covers the run.
Read-only on the database (copy a live one first). A database like the one measured, made by real searches:

    for n in 150 300 600 1200; do prs-search run --dataset digits --num-samples $n --budget 12 --epochs 10 \\
      --space monotone --model tiny --max-concurrent 1 --seed 0 --name digits-$n --db sqlite:////tmp/digits.db; done
"""

import argparse
import json
import statistics
from collections import defaultdict
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from scipy.stats import spearmanr

from prs_search.recommend import searched_answer
from prs_search.schemas import FinishedRunRecord
from prs_search.store import ResultsStore
from prs_search.surrogate import Group, fit_group, load_groups, predict_best, why_not
from prs_search.surrogate.gp import Z95


@dataclass(frozen=True)
class Observed:
    """What the held-out search saw of the schedule nearest to an answer."""

    schedule: tuple[int, ...]
    distance: int  # L1 in switch epochs from the answer
    val_acc: float  # mean over its finished runs
    runs: int
    rank: int  # among the held-out schedules, 1 = best


@dataclass(frozen=True)
class Row:
    held_out: int
    fit_on: str
    sizes: tuple[int, ...]
    runs: int
    held_out_best: float  # its best finished run
    held_out_answer: float  # the val_acc of its own stored answer (mean over seeds when re-evaluated)
    schedules: int  # distinct held-out schedules with a finished run
    model_schedule: tuple[int, ...] | None
    model_val_acc: float | None
    model_low: float | None
    model_high: float | None
    model_observed: Observed | None
    spearman: float | None
    rmse: float | None
    run_coverage: float | None
    interp_method: str
    interp_schedule: tuple[int, ...]
    interp_val_acc: float
    interp_observed: Observed
    note: str = ""


def by_schedule(runs: list[FinishedRunRecord]) -> dict[tuple[int, ...], list[float]]:
    found: dict[tuple[int, ...], list[float]] = defaultdict(list)
    for r in runs:
        found[r.schedule].append(r.val_acc)
    return found


def nearest(schedule: tuple[int, ...], held: dict[tuple[int, ...], list[float]]) -> Observed:
    means = {s: statistics.fmean(v) for s, v in held.items()}
    ranked = sorted(means, key=lambda s: -means[s])
    near = min(held, key=lambda s: (sum(abs(a - b) for a, b in zip(s, schedule, strict=True)), -len(held[s])))
    distance = sum(abs(a - b) for a, b in zip(near, schedule, strict=True))
    return Observed(near, distance, means[near], len(held[near]), ranked.index(near) + 1)


def fit_quality(group: Group, held: list[FinishedRunRecord]) -> tuple[float | None, float, float]:
    """Spearman over held-out schedules (their mean), RMSE and one run's 95% interval coverage over runs."""
    model = fit_group(group)
    n = held[0].num_samples
    predicted = {p.schedule: p for p in model.predict([r.schedule for r in held], n)}
    errors, covered = [], 0
    for r in held:
        p = predicted[r.schedule]
        run_sd = (((p.high - p.low) / (2 * Z95)) ** 2 + model.noise_sd**2) ** 0.5
        errors.append(r.val_acc - p.val_acc)
        covered += abs(r.val_acc - p.val_acc) <= Z95 * run_sd
    means = {s: statistics.fmean(v) for s, v in by_schedule(held).items()}
    rho = spearmanr([predicted[s].val_acc for s in means], list(means.values())).statistic if len(means) > 2 else None
    rmse = statistics.fmean(e * e for e in errors) ** 0.5
    return (None if rho is None or rho != rho else float(rho)), rmse, covered / len(held)


def neighbours(group: Group, n: int) -> Group | None:
    """The group cut to the two searched sizes either side of `n` (None: `n` is not between two)."""
    below = [s for s in group.sizes if s < n]
    above = [s for s in group.sizes if s > n]
    if not below or not above:
        return None
    keep = {below[-1], above[0]}
    return replace(group, runs=tuple(r for r in group.runs if r.num_samples in keep))


def validate(store: ResultsStore, dataset: str, n: int, fit_on: str, group: Group | None) -> Row | None:
    rows = [r for r in store.best_schedules(dataset=dataset) if r.num_samples != n]
    own = next((r for r in store.best_schedules(dataset=dataset) if r.num_samples == n), None)
    held_runs = [r for r in store.finished_runs(dataset=dataset) if r.num_samples == n]
    if group is None or not rows or own is None or not held_runs:
        return None
    held = by_schedule(held_runs)
    method, schedule, expected = searched_answer(rows, n, dataset)
    common = {
        "held_out": n, "fit_on": fit_on, "sizes": group.sizes, "runs": len(group.runs),
        "held_out_best": max(r.val_acc for r in held_runs), "held_out_answer": own.val_acc, "schedules": len(held),
        "interp_method": method, "interp_schedule": schedule, "interp_val_acc": expected,
        "interp_observed": nearest(schedule, held),
    }  # fmt: skip
    reason = why_not(group, n)
    if reason is not None:
        return Row(**common, model_schedule=None, model_val_acc=None, model_low=None, model_high=None,
                   model_observed=None, spearman=None, rmse=None, run_coverage=None, note=reason)  # fmt: skip
    best = predict_best(group, n).top[0]
    rho, rmse, coverage = fit_quality(group, held_runs)
    return Row(
        **common, model_schedule=best.schedule, model_val_acc=best.val_acc, model_low=best.low, model_high=best.high,
        model_observed=nearest(best.schedule, held), spearman=rho, rmse=rmse, run_coverage=coverage,
    )  # fmt: skip


def markdown(rows: list[Row]) -> str:
    lines = [
        "| held out | fit on (sizes, runs) | model: schedule, predicted [95%] | its nearest held-out schedule: "
        "distance, observed, rank | interpolation: schedule, expected | its nearest: distance, observed, rank | "
        "held-out best run / its answer | model on held-out runs: Spearman, RMSE, 95% run coverage |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        fit = f"{r.fit_on} ({', '.join(map(str, r.sizes))}; {r.runs})"
        i, io = r.interp_observed, r.interp_observed
        interp = f"{r.interp_method} {','.join(map(str, r.interp_schedule))}, {r.interp_val_acc:.3f}"
        near_i = f"{io.distance}, {i.val_acc:.3f} ({i.runs} runs), {i.rank}/{r.schedules}"
        if r.model_observed is None or r.model_schedule is None:
            model, near_m, quality = f"no answer: {r.note}", "-", "-"
        else:
            m = r.model_observed
            model = (
                f"{','.join(map(str, r.model_schedule))}, {r.model_val_acc:.3f} [{r.model_low:.3f}, {r.model_high:.3f}]"
            )
            near_m = f"{m.distance}, {m.val_acc:.3f} ({m.runs} runs), {m.rank}/{r.schedules}"
            rho = "-" if r.spearman is None else f"{r.spearman:+.2f}"
            quality = f"{rho}, {r.rmse:.3f}, {r.run_coverage:.2f}"
        lines.append(
            f"| {r.held_out} | {fit} | {model} | {near_m} | {interp} | {near_i} | "
            f"{r.held_out_best:.3f} / {r.held_out_answer:.3f} | {quality} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", required=True, help="The searches' database URL (read only).")
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--out", type=Path, default=Path("surrogate_validation"))
    parser.add_argument("--name", default="surrogate_validation", help="Stem of the files written to --out.")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    results: list[Row] = []
    with ResultsStore(args.db, migrate=False) as store:
        everything = load_groups(store, args.dataset)
        if not everything:
            parser.error(f"no searches of {args.dataset} in {args.db} (--dataset names the dataset)")
        key = max(everything, key=lambda k: len(everything[k].runs))
        for n in everything[key].runs_by_size:
            others = load_groups(store, args.dataset, without_size=n).get(key)
            for fit_on, group in (("others", others), ("neighbours", others and neighbours(others, n))):
                row = validate(store, args.dataset, n, fit_on, group)
                if row is not None:
                    results.append(row)
                    print(f"held out {n}, fit on {fit_on}: done")
    table = markdown(results)
    print(table)
    (args.out / f"{args.name}.md").write_text(table)
    (args.out / f"{args.name}.json").write_text(
        json.dumps({"db": args.db, "dataset": args.dataset, "rows": [asdict(r) for r in results]}, indent=1)
    )


if __name__ == "__main__":
    main()
