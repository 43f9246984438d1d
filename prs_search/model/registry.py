"""Named presets: argument dicts registered by name, built through `create_model(name, **overrides)`."""

from collections.abc import Callable
from typing import Any

from torch import nn

from prs_search.errors import ConfigError

_PRESETS: dict[str, Callable[..., nn.Module]] = {}


def register_model(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    _PRESETS[fn.__name__] = fn
    return fn


def list_models() -> list[str]:
    return sorted(_PRESETS)


def create_model(name: str, **overrides: Any) -> nn.Module:
    """Build preset `name`; keyword overrides replace the preset's constructor arguments."""
    return _preset(name)(**overrides)


def _preset(name: str) -> Callable[..., nn.Module]:
    if name not in _PRESETS:
        raise ConfigError(f"unknown model preset {name!r}; known presets: {', '.join(list_models())}")
    return _PRESETS[name]


def model_doc(name: str) -> str:
    """The preset's one-line description (its docstring)."""
    return (_preset(name).__doc__ or "").strip()
