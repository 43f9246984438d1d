"""The analysis side of `prs-search`: `analyze fourier`, `study data-scale` and `report`.

`prs_search.cli` adds these commands with `register(app)`. Every user error is a `PRSError`, which
`prs_search.cli.main` prints as one line with exit code 2. The work is done in `prs_search.analysis`;
this module parses options, shows progress and writes the files.
"""

import re
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.progress import TextColumn
from rich.table import Table

from prs_search.cli.options import (
    BatchSizeOpt,
    ConvOpt,
    DataDirOpt,
    DatasetOpt,
    DbOpt,
    DownloadOpt,
    GpusPerTrialOpt,
    LearningRateOpt,
    MaxImagesOpt,
    ModelOpt,
    RayAddressOpt,
    StemOpt,
    console,
    output_file,
    output_folder,
    resolve_data_dir,
    resolve_database_url,
)
from prs_search.cli.progress import LiveBar
from prs_search.errors import ConfigError
from prs_search.recipe import RECIPE
from prs_search.schedule import SCHEDULE_FORMS

if TYPE_CHECKING:  # torch-heavy modules are imported lazily so `--help` stays fast
    from prs_search.study.driver import StudyProgress, StudyResult
    from prs_search.study.summary import StudyRow

# Checked by `prs_search.analysis.fourier.check_reading` when the command runs (it imports torch).
ReadingOpt = Annotated[
    str,
    typer.Option(
        help="How to read the frequency diagonal: park-kim (the reference's, comparable with the paper's figures: "
        "bins 0 .. H/2 - 1 labelled 0 .. 1 pi, so '1.0 pi' is the bin before Nyquist) or nyquist (bins 0 .. H/2 "
        "at their true frequencies, Nyquist included)."
    ),
]

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
    reading: ReadingOpt = "park-kim",
    data_dir: DataDirOpt = None,
    download: DownloadOpt = False,
    db: DbOpt = None,
) -> None:
    """Relative log amplitude of the Fourier-transformed feature maps after every sub-layer (Park & Kim 2022).

    Two maps per block: after the token mixer's residual add and after the MLP's. Writes fourier.csv (layer,
    sublayer, mode, reading, frequency as labelled, true frequency, both in units of pi, delta log amplitude)
    and fourier.png."""
    from prs_search.analysis.fourier import check_reading
    from prs_search.analysis.plots import fourier_png
    from prs_search.analysis.sources import from_checkpoint, from_trial
    from prs_search.store import ResultsStore

    chosen = check_reading(reading)
    output_folder(out, "--out")
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
        profile = trained.fourier(splits, max_images, chosen)
    profile.write_csv(out / "fourier.csv")
    (out / "fourier.png").write_bytes(fourier_png(profile, trained.title))
    table = Table("sub-layer", "mode", profile.high_label(), title=trained.title)
    for label, mode, high in zip(profile.labels(), profile.sublayer_modes(), profile.high_frequency(), strict=True):
        table.add_row(label, mode, f"{high:+.3f}")
    console.print(table)
    console.print(f"{profile.images} validation images; wrote {out / 'fourier.csv'} and {out / 'fourier.png'}")


@study_app.command("data-scale")
def data_scale(
    dataset: DatasetOpt,
    out: Annotated[
        Path, typer.Option(help="Folder for data_scale.csv, data_scale.md, data_scale.png and the Fourier files.")
    ],
    sizes: Annotated[
        str | None,
        typer.Option(
            help="Dataset sizes in images (training + validation), comma-separated, e.g. 250,500,1000,4000: "
            "stratified seeded subsets, as `train --num-samples`."
        ),
    ] = None,
    fractions: Annotated[
        str | None,
        typer.Option(
            help="Dataset sizes as fractions of the training split, comma-separated, instead of --sizes "
            "(default without --sizes: 0.1,0.25,0.5,1.0)."
        ),
    ] = None,
    schedules: Annotated[
        str,
        typer.Option(
            help=f"Comma-separated schedules: {SCHEDULE_FORMS}, or 'best' (the results store's recommended "
            "schedule for each size), all written for E = --epochs epochs."
        ),
    ] = "all-conv,all-attention,prs",
    epochs: Annotated[
        int,
        typer.Option(
            min=1,
            help="E: the epochs of every run (fixed-epochs protocol, the paper's); with --steps, the "
            "reference the schedules are written for.",
        ),
    ] = RECIPE.epochs,
    steps: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="N: a fixed optimiser-step budget instead of fixed epochs. Each size trains E_s = max(1, "
            "round(N / steps per epoch)) epochs (steps per epoch = training images // batch size) and every "
            "switch epoch e becomes round(e * E_s / E), half up: prs stays linear E_s/2 -> 0, all-conv = E_s, "
            "all-attention = 0.",
        ),
    ] = None,
    model: ModelOpt = RECIPE.model,
    stem: StemOpt = "conv",
    conv: ConvOpt = None,
    reference: Annotated[
        bool,
        typer.Option(
            "--reference/--no-reference",
            help="Also train the plain CNN (prs-search's reference, 0.56 M parameters) at every size and seed, "
            "for the same optimiser steps as the hybrid there: the bar a hybrid must come near.",
        ),
    ] = True,
    repeats: Annotated[
        int, typer.Option(min=1, help="Seeds per size and schedule, S .. S+R-1 (intervals need at least 2).")
    ] = 1,
    seed: Annotated[int, typer.Option(help="First seed S (subset, split, initialisation, data order).")] = 0,
    batch_size: BatchSizeOpt = RECIPE.batch_size,
    lr: LearningRateOpt = None,
    name: Annotated[
        str | None, typer.Option(help="Study name; an existing name continues that study (stored runs are kept).")
    ] = None,
    fourier: Annotated[
        bool | None,
        typer.Option(
            "--fourier/--no-fourier",
            help="Fourier profile of all-conv and all-attention at the smallest and the largest size (first "
            "seed, its validation split) after training (default: on when both are among --schedules).",
        ),
    ] = None,
    reading: ReadingOpt = "park-kim",
    max_images: MaxImagesOpt = 512,
    jobs: Annotated[
        int,
        typer.Option(
            min=1,
            help="Runs at once. Above 1 they are Ray tasks (one CPU each, and --gpus-per-trial GPUs): one per "
            "core on a CPU machine, several packed on each GPU with a fraction.",
        ),
    ] = 1,
    gpus_per_trial: GpusPerTrialOpt = 0.0,
    threads: Annotated[
        int | None,
        typer.Option(min=1, help="Torch threads per run (default: this machine's cores / --jobs)."),
    ] = None,
    ray_address: RayAddressOpt = None,
    report_only: Annotated[
        bool,
        typer.Option(
            "--report-only",
            help="Train nothing: write the table, plot and Fourier files from the runs this study has stored, and "
            "list the runs not stored yet (a study too long for one sitting, reported as it stands).",
        ),
    ] = False,
    db: DbOpt = None,
    data_dir: DataDirOpt = None,
    download: DownloadOpt = False,
) -> None:
    """Train each schedule (and the plain CNN reference) at each dataset size and seed, seed by seed; store
    every run as it finishes; write the accuracy table (CSV and Markdown: train, validation and test
    accuracy with 95% intervals, paired differences against all-conv and prs), the plot and the Fourier
    reading. The same --name continues an interrupted study."""
    from prs_search.analysis.fourier import check_reading
    from prs_search.analysis.plots import data_scale_png, fourier_comparison_png, fourier_png
    from prs_search.store import ResultsStore
    from prs_search.study.driver import run_data_scale
    from prs_search.study.protocol import DEFAULT_FRACTIONS, DataScaleRequest, parse_fractions, parse_sizes
    from prs_search.study.summary import seeds_per_cell
    from prs_search.study.tables import study_markdown, write_csv

    if sizes is not None and fractions is not None:
        raise ConfigError("give the dataset sizes either as --sizes (images) or as --fractions, not both")
    request = DataScaleRequest(
        dataset=dataset, schedules=schedules, data_dir=resolve_data_dir(data_dir),
        sizes=parse_sizes(sizes) if sizes is not None else (),
        fractions=() if sizes is not None else parse_fractions(fractions) if fractions else DEFAULT_FRACTIONS,
        epochs=epochs, steps=steps, model=model, stem=stem, conv=conv, reference=reference, repeats=repeats,
        seed=seed, batch_size=batch_size, lr=lr, name=name, download=download, fourier=fourier,
        reading=check_reading(reading), fourier_images=max_images, jobs=jobs, gpus_per_job=gpus_per_trial,
        threads=threads, ray_address=ray_address, report_only=report_only,
    )  # fmt: skip
    output_folder(out, "--out")
    with ResultsStore(resolve_database_url(db)) as store, _StudyProgressBar() as bar:
        result = run_data_scale(request, store, on_progress=bar.update)
    written = [out / "data_scale.csv", out / "data_scale.md", out / "data_scale.png"]
    write_csv(result.rows, result.protocol, written[0])
    written[1].write_text(study_markdown(result, request, shlex.join(["prs-search", *sys.argv[1:]])), "utf-8")
    title = (
        f"{dataset}, {model} ({result.conv}), {result.protocol.short()}, {seeds_per_cell(result.rows)} seed(s) each "
        f"(study {result.name})"
    )
    written[2].write_bytes(data_scale_png(result.rows, title))
    for analysed in result.fourier:
        analysed.profile.write_csv(out / f"{analysed.file_stem}.csv")
        what = f"{analysed.label} at {analysed.num_samples} images, seed {analysed.seed}"
        (out / f"{analysed.file_stem}.png").write_bytes(fourier_png(analysed.profile, what))
        written += [out / f"{analysed.file_stem}.csv", out / f"{analysed.file_stem}.png"]
    if result.fourier:
        written.append(out / "fourier_comparison.png")
        lines = [(f"{p.label}, {p.num_samples} images", p.profile) for p in result.fourier]
        written[-1].write_bytes(fourier_comparison_png(lines, f"study {result.name}: high frequencies per sub-layer"))
    console.print(f"protocol ({result.protocol.kind}): {result.protocol.describe()}", highlight=False)
    console.print(_study_table(result.rows, f"study {result.name}: {result.trained} runs trained now"))
    if result.fourier:
        console.print(_fourier_table(result))
        console.print(_trend_table(result))
    for note in result.notes:
        console.print(f"note: {note}", highlight=False)
    console.print(f"wrote {', '.join(str(p) for p in written)}", highlight=False)


def _study_table(rows: "list[StudyRow]", title: str) -> Table:
    from prs_search.study.tables import TABLE_HEADER, row_cells

    return _cells_table(TABLE_HEADER, [row_cells(r) for r in rows], title)


def _fourier_table(result: "StudyResult") -> Table:
    from prs_search.study.tables import fourier_cells

    return _cells_table(*fourier_cells(result.fourier), result.fourier[0].profile.high_label())


def _trend_table(result: "StudyResult") -> Table:
    from prs_search.study.tables import trend_cells

    title = "convolution time against high frequency (Spearman's rho over the schedules)"
    return _cells_table(*trend_cells(result.fourier), title)


def _cells_table(header: Sequence[str], rows: Sequence[Sequence[str]], title: str) -> Table:
    # A light box: the table stays narrow enough to read off a terminal (rich wraps the widest cells).
    table = Table(*header, title=title, box=box.SIMPLE_HEAD, show_edge=False, collapse_padding=True)
    for row in rows:
        table.add_row(*row)
    return table


class _StudyProgressBar(LiveBar):
    """Runs done / total, the run in progress and its epoch, live on stderr."""

    def __init__(self) -> None:
        super().__init__("runs", (TextColumn("{task.description}"),), "loading the data...", None, {})

    def update(self, p: "StudyProgress") -> None:
        text = f"{p.current}, epoch {p.epoch}/{p.epochs}" if p.current and p.epochs else p.current
        self.progress.update(self.task, total=p.total, completed=p.done, description=text)


def report(
    search: Annotated[str, typer.Argument(help="Search name or id.")],
    out: Annotated[Path | None, typer.Option(help="The HTML file to write (default: report-SEARCH.html).")] = None,
    max_images: MaxImagesOpt = 512,
    reading: ReadingOpt = "park-kim",
    db: DbOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Write one self-contained HTML page about a search (history, best schedule, accuracy by size, Fourier).

    The page embeds its plots: the trials' validation accuracy in order (pruned and failed marked, best so far),
    the best schedule per layer, accuracy against dataset size (the dataset's newest data-scale study, else the
    best schedule of each searched size) and the Fourier analysis of the best trial's feature maps."""
    from prs_search.analysis.fourier import check_reading
    from prs_search.analysis.report import build_report
    from prs_search.store import ResultsStore

    path = output_file(out or Path(f"report-{re.sub(r'[^A-Za-z0-9._-]+', '_', search)}.html"), "--out", "report.html")
    chosen = check_reading(reading)
    with ResultsStore(resolve_database_url(db)) as store, console.status(f"building the report of {search}..."):
        page = build_report(store, search, resolve_data_dir(data_dir), max_images, chosen)
    try:
        path.write_text(page, encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"cannot write the report to {path}: {err.strerror or err}") from None
    console.print(f"wrote {path}")
