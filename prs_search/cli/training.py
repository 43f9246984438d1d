"""`prs-search train`, `models` and `datasets`: one trial, and what there is to train."""

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import box
from rich.live import Live
from rich.table import Table

from prs_search.cli.options import (
    BatchSizeOpt,
    CompileOpt,
    ConvOpt,
    DataDirOpt,
    DatasetOpt,
    DownloadOpt,
    FractionOpt,
    LearningRateOpt,
    ModelOpt,
    NumSamplesOpt,
    SeedOpt,
    StemOpt,
    console,
    one_size,
    output_file,
    resolve_data_dir,
)
from prs_search.dataset_registry import DATASET_INFO, IMAGEFOLDER_PREFIX, list_datasets
from prs_search.recipe import RECIPE, TrainConfig
from prs_search.schedule import SCHEDULE_FORMS

if TYPE_CHECKING:  # torch-heavy modules are imported lazily so `--help` stays fast
    from prs_search.data import Splits


def register(app: typer.Typer) -> None:
    """Add `train`, `models` and `datasets` to `app`."""
    app.command("train")(train)
    app.command("models")(models)
    app.command("datasets")(datasets)


def _load_splits(
    dataset: str, fraction: float | None, num_samples: int | None, seed: int, folder: Path | None, download: bool
) -> "Splits":
    from prs_search.data import load_dataset, make_splits

    one_size(fraction, num_samples)
    raw = load_dataset(dataset, resolve_data_dir(folder), download=download)
    return make_splits(raw, fraction=fraction, num_samples=num_samples, seed=seed)


def train(
    dataset: DatasetOpt = "digits",
    schedule: Annotated[str, typer.Option(help=f"Switch epochs: {SCHEDULE_FORMS}.")] = "prs",
    epochs: Annotated[int, typer.Option(min=1, help="Total training epochs E.")] = RECIPE.epochs,
    model: ModelOpt = RECIPE.model,
    stem: StemOpt = "conv",
    conv: ConvOpt = None,
    fraction: FractionOpt = None,
    num_samples: NumSamplesOpt = None,
    batch_size: BatchSizeOpt = RECIPE.batch_size,
    lr: LearningRateOpt = None,
    seed: SeedOpt = 0,
    data_dir: DataDirOpt = None,
    download: DownloadOpt = False,
    save: Annotated[Path | None, typer.Option(help="Write the trained model's checkpoint here.")] = None,
    compile_model: CompileOpt = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print only the final result as one JSON object.")] = False,
) -> None:
    """Train one trial with a given schedule; report validation accuracy per epoch, then test accuracy."""
    from prs_search.saved_model import save_model
    from prs_search.schedule import Schedule
    from prs_search.train import build_model
    from prs_search.train import train as run_trial

    if save is not None:
        output_file(save, "--save", "model.pt")
    splits = _load_splits(dataset, fraction, num_samples, seed, data_dir, download)
    config = TrainConfig(  # not a replace() of RECIPE: the preset's own recipe fields fill in afresh
        model=model,
        stem=stem,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        compile=compile_model,
        conv=conv,
    )
    depth = build_model(config, splits).depth
    sched = Schedule.parse(schedule, depth, epochs)
    title = f"{dataset}: {len(splits.train)} train / {len(splits.val)} val, schedule {sched}"
    with _EpochTable(title, enabled=not as_json) as table:
        result, trained = run_trial(config, splits, sched, on_epoch=table.add, evaluate_test=True)
    if save is not None:
        model_args = {
            "img_size": splits.img_size, "in_chans": splits.in_chans, "num_classes": splits.num_classes, "stem": stem,
            "conv": trained.conv,
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

    COLUMNS = ("epoch", "switch", "train loss", "train acc", "val acc", "lr", "sec", "tap", "dist")

    def __init__(self, title: str, enabled: bool = True) -> None:
        # A light box, and the layers compactly: the columns fit the 80 that rich assumes off a terminal.
        self.table = Table(*self.COLUMNS, title=title, box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
        self.live = Live(self.table, console=console, auto_refresh=False) if enabled else None
        if enabled:
            self.table.caption = (
                "per layer, c = convolution; tap: attention on the layer's own conv tap (1 = a convolution); "
                "dist: mean attention distance in tokens (3x3 convolution: 1.07)"
            )

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
        tap = " ".join("c" if x.tap_mass is None else f"{x.tap_mass:.2f}".lstrip("0") for x in e.layers)
        dist = " ".join("c" if x.attention_distance is None else f"{x.attention_distance:.1f}" for x in e.layers)
        self.table.add_row(
            str(e.epoch), switched, f"{e.train_loss:.3f}", f"{e.train_acc:.3f}", f"{e.val_acc:.3f}", f"{e.lr:.0e}",
            f"{e.seconds:.1f}", tap, dist,
        )  # fmt: skip
        self.live.refresh()


def models() -> None:
    """List the model presets with their depth, width and parameter count."""
    from prs_search.model import create_model, list_models, model_doc

    table = Table("preset", "depth", "dim", "params (CIFAR-100 head)", "doc")
    for name in list_models():
        m = create_model(name, img_size=32, in_chans=3, num_classes=100)
        params = sum(p.numel() for p in m.parameters())
        table.add_row(name, str(m.depth), str(m.embed_dim), f"{params / 1e6:.2f} M", model_doc(name))
    console.print(table)


def datasets() -> None:
    """List the datasets prs-search knows, with their sizes (and `imagefolder:PATH` for your own)."""
    table = Table("dataset", "train", "test", "image", "classes", "source", box=box.SIMPLE_HEAD, pad_edge=False)
    for name in list_datasets():
        d = DATASET_INFO[name]
        table.add_row(name, f"{d.train:,}", f"{d.test:,}", d.shape, str(d.classes), d.source)
    table.add_row(f"{IMAGEFOLDER_PREFIX}PATH", "", "", "3x32x32", "", "your class folders")
    console.print(table)
