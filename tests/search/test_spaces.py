"""Search spaces without Ray: every schedule a space can produce is valid and has the space's shape,
whatever the sampler (any value within the declared bounds, real TPE draws after it has learned), and
a user's space file is checked with a clear ConfigError before anything runs; reading one (and the
request schemas) loads neither torch nor Ray."""

import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import optuna
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prs_search.errors import ConfigError
from prs_search.schedule import Schedule
from prs_search.search.spaces import SearchSpace, list_spaces, load_space

KINDS = ("free", "monotone", "linear")
# Read in a fresh interpreter: this one has long imported torch.
_HEAVY_IMPORTS = """
import sys
from prs_search.search.spaces import load_space
import prs_search.schemas
load_space("monotone")
print(sorted(name for name in ("torch", "ray") if name in sys.modules))
"""


@pytest.fixture(autouse=True)
def _quiet_optuna() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)


def check_schedule(kind: str, drawn: dict[str, Any], params: dict[str, Any], depth: int, epochs: int) -> Schedule:
    """`drawn` (from `SearchSpace.sample`) is a valid schedule of the space's kind."""
    switch = drawn["schedule"]
    assert isinstance(switch, list) and all(type(e) is int for e in switch)
    schedule = Schedule.of(switch, epochs).check_depth(depth)  # raises if invalid
    pairs = list(zip(switch, switch[1:], strict=False))
    if kind == "monotone":
        assert all(a >= b for a, b in pairs), switch
        assert params == {f"e{layer}": e for layer, e in enumerate(switch, start=1)}
    elif kind == "linear":
        assert set(params) == {"first", "last"}
        assert switch == list(Schedule.linear(params["first"], params["last"], depth, epochs).switch_epochs)
        assert switch[0] == params["first"] and params["last"] <= params["first"]
        assert depth == 1 or switch[-1] == params["last"]  # one layer: `last` is that same layer, ignored
        assert all(a >= b for a, b in pairs), switch
        steps = [a - b for a, b in pairs]
        assert not steps or max(steps) - min(steps) <= 1, switch  # evenly spaced, up to rounding
    else:
        assert params == {f"e{layer}": e for layer, e in enumerate(switch, start=1)}
    return schedule


class DrawnSuggester:
    """Any value a sampler could pick within the bounds the space declares (drawn by hypothesis)."""

    def __init__(self, data: st.DataObject, epochs: int, pick: str = "any") -> None:
        self.data, self.epochs, self.pick = data, epochs, pick
        self.params: dict[str, Any] = {}

    def suggest_int(self, name: str, low: int, high: int) -> int:
        assert 0 <= low <= high <= self.epochs, (name, low, high)
        assert name not in self.params
        value = {"min": low, "max": high}.get(self.pick)
        if value is None:
            value = self.data.draw(st.integers(low, high), label=name)
        self.params[name] = value
        return value

    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False) -> float:
        raise AssertionError("the built-in schedule spaces search no floats")

    def suggest_categorical(self, name: str, choices: list[Any]) -> Any:
        raise AssertionError("the built-in schedule spaces search no categories")


@settings(max_examples=300, deadline=None)
@given(data=st.data(), kind=st.sampled_from(KINDS), depth=st.integers(1, 12), epochs=st.integers(1, 30))
def test_any_value_within_the_declared_bounds_gives_a_valid_schedule(
    data: st.DataObject, kind: str, depth: int, epochs: int
) -> None:
    suggester = DrawnSuggester(data, epochs)
    drawn = load_space(kind).sample(suggester, depth, epochs)
    check_schedule(kind, drawn, suggester.params, depth, epochs)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("depth", "epochs"), [(1, 1), (4, 1), (4, 10), (7, 3)])
def test_the_space_reaches_all_conv_and_all_attention(kind: str, depth: int, epochs: int) -> None:
    space = load_space(kind)
    highest = DrawnSuggester(None, epochs, pick="max")  # type: ignore[arg-type]
    lowest = DrawnSuggester(None, epochs, pick="min")  # type: ignore[arg-type]
    assert space.sample(highest, depth, epochs)["schedule"] == [epochs] * depth
    assert space.sample(lowest, depth, epochs)["schedule"] == [0] * depth


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("depth", "epochs", "draws", "seed", "covers"), [(4, 4, 200, 0, True), (7, 10, 120, 1, False), (2, 1, 40, 2, True)]
)
def test_tpe_draws_are_valid_after_it_learned(
    kind: str, depth: int, epochs: int, draws: int, seed: int, covers: bool
) -> None:
    """Real TPE draws (10 random start-up trials, then TPE on told values, with the dynamic per-trial
    bounds of `monotone` and `linear`): all valid; with enough draws the first layer covers [0, E]."""
    space = load_space(kind)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    rng = random.Random(seed)
    seen_first: set[int] = set()
    for number in range(draws):
        trial = study.ask()
        drawn = space.sample(trial, depth, epochs)
        schedule = check_schedule(kind, drawn, trial.params, depth, epochs)
        seen_first.add(schedule.switch_epochs[0])
        # Reward late switches half of the time and early ones otherwise, so TPE pushes at both bounds.
        direction = 1 if (number // 25) % 2 == 0 else -1
        study.tell(trial, direction * schedule.conv_fraction() + 0.1 * rng.random())
    assert len(study.trials) == draws
    if covers:
        assert seen_first == set(range(epochs + 1))


def test_free_covers_every_value_at_every_layer() -> None:
    depth, epochs = 4, 4
    space = load_space("free")
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=3))
    rng = random.Random(3)
    seen: list[set[int]] = [set() for _ in range(depth)]
    for _ in range(200):
        trial = study.ask()
        schedule = check_schedule("free", space.sample(trial, depth, epochs), trial.params, depth, epochs)
        for layer, e in enumerate(schedule.switch_epochs):
            seen[layer].add(e)
        study.tell(trial, rng.random())
    assert seen == [set(range(epochs + 1))] * depth


@pytest.mark.parametrize("kind", KINDS)
def test_initial_prs_schedule_is_the_first_trial(kind: str) -> None:
    """The built-in spaces try PRS's default first: enqueued as this space's parameters, the first trial
    Optuna hands out samples exactly `Schedule.prs`, for any depth and number of epochs."""
    space = load_space(kind)
    assert space.initial == ("prs",)
    for depth in range(1, 9):
        for epochs in range(1, 13):
            study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
            for params in space.initial_params(depth, epochs):
                study.enqueue_trial(params)
            trial = study.ask()
            drawn = space.sample(trial, depth, epochs)
            assert drawn["schedule"] == list(Schedule.prs(depth, epochs).switch_epochs), (depth, epochs)


def test_builtin_spaces_load() -> None:
    assert {"free", "monotone", "linear"} <= set(list_spaces())
    for name in list_spaces():
        space = load_space(name)
        assert isinstance(space, SearchSpace) and space.name == name and space.schedule in KINDS
        assert space.initial_params(4, 10) is not None  # every built-in initial schedule fits the tiny model


def test_a_user_space_file_is_loaded(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(
        "description: mine\nschedule: linear\ninitial: [prs, '6,4,2,0']\n"
        "train: {batch_size: 32}\nsearch: {lr: {low: 0.001, high: 0.1, log: true}, stem: {choices: [conv, patch]}}\n"
    )
    space = load_space(str(path))
    assert (space.name, space.schedule, space.description) == ("mine", "linear", "mine")
    assert space.train == {"batch_size": 32}
    assert space.initial_params(4, 6) == [{"first": 3, "last": 0}, {"first": 6, "last": 0}]
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
    for _ in range(20):
        trial = study.ask()
        drawn = space.sample(trial, 4, 6)
        assert 0.001 <= drawn["train"]["lr"] <= 0.1 and drawn["train"]["stem"] in ("conv", "patch")
        assert drawn["train"]["batch_size"] == 32
        study.tell(trial, drawn["train"]["lr"])


def test_a_space_may_fix_the_conv_variant_and_a_request_may_not_contradict_it(tmp_path: Path) -> None:
    path = tmp_path / "dense.yaml"
    path.write_text("schedule: monotone\ntrain: {conv: dense}\n")
    space = load_space(str(path))
    assert space.conv_for(None) == space.conv_for("dense") == "dense"
    assert load_space("monotone").conv_for(None) is None  # the preset's own
    assert load_space("monotone").conv_for("shift") == "shift"
    with pytest.raises(ConfigError, match="search space dense fixes conv=dense; conv=shift contradicts it"):
        space.conv_for("shift")


BAD_FILES = {
    "not YAML": ("schedule: [free\n", "is not valid YAML"),
    "not a mapping": ("- free\n", "must be a mapping with a 'schedule' key"),
    "no schedule": ("train: {lr: 0.1}\n", "'schedule' must be one of free, monotone, linear, got None"),
    "unknown schedule kind": ("schedule: weird\n", "'schedule' must be one of free, monotone, linear, got 'weird'"),
    "unknown key": ("schedule: free\nlayers: 4\n", "unknown key(s) layers"),
    "unknown train field": ("schedule: free\ntrain: {lr_max: 0.1}\n", "'train' has unknown field(s) lr_max; allowed:"),
    "reserved train field": ("schedule: free\ntrain: {epochs: 5}\n", "'train' has unknown field(s) epochs"),
    "train not a mapping": ("schedule: free\ntrain: [0.1]\n", "'train' must be a mapping"),
    "unknown search field": (
        "schedule: free\nsearch: {depth: {choices: [4]}}\n",
        "'search' has unknown field(s) depth",
    ),
    "search spec not a mapping": ("schedule: free\nsearch: {lr: 0.1}\n", "search.lr must be a mapping"),
    "search low > high": ("schedule: free\nsearch: {lr: {low: 1, high: 0.1}}\n", "search.lr needs numbers low <= high"),
    "search bound not a number": ("schedule: free\nsearch: {lr: {low: a, high: 1}}\n", "search.lr needs numbers"),
    "search log from 0": ("schedule: free\nsearch: {lr: {low: 0, high: 1, log: true}}\n", "a log range needs low > 0"),
    "search no choices": ("schedule: free\nsearch: {stem: {choices: []}}\n", "search.stem.choices must be a non-empty"),
    "initial not a list": ("schedule: free\ninitial: prs\n", "'initial' must be a list of schedules"),
    "train value of the wrong type": ("schedule: free\ntrain: {lr: fast}\n", "lr must be a number >= 0.0, got 'fast'"),
    "train value out of range": ("schedule: free\ntrain: {batch_size: 0}\n", "must be an integer >= 1, got 0"),
    "train integer as a float": ("schedule: free\ntrain: {batch_size: 6.5}\n", "batch_size must be an integer >= 1"),
    "label smoothing of 1": ("schedule: free\ntrain: {label_smoothing: 1.0}\n", "label_smoothing must be below 1"),
    "searched range leaves the valid values": (
        "schedule: free\nsearch: {weight_decay: {low: -0.1, high: 0.1}}\n",
        "weight_decay must be a number >= 0.0, got -0.1",
    ),
    "conv searched": (
        "schedule: free\nsearch: {conv: {choices: [shift, dense]}}\n",
        "conv may be fixed under 'train', not searched",
    ),
    "conv unknown": ("schedule: free\ntrain: {conv: depthwise}\n", "conv must be one of shift, dense, got 'depthwise'"),
    "searched choice invalid": (
        "schedule: free\nsearch: {batch_size: {choices: [32, -1]}}\n",
        "batch_size must be an integer >= 1, got -1",
    ),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_space_file_is_a_config_error(case: str, tmp_path: Path) -> None:
    content, expected = BAD_FILES[case]
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    with pytest.raises(ConfigError) as info:
        load_space(str(path))
    message = str(info.value)
    assert expected in message
    assert str(path) in message  # says which file
    assert "\n" not in message  # one line for the CLI


BAD_INITIAL = {
    "more layers than the model": ("monotone", "5,4,3,2,1", "schedule has 5 switch epochs but the model has 4 layers"),
    "fewer layers than the model": ("free", "5,4", "the schedule has 2 switch epochs but the model has 4 layers"),
    "epoch past E": ("free", "11,0,0,0", "switch epoch 11 is outside [0, 10]"),
    "not monotone": ("monotone", "1,2,3,4", "is not monotone"),
    "not linear": ("linear", "8,0,0,0", "is not in the linear space"),
    "linear rising": ("linear", "0,2,4,6", "is not in the linear space (last <= first)"),
    "unreadable": ("free", "banana", "cannot read schedule 'banana'"),
}


@pytest.mark.parametrize("case", list(BAD_INITIAL))
def test_initial_schedule_that_does_not_fit_the_model_is_a_config_error(case: str, tmp_path: Path) -> None:
    """The one place a space meets the model's depth: its fixed `initial` schedules (checked by the
    driver before Ray starts; see tests/cli/test_search_errors.py for the CLI side)."""
    kind, initial, expected = BAD_INITIAL[case]
    path = tmp_path / "space.yaml"
    path.write_text(f"schedule: {kind}\ninitial: ['{initial}']\n")
    space = load_space(str(path))  # the file itself is fine: depth is only known with the model
    with pytest.raises(ConfigError) as info:
        space.initial_params(4, 10)
    assert f"search space space: initial schedule '{initial}' does not fit" in str(info.value)
    assert expected in str(info.value)


def test_unknown_space_names_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown search space 'nope'; built-in: free, linear, monotone"):
        load_space("nope")
    with pytest.raises(ConfigError, match="does not exist"):
        load_space(str(tmp_path / "missing.yaml"))


def test_reading_a_space_and_the_schemas_imports_neither_torch_nor_ray() -> None:
    done = subprocess.run([sys.executable, "-c", _HEAVY_IMPORTS], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr
