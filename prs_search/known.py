"""What a search request must satisfy before any data is loaded or any process starts: `check_known` (a
dataset and a model preset that exist; the driver and the API alike, one message for each) and
`check_fits_here` (a trial fits this machine, for a search on a local Ray instance)."""

import os

from prs_search.dataset_registry import DATASET_INFO
from prs_search.errors import ConfigError
from prs_search.search_request import SearchRequest


def check_known(request: SearchRequest) -> None:
    """An unknown dataset -> `DatasetError`; an unknown model preset, or a size a built-in dataset does not
    have -> `ConfigError` (an image folder's size is known once it is read)."""
    # Imported here: the API imports this module, and torch only with its first search request.
    from prs_search.data import check_dataset_name
    from prs_search.data.subsets import check_size
    from prs_search.model import model_doc

    check_dataset_name(request.dataset)
    model_doc(request.model)  # the registry's ConfigError for a preset it does not know
    info = DATASET_INFO.get(request.dataset.lower())
    if info is not None and request.num_samples is not None:  # a built-in dataset's size is known unloaded
        check_size(f"num_samples {request.num_samples}", request.num_samples, info.classes, info.train)


def check_fits_here(request: SearchRequest) -> None:
    """A trial asking more CPUs or GPUs than this machine has -> `ConfigError`: on a local Ray instance Tune
    would wait for them for ever (a cluster is checked by the driver once it has joined: `check_resources`)."""
    import torch

    have = {"CPU": len(os.sched_getaffinity(0)), "GPU": torch.cuda.device_count()}
    wanted = {"CPU": ("cpus_per_trial", request.cpus_per_trial), "GPU": ("gpus_per_trial", request.gpus_per_trial)}
    for kind, (option, amount) in wanted.items():
        if amount > have[kind]:
            raise ConfigError(
                f"{option} {amount:g} is more than this machine has ({have[kind]} {kind}s), and searches started "
                "here run on a local Ray instance: ask for less, or start the API with PRS_RAY_ADDRESS of a cluster"
            )
