"""The one search request: `prs-search run`'s options, the body of `POST /v1/searches`, and what the
API's launcher hands the process it starts. Every field's name, type, bounds, default and help text is
written here once; the CLI generates `run`'s options from these fields (`prs_search.cli.request_options`)
and the API's body subclasses the request, so neither restates them. The name rules (one for a new search's
name, one for the name it gets when none is given) are here too, for the CLI, the API and the study.

Torch- and Ray-free: the API validates requests without them.
"""

import logging
import re
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)

from prs_search.dataset_registry import IMAGEFOLDER_PREFIX, datasets_help, list_datasets
from prs_search.errors import NOT_BLANK, ConfigError
from prs_search.field_types import DATASET_LENGTH, MAX_INT32, DriverOrigin, as_id
from prs_search.recipe import RECIPE, ConvVariant

log = logging.getLogger(__name__)

Sampler = Literal["tpe", "random"]
MAX_CONFIRM_TOP = 20
MAX_CONFIRM_SEEDS = 10

# An image folder: the prefix and a path without control characters, within the column's length.
DATASET_PATTERN = (
    rf"^({re.escape(IMAGEFOLDER_PREFIX)}[^\x00-\x1f]{{1,{DATASET_LENGTH - len(IMAGEFOLDER_PREFIX)}}}"
    rf"|[A-Za-z0-9][A-Za-z0-9_.\-]{{0,{DATASET_LENGTH - 1}}})$"
)
PRESET_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"
# A new search's, or study's, name: a safe file name (the API's launcher writes NAME.log; Ray names folders
# after it) that is not all digits (ids are): a letter first, or digits and then some other character.
# Without look-ahead, which JSON Schema's users do not all support. Names stored by older versions may be
# any text (`schemas.SearchName`); they are still found and resumed by id.
NAME_PATTERN = r"^([A-Za-z][A-Za-z0-9_.\-]*|[0-9]+[A-Za-z_.\-][A-Za-z0-9_.\-]*)$"
NAME_MAX_LENGTH = 200


def _name_rule(name: str) -> str:
    if as_id(name) is not None:
        raise ValueError(f"a search name must not be all digits (that is how ids are written), got {name!r}")
    if len(name) > NAME_MAX_LENGTH or not re.fullmatch(NAME_PATTERN, name):
        raise ValueError(
            f"a name is letters, digits and _.- (a letter first, or digits and then another character), at most "
            f"{NAME_MAX_LENGTH} characters; got {name!r}"
        )
    return name


# Checked by `_name_rule` (its messages say what is wrong); the JSON schema shows the same rule.
NewName = Annotated[
    str,
    AfterValidator(_name_rule),
    WithJsonSchema({"type": "string", "pattern": NAME_PATTERN, "maxLength": NAME_MAX_LENGTH}),
]


def check_name(name: str) -> None:
    """Refuse a name for a new search or study that breaks `NewName`'s rule, in one line."""
    try:
        _name_rule(name)
    except ValueError as err:
        raise ConfigError(str(err)) from None


def _whole_number(value: object) -> object:
    """JSON Schema's integers include 3.0; otherwise strict (no true, no "3")."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


# The request's numbers are strict: true is not 1 and "3" is not 3 (only 3.0 is, see _whole_number). The
# validator comes last, so the bounds stay plain `minimum` / `maximum` in the JSON schema.
_WHOLE = BeforeValidator(_whole_number)
Trials = Annotated[int, Strict(), Field(ge=1, le=100_000), _WHOLE]
Epochs = Annotated[int, Strict(), Field(ge=1, le=10_000), _WHOLE]
Size = Annotated[int, Strict(), Field(ge=1, le=MAX_INT32), _WHOLE]
Seed = Annotated[int, Strict(), Field(ge=0, le=MAX_INT32), _WHOLE]
Number = Annotated[float, Strict(), Field(allow_inf_nan=False)]
Flag = Annotated[bool, Strict()]


class SearchRequest(BaseModel):
    """A search to run. Give at most one of `fraction` and `num_samples` (neither: the whole training
    split); the name is generated unless given. Every field has a description: it is the CLI's help too."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dataset: Annotated[str, Field(pattern=DATASET_PATTERN, max_length=DATASET_LENGTH)] = Field(
        description=f"{datasets_help()} (a folder where the search runs).",
        examples=[*list_datasets(), f"{IMAGEFOLDER_PREFIX}/srv/images/flowers"],
    )
    budget: Trials = Field(description="Number of trials to run (each one schedule trained once).")
    fraction: Annotated[Number, Field(gt=0.0, le=1.0)] | None = Field(
        default=None, description="Dataset size as a fraction of the training split (stratified, seeded)."
    )
    num_samples: Size | None = Field(
        default=None, description="Dataset size as a number of training images (stratified, seeded)."
    )
    # A path may be long: only the space's name (the file's stem) is stored.
    space: Annotated[str, StringConstraints(pattern=NOT_BLANK)] = Field(
        default="monotone", description="Search space: free, monotone, linear, or a PATH.yaml."
    )
    epochs: Epochs = Field(default=10, description="Total training epochs E of every trial.")
    model: Annotated[str, Field(pattern=PRESET_PATTERN)] = Field(
        default=RECIPE.model, description="Model preset (see `prs-search models`)."
    )
    stem: Literal["conv", "patch"] = Field(
        default="conv", description="conv (ViT_C stride-2 3x3 stack) or patch (patchify)."
    )
    conv: ConvVariant | None = Field(
        default=None,
        description="The mixers' convolution: dense (a full 3x3 kernel) or shift (dim/9 channels per tap); "
        "default: the preset's.",
    )
    gpus_per_trial: Annotated[Number, Field(ge=0.0, le=64.0)] = Field(
        default=0.0, description="GPUs per trial; fractions pack trials on one GPU."
    )
    cpus_per_trial: Annotated[Number, Field(gt=0.0, le=1024.0)] = Field(default=1.0, description="CPUs per trial.")
    max_concurrent: Trials | None = Field(default=None, description="At most this many trials at once.")
    grace_period: Epochs | None = Field(
        default=None, description="ASHA: epochs before a trial can be stopped (default E/4)."
    )
    reduction_factor: Annotated[int, Strict(), Field(ge=2, le=100), _WHOLE] = Field(
        default=3, description="ASHA: keep 1/this of the trials at each rung."
    )
    seed: Seed = Field(default=0, description="Seed for the subset, the split, the initialisation and the data order.")
    compile: Flag = Field(
        default=False, description="torch.compile each block (pays on the GPU for long trials; slow to start)."
    )
    name: NewName | None = Field(
        default=None,
        description="Search name; an existing name continues that search. Letters, digits, _.- (not all digits: "
        "those are ids). Default: DATASET-SIZE-SPACE-TIMESTAMP-RANDOM.",
    )
    sampler: Sampler = Field(
        default="tpe",
        description="Optuna's sampler: tpe, or random (a baseline). `searcher`, its old name, is still accepted "
        "in a request body until the next release.",
    )
    early_stopping: Flag = Field(
        default=True, description="ASHA stops unpromising trials early (off: every trial runs E epochs)."
    )
    warm_start: Flag | None = Field(
        default=None,
        description="Try the cross-size model's best schedules for this size first (fitted on the other sizes of "
        "this dataset searched with the same model, stem, conv, depth and epochs); default: on when it can "
        "answer at this size.",
    )
    confirm_top: Annotated[int, Strict(), Field(ge=0, le=MAX_CONFIRM_TOP), _WHOLE] = Field(
        default=3, description="After the budget: retrain the best K complete trials with more seeds (0: off)."
    )
    confirm_seeds: Annotated[int, Strict(), Field(ge=0, le=MAX_CONFIRM_SEEDS), _WHOLE] = Field(
        default=2, description="Extra seeds for each finalist and the PRS default (0: off)."
    )

    @model_validator(mode="before")
    @classmethod
    def _old_sampler_name(cls, data: Any) -> Any:
        """`searcher` was this field's name in 0.1: still accepted, with a warning, until 0.2."""
        if isinstance(data, dict) and "searcher" in data and "sampler" not in data:
            log.warning("the search request field `searcher` is deprecated: call it `sampler`")
            data = {("sampler" if key == "searcher" else key): value for key, value in data.items()}
        return data

    @model_validator(mode="after")
    def _one_size(self) -> "SearchRequest":
        if self.fraction is not None and self.num_samples is not None:
            raise ValueError("give either fraction or num_samples, not both")
        return self

    @property
    def size_label(self) -> str:
        """The size as asked: `5000` images, `f0.1` of the training split, or `all` of it."""
        return str(self.num_samples) if self.num_samples else f"f{self.fraction}" if self.fraction else "all"


class SearchJob(SearchRequest):
    """A `SearchRequest` and where it runs: the results database, the folders, the Ray cluster."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    database_url: str
    storage_path: Path  # Ray Tune's results (checkpoints)
    data_dir: Path
    ray_address: str | None = None
    resume: bool = False
    download: bool = False
    max_failures: int = 2
    origin: DriverOrigin = "cli"  # who started the driver: the API counts its own against PRS_API_MAX_SEARCHES
    parent_pid: int | None = None  # a driver the API started ends when this process (the API) is gone


def default_name(dataset: str, *parts: str) -> str:
    """DATASET-PARTS-TIMESTAMP-RANDOM, a `NewName`: the dataset and parts made file-safe (the dataset cut to
    its last 60 characters: a folder path's tail), the UTC time and 6 random hex digits, so two searches
    started in the same second (by the API, by the CLI) never share a name."""
    stem = _safe(dataset)[-60:].strip("_.-") or "dataset"
    if not stem[0].isalpha():  # digits first could read as an id; a symbol first fails the pattern
        stem = f"d{stem}"
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return "-".join((stem, *map(_safe, parts), stamp, secrets.token_hex(3)))


def _safe(text: str) -> str:
    return "".join(c if c.isascii() and (c.isalnum() or c in "_.-") else "_" for c in text)


def default_search_name(request: SearchRequest) -> str:
    """A search's name when none is given: DATASET-SIZE-SPACE-TIMESTAMP-RANDOM, e.g.
    `cifar100-f0.1-monotone-20250101-120000-1a2b3c` (the size as asked: the CLI and the API name alike)."""
    return default_name(request.dataset, request.size_label, Path(str(request.space)).stem)
