"""Writes need the bearer token; unsafe settings refuse to start."""

import re
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from api_factories import AUTH, TOKEN, api_settings
from fastapi.testclient import TestClient

from prs_search.api.main import create_app
from prs_search.api.settings import LOOPBACK_HOSTS, load_settings
from prs_search.errors import ConfigError

BODY = {"dataset": "digits", "budget": 5}


def test_write_without_token_is_401(client: TestClient) -> None:
    response = client.post("/v1/searches", json=BODY)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "Authorization: Bearer" in response.json()["detail"]
    assert client.post("/v1/searches", json=BODY, headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401


def test_write_with_wrong_token_is_403(client: TestClient) -> None:
    response = client.post("/v1/searches", json=BODY, headers={"Authorization": "Bearer wrong-token-wrong-token"})
    assert response.status_code == 403 and response.json() == {"detail": "invalid bearer token"}


def test_write_with_token_is_accepted(client: TestClient) -> None:
    assert client.post("/v1/searches", json=BODY, headers=AUTH).status_code == 202


def test_reads_need_no_token(client: TestClient) -> None:
    assert client.get("/v1/searches").status_code == 200


def test_read_only_api_refuses_writes(sqlite_url: str, make_client: Callable[..., TestClient]) -> None:
    client = make_client(sqlite_url, api_token=None, api_writes_enabled=False)
    response = client.post("/v1/searches", json=BODY, headers=AUTH)
    assert response.status_code == 403 and "read-only" in response.json()["detail"]
    assert client.get("/health").json()["writes"] == "disabled"


def test_auth_disabled_accepts_writes_without_token(sqlite_url: str, make_client: Callable[..., TestClient]) -> None:
    client = make_client(sqlite_url, api_token=None, api_auth_disabled=True)
    assert client.post("/v1/searches", json=BODY).status_code == 202
    assert client.get("/health").json()["writes"] == "open"


def test_without_a_token_the_api_is_read_only_and_explicit_writes_refuse_to_start(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env file
    monkeypatch.setenv("PRS_HOME", str(tmp_path))
    default = load_settings()  # nothing set: read-only, for this machine only
    assert (default.writes_allowed, default.local_only, default.allowed_hosts()) == (False, True, LOOPBACK_HOSTS)
    create_app()
    monkeypatch.setenv("PRS_API_WRITES_ENABLED", "true")
    with pytest.raises(ConfigError, match="PRS_API_TOKEN is not set"):
        load_settings()
    with pytest.raises(ConfigError, match="PRS_API_TOKEN is not set"):
        create_app()
    monkeypatch.setenv("PRS_API_TOKEN", "short")
    with pytest.raises(ConfigError, match="at least 16 characters"):
        load_settings()
    monkeypatch.setenv("PRS_API_TOKEN", TOKEN)
    assert load_settings().writes_allowed and not load_settings().local_only
    monkeypatch.delenv("PRS_API_TOKEN")
    monkeypatch.setenv("PRS_API_WRITES_ENABLED", "false")
    assert (load_settings().writes_allowed, load_settings().local_only) == (False, False)  # reads for everyone
    monkeypatch.setenv("PRS_API_WRITES_ENABLED", "true")
    monkeypatch.setenv("PRS_API_AUTH_DISABLED", "true")
    assert load_settings().api_auth_disabled and load_settings().local_only
    monkeypatch.setenv("PRS_API_RUNNER", "threads")
    with pytest.raises(ConfigError, match="PRS_API_RUNNER"):
        load_settings()


def test_a_token_read_from_a_file_with_its_newline_matches(
    sqlite_url: str, make_client: Callable[..., TestClient]
) -> None:
    client = make_client(sqlite_url, api_token=f"{TOKEN}\n")
    assert client.post("/v1/searches", json=BODY, headers=AUTH).status_code == 202


def test_the_placeholder_token_of_env_example_is_refused() -> None:
    example = (Path(__file__).resolve().parents[2] / "deploy" / "env.example").read_text()
    (placeholder,) = re.findall(r"^PRS_API_TOKEN=(.*)$", example, re.MULTILINE)
    assert len(placeholder) >= 16  # long enough: the length check alone let it through
    with pytest.raises(ConfigError, match="placeholder"):
        load_settings(api_token=placeholder)


@pytest.mark.parametrize("weak", ["z" * 16, "ab" * 8, "abcd" * 4, "0" * 64], ids=["repeated", "ab", "abcd", "long"])
def test_a_token_easy_to_guess_is_refused_with_how_to_make_one(weak: str) -> None:
    with pytest.raises(ConfigError, match="too easy to guess") as refused:
        load_settings(api_token=weak)
    assert 'python -c "import secrets; print(secrets.token_urlsafe(32))"' in str(refused.value)
    assert load_settings(api_token=secrets.token_urlsafe(32)).writes_allowed  # what the message says to do


def test_writes_without_a_token_answer_before_the_body_is_read(client: TestClient) -> None:
    """The guard answers from the headers: the body below is never consumed."""
    consumed: list[int] = []

    def body() -> Iterator[bytes]:
        for _ in range(3):
            consumed.append(1)
            yield b"x" * 1024

    response = client.post("/v1/searches", content=body(), headers={"content-type": "application/json"})
    assert response.status_code == 401 and response.json()["detail"].startswith("this request needs")
    assert consumed == []


def test_bad_database_url_refuses_to_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unsupported database"):
        create_app(api_settings("mysql://x@y/z", tmp_path))


def test_token_is_not_in_reprs(tmp_path: Path) -> None:
    settings = api_settings("sqlite://", tmp_path)
    assert TOKEN not in repr(settings) and TOKEN not in str(settings.model_dump())
