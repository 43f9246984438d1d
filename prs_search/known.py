"""What a search request must satisfy before any data is loaded or any process starts: `check_known` (a
dataset and a model preset that exist; the driver and the API alike, one message for each) and
`check_fits_here` (a trial fits this machine, for a search on a local Ray instance), through `shortfall`,
the comparison the driver's check of a joined cluster makes too (`search.cluster.check_resources`)."""

import os
from collections.abc import Mapping

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

    have = {"CPU": float(len(os.sched_getaffinity(0))), "GPU": float(torch.cuda.device_count())}
    short = shortfall(request.cpus_per_trial, request.gpus_per_trial, have)
    if short is not None:
        field, amount, kind = short
        raise ConfigError(
            f"{field} {amount:g} is more than this machine has ({have[kind]:g} {kind}s), and searches started "
            "here run on a local Ray instance: ask for less, or start the API with PRS_RAY_ADDRESS of a cluster"
        )


def shortfall(cpus_per_trial: float, gpus_per_trial: float, have: Mapping[str, float]) -> tuple[str, float, str] | None:
    """The first resource a trial asks more of than `have` ({"CPU": n, "GPU": m}) holds, as (the request's
    field, the amount asked, the resource), or None when it fits: this machine's check and the cluster's."""
    for field, amount, kind in (("cpus_per_trial", cpus_per_trial, "CPU"), ("gpus_per_trial", gpus_per_trial, "GPU")):
        if amount > have.get(kind, 0.0):
            return field, amount, kind
    return None
