"""prs-search: per-layer Progressive Reparameterization Scheduling search for hybrid vision transformers."""

__version__ = "0.1.0"
