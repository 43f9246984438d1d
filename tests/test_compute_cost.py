"""The training-compute model: fitted on the counted epochs of really trained trials, it predicts another trial's
counted FLOPs; the algebra of a schedule's cost; the refusal of a fit that cannot tell a from b."""

import pytest

from prs_search.compute_cost import (
    CostModel,
    EpochCount,
    fit_cost_model,
    format_flops,
    images_per_epoch,
)
from prs_search.data import Splits, load_dataset, make_splits
from prs_search.errors import ConfigError
from prs_search.recipe import TrainConfig
from prs_search.schedule import Schedule
from prs_search.train import TrainResult, train

EPOCHS, BATCH = 4, 32


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Splits:
    """256 digits to train on: 8 steps of 32 images per epoch."""
    return make_splits(load_dataset("digits", tmp_path_factory.mktemp("data")), num_samples=320, seed=0)


def trained(splits: Splits, schedule: tuple[int, ...]) -> TrainResult:
    # Ramps of two steps: a short part of an epoch, as in a long search (a default ramp lasts one epoch).
    config = TrainConfig(model="tiny", batch_size=BATCH, epochs=EPOCHS, ramp_epochs=0.25, min_ramp_steps=0)
    return train(config, splits, Schedule.of(schedule, EPOCHS))[0]


def counts(result: TrainResult, images: int) -> list[EpochCount]:
    return [EpochCount(e.flops or 0.0, e.attention_layers, images) for e in result.history]


def test_fitted_on_some_trials_it_predicts_another_trials_counted_flops(small: Splits) -> None:
    images = images_per_epoch(len(small.train), BATCH)
    assert images == 256
    seen = [trained(small, s) for s in [(4, 4, 4, 4), (3, 2, 1, 0), (0, 0, 0, 0)]]
    model = fit_cost_model(c for result in seen for c in counts(result, images))
    held_out = trained(small, (2, 4, 0, 1))
    assert held_out.flops is not None
    assert model.predict((2, 4, 0, 1), EPOCHS, images) == pytest.approx(held_out.flops, rel=0.02)
    assert model.per_attention_layer > 0 and model.base > 0


def test_a_schedules_cost_is_base_epochs_plus_its_attention_layer_epochs() -> None:
    model = CostModel(base=10.0, per_attention_layer=3.0)
    # (E - e) attention epochs per layer, a layer asked to switch at E or later never does.
    assert model.predict((4, 2, 0), epochs=4, images=100) == 100 * (10.0 * 4 + 3.0 * (0 + 2 + 4))
    assert model.predict((7, 4), epochs=4, images=1) == 40.0


def test_the_fit_recovers_an_exact_linear_cost_and_needs_two_attention_counts() -> None:
    exact = [EpochCount(1000 * (7.0 + 2.0 * k), k, 1000) for k in (0, 1, 3, 3)]
    model = fit_cost_model(exact)
    assert (model.base, model.per_attention_layer) == (pytest.approx(7.0), pytest.approx(2.0))
    with pytest.raises(ConfigError, match="at least two numbers of attention layers, got \\[3\\]"):
        fit_cost_model(exact[2:])
    with pytest.raises(ConfigError, match="no counted epoch"):
        fit_cost_model([])


@pytest.mark.parametrize(
    ("flops", "text"), [(None, "-"), (512.0, "512 FLOP"), (3.414e12, "3.41 TFLOP"), (2.0e15, "2 PFLOP")]
)
def test_flops_read_in_the_largest_unit(flops: float | None, text: str) -> None:
    assert format_flops(flops) == text
