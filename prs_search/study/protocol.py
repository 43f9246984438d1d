"""What a data-scale study trains, fixed before any run: the request, the sizes, how long each size
trains, and the schedules written for it.

Two protocols, always written into the outputs:
- fixed epochs (the paper's): every size trains E epochs, so a smaller subset also takes fewer steps;
- a fixed optimiser-step budget N: size s trains E_s = max(1, round(N / steps_per_epoch_s)) epochs, with
  steps_per_epoch_s what the trainer takes (its training split // batch size, batch capped at the split).
Schedules are written for the reference E and every switch epoch e becomes round(e * E_s / E), rounded
half up as `recommend` rescales: prs stays linear from E_s/2 to 0, all-conv is E_s, all-attention 0.
"""

import math
from dataclasses import dataclass
from pathlib import Path

from prs_search.analysis.fourier import DEFAULT_READING, Reading
from prs_search.analysis.sources import DataSpec
from prs_search.data import DeviceLoader, Splits
from prs_search.errors import ConfigError
from prs_search.recipe import RECIPE, ConvVariant, TrainConfig
from prs_search.schedule import Schedule
from prs_search.search_request import check_name

DEFAULT_FRACTIONS = (0.1, 0.25, 0.5, 1.0)
MIN_GPUS, MAX_GPUS = 1e-4, 64  # Ray counts GPUs in steps of 1e-4; the search's own bound above
RESCALE_RULE = "switch epochs are written for E and rescaled to E_s as round(e * E_s / E), half up"


@dataclass(frozen=True)
class DataScaleRequest:
    """Everything `prs-search study data-scale` takes. Sizes: exactly one of `fractions` and `sizes`."""

    dataset: str
    schedules: str  # comma-separated schedule forms, split against the model depth (`split_schedules`)
    data_dir: Path
    fractions: tuple[float, ...] = ()
    sizes: tuple[int, ...] = ()  # images (train + validation), as `make_splits(num_samples=...)`
    epochs: int = RECIPE.epochs  # E: of every run, or with `steps` the reference the schedules are written for
    steps: int | None = None  # N: a fixed optimiser-step budget per run instead of fixed epochs
    model: str = RECIPE.model
    stem: str = "conv"
    conv: ConvVariant | None = None  # None: the preset's
    reference: bool = True  # the plain CNN at every size and seed
    repeats: int = 1
    seed: int = 0
    batch_size: int = RECIPE.batch_size
    lr: float | None = None  # the preset's
    name: str | None = None
    download: bool = False
    fourier: bool | None = None  # None: when all-conv and all-attention are both among the schedules
    reading: Reading = DEFAULT_READING
    fourier_images: int = 512
    jobs: int = 1  # runs at once; > 1 as Ray tasks
    gpus_per_job: float = 0.0  # Ray GPUs per run (a fraction packs runs on one GPU)
    threads: int | None = None  # torch threads per run (None: this machine's cores / jobs)
    ray_address: str | None = None  # join this Ray cluster (implies Ray even with one job)
    report_only: bool = False  # train nothing: summarise the stored runs, list the missing ones

    def train_config(self, seed: int, epochs: int) -> TrainConfig:
        return TrainConfig(
            model=self.model, stem=self.stem, conv=self.conv, epochs=epochs, batch_size=self.batch_size,
            lr=self.lr, seed=seed,
        )  # fmt: skip

    @property
    def on_ray(self) -> bool:
        return self.jobs > 1 or self.ray_address is not None or self.gpus_per_job > 0


@dataclass(frozen=True)
class StudySize:
    """One dataset size and what the protocol makes of it."""

    num_samples: int
    fraction: float | None  # None: asked as a number of images
    train_images: int
    steps_per_epoch: int
    epochs: int  # E_s


@dataclass(frozen=True)
class Protocol:
    """How long every size trains: fixed epochs (`step_budget` None) or a fixed optimiser-step budget."""

    reference_epochs: int  # E
    step_budget: int | None  # N
    batch_size: int
    sizes: tuple[StudySize, ...]  # ascending

    @property
    def kind(self) -> str:
        return "fixed-epochs" if self.step_budget is None else "fixed-steps"

    def size(self, num_samples: int) -> StudySize | None:
        return next((s for s in self.sizes if s.num_samples == num_samples), None)

    def short(self) -> str:
        """For a plot's title."""
        if self.step_budget is None:
            return f"fixed epochs E = {self.reference_epochs}"
        per_size = ", ".join(f"{s.num_samples}: {s.epochs}" for s in self.sizes)
        return f"fixed budget N = {self.step_budget} steps (epochs per size {per_size})"

    def describe(self) -> str:
        """The protocol in one paragraph, for the console and the Markdown header."""
        per_size = "; ".join(
            f"{s.num_samples} images: {s.epochs} epochs x {s.steps_per_epoch} steps = {s.epochs * s.steps_per_epoch}"
            for s in self.sizes
        )
        if self.step_budget is None:
            return (
                f"fixed epochs (the paper's protocol): E = {self.reference_epochs} at every size, batch "
                f"{self.batch_size}, so smaller subsets take fewer optimiser steps ({per_size})."
            )
        return (
            f"fixed optimiser-step budget N = {self.step_budget}, batch {self.batch_size}: each size trains "
            f"E_s = max(1, round(N / steps per epoch)) epochs ({per_size}); {RESCALE_RULE} "
            f"(E = {self.reference_epochs}), so prs stays linear E_s/2 -> 0, all-conv = E_s, all-attention = 0."
        )


def parse_fractions(text: str) -> tuple[float, ...]:
    """'0.1,0.25,1.0' -> (0.1, 0.25, 1.0): distinct numbers in (0, 1], in ascending order."""
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        raise ConfigError(f"cannot read the fraction list {text!r}: use numbers in (0, 1], e.g. 0.1,0.25,1.0") from None
    bad = [v for v in values if not 0.0 < v <= 1.0]  # also catches NaN
    if bad:
        raise ConfigError(f"fractions must be in (0, 1], got {', '.join(map(str, bad))}")
    if len(set(values)) != len(values):
        raise ConfigError(f"the fraction list {text!r} repeats a fraction")
    return tuple(sorted(values))


def parse_sizes(text: str) -> tuple[int, ...]:
    """'250,500,4000' -> (250, 500, 4000): distinct positive numbers of images, in ascending order."""
    try:
        values = [int(part) for part in text.split(",")]
    except ValueError:
        raise ConfigError(f"cannot read the size list {text!r}: use numbers of images, e.g. 250,500,1000") from None
    bad = [v for v in values if v < 1]
    if bad:
        raise ConfigError(f"sizes must be positive numbers of images, got {', '.join(map(str, bad))}")
    if len(set(values)) != len(values):
        raise ConfigError(f"the size list {text!r} repeats a size")
    return tuple(sorted(values))


def split_schedules(text: str, depth: int) -> tuple[str, ...]:
    """Split a comma-separated list of schedule forms whose own arguments contain commas.

    'all-conv,linear:3,0,2,2,1,0,best' with depth 4 -> ('all-conv', 'linear:3,0', '2,2,1,0', 'best'):
    `linear:` takes two numbers, an explicit schedule `depth` numbers, every other form none.
    """
    labels: list[str] = []
    current: list[str] = []
    wanted = 0
    for part in (p.strip() for p in text.split(",")):
        if not part:
            raise ConfigError(f"empty entry in the schedule list {text!r}")
        if wanted and _is_int(part):
            current.append(part)
            wanted -= 1
            continue
        _flush(labels, current, wanted, text)
        current = [part]
        wanted = depth - 1 if _is_int(part) else 1 if part.lower().startswith("linear:") else 0
    _flush(labels, current, wanted, text)
    if len(set(labels)) != len(labels):
        raise ConfigError(f"the schedule list {text!r} repeats a schedule")
    return tuple(labels)


def _is_int(text: str) -> bool:
    return text.lstrip("+-").isdigit()


def _flush(labels: list[str], current: list[str], wanted: int, text: str) -> None:
    if not current:
        return
    if wanted:
        raise ConfigError(f"schedule {','.join(current)!r} in {text!r} needs {wanted} more number(s)")
    labels.append(",".join(current))


def _half_up(x: float) -> int:
    return math.floor(x + 0.5)


def epochs_for_budget(steps: int, steps_per_epoch: int) -> int:
    """E_s for a budget of `steps` optimiser steps: max(1, round(steps / steps_per_epoch)), half up."""
    return max(1, _half_up(steps / steps_per_epoch))


def rescale(schedule: Schedule, epochs: int) -> Schedule:
    """`schedule` moved to `epochs` total epochs: e -> round(e * epochs / E), half up (identity at E)."""
    return Schedule(tuple(_half_up(e * epochs / schedule.epochs) for e in schedule.switch_epochs), epochs)


def steps_per_epoch(splits: Splits, batch_size: int) -> int:
    """Optimiser steps per epoch on `splits`, counted by the trainer's own loader (it drops the last
    incomplete batch and caps the batch at the split's size)."""
    return len(DeviceLoader(splits.train, batch_size, mean=splits.mean, std=splits.std, train=True))


def first_splits(request: DataScaleRequest) -> dict[int, tuple[Splits, float | None]]:
    """Per size in images, ascending: the first seed's splits and the fraction it was asked as (None: in images)."""
    asked: list[tuple[int | None, float | None]] = [(n, None) for n in request.sizes]
    asked += [(None, f) for f in request.fractions]
    first: dict[int, tuple[Splits, float | None]] = {}
    for num_samples, fraction in asked:
        splits = DataSpec(request.dataset, fraction, num_samples, request.seed).splits(
            request.data_dir, request.download
        )
        if splits.num_samples in first:
            raise ConfigError(f"two of the sizes asked give {splits.num_samples} images: drop one of them")
        first[splits.num_samples] = (splits, fraction)
    return dict(sorted(first.items()))


def make_protocol(request: DataScaleRequest, first: dict[int, tuple[Splits, float | None]]) -> Protocol:
    """The protocol of `request`: per size of `first_splits`, its steps per epoch and the epochs it trains."""
    sizes = []
    for num_samples, (splits, fraction) in first.items():
        per_epoch = steps_per_epoch(splits, request.batch_size)
        epochs = request.epochs if request.steps is None else epochs_for_budget(request.steps, per_epoch)
        sizes.append(StudySize(num_samples, fraction, len(splits.train), per_epoch, epochs))
    return Protocol(request.epochs, request.steps, request.batch_size, tuple(sizes))


def validate(request: DataScaleRequest) -> None:
    """Refuse a request no protocol can come of, before any data is loaded."""
    if bool(request.fractions) == bool(request.sizes):
        raise ConfigError("give the dataset sizes either as --sizes (images) or as --fractions, not both")
    if request.name is not None:
        check_name(request.name)
    if request.epochs < 1:
        raise ConfigError(f"--epochs must be at least 1, got {request.epochs}")
    if request.steps is not None and request.steps < 1:
        raise ConfigError(f"--steps must be at least 1, got {request.steps}")
    if request.repeats < 1:
        raise ConfigError(f"--repeats must be at least 1, got {request.repeats}")
    if request.jobs < 1:
        raise ConfigError(f"--jobs must be at least 1, got {request.jobs}")
    if not request.gpus_per_job >= 0:  # also NaN
        raise ConfigError(f"--gpus-per-trial must be >= 0, got {request.gpus_per_job}")
    if request.threads is not None and request.threads < 1:
        raise ConfigError(f"--threads must be at least 1, got {request.threads}")
    if request.gpus_per_job and not MIN_GPUS <= request.gpus_per_job <= MAX_GPUS:
        raise ConfigError(
            f"--gpus-per-trial must be 0 or between {MIN_GPUS} and {MAX_GPUS}, got {request.gpus_per_job}"
        )
    if request.ray_address is not None:
        from prs_search.search import cluster

        cluster.check_address(request.ray_address)  # before the data and the models: a wrong address at once
