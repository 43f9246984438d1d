"""train(): the tiny model learns digits, layers switch at their epochs, a resumed trial continues exactly,
divergence ends a trial cleanly, and the test split is only touched when asked for."""

import dataclasses
import json
import math
from collections.abc import Callable
from typing import Any

import pytest
import torch

from prs_search import train as train_module
from prs_search.data import ImageData, Splits, load_dataset, make_splits
from prs_search.errors import ConfigError, ScheduleError
from prs_search.model import HybridViT
from prs_search.recipe import TrainConfig
from prs_search.schedule import Schedule
from prs_search.step_flops import count_step
from prs_search.train import EpochResult, build_model, epoch_result, train

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> Splits:
    """All of digits: 1150 train / 288 val / 359 test images of 1x8x8."""
    raw = load_dataset("digits", tmp_path_factory.mktemp("data"))
    return make_splits(raw, seed=0)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Splits:
    """A 320-image stratified subset (256 train / 64 val: 8 steps per epoch at batch 32) for tests about mechanics."""
    raw = load_dataset("digits", tmp_path_factory.mktemp("data"))
    return make_splits(raw, num_samples=320, seed=0)


def config(epochs: int, **kwargs: Any) -> TrainConfig:
    return TrainConfig(**{"model": "tiny", "batch_size": 32, "lr": 3e-3, "epochs": epochs, **kwargs})


@pytest.mark.slow
def test_tiny_model_learns_digits(digits: Splits) -> None:
    schedule = Schedule.all_conv(depth=4, epochs=4)
    result, model = train(config(4), digits, schedule, device=CPU)
    assert result.status == "completed" and result.error is None
    assert result.epochs_run == 4
    # Measured 0.76 after 4 epochs (chance is 0.1).
    assert result.val_acc > 0.6
    assert result.history[-1].train_loss < result.history[0].train_loss
    assert result.best_val_acc == max(e.val_acc for e in result.history)
    assert model.attention_layers() == (False,) * 4


def test_layers_switch_at_their_epochs(small: Splits, monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[HybridViT] = []

    def build_and_keep(*args: Any, **kwargs: Any) -> HybridViT:
        built.append(build_model(*args, **kwargs))
        return built[-1]

    monkeypatch.setattr(train_module, "build_model", build_and_keep)
    schedule = Schedule((3, 1, 4, 0), epochs=4)  # layer 3: e = E, a convolution throughout
    seen: list[tuple[EpochResult, tuple[bool, ...]]] = []
    result, model = train(
        config(4), small, schedule, on_epoch=lambda r, _: seen.append((r, built[0].attention_layers())), device=CPU
    )
    assert built[0] is model and len(built) == 2  # the second: the model its FLOPs are counted on
    assert [r.epoch for r, _ in seen] == [0, 1, 2, 3]
    assert [flags for _, flags in seen] == [schedule.attention_at(e) for e in range(4)]
    assert [flags for _, flags in seen] == [
        (False, False, False, True),
        (False, True, False, True),
        (False, True, False, True),
        (True, True, False, True),
    ]
    assert [r.switched for r, _ in seen] == [(3,), (1,), (), (0,)]
    assert [r.attention_layers for r, _ in seen] == [1, 2, 2, 3]
    assert [r for r, _ in seen] == list(result.history)
    assert model.attention_layers() == (True, True, False, True)


def test_schedule_of_the_wrong_depth_is_rejected(small: Splits) -> None:
    with pytest.raises(ScheduleError, match="has 3 switch epochs but the model has 4 layers"):
        train(config(2), small, Schedule((0, 1, 2), epochs=2), device=CPU)


@pytest.mark.parametrize("conv", ["shift", "dense"])
def test_resume_continues_exactly_across_a_switch(small: Splits, conv: str) -> None:
    """4 epochs straight vs 2 epochs, resume from the state taken after epoch 1, 2 more epochs: across a
    switch and in the middle of a ramp, for both conv variants."""
    schedule = Schedule((3, 2, 4, 0), epochs=4)  # layer 2 switches right at the resume, layer 1 after it
    states: dict[int, dict[str, Any]] = {}

    def keep_state(result: EpochResult, get_state: Callable[[], dict[str, Any]]) -> None:
        if result.epoch == 1:
            states[1] = get_state()

    straight, straight_model = train(config(4, conv=conv), small, schedule, on_epoch=keep_state, device=CPU)
    assert straight_model.conv == conv
    # Layer 4 switched at epoch 0 and ramps over min(50, 4 epochs of 8 steps) = 32 steps: mid-ramp here.
    ramp = states[1]["model"]["blocks.3.mixer._extra_state"]
    assert ramp == {"mode": "ramp", "ramp_steps": 32, "ramp_pos": 16}
    resumed_epochs: list[int] = []
    resumed, resumed_model = train(
        config(4, conv=conv),
        small,
        schedule,
        resume=states[1],
        on_epoch=lambda r, _: resumed_epochs.append(r.epoch),
        device=CPU,
    )
    assert resumed_epochs == [2, 3]  # only the remaining epochs ran
    assert resumed.epochs_run == straight.epochs_run == 4
    assert [r.switched for r in resumed.history] == [r.switched for r in straight.history] == [(3,), (), (1,), (0,)]
    for a, b in zip(straight.history, resumed.history, strict=True):
        for metric in ("train_loss", "train_acc", "val_loss", "val_acc", "lr"):
            assert getattr(b, metric) == pytest.approx(getattr(a, metric), abs=1e-4), (a.epoch, metric)
        for x, y in zip(a.layers, b.layers, strict=True):
            assert x.mode == y.mode
            assert y.tap_mass == pytest.approx(x.tap_mass, abs=1e-4)
            assert y.attention_distance == pytest.approx(x.attention_distance, abs=1e-4)
    # Ramps are capped by the steps left, so every switched layer ends as pure attention.
    modes = ("attention", "attention", "conv", "attention")
    assert resumed_model.layer_modes() == straight_model.layer_modes() == modes
    straight_state, resumed_state = straight_model.state_dict(), resumed_model.state_dict()
    assert straight_state.keys() == resumed_state.keys()
    for name, value in straight_state.items():
        if isinstance(value, torch.Tensor):
            assert torch.allclose(resumed_state[name], value, atol=1e-5), name
        else:  # a mixer's ramp state
            assert resumed_state[name] == value, name


def test_resume_state_is_a_snapshot(small: Splits) -> None:
    """The state returned after epoch 0 must not change while training goes on."""
    states: list[tuple[dict[str, Any], dict[str, torch.Tensor]]] = []

    def keep_state(result: EpochResult, get_state: Callable[[], dict[str, Any]]) -> None:
        if result.epoch == 0:
            state = get_state()
            states.append((state, {k: v.clone() for k, v in state["model"].items() if isinstance(v, torch.Tensor)}))

    train(config(2), small, Schedule.all_conv(4, 2), on_epoch=keep_state, device=CPU)
    ((state, copy),) = states
    for name, tensor in copy.items():
        assert torch.equal(state["model"][name], tensor), name


@pytest.mark.parametrize("cause", ["nan-inputs", "huge-lr"])
def test_nan_loss_ends_the_trial_as_diverged(small: Splits, cause: str) -> None:
    if cause == "nan-inputs":
        splits, cfg = dataclasses.replace(small, mean=(math.nan,)), config(2)
    else:
        splits, cfg = small, config(2, lr=1e6, warmup_epochs=0.0)
    reported: list[EpochResult] = []
    result, _ = train(cfg, splits, Schedule.all_conv(4, 2), on_epoch=lambda r, _: reported.append(r), device=CPU)
    assert result.status == "diverged"
    assert result.error is not None and "training loss became nan" in result.error
    assert result.epochs_run < 2
    assert list(result.history) == reported  # no epoch with a NaN loss was reported
    assert result.test_acc is None
    assert result.to_dict()["status"] == "diverged"


def test_test_split_is_used_only_when_asked(small: Splits) -> None:
    # A test split the model cannot even run on: evaluating it anywhere would raise.
    wrong = ImageData(torch.zeros(4, 1, 4, 4, dtype=torch.uint8), torch.zeros(4, dtype=torch.int64))
    untouchable = dataclasses.replace(small, test=wrong)
    result, _ = train(config(1), untouchable, Schedule.all_conv(4, 1), device=CPU)
    assert result.status == "completed" and result.test_acc is None
    assert result.to_dict()["test_acc"] is None

    result, _ = train(config(1), small, Schedule.all_conv(4, 1), evaluate_test=True, device=CPU)
    assert isinstance(result.test_acc, float) and 0.0 <= result.test_acc <= 1.0
    with pytest.raises(RuntimeError):
        train(config(1), untouchable, Schedule.all_conv(4, 1), evaluate_test=True, device=CPU)


def test_result_dict_is_json_ready(small: Splits) -> None:
    result, _ = train(config(1), small, Schedule.all_attention(4, 1), device=CPU)
    data = json.loads(json.dumps(result.to_dict()))
    assert data["schedule"] == [0, 0, 0, 0] and data["epochs"] == 1 and data["epochs_run"] == 1
    assert data["config"]["model"] == "tiny" and data["config"]["batch_size"] == 32
    assert len(data["history"]) == 1 and data["history"][0]["switched"] == [0, 1, 2, 3]
    assert data["val_acc"] == result.val_acc and data["test_acc"] is None


def test_every_epoch_reports_what_each_layer_became(small: Splits) -> None:
    cfg = config(2, ramp_epochs=1.0, min_ramp_steps=0)
    result, _ = train(cfg, small, Schedule((0, 2, 1, 0), epochs=2), device=CPU)
    first, last = result.history
    assert [layer.mode for layer in first.layers] == ["attention", "conv", "conv", "attention"]
    assert [layer.mode for layer in last.layers] == ["attention", "conv", "attention", "attention"]
    for layer in first.layers + last.layers:
        if layer.mode == "conv":
            assert layer.tap_mass is None and layer.attention_distance is None
        else:
            # Away from the one-hot conv pattern (tap mass 1, distance 1.07) after a full ramp.
            assert layer.tap_mass is not None and 0.0 < layer.tap_mass < 0.9
            assert layer.attention_distance is not None and layer.attention_distance > 1.07
    data = json.loads(json.dumps(result.to_dict()))
    assert data["layers"] == [
        {"mode": layer.mode, "attention_distance": layer.attention_distance, "tap_mass": layer.tap_mass}
        for layer in last.layers
    ]
    assert data["history"][0]["layers"][1] == {"mode": "conv", "attention_distance": None, "tap_mass": None}


@pytest.mark.slow
def test_compiled_blocks_match_eager_and_recompile_only_at_switches(small: Splits) -> None:
    from torch._dynamo.utils import counters

    schedule = Schedule.of([1, 1, 1, 1], 3)
    cfg = config(3, ramp_epochs=1.0, min_ramp_steps=0)  # the ramp spans epoch 1 exactly
    eager, _ = train(cfg, small, schedule)
    torch._dynamo.reset()
    graphs_after: list[int] = []

    def count_graphs(result: EpochResult, get_state: Callable[[], dict[str, Any]]) -> None:
        graphs_after.append(counters["stats"]["unique_graphs"])

    compiled, model = train(dataclasses.replace(cfg, compile=True), small, schedule, on_epoch=count_graphs)
    assert [e.train_loss for e in compiled.history] == pytest.approx([e.train_loss for e in eager.history], rel=1e-4)
    assert [e.val_acc for e in compiled.history] == pytest.approx([e.val_acc for e in eager.history], abs=0.01)
    assert [e.flops for e in compiled.history] == [e.flops for e in eager.history]  # counted on an eager copy
    # Epoch 0 compiles conv-mode graphs, epoch 1 (every layer switches and ramps) the ramp and attention
    # ones, epoch 2 nothing: the ramp's beta is a tensor, not a constant baked into a graph per step.
    assert graphs_after[0] < graphs_after[1] == graphs_after[2]
    assert set(model.state_dict()) == set(build_model(config(3), small).state_dict())  # checkpoints unchanged


def test_the_conv_variant_is_the_presets_unless_asked(small: Splits) -> None:
    assert build_model(config(1), small).conv == "shift"  # tiny's own
    assert build_model(config(1, model="small"), small).conv == "dense"
    assert build_model(config(1, conv="dense"), small).conv == "dense"
    with pytest.raises(ConfigError, match="conv must be one of shift, dense, got 'depthwise'"):
        config(1, conv="depthwise")


def test_a_preset_fills_in_its_own_recipe_fields_and_explicit_values_win() -> None:
    small, tiny, other = TrainConfig(model="small"), TrainConfig(model="tiny"), TrainConfig(model="cifar_s")
    assert (small.lr, small.crop_padding) == (1e-3, 0)  # measured on CIFAR-10 subsets: docs/recipe.md
    assert (tiny.lr, tiny.crop_padding) == (3e-3, None)  # None: 1/8 of the image side
    assert (other.lr, other.crop_padding) == (1e-3, None)
    assert TrainConfig(model="small", lr=0.01, crop_padding=4).lr == 0.01
    assert TrainConfig(model="small", crop_padding=4).crop_padding == 4
    with pytest.raises(ConfigError, match="crop_padding must be an integer >= 0"):
        TrainConfig(crop_padding=-1)


@pytest.mark.parametrize("padding", [0, 3])
def test_the_crop_padding_reaches_the_training_loader(
    small: Splits, padding: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    pads: list[int] = []

    class Recording(train_module.DeviceLoader):  # type: ignore[misc,name-defined]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            if self.train:
                pads.append(self.pad)

    monkeypatch.setattr(train_module, "DeviceLoader", Recording)
    train(config(1, crop_padding=padding), small, Schedule.all_conv(depth=4, epochs=1), device=CPU)
    assert pads == [padding]


def test_counting_flops_changes_nothing_the_trial_computes(small: Splits) -> None:
    """Same seed, counted or not: the same history (losses, accuracies, learning rates, layer statistics) and
    the same weights, bit for bit, across a switch and a ramp."""
    cfg, schedule = config(2, ramp_epochs=0.5), Schedule((1, 2, 0, 1), epochs=2)
    counted, counted_model = train(cfg, small, schedule, device=CPU)
    plain, plain_model = train(cfg, small, schedule, device=CPU, count_flops=False)
    unmeasured = {"seconds": 0.0, "flops": None}
    assert [dataclasses.replace(e, **unmeasured) for e in counted.history] == [
        dataclasses.replace(e, **unmeasured) for e in plain.history
    ]
    plain_state = plain_model.state_dict()
    for name, value in counted_model.state_dict().items():
        same = torch.equal(value, plain_state[name]) if isinstance(value, torch.Tensor) else value == plain_state[name]
        assert same, name
    assert plain.flops is None and [e.flops for e in plain.history] == [None, None]
    assert counted.flops == sum(e.flops or 0.0 for e in counted.history) > 0


def test_an_epoch_counts_its_steps_in_the_state_they_trained_in(small: Splits) -> None:
    """A hard switch of every layer at epoch 1: epoch 0 is 8 steps of 32 images as convolutions, epoch 1 as
    attention, each counted as one step of a model in that state."""
    result, _ = train(config(2, ramp_epochs=0.0), small, Schedule.uniform(1, depth=4, epochs=2), device=CPU)
    image = (small.in_chans, small.img_size, small.img_size)
    per_image = {}
    for mode in ("conv", "attention"):
        model = build_model(config(2), small)
        model.set_attention_layers((mode == "attention",) * 4)
        per_image[mode] = count_step(model, image) / 2
    assert [e.flops for e in result.history] == [8 * 32 * per_image["conv"], 8 * 32 * per_image["attention"]]
    assert result.to_dict()["flops"] == result.flops == sum(8 * 32 * f for f in per_image.values())


def test_a_checkpoint_from_before_counting_reads_back_as_not_counted(small: Splits) -> None:
    result, _ = train(config(1), small, Schedule.all_conv(4, 1), device=CPU)
    fields = dataclasses.asdict(result.history[0])
    del fields["flops"]
    assert epoch_result(fields).flops is None
    assert dataclasses.replace(result, history=(epoch_result(fields),)).flops is None
