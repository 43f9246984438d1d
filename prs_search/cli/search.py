"""`prs-search run`, `searches` and `trials`: start or continue a search, and read what is stored.

`run` turns its options into the one `SearchRequest` the REST API takes too; `run-request` (hidden) runs
such a request handed over as JSON, which is how `POST /v1/searches` starts a search.
"""

import inspect
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError
from rich.progress import TextColumn
from rich.table import Table

from prs_search.cli.options import (
    DataDirOpt,
    DbOpt,
    DownloadOpt,
    RayAddressOpt,
    console,
    one_size,
    resolve_data_dir,
    resolve_database_url,
)
from prs_search.cli.progress import LiveBar
from prs_search.cli.request_options import with_request_options
from prs_search.errors import ConfigError, describe_errors
from prs_search.field_types import Cost, SearchStatus, TrialState
from prs_search.search_request import SearchRequest

if TYPE_CHECKING:  # Ray and torch are imported lazily so `--help` stays fast
    from prs_search.schemas import BestScheduleRecord, ConfirmationRunRecord, SearchRecord, WarmStart
    from prs_search.search import SearchProgress, SearchSummary
    from prs_search.store import ResultsStore

# Error messages name a request field by its `prs-search run` option.
OPTION_NAMES = {name: f"--{name.replace('_', '-')}" for name in SearchRequest.model_fields}


def register(app: typer.Typer) -> None:
    """Add `run` (and the hidden `run-request`), `searches` and `trials` to `app`."""
    app.command("run")(run)
    app.command("run-request", hidden=True)(run_request)
    app.command("searches")(searches)
    app.command("trials")(trials)


def run(**options: Any) -> None:
    """Search per-layer switch epochs with Ray Tune trials suggested by Optuna, recorded in SQL.

    After the budget, the best --confirm-top trials and the PRS default are retrained with --confirm-seeds
    more seeds; the schedule with the best mean validation accuracy is recommended, with its interval."""
    where = {p.name: options.pop(p.name) for p in _WHERE}
    one_size(options["fraction"], options["num_samples"])  # the CLI's words for the request's rule
    _search(_request(**options), **where)


def _option(name: str, annotation: Any, default: Any) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)


ResumeOpt = Annotated[bool, typer.Option(help="Continue an interrupted search (--name, or the latest one).")]
# Where the search runs, not what it searches: `run`'s options after the request's own.
_WHERE = [
    _option("db", DbOpt, None),
    _option("ray_address", RayAddressOpt, None),
    _option("resume", ResumeOpt, False),
    _option("data_dir", DataDirOpt, None),
    _option("download", DownloadOpt, False),
]
with_request_options(run, _WHERE)


def run_request(
    request: Annotated[str, typer.Argument(help="A search request as JSON.")],
    parent: Annotated[
        int | None, typer.Option(help="The API's pid: the search stops when that process is gone.")
    ] = None,
) -> None:
    """Run the search one JSON `SearchRequest` describes (the REST API starts its searches this way);
    the database and the Ray cluster come from the environment."""
    try:
        parsed = SearchRequest.model_validate_json(request)
    except ValidationError as exc:
        raise ConfigError(f"invalid search request: {describe_errors(exc)}") from None
    _search(parsed, db=None, ray_address=None, resume=False, data_dir=None, download=False, parent_pid=parent)


def _request(**options: Any) -> SearchRequest:
    try:
        return SearchRequest(**options)
    except ValidationError as exc:
        raise ConfigError(describe_errors(exc, OPTION_NAMES)) from None


def _search(
    request: SearchRequest, *, db: str | None, ray_address: str | None, resume: bool, data_dir: Path | None,
    download: bool, parent_pid: int | None = None,
) -> None:  # fmt: skip
    """`request`, where the options (else the settings) say, with a progress bar; then its summary."""
    from prs_search.search import run_search
    from prs_search.search_request import SearchJob
    from prs_search.settings import get_settings

    settings = get_settings()
    job = SearchJob(
        **request.model_dump(), database_url=resolve_database_url(db), ray_address=ray_address or settings.ray_address,
        resume=resume, data_dir=resolve_data_dir(data_dir), storage_path=settings.resolved_storage_path(),
        download=download, origin="cli" if parent_pid is None else "api", parent_pid=parent_pid,
    )  # fmt: skip
    with _SearchProgressBar(request.budget) as bar:
        summary = run_search(job, on_progress=bar.update)
    _print_summary(summary)


class _SearchProgressBar(LiveBar):
    """Trials done / budget, running, pruned, best so far, elapsed and ETA, live in the terminal."""

    def __init__(self, budget: int) -> None:
        extra = (TextColumn("{task.fields[eta]}"), TextColumn("{task.description}"))
        super().__init__("trials", extra, "starting Ray...", budget, {"eta": ""})

    def update(self, p: "SearchProgress") -> None:
        best = f"best val {p.best_val_acc:.4f} [{','.join(map(str, p.best_schedule))}]" if p.best_schedule else ""
        eta = f"ETA {p.eta:.0f}s" if p.eta is not None else ""
        text = f"running {p.running}, pruned {p.pruned}, failed {p.failed}  {best}"
        self.progress.update(self.task, completed=p.finished, description=text, eta=eta)


def _print_summary(summary: "SearchSummary") -> None:
    s = summary.search
    table = Table(title=f"search {s.name} ({s.status})", show_header=False)
    table.add_row("dataset", f"{s.dataset}, {s.num_samples} images (val carved from them)")
    table.add_row("validation", _validation_line(s.val_size, summary.best_val_acc))
    table.add_row("model / epochs / space", f"{s.model} ({s.stem} stem) / {s.epochs} / {s.space}")
    table.add_row("trials", ", ".join(f"{k.lower()} {v}" for k, v in summary.counts.items() if v))
    if s.warm_started is not None:
        table.add_row("warm start", _warm_line(s.warm_started))
    best = ",".join(map(str, summary.best_schedule)) if summary.best_schedule else "-"
    val = f"{summary.best_val_acc:.4f}" if summary.best_val_acc is not None else "-"
    table.add_row("best trial", f"{best} (val acc {val}, one seed)")
    rec = summary.recommended
    if rec is not None and rec.seeds is not None:
        table.add_row("recommended", f"{','.join(map(str, rec.schedule))}: val acc {_interval(rec)}")
        table.add_row("vs PRS default", _advantage_line(rec))
    elif rec is not None:
        table.add_row("recommended", f"{','.join(map(str, rec.schedule))} (its finalists were not re-evaluated)")
    table.add_row("its test acc", f"{summary.test_acc:.4f} (measured once)" if summary.test_acc is not None else "-")
    table.add_row("wall time", f"{summary.seconds:.1f} s")
    console.print(table)


def _warm_line(warm: "WarmStart") -> str:
    schedules = "; ".join(",".join(map(str, schedule)) for schedule in warm.schedules)
    sizes = ", ".join(map(str, warm.sizes))
    return f"first trials {schedules}, from the cross-size model ({warm.runs} runs of sizes {sizes})"


def _validation_line(val_size: int | None, accuracy: float | None) -> str:
    from prs_search.stats import standard_error

    if val_size is None:
        return "size not recorded (an older search)"
    at = accuracy if accuracy is not None else 0.5
    return f"{val_size} images; one accuracy has a standard error of {standard_error(at, val_size):.3f} (at {at:.2f})"


def _interval(rec: "BestScheduleRecord") -> str:
    if rec.val_low is None or rec.val_high is None:
        return f"{rec.val_acc:.4f} ({rec.seeds} seed)"
    return f"{rec.val_acc:.4f} [{rec.val_low:.4f}, {rec.val_high:.4f}] over {rec.seeds} seeds (95%)"


def _advantage_line(rec: "BestScheduleRecord") -> str:
    from prs_search.stats import Interval

    prs = ",".join(map(str, rec.baseline_schedule or ()))
    if rec.advantage is None:
        return f"{prs}: -"
    if rec.advantage_low is None or rec.advantage_high is None:
        return f"{prs}: {rec.advantage:+.4f} (one seed, no interval)"
    advantage = Interval(rec.advantage, rec.advantage_low, rec.advantage_high, rec.seeds or 0)
    verdict = "the interval excludes 0" if advantage.excludes_zero else "within the seeds' noise"
    return f"{prs}: {rec.advantage:+.4f} [{rec.advantage_low:+.4f}, {rec.advantage_high:+.4f}], {verdict}"


def searches(db: DbOpt = None, limit: Annotated[int, typer.Option(min=1)] = 50) -> None:
    """List stored searches, newest first."""
    from prs_search.settings import get_settings
    from prs_search.store import ResultsStore

    store = ResultsStore(resolve_database_url(db))
    rows, total = store.list_searches(limit=limit)
    driven = {d.search_id for d in store.live_drivers(ttl_s=get_settings().driver_lease_ttl_s)}
    table = Table("id", "name", "dataset", "size", "space", "budget", "status", "test acc", title=f"{total} searches")
    orphans: list[str] = []
    for r in rows:
        test = f"{r.test_acc:.4f}" if r.test_acc is not None else "-"
        status = str(r.status)
        if r.status == SearchStatus.RUNNING and r.id not in driven:  # its driver died (e.g. kill -9)
            status = "no driver"
            orphans.append(r.name)
        table.add_row(str(r.id), r.name, r.dataset, str(r.num_samples), r.space, str(r.budget), status, test)
    console.print(table)
    for name in orphans:
        # Soft-wrapped: the command stays one line to copy, however narrow the terminal.
        console.print(f"{name}: its driver is gone; continue it: prs-search run --name {name} --resume", soft_wrap=True)


def trials(
    name: Annotated[str, typer.Argument(help="Search name or id.")],
    db: DbOpt = None,
    limit: Annotated[int, typer.Option(min=1)] = 200,
    pareto: Annotated[
        bool, typer.Option(help="Only the accuracy-compute front: complete trials no other beats in both.")
    ] = False,
    cost: Annotated[Cost, typer.Option(help="The front's cost: counted training FLOPs, or seconds.")] = "flops",
) -> None:
    """List the trials of one search, best first (--pareto: the accuracy-compute front, cheapest first)."""
    from prs_search.store import ResultsStore

    store = ResultsStore(resolve_database_url(db))
    search = store.get_search(name_or_id=name)  # digits are an id
    if search is None:
        raise ConfigError(f"no search named {name!r} (see `prs-search searches`)")
    if pareto:
        console.print(_front_table(store, search, cost))
        return
    rows, total = store.list_trials(search_id=search.id, limit=limit)
    rows.sort(key=lambda t: (t.state != "COMPLETE", -(t.val_acc or 0.0)))
    best = next((t.val_acc for t in rows if t.val_acc is not None), None)
    warm = f"\nwarm start: {_warm_line(search.warm_started)}" if search.warm_started else ""
    table = Table(
        "trial", "state", "schedule", "epochs", "val acc", "seconds", title=f"{search.name}: {total} trials",
        caption=f"validation: {_validation_line(search.val_size, best)}{warm}",
    )  # fmt: skip
    for t in rows:
        val = f"{t.val_acc:.4f}" if t.val_acc is not None else "-"
        sched = ",".join(map(str, t.schedule))
        table.add_row(t.trial_key, str(t.state), sched, str(t.epochs_run), val, f"{t.seconds:.1f}")
    console.print(table)
    runs = store.confirmation_runs(search_id=search.id)
    if runs:
        console.print(_confirmation_table(runs, store, search))


def _front_table(store: "ResultsStore", search: "SearchRecord", cost: Cost) -> Table:
    from prs_search.compute_cost import format_flops
    from prs_search.pareto import accuracy_cost_front
    from prs_search.schedule import Schedule

    front = accuracy_cost_front(store.all_trials(search_id=search.id, state=TrialState.COMPLETE), cost)
    caption = f"{front.considered} complete trials considered"
    if front.uncounted:
        caption += f"; {front.uncounted} had no counted FLOPs (trained before counting): not candidates"
    table = Table(
        "trial", "schedule", "val acc", "seconds", "FLOPs", "attention epochs", caption=caption,
        title=f"{search.name}: validation accuracy against {cost}, {len(front.trials)} trials on the front",
    )  # fmt: skip
    for t in front.trials:
        share = 1.0 - Schedule.of(t.schedule, search.epochs).conv_fraction()
        table.add_row(
            t.trial_key, ",".join(map(str, t.schedule)), f"{t.val_acc or 0.0:.4f}", f"{t.seconds:.1f}",
            format_flops(t.flops), f"{share:.0%}",
        )  # fmt: skip
    return table


def _confirmation_table(runs: "list[ConfirmationRunRecord]", store: "ResultsStore", search: "SearchRecord") -> Table:
    """One row per candidate: its validation accuracy at every seed, the mean and its interval."""
    from prs_search.stats import accuracy_interval

    chosen = next(iter(store.best_schedules(search_id=search.id)), None)
    seeds = sorted({r.seed for r in runs})
    table = Table("candidate", "schedule", *(f"seed {s}" for s in seeds), "mean [95%]",
                  title="re-evaluation of the finalists (r: the search trial's own run)")  # fmt: skip
    for key in dict.fromkeys(r.candidate for r in runs):
        mine = {r.seed: r for r in runs if r.candidate == key}
        first = next(iter(mine.values()))
        cells = [_run_cell(mine.get(s)) for s in seeds]
        values = [r.val_acc for r in mine.values() if r.val_acc is not None]
        mean = str(accuracy_interval(values)) if values else "-"
        label = f"{key} ({first.role})" if first.role == "baseline" else f"trial {key}"
        if chosen is not None and tuple(first.schedule) == chosen.schedule and first.source_trial_id == chosen.trial_id:
            label += " *recommended*"
        table.add_row(label, ",".join(map(str, first.schedule)), *cells, mean)
    return table


def _run_cell(run: "ConfirmationRunRecord | None") -> str:
    if run is None:
        return "-"
    if run.val_acc is None:
        return run.state.lower()
    return f"{run.val_acc:.4f}" + (" r" if run.reused else "")
