"""Fixtures for the scale-out and fault tests: a two-node Ray cluster on this machine, protected by a
token, and a private PostgreSQL server that a test may restart.

- `ray_cluster` (session): `ray start --head --block` on 127.0.0.1 at a free port with 1 CPU, then a
  second node (`ray start --address ... --block`, 1 CPU), both with `RAY_AUTH_MODE=token` and a fresh
  token, each in its own process group; stopped after the session (their `ray start --block`
  parents take their Ray processes down; what is left of the groups is killed), also when a test fails.
- `postgres_url` (module): a fresh database on the shared PostgreSQL server (tests/conftest.py).
- `private_postgres` (module): an own PostgreSQL server (initdb into a temporary folder, a free
  port), so that restarting it disturbs no other test or service on this machine; removed afterwards.
  Without the PostgreSQL server binaries: skipped, or a failure when `CI` is set.
"""

import contextlib
import glob
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from search.helpers import cli_env
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

RAY = Path(sys.executable).with_name("ray")
START_TIMEOUT_S = 90


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RayCluster:
    """A Ray cluster of `ray start` processes on this machine."""

    address: str
    token: str
    folder: Path
    node_ids: list[str] = field(default_factory=list)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def env(self, home: Path, **extra: str) -> dict[str, str]:
        """A `prs-search` environment that holds this cluster's token (as a driver on a cluster would)."""
        return cli_env(home, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=self.token, **extra)

    def start_node(self, args: list[str], name: str) -> None:
        log = self.folder / f"{name}.log"
        env = {**self.env(self.folder), "RAY_USAGE_STATS_ENABLED": "0"}
        with log.open("wb") as out:
            process = subprocess.Popen(
                [str(RAY), "start", "--block", "--num-cpus", "1", "--node-ip-address", "127.0.0.1", *args],
                env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        self.processes.append(process)
        _wait_for(lambda: "Ray runtime started" in log.read_text(errors="replace"), process, log, START_TIMEOUT_S)

    def alive_node_ids(self) -> list[str]:
        """The cluster's alive nodes, asked by a driver of its own (the test process stays out of Ray)."""
        code = (
            f"import json, ray; ray.init(address={self.address!r}, log_to_driver=False);"
            "print(json.dumps([n['NodeID'] for n in ray.nodes() if n['Alive']]))"
        )
        done = subprocess.run(
            [sys.executable, "-c", code], env=self.env(self.folder), capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return list(json.loads(done.stdout.strip().splitlines()[-1]))

    def stop(self) -> None:
        for process in reversed(self.processes):  # workers first, then the head
            _stop_group(process)


def _wait_for(ready: Callable[[], bool], process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"{log.name}: the Ray node did not start:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.3)


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to `ray start --block` (it stops the node's processes), then SIGKILL to what is left of
    its process group: only processes this fixture started."""
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=30)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)


@pytest.fixture(scope="package")  # stopped when tests/faults ends: its nodes would load the rest of the run
def ray_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RayCluster]:
    folder = tmp_path_factory.mktemp("ray_cluster")
    port = free_port()
    cluster = RayCluster(address=f"127.0.0.1:{port}", token=secrets.token_hex(24), folder=folder)
    ray_temp = tempfile.mkdtemp(prefix="prs-ray-")  # short: Ray's socket paths must fit in 107 bytes
    try:
        cluster.start_node(
            ["--head", "--port", str(port), "--include-dashboard", "false", "--disable-usage-stats",
             "--temp-dir", ray_temp],
            "head",
        )  # fmt: skip
        cluster.start_node(["--address", cluster.address], "worker")
        deadline = time.monotonic() + START_TIMEOUT_S
        while len(ids := cluster.alive_node_ids()) < 2:
            assert time.monotonic() < deadline, f"the second node never joined: {ids}"
            time.sleep(1)
        cluster.node_ids = ids
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(ray_temp, ignore_errors=True)


# -- a private PostgreSQL server ----------------------------------------------------------------


@dataclass
class PostgresServer:
    """A PostgreSQL server of our own: `initdb` into `data`, listening on 127.0.0.1:`port` only."""

    bindir: Path
    data: Path
    port: int
    as_user: list[str]  # `runuser -u postgres --` when we are root: the server refuses to run as root

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def pg(self, tool: str, *args: str, timeout: float = 60) -> None:
        done = subprocess.run(
            [*self.as_user, str(self.bindir / tool), *args], capture_output=True, text=True, timeout=timeout
        )
        assert done.returncode == 0, f"{tool} {' '.join(args)}: {done.stdout[-1500:]} {done.stderr[-1500:]}"

    def start(self) -> None:
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off"
        self.pg("pg_ctl", "-D", str(self.data), "-l", str(self.data / "server.log"), "-o", options, "-w", "start")
        self.wait_accepting()

    def stop(self, mode: str = "fast") -> None:
        """`fast`: like a service restart, every open session is terminated."""
        self.pg("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def wait_accepting(self, timeout: float = 60) -> None:
        engine = create_engine(self.url, connect_args={"connect_timeout": 2})
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    with engine.connect() as conn:
                        conn.execute(text("SELECT 1"))
                    return
                except DBAPIError:
                    assert time.monotonic() < deadline, f"PostgreSQL on port {self.port} does not accept connections"
                    time.sleep(0.2)
        finally:
            engine.dispose()

    def create_database(self, name: str) -> str:
        admin = create_engine(self.url, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        finally:
            admin.dispose()
        return self.url.rsplit("/", 1)[0] + f"/{name}"


def _postgres_bindir() -> Path | None:
    initdb = shutil.which("initdb")
    if initdb:
        return Path(os.path.realpath(initdb)).parent
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


@pytest.fixture(scope="module")
def private_postgres() -> Iterator[PostgresServer]:
    bindir = _postgres_bindir()
    if bindir is None:
        message = "no PostgreSQL server binaries (initdb, pg_ctl) on this machine"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    as_user: list[str] = []
    data = Path(tempfile.mkdtemp(prefix="prs-faults-pg-"))
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        os.chown(data, owner.pw_uid, owner.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    server = PostgresServer(bindir, data, free_port(), as_user)
    try:
        server.pg("initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        server.start()
        yield server
    finally:
        with contextlib.suppress(AssertionError, subprocess.TimeoutExpired):
            server.stop("immediate")
        shutil.rmtree(data, ignore_errors=True)
