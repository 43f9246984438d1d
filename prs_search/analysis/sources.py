"""What an analysis looks at: a trained model (a `prs-search train --save` checkpoint or a stored trial)
and the validation images of the data it was trained on, with the options to look at other data."""

import functools
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from prs_search.analysis.features import fourier_profile
from prs_search.analysis.fourier import DEFAULT_READING, FourierProfile, Reading
from prs_search.data import RawDataset, Splits, load_dataset, make_splits
from prs_search.errors import ConfigError
from prs_search.model import HybridViT
from prs_search.saved_model import load_model
from prs_search.store import ResultsStore, SearchRecord, TrialRecord


@dataclass(frozen=True)
class DataSpec:
    """A dataset and the size options and seed that pick its splits (as `prs-search train` takes them)."""

    dataset: str
    fraction: float | None = None
    num_samples: int | None = None
    seed: int = 0

    def overridden(
        self, dataset: str | None, fraction: float | None, num_samples: int | None, seed: int | None
    ) -> "DataSpec":
        """This spec with the user's options on top; another dataset drops the stored size options."""
        if fraction is not None and num_samples is not None:
            raise ConfigError("give either --fraction or --num-samples, not both")
        spec = self
        if dataset is not None and dataset != self.dataset:
            spec = DataSpec(dataset, seed=self.seed)
        if fraction is not None or num_samples is not None:
            spec = replace(spec, fraction=fraction, num_samples=num_samples)
        return spec if seed is None else replace(spec, seed=seed)

    def splits(self, data_dir: Path, download: bool = False) -> Splits:
        raw = published(self.dataset, data_dir, download)
        return make_splits(raw, fraction=self.fraction, num_samples=self.num_samples, seed=self.seed)


@functools.lru_cache(maxsize=2)
def published(dataset: str, data_dir: Path, download: bool = False) -> RawDataset:
    """The published dataset, loaded once per process (a study's Ray worker trains many runs of it)."""
    return load_dataset(dataset, data_dir, download=download)


@dataclass(frozen=True)
class TrainedModel:
    """A model to analyse, what to call it, the input shape it takes and the data it was trained on."""

    model: HybridViT
    title: str
    img_size: int
    in_chans: int
    data: DataSpec | None  # None: not recorded with the model

    def check_fits(self, splits: Splits) -> None:
        if (splits.in_chans, splits.img_size) != (self.in_chans, self.img_size):
            raise ConfigError(
                f"{self.title} takes {self.in_chans} x {self.img_size} x {self.img_size} images, the dataset has "
                f"{splits.in_chans} x {splits.img_size} x {splits.img_size}: choose its own dataset with --dataset"
            )

    def data_spec(
        self, dataset: str | None, fraction: float | None, num_samples: int | None, seed: int | None
    ) -> DataSpec:
        """The data to analyse on: the recorded data with the user's options on top."""
        if self.data is None:
            if dataset is None:
                raise ConfigError(f"{self.title} does not record its dataset: pass --dataset")
            return DataSpec(dataset).overridden(None, fraction, num_samples, seed)
        return self.data.overridden(dataset, fraction, num_samples, seed)

    def fourier(self, splits: Splits, max_images: int, reading: Reading = DEFAULT_READING) -> FourierProfile:
        """The Fourier profile of this model's feature maps over the validation split of `splits`."""
        self.check_fits(splits)
        return fourier_profile(self.model, splits.val, splits.mean, splits.std, reading=reading, max_images=max_images)


def from_checkpoint(path: Path) -> TrainedModel:
    """A `prs-search train --save` checkpoint; its meta records the dataset, size options and seed."""
    model, meta = load_model(path)
    args = _checkpoint_args(path)
    data = None
    if isinstance(meta.get("dataset"), str):
        seed = meta.get("config", {}).get("seed", 0)
        data = DataSpec(meta["dataset"], meta.get("fraction"), meta.get("num_samples"), seed)
    return TrainedModel(model, f"checkpoint {path.name}", args["img_size"], args["in_chans"], data)


def _checkpoint_args(path: Path) -> dict[str, Any]:
    """The model's constructor arguments (memory-mapped: the weights, read by `load_model`, are not read again)."""
    args: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True, mmap=True)["model_args"]
    return args


def from_trial(store: ResultsStore, search_name: str, trial_key: str | None = None) -> TrainedModel:
    """A stored trial (by its key, the Optuna trial number; default: the search's best trial)."""
    from prs_search.search.trial_checkpoint import load_trial_model  # imports Ray: only when a trial is analysed

    search, trial = find_trial(store, search_name, trial_key)
    shape = search.architecture
    fraction, num_samples = (search.fraction, None) if search.fraction else (None, search.num_samples)
    data = DataSpec(search.dataset, fraction, num_samples, search.seed)
    title = f"search {search.name} trial {trial.trial_key}"
    return TrainedModel(load_trial_model(search, trial), title, shape["img_size"], shape["in_chans"], data)


def find_search(store: ResultsStore, name: str) -> SearchRecord:
    search = store.get_search(name_or_id=name)
    if search is None:
        raise ConfigError(f"no search named {name!r} (see `prs-search searches`)")
    return search


def find_trial(store: ResultsStore, search_name: str, trial_key: str | None) -> tuple[SearchRecord, TrialRecord]:
    search = find_search(store, search_name)
    trial = (
        store.best_trial(search_id=search.id)
        if trial_key is None
        else store.find_trial(search_id=search.id, trial_key=trial_key)
    )
    if trial is None:
        what = "no complete trial" if trial_key is None else f"no trial {trial_key}"
        raise ConfigError(f"search {search.name!r} has {what} (see `prs-search trials {search.name}`)")
    return search, trial
