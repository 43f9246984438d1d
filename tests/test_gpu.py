"""The fast path on a CUDA device: data resident there, no host synchronisation per training step.

Skipped without CUDA (CI has none); run on a GPU machine with `pytest -m gpu`.
"""

import warnings

import pytest
import torch

from prs_search.data import make_splits, make_synthetic
from prs_search.recipe import TrainConfig
from prs_search.schedule import Schedule
from prs_search.train import train

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def synchronisations(num_train: int) -> int:
    """Host synchronisations CUDA reports during one 1-epoch trial on `num_train` synthetic images."""
    splits = make_splits(make_synthetic(num_train=num_train, num_test=256, num_classes=10), val_fraction=0.1)
    config = TrainConfig(model="tiny", epochs=1, batch_size=32)
    train(config, splits, Schedule.of([1, 1, 0, 0], 1), device=torch.device("cuda"))  # warm-up: allocator, kernels
    torch.cuda.set_sync_debug_mode("warn")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            train(config, splits, Schedule.of([1, 1, 0, 0], 1), device=torch.device("cuda"))
    finally:
        torch.cuda.set_sync_debug_mode("default")
    return sum("synchroniz" in str(w.message) for w in caught)


def test_no_host_synchronisation_per_training_step() -> None:
    # Twice the data is twice the steps: per-step syncs would double, per-epoch ones stay the same.
    assert synchronisations(1024) == synchronisations(2048)


def test_bf16_training_on_the_gpu_learns() -> None:
    splits = make_splits(make_synthetic(num_train=2048, num_test=512, num_classes=10), val_fraction=0.1)
    config = TrainConfig(model="tiny", epochs=3, batch_size=64)
    result, model = train(config, splits, Schedule.of([2, 1, 1, 0], 3), device=torch.device("cuda"))
    assert next(model.parameters()).device.type == "cuda"
    assert result.status == "completed" and result.val_acc > 0.3  # 10 classes: chance is 0.1
