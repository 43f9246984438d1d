"""Saving and loading a trained model with what is needed to rebuild it (preset, arguments, layer modes)."""

import warnings
from pathlib import Path
from typing import Any

import torch

from prs_search.errors import ConfigError
from prs_search.model import HybridViT, create_model

_KEYS = ("model_name", "model_args", "attention_layers", "state_dict", "meta")


def save_model(path: Path, model: HybridViT, model_name: str, model_args: dict[str, Any], meta: dict[str, Any]) -> None:
    """Write weights, the preset and its arguments, which layers are attention, and `meta` (JSON-able)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "model_name": model_name,
            "model_args": model_args,
            "attention_layers": list(model.attention_layers()),
            "state_dict": model.state_dict(),
            "meta": meta,
        },
        path,
    )


def load_model(path: Path, map_location: str | torch.device = "cpu") -> tuple[HybridViT, dict[str, Any]]:
    """Rebuild a model saved by `save_model`; returns (model in eval mode, meta)."""
    try:
        with warnings.catch_warnings():  # torch's note on a foreign pickle protocol: the error below says more
            warnings.simplefilter("ignore", UserWarning)
            ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise ConfigError(f"no checkpoint at {path}") from None
    except Exception as err:  # torch raises several types for a file that is not a checkpoint
        raise ConfigError(f"{path} is not a prs-search model checkpoint ({type(err).__name__})") from None
    missing = [key for key in _KEYS if not isinstance(ckpt, dict) or key not in ckpt]
    if missing:
        raise ConfigError(f"{path} is not a prs-search model checkpoint (no {', '.join(missing)})")
    model = create_model(ckpt["model_name"], **ckpt["model_args"])
    model.set_attention_layers(ckpt["attention_layers"])
    model.load_state_dict(ckpt["state_dict"])
    return model.eval(), ckpt["meta"]
