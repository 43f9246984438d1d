"""Connecting to Ray: a local instance by default, a cluster when an address is given.

A cluster started with Ray's token authentication (`RAY_AUTH_MODE=token` on every node) admits a
driver that has the same environment: `RAY_AUTH_MODE=token` and the token in `RAY_AUTH_TOKEN`, in the
file `RAY_AUTH_TOKEN_PATH` names, or in `~/.ray/auth_token`. Ray reads them itself; `connect` only
turns a missing or wrong token into one line at once, where Ray's handshake would retry for 20 s.
"""

import logging
import os
import socket
import threading
from typing import Any
from urllib.parse import urlparse

import ray
from ray.exceptions import AuthenticationError

from prs_search.errors import ClusterError
from prs_search.known import shortfall

log = logging.getLogger(__name__)

# How long the token check waits for an answer: a Ray head answers in milliseconds; something else
# listening at that port may never answer, and ray.init then reports that in its own time.
_PROBE_TIMEOUT_S = 5.0
_TOKEN_SOURCES = "RAY_AUTH_TOKEN, a file named by RAY_AUTH_TOKEN_PATH, or ~/.ray/auth_token"


def _not_the_default_token_notice(record: logging.LogRecord) -> bool:
    # Ray announces, on every local start, that it enabled token authentication by default. The
    # instance is this driver's own, so the notice says nothing a user must act on, and on stderr it
    # would stand before the one line an error is meant to be.
    return not record.getMessage().startswith("Token authentication is enabled for this Ray cluster")


logging.getLogger("ray._private.authentication.authentication_token_setup").addFilter(_not_the_default_token_notice)


def connect(address: str | None, num_cpus: int | None = None) -> None:
    """Start Ray locally (no address) or join the cluster at `address` ("host:port", "ray://...", "auto")."""
    if ray.is_initialized():
        return
    # Resuming is ours (SQL + Optuna), so Ray's advice about experiment snapshot frequency is noise.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    # Tune's newer console output prints an experiment banner even at verbose=0; the legacy one is silent
    # there, and the terminal is our progress bar's.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    check_address(address)
    try:
        ray.init(
            address=address,
            num_cpus=None if address else num_cpus,
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.WARNING,
        )
    except AuthenticationError as err:
        raise ClusterError(f"Ray refused this driver at {address or 'a local instance'}: {err.message}") from None
    except (OSError, RuntimeError, ValueError) as err:  # OSError: ConnectionError, a too long socket path
        where = address or "a local instance"
        raise ClusterError(f"cannot start or join Ray at {where}: {str(err).splitlines()[0]}") from None


def check_resources(cpus_per_trial: float, gpus_per_trial: float) -> None:
    """One line at once when no node of the cluster Ray joined can hold a trial (e.g. `--gpus-per-trial` on
    a machine without a GPU), where Tune would wait for resources that never come."""
    nodes = [node["Resources"] for node in ray.nodes() if node.get("Alive")]
    largest = {kind: max((resources.get(kind, 0.0) for resources in nodes), default=0.0) for kind in ("CPU", "GPU")}
    short = shortfall(cpus_per_trial, gpus_per_trial, largest)
    if short is not None:
        field, amount, kind = short
        raise ClusterError(
            f"--{field.replace('_', '-')} {amount:g} is more than any node of the Ray cluster has "
            f"({largest[kind]:g} {kind}s on the largest): ask for less, or add a node with {kind}s first"
        )


def check_address(address: str | None) -> None:
    """For a cluster address: it answers, and it takes this driver's token settings; else one
    `ClusterError` line at once (a local instance, or "auto", is not checked). Cheap enough to call
    before anything slow, so a typo in the address is not reported only after the data has loaded."""
    if address and address != "auto":
        _check_reachable(address)
        _check_token(address)


def _check_reachable(address: str) -> None:
    """Fail in seconds, with one line, where ray.init would retry for a minute."""
    parsed = urlparse(address if "://" in address else f"tcp://{address}")
    try:
        port = parsed.port  # a port above 65535 raises here
    except ValueError:
        port = None
    if not parsed.hostname or not port:
        raise ClusterError(f"bad Ray address {address!r}: expected HOST:PORT, ray://HOST:PORT or 'auto'")
    try:
        socket.create_connection((parsed.hostname, port), timeout=3).close()
    except OSError as err:
        raise ClusterError(f"cannot reach the Ray cluster at {address}: {err.strerror or err}") from None


def _check_token(address: str) -> None:
    """One line at once when the driver's token settings do not fit the cluster's (see the module doc)."""
    if "://" in address:  # Ray Client (ray://) connects through its own server
        return
    try:  # Ray's private API: where a Ray release moves it, skip the early check and let ray.init judge
        from ray._private.authentication.authentication_token_setup import ensure_token_if_auth_enabled
        from ray._raylet import GcsClient  # type: ignore[attr-defined]  # compiled: no stub lists it
    except ImportError:
        log.debug("this Ray has no token probe; ray.init will check the token")
        return
    try:
        # The check ray.init makes: with RAY_AUTH_MODE=token, some token must be configured. Before the
        # probe, which would abort the whole process without one.
        ensure_token_if_auth_enabled(None, create_token_if_missing=False)
    except AuthenticationError as err:
        raise ClusterError(
            f"no usable Ray token for RAY_AUTH_MODE=token ({err.message}): put the cluster's token in {_TOKEN_SOURCES}"
        ) from None
    if not _cluster_refuses(address, GcsClient):
        return
    if os.environ.get("RAY_AUTH_MODE", "").lower() == "token":
        raise ClusterError(f"the Ray cluster at {address} rejected this driver's token (from {_TOKEN_SOURCES})")
    raise ClusterError(
        f"the Ray cluster at {address} requires token authentication: set RAY_AUTH_MODE=token and the "
        f"cluster's token in {_TOKEN_SOURCES}"
    )


def _cluster_refuses(address: str, gcs_client: Any) -> bool:
    """Whether the Ray head at `address` refuses this process's credentials (one GCS request)."""
    refused: list[bool] = []

    def probe() -> None:
        try:
            gcs_client(address=address, cluster_id=None)
            refused.append(False)
        except AuthenticationError:
            refused.append(True)
        except Exception as err:  # not a Ray head, or not ready: ray.init will say so
            log.debug("token probe of %s: %s", address, err)
            refused.append(False)

    # A daemon thread: a port that never answers must not keep the driver waiting, nor alive at exit.
    thread = threading.Thread(target=probe, name="ray-token-probe", daemon=True)
    thread.start()
    thread.join(_PROBE_TIMEOUT_S)
    return bool(refused and refused[0])


def shutdown() -> None:
    if ray.is_initialized():
        ray.shutdown()
