"""A live server for each test module: gunicorn with several workers on a fresh PostgreSQL database.

``live_server_factory(label, members)`` creates a database, migrates it,
sets up a region with ``members`` (``{slug: (floor, ceiling)}`` in minor
units), creates an API token per member and a regional admin token, starts
gunicorn on a free loopback port as a subprocess, waits until ``/health``
answers 200, and afterwards stops gunicorn and drops the database. Clients
speak plain HTTP through ``http.client`` (one connection per client), as a
scheme's own software would.

Every test here needs PostgreSQL: locally they skip when no server answers,
in CI they must run (see ``tests/conftest.py``).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conftest import fresh_postgres_database, set_up_region
from mutualcredit import schema
from mutualcredit.db import make_engine, make_session_factory
from mutualcredit.tokens.service import create_token

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
MEMBER_SCOPES = ["accounts:read", "transfers:write", "requests:write"]
GUNICORN_WORKERS = 4
# Sync workers, as the README deploys: one request at a time per process.
# (The API's rate limiter keeps its counters in process memory, and that
# storage, limits 5.8, is not safe with several request threads: now and
# then two threads start the same expiry timer and a request fails with a
# 500. Sync workers have one thread.) A sync worker closes the connection
# after each response; http.client then opens a new one for the next request.
GUNICORN_WORKER_CLASS = "sync"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
REQUEST_TIMEOUT_S = 60.0
CLI_TIMEOUT_S = 120.0


@dataclass(frozen=True, slots=True)
class Answer:
    """One HTTP response, read in full."""

    status: int
    headers: Mapping[str, str]  # names in lower case
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def problem_type(self) -> str | None:
        """The problem+json ``type`` of an error answer (None for anything else)."""
        if not self.headers.get("content-type", "").startswith("application/problem+json"):
            return None
        problem_type: str = self.json()["type"]
        return problem_type


class HttpClient:
    """One client of the API with its own HTTP/1.1 connection (kept alive while the server allows)."""

    def __init__(self, host: str, port: int, *, timeout_s: float = REQUEST_TIMEOUT_S) -> None:
        self._connection = http.client.HTTPConnection(host, port, timeout=timeout_s)

    def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Answer:
        """Send one request; ``body`` (if not None) goes as JSON."""
        sent_headers = {"Accept": "application/json", **(headers or {})}
        if token is not None:
            sent_headers["Authorization"] = f"Bearer {token}"
        payload = None
        if body is not None:
            payload = body if isinstance(body, bytes) else json.dumps(body).encode()
            sent_headers.setdefault("Content-Type", "application/json")
        try:
            return self._send(method, path, payload, sent_headers)
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            # The server closed a kept-alive connection (an idle timeout, a
            # worker restart). Sending again on a new connection is safe: every
            # request these tests send only reads, or carries a transfer id or
            # an Idempotency-Key, so it cannot take effect twice.
            self._connection.close()
            return self._send(method, path, payload, sent_headers)

    def _send(self, method: str, path: str, payload: bytes | None, headers: dict[str, str]) -> Answer:
        self._connection.request(method, path, body=payload, headers=headers)
        response = self._connection.getresponse()
        body = response.read()
        return Answer(response.status, {name.lower(): value for name, value in response.getheaders()}, body)

    def close(self) -> None:
        self._connection.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


@dataclass(frozen=True, slots=True)
class LiveServer:
    """A running gunicorn and what a test needs to speak to it and to its database."""

    host: str
    port: int
    database_url: str
    tokens: Mapping[str, str]  # member slug -> token secret (the member's scopes)
    admin_token: str
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def client(self) -> HttpClient:
        return HttpClient(self.host, self.port)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def server_environment(database_url: str, instance_dir: Path) -> dict[str, str]:
    """The environment of the server and of the CLI run against the same database."""
    return {
        **os.environ,
        "MUTUALCREDIT_DATABASE_URL": database_url,
        "MUTUALCREDIT_INSTANCE_DIR": str(instance_dir),
        "MUTUALCREDIT_SECRET_KEY": secrets.token_hex(16),
        # Load tests send far more than a client would; the limit is tested elsewhere.
        "MUTUALCREDIT_API_RATE_LIMIT": "1000000 per minute",
        "MUTUALCREDIT_WEBHOOK_WORKER": "off",
    }


def wait_until_healthy(host: str, port: int, process: subprocess.Popen[bytes], log_path: Path) -> None:
    """Poll ``/health`` until it answers 200; fail with the server's log if it dies or takes too long."""
    deadline = time.monotonic() + START_TIMEOUT_S
    last = "no answer"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"gunicorn exited with {process.returncode}:\n{log_path.read_text(errors='replace')}")
        try:
            connection = http.client.HTTPConnection(host, port, timeout=5)
            connection.request("GET", "/health")
            response = connection.getresponse()
            last = f"{response.status} {response.read()[:200]!r}"
            connection.close()
            if response.status == 200:
                return
        except OSError as error:
            last = repr(error)
        time.sleep(0.1)
    pytest.fail(f"gunicorn did not become healthy in {START_TIMEOUT_S} s (last: {last}):\n{log_path.read_text(errors='replace')}")


@contextlib.contextmanager
def run_gunicorn(environment: dict[str, str], log_path: Path, *, workers: int = GUNICORN_WORKERS) -> Iterator[tuple[str, int]]:
    """gunicorn (several sync workers) on a loopback port chosen by the kernel; stopped afterwards.

    The test process binds the socket and hands it over (``fd://``), so no
    other process can take the port between choosing and binding it.
    """
    host = "127.0.0.1"
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind((host, 0))
    listener.listen(128)
    port = listener.getsockname()[1]
    fd = listener.fileno()
    os.set_inheritable(fd, True)
    command = [
        sys.executable, "-m", "gunicorn",
        "--bind", f"fd://{fd}",
        "--workers", str(workers),
        "--worker-class", GUNICORN_WORKER_CLASS,
        "--graceful-timeout", "10",
        "webapp.wsgi:app",
    ]  # fmt: skip
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=REPOSITORY_ROOT, env=environment, pass_fds=(fd,), stdout=log, stderr=subprocess.STDOUT
        )
    listener.close()  # gunicorn holds its own copy
    try:
        wait_until_healthy(host, port, process, log_path)
        yield host, port
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)  # graceful: workers finish their requests
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextlib.contextmanager
def start_live_server(
    label: str, members: Mapping[str, tuple[int, int | None]], work_dir: Path
) -> Iterator[LiveServer]:
    with fresh_postgres_database(f"live_{label}") as database_url:
        schema.upgrade(database_url)
        engine = make_engine(database_url)
        try:
            with make_session_factory(engine)() as session:
                set_up_region(session, dict(members))
                tokens = {
                    slug: create_token(session, member_slug=slug, scopes=MEMBER_SCOPES, created_by="test")[0]
                    for slug in members
                }
                admin_token = create_token(session, role="admin", scopes=["admin"], created_by="test")[0]
        finally:
            engine.dispose()
        instance_dir = work_dir / "instance"
        instance_dir.mkdir(parents=True, exist_ok=True)
        log_path = work_dir / "gunicorn.log"
        with run_gunicorn(server_environment(database_url, instance_dir), log_path) as (host, port):
            yield LiveServer(host, port, database_url, tokens, admin_token, log_path)


@pytest.fixture(scope="session")
def live_server_factory(
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable[[str, Mapping[str, tuple[int, int | None]]], contextlib.AbstractContextManager[LiveServer]]:
    """``with live_server_factory(label, members) as server:`` a live server of one's own."""

    def start(label: str, members: Mapping[str, tuple[int, int | None]]) -> contextlib.AbstractContextManager[LiveServer]:
        return start_live_server(label, members, tmp_path_factory.mktemp(f"live_{label}"))

    return start


def run_cli(server: LiveServer, *arguments: str) -> subprocess.CompletedProcess[str]:
    """The installed ``mutualcredit`` console script, run against the server's database."""
    script = Path(sys.executable).with_name("mutualcredit")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "webapp.cli"]
    environment = server_environment(server.database_url, server.log_path.parent / "instance")
    return subprocess.run(
        [*command, *arguments], cwd=REPOSITORY_ROOT, env=environment, capture_output=True, text=True, timeout=CLI_TIMEOUT_S
    )
