"""Connecting to Ray: a local instance by default, a cluster when an address is given."""

import logging
import os
import socket
from urllib.parse import urlparse

import ray

from prs_search.errors import ClusterError

log = logging.getLogger(__name__)


def connect(address: str | None, num_cpus: int | None = None) -> None:
    """Start Ray locally (no address) or join the cluster at `address` ("host:port", "ray://...", "auto")."""
    if ray.is_initialized():
        return
    # Resuming is ours (SQL + Optuna), so Ray's advice about experiment snapshot frequency is noise.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    if address and address != "auto":
        _check_reachable(address)
    try:
        ray.init(
            address=address,
            num_cpus=None if address else num_cpus,
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.WARNING,
        )
    except (ConnectionError, RuntimeError, ValueError) as err:
        where = address or "a local instance"
        raise ClusterError(f"cannot start or join Ray at {where}: {str(err).splitlines()[0]}") from None


def _check_reachable(address: str) -> None:
    """Fail in seconds, with one line, where ray.init would retry for a minute."""
    parsed = urlparse(address if "://" in address else f"tcp://{address}")
    if not parsed.hostname or not parsed.port:
        raise ClusterError(f"bad Ray address {address!r}: expected HOST:PORT, ray://HOST:PORT or 'auto'")
    try:
        socket.create_connection((parsed.hostname, parsed.port), timeout=3).close()
    except OSError as err:
        raise ClusterError(f"cannot reach the Ray cluster at {address}: {err.strerror or err}") from None


def shutdown() -> None:
    if ray.is_initialized():
        ray.shutdown()
