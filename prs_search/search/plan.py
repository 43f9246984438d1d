"""A search request resolved against its data and space: the `Plan` every stage of a driver run reads
(the search, its finalists' re-evaluation, the Ray Tuner both build), and the stored search it asks for."""

from dataclasses import dataclass
from typing import Any

from prs_search.data import Splits, load_dataset, make_splits
from prs_search.recipe import TrainConfig
from prs_search.schemas import NewSearch
from prs_search.search.spaces import SearchSpace, load_space
from prs_search.search_request import SearchJob
from prs_search.train import build_model


@dataclass(frozen=True)
class Plan:
    """A request resolved against its data and space: what every stage of a driver run reads."""

    job: SearchJob
    space: SearchSpace
    splits: Splits
    base: dict[str, Any]  # every trial's training settings before the space's and the trial's own
    architecture: dict[str, Any]  # the model's shape (stored as the search's `model_config`)
    initial: list[dict[str, int]]  # the space's `initial` schedules as Optuna parameters

    @property
    def depth(self) -> int:
        return int(self.architecture["depth"])

    def new_search(self, name: str) -> NewSearch:
        """The search this plan asks for, as the store keeps it. The request's fields that a search keeps
        are copied by name; the rest is what the plan resolved."""
        resolved = {
            "name": name, "num_samples": self.splits.num_samples, "space": self.space.name,
            "space_config": self.space.to_dict(), "model_config": self.architecture, "study_name": f"prs-{name}",
            "storage_path": str(self.job.storage_path), "val_size": len(self.splits.val),
        }  # fmt: skip
        kept = NewSearch.model_fields.keys() & type(self.job).model_fields.keys()
        return NewSearch(**{**self.job.model_dump(include=kept), **resolved})


def make_plan(request: SearchJob) -> Plan:
    """The space, the data and the model's shape the request means (a misfit fails before Ray starts)."""
    space = load_space(request.space)
    splits = make_splits(
        load_dataset(request.dataset, request.data_dir, download=request.download),
        fraction=request.fraction, num_samples=request.num_samples, seed=request.seed,
    )  # fmt: skip
    base = {
        "model": request.model, "stem": request.stem, "epochs": request.epochs, "seed": request.seed,
        "compile": request.compile, "conv": space.conv_for(request.conv),
    }  # fmt: skip
    architecture = _model_config(base, splits)
    initial = space.initial_params(architecture["depth"], request.epochs)
    return Plan(request, space, splits, base, architecture, initial)


def _model_config(base: dict[str, Any], splits: Splits) -> dict[str, Any]:
    model = build_model(TrainConfig(**base), splits)
    return {
        "preset": base["model"], "stem": base["stem"], "conv": model.conv, "depth": model.depth,
        "embed_dim": model.embed_dim,
        "img_size": splits.img_size, "in_chans": splits.in_chans, "num_classes": splits.num_classes,
    }  # fmt: skip
