"""Real-browser tests: the app served by gunicorn over HTTP, driven by Chromium through Playwright.

One site per test run: a fresh SQLite database under the run's temporary
directory, migrated and loaded with the demo region (a dozen co-ops and
months of trade, ``mutualcredit.demo``) plus a few people of our own, served
by gunicorn on a free loopback port (see ``browser_wsgi.py``). Tests change
the ledger (they pay, they accept requests), so each one compares figures
before and after its own act rather than with fixed numbers.

Chromium is Debian's (``/usr/bin/chromium``, or ``$MUTUALCREDIT_CHROMIUM``),
never Playwright's own download. Without it (or without the ``playwright``
package) the tests skip with the reason locally; in CI (``CI=true``) they
fail instead, as the PostgreSQL tests do (``tests/conftest.py``).

Each main page is saved as a full-page screenshot into
``tests/browser/artifacts/`` (``$MUTUALCREDIT_ARTIFACTS_DIR`` overrides it).
"""

from __future__ import annotations

import contextlib
import http.client
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy.orm import Session

from browser.support import DESKTOP, EXTRA_USERS, slug_of
from conftest import IS_CI
from mutualcredit import schema
from mutualcredit.db import make_engine, make_session_factory
from mutualcredit.demo import DEMO_PASSWORD, load_demo
from mutualcredit.users import service as users
from mutualcredit.users.passwords import FAST_HASHING_FOR_TESTS

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

HERE = Path(__file__).resolve().parent
REPOSITORY_ROOT = HERE.parents[1]
CHROMIUM_PATH = Path(os.environ.get("MUTUALCREDIT_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS_DIR = Path(os.environ.get("MUTUALCREDIT_ARTIFACTS_DIR") or HERE / "artifacts")
GUNICORN_WORKERS = 2
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
TIMEOUT_MS = 15_000  # every Playwright wait and navigation (the machine may be busy)


def _missing(reason: str) -> None:
    if IS_CI:
        pytest.fail(f"{reason} (CI must run the browser tests)")
    pytest.skip(reason)


@dataclass(frozen=True, slots=True)
class Site:
    """The running app: where to reach it, and its database for setting things up through the services."""

    base_url: str
    database_url: str
    log_path: Path

    def url(self, path: str) -> str:
        return self.base_url + path

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        engine = make_engine(self.database_url)
        try:
            with make_session_factory(engine)() as session:
                yield session
        finally:
            engine.dispose()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def _load_site_data(database_url: str) -> None:
    schema.upgrade(database_url)
    engine = make_engine(database_url)
    try:
        with make_session_factory(engine)() as session:
            # Fast hashes here; the first login rehashes with the production parameters.
            load_demo(session, password_hashing=FAST_HASHING_FOR_TESTS)
            for email, name, member_roles in EXTRA_USERS:
                users.add_user(
                    session,
                    email=email,
                    display_name=name,
                    password=DEMO_PASSWORD,
                    actor="test",
                    member_roles=member_roles,
                    hashing=FAST_HASHING_FOR_TESTS,
                )
    finally:
        engine.dispose()


def _wait_until_healthy(port: int, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    last = "no answer"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"gunicorn exited with {process.returncode}:\n{log_path.read_text(errors='replace')}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/health")
            response = connection.getresponse()
            response.read()
            connection.close()
            last = str(response.status)
            if response.status == 200:
                return
        except OSError as error:
            last = repr(error)
        time.sleep(0.1)
    pytest.fail(f"gunicorn did not answer /health in {START_TIMEOUT_S} s (last: {last}):\n{log_path.read_text(errors='replace')}")


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The demo region served by gunicorn on a loopback port the kernel chose (handed over as a socket)."""
    work_dir = tmp_path_factory.mktemp("browser_site")
    database_url = f"sqlite:///{work_dir / 'site.sqlite3'}"
    _load_site_data(database_url)
    instance_dir = work_dir / "instance"
    instance_dir.mkdir()
    environment = {
        **os.environ,
        "MUTUALCREDIT_DATABASE_URL": database_url,
        "MUTUALCREDIT_INSTANCE_DIR": str(instance_dir),
        "MUTUALCREDIT_SECRET_KEY": secrets.token_hex(16),
        "MUTUALCREDIT_INSECURE_COOKIES": "1",  # plain http on the loopback address
        "MUTUALCREDIT_WEBHOOK_WORKER": "off",
    }
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    port = listener.getsockname()[1]
    fd = listener.fileno()
    os.set_inheritable(fd, True)
    log_path = work_dir / "gunicorn.log"
    command = [
        sys.executable, "-m", "gunicorn",
        "--bind", f"fd://{fd}",
        "--workers", str(GUNICORN_WORKERS),
        "--pythonpath", str(HERE),
        "browser_wsgi:app",
    ]  # fmt: skip
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=REPOSITORY_ROOT, env=environment, pass_fds=(fd,), stdout=log, stderr=subprocess.STDOUT
        )
    listener.close()  # gunicorn holds its own copy
    try:
        _wait_until_healthy(port, process, log_path)
        yield Site(f"http://127.0.0.1:{port}", database_url, log_path)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, through Playwright."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright package is not installed (pip install -e '.[dev]')")
    if not CHROMIUM_PATH.exists():
        _missing(f"no Chromium at {CHROMIUM_PATH} (apt-get install chromium, or set MUTUALCREDIT_CHROMIUM)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM_PATH))
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS_DIR


def log_in(page: Page, site: Site, email: str, password: str = DEMO_PASSWORD) -> None:
    """Log in through the login form, as a person would."""
    page.goto(site.url("/login"))
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: "/login" not in url)


@pytest.fixture(scope="session")
def login_states(browser: Browser, site: Site) -> Callable[[str], dict[str, Any]]:
    """``login_states(email)``: the cookies of a logged-in session, made once per person and run.

    Each person logs in through the form once; later tests start from that
    session, which keeps the run fast and under the login limit.
    """
    states: dict[str, dict[str, Any]] = {}

    def state_of(email: str) -> dict[str, Any]:
        if email not in states:
            context = browser.new_context(base_url=site.base_url)
            context.set_default_timeout(TIMEOUT_MS)
            page = context.new_page()
            log_in(page, site, email)
            states[email] = context.storage_state()
            context.close()
        return states[email]

    return state_of


OpenPage = Callable[..., "Page"]


@pytest.fixture
def open_page(browser: Browser, site: Site, login_states: Callable[[str], dict[str, Any]]) -> Iterator[OpenPage]:
    """``open_page(email=None, viewport=DESKTOP, locale='en-GB')``: a page in a context of its own.

    With an email, the context starts logged in as that person. ``locale``
    sets the browser's language (its Accept-Language header). Every context
    is closed after the test.
    """
    contexts: list[BrowserContext] = []

    def open_one(email: str | None = None, *, viewport: dict[str, int] = DESKTOP, locale: str = "en-GB", **options: Any) -> Page:
        context = browser.new_context(
            base_url=site.base_url,
            viewport=viewport,
            locale=locale,
            storage_state=login_states(email) if email else None,
            **options,
        )
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context.new_page()

    yield open_one
    for context in contexts:
        context.close()


@pytest.fixture
def screenshot(artifacts_dir: Path) -> Callable[["Page", str], Path]:
    """``screenshot(page, name)`` saves a full-page PNG into the artifacts folder and returns its path."""

    def save(page: Page, name: str) -> Path:
        path = artifacts_dir / f"{slug_of(name)}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return save
