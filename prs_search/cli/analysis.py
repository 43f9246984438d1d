"""The analysis side of `prs-search`: `analyze fourier`, `study data-scale` and `report`.

`prs_search.cli` adds these commands with `register(app)`. Every user error is a `PRSError`, which
`prs_search.cli.main` prints as one line with exit code 2. The work is done in `prs_search.analysis`;
this module parses options, shows progress and writes the files.
"""

import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.table import Table

from prs_search.cli.options import (
    RECIPE,
    BatchSizeOpt,
    DataDirOpt,
    DbOpt,
    DownloadOpt,
    LearningRateOpt,
    MaxImagesOpt,
    ModelOpt,
    StemOpt,
    console,
    err_console,
    resolve_data_dir,
    resolve_database_url,
)
from prs_search.errors import ConfigError
from prs_search.schedule import SCHEDULE_FORMS

if TYPE_CHECKING:  # torch-heavy modules are imported lazily so `--help` stays fast
    from prs_search.analysis.study import StudyProgress, StudyRow

analyze_app = typer.Typer(help="Analyse trained models.", no_args_is_help=True)
study_app = typer.Typer(help="Studies that train many models and store every run.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add `analyze`, `study` and `report` to `app`."""
    app.add_typer(analyze_app, name="analyze")
    app.add_typer(study_app, name="study")
    app.command("report")(report)


@analyze_app.command("fourier")
def fourier(
    checkpoint: Annotated[
        Path | None, typer.Option(help="A model checkpoint written by `prs-search train --save`.")
    ] = None,
    search: Annotated[str | None, typer.Option(help="Analyse a trial of this stored search (name or id).")] = None,
    trial: Annotated[
        int | None, typer.Option(min=0, help="With --search: the trial number (default: the search's best trial).")
    ] = None,
    out: Annotated[Path, typer.Option(help="Folder for fourier.csv and fourier.png.")] = Path("fourier"),
    dataset: Annotated[
        str | None, typer.Option(help="Dataset whose validation images to use (default: the one the model saw).")
    ] = None,
    fraction: Annotated[
        float | None, typer.Option(help="Dataset size as a fraction of the training split, as in `train`.")
    ] = None,
    num_samples: Annotated[int | None, typer.Option(help="Dataset size in images, as in `train`.")] = None,
    seed: Annotated[
        int | None, typer.Option(help="Seed of the subset and split (default: the one the model was trained with).")
    ] = None,
    max_images: MaxImagesOpt = 512,
    data_dir: DataDirOpt = None,
    download: DownloadOpt = False,
    db: DbOpt = None,
) -> None:
    """Relative log amplitude of the Fourier-transformed feature maps of every block (Park & Kim 2022).

    Writes fourier.csv (layer, mode, frequency in units of pi, delta log amplitude) and fourier.png."""
    from prs_search.analysis.plots import fourier_png
    from prs_search.analysis.sources import from_checkpoint, from_trial
    from prs_search.store import ResultsStore

    if (checkpoint is None) == (search is None):
        raise ConfigError("give either --checkpoint PATH or --search NAME")
    if trial is not None and search is None:
        raise ConfigError("--trial needs --search")
    if checkpoint is not None:
        trained = from_checkpoint(checkpoint)
    else:
        assert search is not None
        with ResultsStore(resolve_database_url(db)) as store:
            trained = from_trial(store, search, None if trial is None else str(trial))
    splits = trained.data_spec(dataset, fraction, num_samples, seed).splits(resolve_data_dir(data_dir), download)
    with console.status(f"analysing {trained.title}..."):
        profile = trained.fourier(splits, max_images)
    out.mkdir(parents=True, exist_ok=True)
    profile.write_csv(out / "fourier.csv")
    (out / "fourier.png").write_bytes(fourier_png(profile, trained.title))
    table = Table("layer", "mode", f"delta log amplitude at {profile.frequencies[-1]:.2f} pi", title=trained.title)
    for layer, (mode, high) in enumerate(zip(profile.modes(), profile.high_frequency(), strict=True), start=1):
        table.add_row(str(layer), mode, f"{high:+.3f}")
    console.print(table)
    console.print(f"{profile.images} validation images; wrote {out / 'fourier.csv'} and {out / 'fourier.png'}")


@study_app.command("data-scale")
def data_scale(
    dataset: Annotated[str, typer.Option(help="digits, mnist5k, synthetic, cifar10, cifar100 or imagefolder:PATH.")],
    out: Annotated[Path, typer.Option(help="Folder for data_scale.csv and data_scale.png.")],
    fractions: Annotated[
        str, typer.Option(help="Dataset sizes as fractions of the training split, comma-separated.")
    ] = "0.1,0.25,0.5,1.0",
    schedules: Annotated[
        str,
        typer.Option(
            help=f"Comma-separated schedules: {SCHEDULE_FORMS}, or 'best' (the results store's recommended "
            "schedule for each size, rescaled to E epochs)."
        ),
    ] = "all-conv,all-attention,prs",
    epochs: Annotated[int, typer.Option(min=1, help="Total training epochs E of every run.")] = RECIPE.epochs,
    model: ModelOpt = "tiny",
    stem: StemOpt = "conv",
    repeats: Annotated[int, typer.Option(min=1, help="Runs per size and schedule, with seeds S .. S+R-1.")] = 1,
    seed: Annotated[int, typer.Option(help="First seed S (subset, split, initialisation, data order).")] = 0,
    batch_size: BatchSizeOpt = RECIPE.batch_size,
    lr: LearningRateOpt = RECIPE.lr,
    name: Annotated[
        str | None, typer.Option(help="Study name; an existing name continues that study (stored runs are kept).")
    ] = None,
    db: DbOpt = None,
    data_dir: DataDirOpt = None,
    download: DownloadOpt = False,
) -> None:
    """Train each schedule at each dataset size; write the accuracy table and plot, store every run."""
    from prs_search.analysis.plots import data_scale_png
    from prs_search.analysis.study import DataScaleRequest, parse_fractions, run_data_scale, write_table
    from prs_search.store import ResultsStore

    request = DataScaleRequest(
        dataset=dataset, fractions=parse_fractions(fractions), schedules=schedules, data_dir=resolve_data_dir(data_dir),
        epochs=epochs, model=model, stem=stem, repeats=repeats, seed=seed, batch_size=batch_size, lr=lr, name=name,
        download=download,
    )  # fmt: skip
    with ResultsStore(resolve_database_url(db)) as store, _StudyProgressBar() as bar:
        result = run_data_scale(request, store, on_progress=bar.update)
    out.mkdir(parents=True, exist_ok=True)
    write_table(result.rows, out / "data_scale.csv")
    title = f"{dataset}, {model}, {epochs} epochs, {repeats} run(s) each (study {result.name})"
    (out / "data_scale.png").write_bytes(data_scale_png(result.rows, title))
    console.print(_study_table(result.rows, f"study {result.name}: {result.trained} runs trained now"))
    console.print(f"wrote {out / 'data_scale.csv'} and {out / 'data_scale.png'}")


def _study_table(rows: "list[StudyRow]", title: str) -> Table:
    # A light box and "mean±std" cells: the table fits the 80 columns rich assumes off a terminal.
    table = Table("images", "schedule", "switch epochs", "runs", "val acc", "test acc", title=title,
                  box=box.SIMPLE_HEAD, show_edge=False, collapse_padding=True)  # fmt: skip
    for r in rows:
        size = f"{r.num_samples}" + ("" if r.fraction is None else f" ({r.fraction:g})")
        test = "-" if r.test_mean is None else f"{r.test_mean:.4f}±{r.test_std or 0.0:.4f}"
        table.add_row(size, r.label, r.schedule, str(r.repeats), f"{r.val_mean:.4f}±{r.val_std:.4f}", test)
    return table


class _StudyProgressBar:
    """Runs done / total, the run in progress and its epoch, live on stderr."""

    def __init__(self) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(
            TextColumn("runs"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TextColumn("{task.description}"), console=err_console,
        )  # fmt: skip
        self.task = self.progress.add_task("loading the data...", total=None)

    def __enter__(self) -> "_StudyProgressBar":
        self.progress.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        # On an error the one-line message is all the user should see: the bar goes.
        self.progress.live.transient = exc_type is not None
        self.progress.stop()

    def update(self, p: "StudyProgress") -> None:
        text = f"{p.current}, epoch {p.epoch}/{p.epochs}" if p.current else ""
        self.progress.update(self.task, total=p.total, completed=p.done, description=text)


def report(
    search: Annotated[str, typer.Argument(help="Search name or id.")],
    out: Annotated[Path | None, typer.Option(help="The HTML file to write (default: report-SEARCH.html).")] = None,
    max_images: MaxImagesOpt = 512,
    db: DbOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Write one self-contained HTML page about a search (history, best schedule, accuracy by size, Fourier).

    The page embeds its plots: the trials' validation accuracy in order (pruned and failed marked, best so far),
    the best schedule per layer, accuracy against dataset size (the dataset's newest data-scale study, else the
    best schedule of each searched size) and the Fourier analysis of the best trial's feature maps."""
    from prs_search.analysis.report import build_report
    from prs_search.store import ResultsStore

    with ResultsStore(resolve_database_url(db)) as store, console.status(f"building the report of {search}..."):
        page = build_report(store, search, resolve_data_dir(data_dir), max_images)
    path = out or Path(f"report-{re.sub(r'[^A-Za-z0-9._-]+', '_', search)}.html")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    console.print(f"wrote {path}")
