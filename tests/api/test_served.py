"""The app served by a real `uvicorn --factory prs_search.api.main:create_app` on loopback (not through
`prs-search serve`, whose own checks do not run then): who is answered, and a large body refused before
a byte of it is sent."""

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from factories import TOKEN

HUGE = 100 * 1024 * 1024  # announced, never sent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(tmp_path: Path, **env: str) -> Iterator[int]:
    port = free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PRS_") or k.startswith("PRS_TEST_")}
    clean.update(PRS_HOME=str(tmp_path), PRS_DATABASE_URL=f"sqlite:///{tmp_path / 'prs.db'}", **env)
    command = [sys.executable, "-m", "uvicorn", "--factory", "prs_search.api.main:create_app", "--host", "127.0.0.1",
               "--port", str(port), "--log-level", "warning"]  # fmt: skip
    server = subprocess.Popen(command, env=clean, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, "uvicorn exited"
            try:
                httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "uvicorn did not answer"
                time.sleep(0.2)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture(scope="module")
def open_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """Writes without a token (PRS_API_AUTH_DISABLED=true), run with plain uvicorn."""
    yield from serve(tmp_path_factory.mktemp("open"), PRS_API_AUTH_DISABLED="true", PRS_API_RUNNER="none")


@pytest.fixture(scope="module")
def token_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    yield from serve(tmp_path_factory.mktemp("token"), PRS_API_TOKEN=TOKEN, PRS_API_RUNNER="none")


def headers_only(port: int, lines: list[str]) -> tuple[int, dict[str, str]]:
    """Send a request's head and no body; the status and JSON body of what comes back."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def test_plain_uvicorn_still_answers_this_machine_only(open_port: int) -> None:
    # httpx's 5 s default is a wall-clock bound: a loaded 2-core machine can take longer to answer the first call.
    with httpx.Client(base_url=f"http://127.0.0.1:{open_port}", timeout=60) as client:
        assert client.get("/v1/searches").status_code == 200
        # A client elsewhere, as a proxy on this machine reports it (uvicorn trusts 127.0.0.1's X-Forwarded-For).
        remote = client.get("/v1/searches", headers={"X-Forwarded-For": "203.0.113.9"})
        assert remote.status_code == 403 and "this machine only" in remote.json()["detail"]
        rebound = client.get("/v1/searches", headers={"Host": "rebound.example"})
        assert rebound.status_code == 400 and "Host header" in rebound.json()["detail"]
        post = client.post("/v1/searches", json={"dataset": "digits", "budget": 2})
        assert post.status_code == 202


def test_a_large_body_is_refused_before_it_is_sent(token_port: int) -> None:
    head = ["POST /v1/searches HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json",
            f"Content-Length: {HUGE}"]  # fmt: skip
    status, body = headers_only(token_port, head)
    assert status == 401 and "Authorization: Bearer" in body["detail"]  # no token: the body is not waited for
    status, body = headers_only(token_port, [*head, f"Authorization: Bearer {TOKEN}"])
    assert status == 413 and "PRS_API_MAX_BODY_BYTES" in body["detail"]
