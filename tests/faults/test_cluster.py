"""`prs-search run --ray-address` on a two-node, token-protected Ray cluster with PostgreSQL as the store:
trials run on both nodes, every result is in SQL; a driver without the cluster's token is refused in
one line."""

import logging
from pathlib import Path

import pytest
from search.helpers import assert_search_agrees, run_cli, tiny_request

from prs_search.store import ResultsStore

from .conftest import RayCluster
from .helpers import BackgroundSearch, finished_search, run_args

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

log = logging.getLogger(__name__)


def test_search_spreads_over_both_nodes(ray_cluster: RayCluster, postgres_url: str, tmp_path: Path) -> None:
    request = tiny_request(
        tmp_path, postgres_url, budget=4, name="two-nodes", fraction=0.2, epochs=2, ray_address=ray_cluster.address
    )
    search = BackgroundSearch.start(request, ray_cluster.env(tmp_path / "home"), tmp_path)
    try:
        seconds = search.finish()
    finally:
        search.stop()
    with ResultsStore(postgres_url, migrate=False) as store:
        assert_search_agrees(store, finished_search(request, store, seconds))
        found = store.get_search(name_or_id="two-nodes")
        assert found is not None and found.ray_address == ray_cluster.address
        rows, _ = store.list_trials(search_id=found.id)
    nodes = {t.node_id for t in rows}
    log.info("%d trials in %.0f s on nodes %s", len(rows), seconds, sorted(str(n)[:8] for n in nodes))
    assert len(rows) == request.budget
    assert nodes == set(ray_cluster.node_ids), f"trials ran on {nodes}, the cluster is {ray_cluster.node_ids}"


@pytest.mark.parametrize(
    ("auth", "expected"),
    [
        ({}, "requires token authentication: set RAY_AUTH_MODE=token"),
        ({"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": "not-the-cluster-token"}, "rejected this driver's token"),
    ],
    ids=["no-token", "wrong-token"],
)
def test_driver_without_the_token_is_refused(
    ray_cluster: RayCluster, auth: dict[str, str], expected: str, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'prs.db'}"
    request = tiny_request(tmp_path, url, budget=1, name="refused", epochs=1, ray_address=ray_cluster.address)
    env = {k: v for k, v in ray_cluster.env(tmp_path).items() if not k.startswith("RAY_AUTH_")}
    done = run_cli(run_args(request), {**env, **auth}, cwd=tmp_path)
    # One line, ours (Ray's handshake would retry for 20 s, then say only that it failed to connect).
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert done.returncode == 2, done.stderr[-2000:]
    assert len(errors) == 1 and expected in errors[0], done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    log.info("refused in %.1f s: %s", done.seconds, errors[0])
    with ResultsStore(url) as store:
        assert store.list_searches() == ([], 0)  # refused before a search was recorded
