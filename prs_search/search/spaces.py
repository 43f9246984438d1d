"""Search spaces: YAML files that say what a search may vary (switch epochs, optionally more).

A space file has
  schedule: free | monotone | linear     how per-layer switch epochs are sampled
  train: {TrainConfig field: value}      fixed training hyper-parameters of every trial
  search: {TrainConfig field: spec}      optional searched ones: {choices: [...]},
                                         {low, high[, log]} (floats) or {low, high, int: true}
  initial: [schedule, ...]               optional schedules tried first (e.g. prs, all-conv, 8,6,2,0),
                                         checked against the model's depth and epochs
Built-in spaces are the files of the top-level `search_spaces/` folder (installed as the package
`prs_search.search_spaces`), found by name; a path to a user's file works too.
"""

from dataclasses import dataclass, fields
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Literal, Protocol

import yaml

from prs_search.errors import ConfigError
from prs_search.recipe import TrainConfig
from prs_search.schedule import Schedule
from prs_search.search.trial_config import TrainSpec
from prs_search.search_spaces import builtin_spaces

ScheduleKind = Literal["free", "monotone", "linear"]
_KINDS: tuple[str, ...] = ("free", "monotone", "linear")
# Fields a space may not set: the search owns them (epochs, seed) or the CLI chooses them (model).
_RESERVED = {"epochs", "seed", "model", "model_overrides"}
_TRAIN_FIELDS = {f.name for f in fields(TrainConfig)} - _RESERVED
# Fields a space may fix but not search: they change the architecture, and a search has one model.
_FIXED_ONLY = {"conv"}


class Suggester(Protocol):
    """The part of `optuna.Trial` a space needs (so this module does not depend on Optuna)."""

    def suggest_int(self, name: str, low: int, high: int) -> int: ...

    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False) -> float: ...

    def suggest_categorical(self, name: str, choices: list[Any]) -> Any: ...


@dataclass(frozen=True)
class SearchSpace:
    name: str
    schedule: ScheduleKind
    train: dict[str, Any]
    search: dict[str, dict[str, Any]]
    description: str = ""
    initial: tuple[str, ...] = ()

    def sample(self, trial: Suggester, depth: int, epochs: int) -> TrainSpec:
        """Draw one trial's schedule and searched hyper-parameters (no rejection)."""
        schedule = self._sample_schedule(trial, depth, epochs)
        params = {name: _suggest(trial, name, spec) for name, spec in self.search.items()}
        return TrainSpec(schedule=list(schedule.switch_epochs), train={**self.train, **params})

    def _sample_schedule(self, trial: Suggester, depth: int, epochs: int) -> Schedule:
        if self.schedule == "linear":
            first = trial.suggest_int("first", 0, epochs)
            return Schedule.linear(first, trial.suggest_int("last", 0, first), depth, epochs)
        switch: list[int] = []
        for layer in range(1, depth + 1):
            # monotone: e_l in [0, e_{l-1}] keeps e_1 >= ... >= e_L by construction, no rejection.
            high = switch[-1] if self.schedule == "monotone" and switch else epochs
            switch.append(trial.suggest_int(f"e{layer}", 0, high))
        return Schedule.of(switch, epochs)

    def conv_for(self, asked: str | None) -> str | None:
        """The conv variant of this space's trials: the one asked for (--conv, the API's `conv`), else the
        space's own, else None (the preset's). Asking for another than the space fixes is an error."""
        fixed = self.train.get("conv")
        if asked is not None and fixed is not None and asked != fixed:
            raise ConfigError(f"search space {self.name} fixes conv={fixed}; conv={asked} contradicts it")
        return asked or fixed

    def initial_params(self, depth: int, epochs: int) -> list[dict[str, int]]:
        """The `initial` schedules as this space's Optuna parameters (raises if one does not fit)."""
        params = []
        for text in self.initial:
            try:
                params.append(self._params_of(Schedule.parse(text, depth, epochs), text))
            except ConfigError as err:
                raise ConfigError(f"search space {self.name}: initial schedule {text!r} does not fit: {err}") from None
        return params

    def params_of(self, schedule: Schedule) -> dict[str, int]:
        """A schedule of this space as its Optuna parameters (raises if it is not in the space)."""
        return self._params_of(schedule, str(schedule))

    def _params_of(self, schedule: Schedule, text: str) -> dict[str, int]:
        e = schedule.switch_epochs
        if self.schedule == "linear":
            if Schedule.linear(e[0], e[-1], schedule.depth, schedule.epochs) != schedule or e[-1] > e[0]:
                raise ConfigError(f"initial schedule {text!r} ({schedule}) is not in the linear space (last <= first)")
            return {"first": e[0], "last": e[-1]}
        if self.schedule == "monotone" and any(a < b for a, b in zip(e, e[1:], strict=False)):
            raise ConfigError(f"initial schedule {text!r} ({schedule}) is not monotone (e_1 >= ... >= e_L)")
        return {f"e{layer}": epoch for layer, epoch in enumerate(e, start=1)}

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "schedule": self.schedule, "train": self.train,
            "search": self.search, "description": self.description, "initial": list(self.initial),
        }  # fmt: skip


def list_spaces() -> list[str]:
    return list(builtin_spaces())


def load_space(name_or_path: str) -> SearchSpace:
    """A built-in space by name (`free`, `monotone`, `linear`, ...) or a YAML file by path."""
    path: Traversable = Path(name_or_path)
    name = Path(name_or_path).stem
    if not Path(name_or_path).suffix:
        builtin = builtin_spaces()
        if name_or_path not in builtin:
            raise ConfigError(f"unknown search space {name_or_path!r}; built-in: {', '.join(list_spaces())}")
        path = builtin[name_or_path]
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"search space file {path} does not exist") from None
    except UnicodeDecodeError:
        raise ConfigError(f"search space file {path} is not UTF-8 text (a YAML file is expected)") from None
    except OSError as err:  # a folder, or a file this user may not read
        raise ConfigError(f"cannot read the search space file {path}: {err.strerror or err}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"search space {path} is not valid YAML: {err}".replace("\n", " ")) from None
    return parse_space(raw, name=name, source=str(path))


def parse_space(raw: Any, name: str, source: str = "<space>") -> SearchSpace:
    if not isinstance(raw, dict):
        raise ConfigError(f"search space {source} must be a mapping with a 'schedule' key")
    unknown = set(raw) - {"schedule", "train", "search", "description", "initial"}
    if unknown:
        raise ConfigError(f"search space {source}: unknown key(s) {', '.join(sorted(unknown))}")
    kind = raw.get("schedule")
    if kind not in _KINDS:
        raise ConfigError(f"search space {source}: 'schedule' must be one of {', '.join(_KINDS)}, got {kind!r}")
    train, search = raw.get("train") or {}, raw.get("search") or {}
    for section, values in (("train", train), ("search", search)):
        if not isinstance(values, dict):
            raise ConfigError(f"search space {source}: '{section}' must be a mapping")
        bad = set(values) - _TRAIN_FIELDS
        if bad:
            raise ConfigError(
                f"search space {source}: '{section}' has unknown field(s) {', '.join(sorted(bad))}; "
                f"allowed: {', '.join(sorted(_TRAIN_FIELDS))}"
            )
    searched_fixed = set(search) & _FIXED_ONLY
    if searched_fixed:
        raise ConfigError(
            f"search space {source}: {', '.join(sorted(searched_fixed))} may be fixed under 'train', not searched"
        )
    for param, spec in search.items():
        _check_spec(param, spec, source)
    _check_train_values(train, search, source)
    initial = raw.get("initial") or []
    if not isinstance(initial, list) or not all(isinstance(t, str | int) for t in initial):
        raise ConfigError(f"search space {source}: 'initial' must be a list of schedules like prs or '8,6,2,0'")
    description = str(raw.get("description", ""))
    return SearchSpace(name, kind, dict(train), dict(search), description, tuple(str(t) for t in initial))


def _check_spec(param: str, spec: Any, source: str) -> None:
    where = f"search space {source}: search.{param}"
    if not isinstance(spec, dict):
        raise ConfigError(f"{where} must be a mapping like {{choices: [...]}} or {{low: 0.1, high: 1}}")
    if "choices" in spec:
        if not isinstance(spec["choices"], list) or not spec["choices"]:
            raise ConfigError(f"{where}.choices must be a non-empty list")
        return
    low, high = spec.get("low"), spec.get("high")
    if not isinstance(low, int | float) or not isinstance(high, int | float) or low > high:
        raise ConfigError(f"{where} needs numbers low <= high (or a 'choices' list)")
    if spec.get("log") and low <= 0:
        raise ConfigError(f"{where}: a log range needs low > 0")


def _check_train_values(train: dict[str, Any], search: dict[str, dict[str, Any]], source: str) -> None:
    """Every fixed value, and both ends or every choice of a searched one, must make a valid TrainConfig,
    so that a bad file fails here and not as failed trials."""
    candidates = [train]
    for param, spec in search.items():
        values = spec["choices"] if "choices" in spec else [spec["low"], spec["high"]]
        candidates += [{**train, param: value} for value in values]
    for values in candidates:
        try:
            TrainConfig(**values)
        except ConfigError as err:
            raise ConfigError(f"search space {source}: {err}") from None


def _suggest(trial: Suggester, name: str, spec: dict[str, Any]) -> Any:
    if "choices" in spec:
        return trial.suggest_categorical(name, spec["choices"])
    if spec.get("int"):
        return trial.suggest_int(name, int(spec["low"]), int(spec["high"]))
    return trial.suggest_float(name, float(spec["low"]), float(spec["high"]), log=bool(spec.get("log", False)))
