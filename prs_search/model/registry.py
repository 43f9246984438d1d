"""Named presets: argument dicts registered by name, built through `create_model(name, **overrides)`, and
`model_for_shape`: the model a training config describes, for images of a given shape."""

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from prs_search.errors import ConfigError
from prs_search.recipe import TrainConfig

if TYPE_CHECKING:  # hybrid_vit registers its presets here: a runtime import would be circular
    from prs_search.model.hybrid_vit import HybridViT

_PRESETS: dict[str, Callable[..., "HybridViT"]] = {}


def register_model(fn: Callable[..., "HybridViT"]) -> Callable[..., "HybridViT"]:
    _PRESETS[fn.__name__] = fn
    return fn


def list_models() -> list[str]:
    return sorted(_PRESETS)


def create_model(name: str, **overrides: Any) -> "HybridViT":
    """Build preset `name`; keyword overrides replace the preset's constructor arguments."""
    return _preset(name)(**overrides)


def model_for_shape(config: TrainConfig, *, img_size: int, in_chans: int, num_classes: int) -> "HybridViT":
    """The model `config` trains (preset, stem, conv variant, overrides) for images of this shape: a trial's
    data, or the shape a search stored (`model_config`) when one of its runs is rebuilt from a checkpoint."""
    return create_model(
        config.model,
        img_size=img_size,
        in_chans=in_chans,
        num_classes=num_classes,
        stem=config.stem,
        **({"conv": config.conv} if config.conv else {}),  # None: the preset's own
        **config.model_overrides,
    )


def _preset(name: str) -> Callable[..., "HybridViT"]:
    if name not in _PRESETS:
        raise ConfigError(f"unknown model preset {name!r}; known presets: {', '.join(list_models())}")
    return _PRESETS[name]


def model_doc(name: str) -> str:
    """The preset's one-line description (its docstring)."""
    return (_preset(name).__doc__ or "").strip()
