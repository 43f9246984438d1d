"""The service side of `prs-search`: `serve` (the REST API), `recommend`, `dashboard` (optuna-dashboard).

`prs_search.cli` adds these commands with `register(app)`. Like the rest of the CLI, every user error
is a `PRSError`, which `prs_search.cli.main` prints as one line with exit code 2. `recommend` calls
the same function as `GET /v1/recommendation`, and `--json` prints exactly the REST body.
"""

import os
import socket
from functools import partial
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from prs_search.cli.options import DbOpt, HostOpt, console, err_console, resolve_database_url
from prs_search.errors import ConfigError, StoreError

if TYPE_CHECKING:  # the recommendation's modules are imported when a command runs: `--help` stays fast
    from prs_search.budget import Budget

# The app factory of the REST API (the folder api/, installed as the package prs_search.api).
APP_FACTORY = "prs_search.api.main:create_app"


def register(app: typer.Typer) -> None:
    """Add `serve`, `recommend` and `dashboard` to `app`."""
    app.command("serve")(serve)
    app.command("recommend")(recommend_command)
    app.command("dashboard")(dashboard)


def serve(
    host: HostOpt = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    db: DbOpt = None,
    read_only: Annotated[
        bool,
        typer.Option("--read-only", help="Refuse writes (POST, DELETE /v1/searches) and answer everyone; no token."),
    ] = False,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Serve the REST API (recommendations, searches; OpenAPI docs at /docs).

    With PRS_API_TOKEN set, writes need it as a bearer token. Without one the API is read-only and
    answers this machine only (on loopback); --read-only serves reads to everyone."""
    import uvicorn

    from prs_search.api.guard import is_loopback
    from prs_search.api.settings import load_settings
    from prs_search.store import ResultsStore, parse_url, safe_url

    # The app factory reads its settings from the environment (in every worker): pass ours through it.
    if db is not None:
        os.environ["PRS_DATABASE_URL"] = db
    if read_only:
        os.environ["PRS_API_WRITES_ENABLED"] = "false"
    settings = load_settings()  # unsafe settings stop here, before anything listens
    url = parse_url(settings.resolved_database_url())
    if settings.local_only and not is_loopback(host):
        why = "PRS_API_AUTH_DISABLED=true is for local use" if settings.api_auth_disabled else "no PRS_API_TOKEN is set"
        raise ConfigError(f"{why}: listen on 127.0.0.1 instead of {host}, or set PRS_API_TOKEN, or pass --read-only")
    with ResultsStore(url, migrate=settings.api_migrate) as store:  # unreachable: one line now, not 503s later
        store.list_searches(limit=1)
    _check_port(host, port)
    if settings.local_only and not settings.writes_allowed:
        _say("read-only on this machine: no PRS_API_TOKEN is set (export one of 16+ characters to enable writes)")
    _say(f"serving {safe_url(url)} on http://{host}:{port} (docs at /docs)")
    uvicorn.run(APP_FACTORY, factory=True, host=host, port=port, workers=workers, log_level=log_level.lower())


def recommend_command(
    dataset: Annotated[str, typer.Option(help="Dataset name, as searched (see `prs-search searches`).")],
    num_samples: Annotated[int | None, typer.Option(help="Dataset size in images.")] = None,
    fraction: Annotated[
        float | None,
        typer.Option(help="Dataset size as a fraction of the training split (needs a search run with --fraction)."),
    ] = None,
    max_flops: Annotated[
        float | None, typer.Option(help="Compute budget: at most this many training FLOPs (searched sizes only).")
    ] = None,
    max_seconds: Annotated[
        float | None, typer.Option(help="Compute budget: at most this much training time (searched sizes only).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the answer as JSON (the REST API's body).")] = False,
    db: DbOpt = None,
) -> None:
    """The switch schedule to use for a dataset size: exact, the cross-size model's (with its 95% interval),
    interpolated between searched sizes, or nearest; within a compute budget, the best schedule that fits."""
    from prs_search.recommend import recommend
    from prs_search.store import ResultsStore

    store = ResultsStore(resolve_database_url(db))
    try:
        answer = recommend(
            store, dataset, num_samples=num_samples, fraction=fraction, max_flops=max_flops, max_seconds=max_seconds
        )
    finally:
        store.dispose()
    if as_json:
        typer.echo(answer.model_dump_json())
        return
    size = f"{answer.num_samples} images" + (f" (fraction {answer.fraction})" if answer.fraction is not None else "")
    table = Table(title=f"{answer.dataset}, {size}: {answer.method}", show_header=False)
    table.add_row("schedule", ",".join(map(str, answer.schedule)))
    table.add_row("model / stem / epochs", f"{answer.model} / {answer.stem} / {answer.epochs}")
    c, model = answer.confidence, answer.prediction
    if c is not None and c.val_acc_low is not None and c.val_acc_high is not None:
        table.add_row(
            "val acc", f"{answer.val_acc:.4f} [{c.val_acc_low:.4f}, {c.val_acc_high:.4f}] ({c.seeds} seeds, 95%)"
        )
    elif model is not None:
        table.add_row(
            "expected val acc",
            f"{answer.val_acc:.4f} [{model.val_acc_low:.4f}, {model.val_acc_high:.4f}] (model, 95%)",
        )
    else:
        table.add_row("expected val acc", f"{answer.val_acc:.4f}")
    if c is not None:
        interval = (
            f" [{c.advantage_low:+.4f}, {c.advantage_high:+.4f}]"
            if c.advantage_low is not None and c.advantage_high is not None
            else ""
        )
        verdict = "interval excludes 0" if c.significant else "within the seeds' noise"
        prs = ",".join(map(str, c.baseline_schedule))
        table.add_row("vs PRS default", f"{prs}: {c.advantage:+.4f}{interval}, {verdict}")
    if answer.budget is not None:
        table.add_row("budget", _budget_line(answer.budget))
    table.add_row("confidence", answer.confidence_note)
    table.add_row("cross-size model", answer.prediction_note)
    table.add_row("test acc", f"{answer.test_acc:.4f}" if answer.test_acc is not None else "-")
    table.add_row("searched sizes", ", ".join(map(str, answer.searched_sizes)))
    for p in answer.provenance:
        table.add_row(
            "from", f"{p.search_name} (search {p.search_id}, trial {p.trial_id or 'none: the PRS default'}, "
            f"{p.num_samples} images, "
            f"val {p.val_acc:.4f}, weight {p.weight:.2f})",
        )  # fmt: skip
    table.add_row("trials behind it", str(answer.trials_backing))
    console.print(table)
    if answer.warning:
        err_console.print(f"warning: {answer.warning}", markup=False, highlight=False)


def _budget_line(budget: "Budget") -> str:
    from prs_search.pareto import format_cost

    show = partial(format_cost, budget.cost)
    uncounted = f"; {budget.uncounted} trials without a count were not candidates" if budget.uncounted else ""
    return (
        f"at most {show(budget.limit)}: this trial cost {show(budget.chosen_cost)}; the best without a budget "
        f"(val {budget.best_val_acc:.4f}) cost {show(budget.best_cost)}{uncounted}"
    )


def _check_port(host: str, port: int) -> None:
    """One line now when `host:port` is taken, where uvicorn would exit with 3 among its logs and
    optuna-dashboard with a traceback, both after saying they listen."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as both servers bind
        try:
            probe.bind((host, port))
        except OSError as err:
            raise ConfigError(f"cannot listen on {host}:{port}: {err.strerror or err}; choose another --port") from None


def dashboard(
    db: DbOpt = None,
    host: HostOpt = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8080,
) -> None:
    """Open optuna-dashboard on the results database: every search's Optuna study, live."""
    import optuna
    import optuna_dashboard
    from sqlalchemy.exc import SQLAlchemyError

    from prs_search.store import ResultsStore
    from prs_search.store.db import describe

    store = ResultsStore(resolve_database_url(db), migrate=False)  # only for its URL and engine options
    try:
        storage = optuna.storages.RDBStorage(store.url, engine_kwargs=store.optuna_engine_kwargs())
    except (SQLAlchemyError, optuna.exceptions.StorageInternalError) as exc:
        raise StoreError(f"cannot open the Optuna studies at {store.safe_url}: {describe(exc)}") from None
    except RuntimeError as exc:  # optuna's schema is older than the installed optuna
        raise StoreError(f"cannot open the Optuna studies at {store.safe_url}: {exc}") from None
    finally:
        store.dispose()
    from prs_search.api.guard import is_loopback

    if not is_loopback(host):
        _say(f"warning: optuna-dashboard has no authentication and can delete studies: anyone who reaches {host} can")
    _check_port(host, port)
    _say(f"optuna-dashboard for {store.safe_url} on http://{host}:{port}")
    optuna_dashboard.run_server(storage, host=host, port=port)


def _say(line: str) -> None:
    err_console.print(line, markup=False, highlight=False, soft_wrap=True)
