"""Hybrid ViT with reparameterizable conv -> attention token mixers, and its named presets."""

from prs_search.model import hybrid_vit as _presets  # noqa: F401  (registers the presets)
from prs_search.model.hybrid_vit import Block, HybridViT
from prs_search.model.mixer import CONV_VARIANTS, DenseMixer, ReparamMixer, ShiftMixer
from prs_search.model.registry import create_model, list_models, model_doc, model_for_shape

__all__ = [
    "CONV_VARIANTS",
    "Block",
    "DenseMixer",
    "HybridViT",
    "ReparamMixer",
    "ShiftMixer",
    "create_model",
    "list_models",
    "model_doc",
    "model_for_shape",
]
