"""What the `prs-search` commands share: the consoles, the options that several commands take (one
definition each), and where an option left out is looked up (the settings)."""

import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from prs_search.dataset_registry import datasets_help
from prs_search.errors import ConfigError
from prs_search.recipe import ConvVariant
from prs_search.search_request import SearchRequest

console = Console()
err_console = Console(stderr=True)


def _request_help(field: str) -> str | None:
    """The help of an option that `prs-search run` takes too: its `SearchRequest` field's description."""
    return SearchRequest.model_fields[field].description


DbOpt = Annotated[
    str | None,
    typer.Option("--db", help="Results database URL (default: $PRS_DATABASE_URL or SQLite in ~/.prs-search)."),
]
DataDirOpt = Annotated[Path | None, typer.Option(help="Dataset root (default: $PRS_DATA_DIR or ~/.prs-search/data).")]
DownloadOpt = Annotated[bool, typer.Option(help="Download torchvision datasets that are missing (needs internet).")]
DatasetOpt = Annotated[str, typer.Option(help=f"{datasets_help()} (`prs-search datasets`).")]
FractionOpt = Annotated[float | None, typer.Option(help=_request_help("fraction"))]
NumSamplesOpt = Annotated[int | None, typer.Option(help=_request_help("num_samples"))]
ModelOpt = Annotated[str, typer.Option(help=_request_help("model"))]
StemOpt = Annotated[str, typer.Option(help=_request_help("stem"))]
ConvOpt = Annotated[ConvVariant | None, typer.Option(help=_request_help("conv"))]
GpusPerTrialOpt = Annotated[float, typer.Option(help=_request_help("gpus_per_trial"))]
RayAddressOpt = Annotated[
    str | None, typer.Option(envvar="RAY_ADDRESS", help="Join this Ray cluster (default: start Ray locally).")
]
SeedOpt = Annotated[int, typer.Option(help=_request_help("seed"))]
CompileOpt = Annotated[bool, typer.Option("--compile", help=_request_help("compile"))]
BatchSizeOpt = Annotated[int, typer.Option(min=1, help="Training batch size.")]
LearningRateOpt = Annotated[
    float | None,
    typer.Option(
        min=0.0, help="Peak AdamW learning rate (warm-up, then cosine); default: the preset's (tiny 3e-3, else 1e-3)."
    ),
]
HostOpt = Annotated[str, typer.Option(help="Address to listen on (127.0.0.1: this machine only).")]
MaxImagesOpt = Annotated[
    int, typer.Option(min=1, help="Analyse at most this many validation images (a fixed random choice).")
]


def resolve_database_url(db: str | None) -> str:
    """`--db`, else the settings' database (`PRS_DATABASE_URL`, else SQLite in the home folder)."""
    from prs_search.settings import get_settings

    return db or get_settings().resolved_database_url()


def resolve_data_dir(folder: Path | None) -> Path:
    """`--data-dir`, else the settings' data folder."""
    from prs_search.settings import get_settings

    return folder or get_settings().resolved_data_dir()


def output_file(path: Path, option: str, example: str) -> Path:
    """`path`, checked before the work whose result it will hold: not a folder, its folder made and
    writable; else one `ConfigError` now, not a traceback once the work is done."""
    if path.is_dir():
        raise ConfigError(f"{option} {path} is a folder: give the file to write, e.g. {option} {path / example}")
    output_folder(path.parent, option)
    return path


def output_folder(path: Path, option: str) -> Path:
    """`path` as a folder to write into, made now and tried with a file (see `output_file`)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise ConfigError(f"{option}: {path} is a file, not a folder") from None
    except OSError as err:
        raise ConfigError(f"{option}: cannot make the folder {path}: {err.strerror or err}") from None
    try:  # a real write: permission bits do not tell for root, nor for /proc or a read-only mount
        tempfile.TemporaryFile(dir=path).close()
    except OSError as err:
        raise ConfigError(f"{option}: cannot write into {path}: {err.strerror or err}") from None
    return path


def one_size(fraction: float | None, num_samples: int | None) -> None:
    """A dataset size is a fraction or a number of images, not both."""
    if fraction is not None and num_samples is not None:
        raise ConfigError("give either --fraction or --num-samples, not both")
