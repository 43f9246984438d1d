"""The `prs-search` command line: a thin adapter over train, search, store and the API."""

import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import click
import typer
from rich import box
from rich.console import Console
from rich.live import Live
from rich.logging import RichHandler
from rich.table import Table

from prs_search.errors import ConfigError, PRSError
from prs_search.schedule import SCHEDULE_FORMS

if TYPE_CHECKING:  # the CLI imports torch-heavy modules lazily so `--help` stays fast
    from prs_search.data import Splits

app = typer.Typer(
    name="prs-search",
    help="Find, per dataset size, the epoch at which each layer of a hybrid ViT should switch from "
    "convolution to self-attention (Progressive Reparameterization Scheduling).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True)

DatasetOpt = Annotated[
    str,
    typer.Option(help="digits, synthetic, cifar10, cifar100 or imagefolder:PATH (see `prs-search datasets`)."),
]
FractionOpt = Annotated[
    float | None, typer.Option(help="Dataset size as a fraction of the training split (stratified, seeded).")
]
NumSamplesOpt = Annotated[
    int | None, typer.Option(help="Dataset size as a number of training images (stratified, seeded).")
]
ModelOpt = Annotated[str, typer.Option(help="Model preset (see `prs-search models`).")]
StemOpt = Annotated[str, typer.Option(help="conv (ViT_C stride-2 3x3 stack) or patch (patchify).")]
DataDirOpt = Annotated[Path | None, typer.Option(help="Dataset root (default: $PRS_DATA_DIR or ~/.prs-search/data).")]
DownloadOpt = Annotated[bool, typer.Option(help="Download torchvision datasets that are missing (needs internet).")]
SeedOpt = Annotated[int, typer.Option(help="Seed for the subset, the split, the initialisation and the data order.")]
CompileOpt = Annotated[
    bool, typer.Option("--compile", help="torch.compile each block (pays on the GPU for long trials; slow to start).")
]


@app.callback()
def _setup(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress details.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=err_console, show_path=False)],
    )


def _load_splits(
    dataset: str,
    fraction: float | None,
    num_samples: int | None,
    seed: int,
    data_dir: Path | None,
    download: bool,
) -> "Splits":
    from prs_search.data import load_dataset, make_splits
    from prs_search.settings import get_settings

    if fraction is not None and num_samples is not None:
        raise ConfigError("give either --fraction or --num-samples, not both")
    raw = load_dataset(dataset, data_dir or get_settings().resolved_data_dir(), download=download)
    return make_splits(raw, fraction=fraction, num_samples=num_samples, seed=seed)


@app.command()
def train(
    dataset: DatasetOpt = "digits",
    schedule: Annotated[str, typer.Option(help=f"Switch epochs: {SCHEDULE_FORMS}.")] = "prs",
    epochs: Annotated[int, typer.Option(min=1, help="Total training epochs E.")] = 10,
    model: ModelOpt = "tiny",
    stem: StemOpt = "conv",
    fraction: FractionOpt = None,
    num_samples: NumSamplesOpt = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Training batch size.")] = 64,
    lr: Annotated[float, typer.Option(min=0.0, help="Peak AdamW learning rate (warm-up, then cosine).")] = 3e-3,
    seed: SeedOpt = 0,
    data_dir: DataDirOpt = None,
    download: DownloadOpt = False,
    save: Annotated[Path | None, typer.Option(help="Write the trained model's checkpoint here.")] = None,
    compile_model: CompileOpt = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print only the final result as one JSON object.")] = False,
) -> None:
    """Train one trial with a given schedule; report validation accuracy per epoch, then test accuracy."""
    from prs_search.checkpoints import save_model
    from prs_search.schedule import Schedule
    from prs_search.train import TrainConfig, build_model
    from prs_search.train import train as run_trial

    splits = _load_splits(dataset, fraction, num_samples, seed, data_dir, download)
    config = TrainConfig(
        model=model, stem=stem, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, compile=compile_model
    )
    depth = build_model(config, splits).depth
    sched = Schedule.parse(schedule, depth, epochs)
    title = f"{dataset}: {len(splits.train)} train / {len(splits.val)} val, schedule {sched}"
    with _EpochTable(title, enabled=not as_json) as table:
        result, trained = run_trial(config, splits, sched, on_epoch=table.add, evaluate_test=True)
    if save is not None:
        model_args = {
            "img_size": splits.img_size, "in_chans": splits.in_chans, "num_classes": splits.num_classes, "stem": stem
        }  # fmt: skip
        # The size options as given, so an analysis can rebuild the same validation split.
        meta = {"dataset": dataset, "fraction": fraction, "num_samples": num_samples, **result.to_dict()}
        save_model(save, trained, model, model_args, meta)
    summary = {k: v for k, v in result.to_dict().items() if k not in ("history", "config")}
    if as_json:
        typer.echo(json.dumps({"dataset": dataset, "num_samples": splits.num_samples, **summary}))
        return
    console.print(
        f"[bold]{result.status}[/]: val_acc {result.val_acc:.4f} (best {result.best_val_acc:.4f}), "
        f"test_acc {result.test_acc:.4f}, {result.seconds:.1f} s" + (f", saved to {save}" if save else "")
    )


class _EpochTable:
    """A rich table that grows by one row per epoch while training runs (nothing when disabled)."""

    COLUMNS = ("epoch", "attn", "switch", "train loss", "train acc", "val loss", "val acc", "lr", "sec")

    def __init__(self, title: str, enabled: bool = True) -> None:
        # A light box: the nine columns fit the 80 columns rich assumes when the output is not a terminal.
        self.table = Table(*self.COLUMNS, title=title, box=box.SIMPLE_HEAD, pad_edge=False)
        self.live = Live(self.table, console=console, auto_refresh=False) if enabled else None

    def __enter__(self) -> "_EpochTable":
        if self.live:
            self.live.start(refresh=True)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live:
            self.live.stop()
            if not console.is_terminal:  # rich ends a non-terminal live render without a line break
                console.line()

    def add(self, e: Any, _state: Any = None) -> None:
        if self.live is None:
            return
        switched = ",".join(str(i + 1) for i in e.switched) or "-"
        self.table.add_row(
            str(e.epoch), str(e.attention_layers), switched, f"{e.train_loss:.4f}", f"{e.train_acc:.4f}",
            f"{e.val_loss:.4f}", f"{e.val_acc:.4f}", f"{e.lr:.1e}", f"{e.seconds:.1f}",
        )  # fmt: skip
        self.live.refresh()


@app.command()
def models() -> None:
    """List the model presets with their depth, width and parameter count."""
    from prs_search.model import create_model, list_models, model_doc

    table = Table("preset", "depth", "dim", "params (CIFAR-100 head)", "doc")
    for name in list_models():
        m = create_model(name, img_size=32, in_chans=3, num_classes=100)
        params = sum(p.numel() for p in m.parameters())
        table.add_row(name, str(m.depth), str(m.embed_dim), f"{params / 1e6:.2f} M", model_doc(name))
    console.print(table)


@app.command()
def datasets() -> None:
    """List the datasets prs-search knows."""
    from prs_search.data import list_datasets

    for name in list_datasets():
        typer.echo(name)


DbOpt = Annotated[
    str | None,
    typer.Option("--db", help="Results database URL (default: $PRS_DATABASE_URL or SQLite in ~/.prs-search)."),
]


def _database_url(db: str | None) -> str:
    from prs_search.settings import get_settings

    return db or get_settings().resolved_database_url()


@app.command()
def run(
    dataset: DatasetOpt,
    budget: Annotated[int, typer.Option(min=1, help="Number of trials to run (each one schedule trained once).")],
    fraction: FractionOpt = None,
    num_samples: NumSamplesOpt = None,
    space: Annotated[str, typer.Option(help="Search space: free, monotone, linear, or a PATH.yaml.")] = "monotone",
    epochs: Annotated[int, typer.Option(min=1, help="Total training epochs E of every trial.")] = 10,
    model: ModelOpt = "tiny",
    stem: StemOpt = "conv",
    gpus_per_trial: Annotated[float, typer.Option(help="GPUs per trial; fractions pack trials on one GPU.")] = 0.0,
    cpus_per_trial: Annotated[float, typer.Option(help="CPUs per trial.")] = 1.0,
    max_concurrent: Annotated[int | None, typer.Option(help="At most this many trials at once.")] = None,
    grace_period: Annotated[
        int | None, typer.Option(help="ASHA: epochs before a trial can be stopped (default E/4).")
    ] = None,
    reduction_factor: Annotated[int, typer.Option(help="ASHA: keep 1/this of the trials at each rung.")] = 3,
    seed: SeedOpt = 0,
    name: Annotated[str | None, typer.Option(help="Search name; an existing name resumes that search.")] = None,
    db: DbOpt = None,
    ray_address: Annotated[
        str | None,
        typer.Option(envvar="RAY_ADDRESS", help="Join this Ray cluster (default: start Ray locally)."),
    ] = None,
    resume: Annotated[bool, typer.Option(help="Continue an interrupted search (--name, or the latest one).")] = False,
    data_dir: DataDirOpt = None,
    download: DownloadOpt = False,
    compile_model: CompileOpt = False,
) -> None:
    """Search per-layer switch epochs with Ray Tune trials suggested by Optuna, recorded in SQL."""
    from prs_search.search import SearchRequest, run_search
    from prs_search.settings import get_settings

    settings = get_settings()
    request = SearchRequest(
        dataset=dataset, budget=budget, fraction=fraction, num_samples=num_samples, space=space, epochs=epochs,
        model=model, stem=stem, gpus_per_trial=gpus_per_trial, cpus_per_trial=cpus_per_trial,
        max_concurrent=max_concurrent, grace_period=grace_period, reduction_factor=reduction_factor, seed=seed,
        name=name, database_url=_database_url(db), ray_address=ray_address or settings.ray_address,
        resume=resume, data_dir=data_dir or settings.resolved_data_dir(),
        storage_path=settings.resolved_storage_path(), download=download, compile=compile_model,
    )  # fmt: skip
    request.validate()
    with _SearchProgressBar(budget) as bar:
        summary = run_search(request, on_progress=bar.update)
    _print_summary(summary)


class _SearchProgressBar:
    """Trials done / budget, running, pruned, best so far, elapsed and ETA, live in the terminal."""

    def __init__(self, budget: int) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(
            TextColumn("trials"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TextColumn("{task.fields[eta]}"), TextColumn("{task.description}"), console=err_console,
        )  # fmt: skip
        self.task = self.progress.add_task("starting Ray...", total=budget, eta="")

    def __enter__(self) -> "_SearchProgressBar":
        self.progress.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        if exc_type is None:
            self.progress.stop()
            return
        # On an error the one-line message is all the user should see: drop the bar, do not leave it above.
        self.progress.live.transient = True
        self.progress.live.stop()

    def update(self, p: Any) -> None:
        best = f"best val {p.best_val_acc:.4f} [{','.join(map(str, p.best_schedule))}]" if p.best_schedule else ""
        eta = f"ETA {p.eta:.0f}s" if p.eta is not None else ""
        text = f"running {p.running}, pruned {p.pruned}, failed {p.failed}  {best}"
        self.progress.update(self.task, completed=p.finished, description=text, eta=eta)


def _print_summary(summary: Any) -> None:
    s = summary.search
    table = Table(title=f"search {s.name} ({s.status})", show_header=False)
    table.add_row("dataset", f"{s.dataset}, {s.num_samples} images (val carved from them)")
    table.add_row("model / epochs / space", f"{s.model} ({s.stem} stem) / {s.epochs} / {s.space}")
    table.add_row("trials", ", ".join(f"{k.lower()} {v}" for k, v in summary.counts.items() if v))
    best = ",".join(map(str, summary.best_schedule)) if summary.best_schedule else "-"
    table.add_row("best schedule", best)
    table.add_row("best val acc", f"{summary.best_val_acc:.4f}" if summary.best_val_acc is not None else "-")
    table.add_row("its test acc", f"{summary.test_acc:.4f}" if summary.test_acc is not None else "-")
    table.add_row("wall time", f"{summary.seconds:.1f} s")
    console.print(table)


@app.command()
def searches(db: DbOpt = None, limit: Annotated[int, typer.Option(min=1)] = 50) -> None:
    """List stored searches, newest first."""
    from prs_search.store import ResultsStore

    store = ResultsStore(_database_url(db))
    rows, total = store.list_searches(limit=limit)
    table = Table("id", "name", "dataset", "size", "space", "budget", "status", "test acc", title=f"{total} searches")
    for r in rows:
        test = f"{r.test_acc:.4f}" if r.test_acc is not None else "-"
        table.add_row(str(r.id), r.name, r.dataset, str(r.num_samples), r.space, str(r.budget), r.status, test)
    console.print(table)


@app.command()
def trials(
    name: Annotated[str, typer.Argument(help="Search name or id.")],
    db: DbOpt = None,
    limit: Annotated[int, typer.Option(min=1)] = 200,
) -> None:
    """List the trials of one search, best first."""
    from prs_search.store import ResultsStore

    store = ResultsStore(_database_url(db))
    search = store.get_search(int(name) if name.isdigit() else name)
    if search is None:
        raise ConfigError(f"no search named {name!r} (see `prs-search searches`)")
    rows, total = store.list_trials(search.id, limit=limit)
    rows.sort(key=lambda t: (t.state != "COMPLETE", -(t.val_acc or 0.0)))
    table = Table("trial", "state", "schedule", "epochs", "val acc", "seconds", title=f"{search.name}: {total} trials")
    for t in rows:
        val = f"{t.val_acc:.4f}" if t.val_acc is not None else "-"
        sched = ",".join(map(str, t.schedule))
        table.add_row(t.trial_key, str(t.state), sched, str(t.epochs_run), val, f"{t.seconds:.1f}")
    console.print(table)


# typer >= 0.2x no longer raises click's exceptions but its own (typer.Exit, typer.Abort, TyperException,
# the base of its vendored UsageError / BadParameter / NoSuchOption); older typer raises click's.
_EXIT = (click.exceptions.Exit, typer.Exit)
_USAGE_ERRORS = (click.ClickException, getattr(typer, "TyperException", click.ClickException))
_ABORT = (click.exceptions.Abort, typer.Abort)


from prs_search import cli_service  # noqa: E402  (serve, recommend, dashboard: the service side)

cli_service.register(app)
from prs_search import cli_analysis  # noqa: E402  (analyze fourier, study data-scale, report)

cli_analysis.register(app)


def main() -> None:
    """Entry point: any usage or user error becomes one line on stderr and exit code 2."""
    try:
        app(standalone_mode=False)
    except _EXIT as done:
        sys.exit(done.exit_code)
    except _USAGE_ERRORS as err:
        message = err.format_message().strip()
        if message:  # empty when the help was already shown (no arguments given)
            err_console.print(f"error: {message}", markup=False, highlight=False, emoji=False, soft_wrap=True)
        sys.exit(2)
    except PRSError as err:
        err_console.print(f"error: {err}", markup=False, highlight=False, emoji=False, soft_wrap=True)
        sys.exit(2)
    except (KeyboardInterrupt, *_ABORT):
        err_console.print("interrupted", markup=False)
        sys.exit(130)
