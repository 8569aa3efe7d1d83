"""Shared fixtures: fresh databases (SQLite always, PostgreSQL when reachable).

PostgreSQL tests run against a database created for this test run and
dropped after it. Locally they skip, with the reason, when no server
answers; in CI (``CI=true``) an unreachable server is an error instead.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from mutualcredit import schema
from mutualcredit.db import make_engine, make_session_factory
from mutualcredit.models import Base
from mutualcredit.members.service import add_member
from mutualcredit.region.service import init_region

POSTGRES_URL_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
IS_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _admin_url() -> str:
    return os.environ.get("MUTUALCREDIT_TEST_POSTGRES_URL", POSTGRES_URL_DEFAULT)


@contextlib.contextmanager
def fresh_postgres_database(label: str) -> Iterator[str]:
    """Create an empty PostgreSQL database and drop it afterwards (skip or fail if none answers)."""
    admin_url = sa.make_url(_admin_url())
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as error:
        admin.dispose()
        reason = (
            f"PostgreSQL is not reachable at {admin_url.render_as_string(hide_password=True)}: "
            f"{str(error.orig).strip().splitlines()[0]}"
        )
        if IS_CI:
            pytest.fail(f"{reason} (CI must run the PostgreSQL tests)")
        pytest.skip(reason)
    name = f"mc_{label}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_database_factory():  # type: ignore[no-untyped-def]
    """``with postgres_database_factory(label) as url:`` gives a database of one's own."""
    return fresh_postgres_database


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for this test run (dropped afterwards)."""
    with fresh_postgres_database("test") as url:
        yield url


@pytest.fixture(scope="session")
def postgres_migrated_url(postgres_server_url: str) -> str:
    schema.upgrade(postgres_server_url)
    return postgres_server_url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    schema.upgrade(f"sqlite:///{path}")
    return path


def _empty_postgres(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as connection:
        # Every table the models know, so a new area's tables are emptied too.
        tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
        connection.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database: each test runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "ledger.sqlite3"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("postgres_migrated_url")
    _empty_postgres(url)
    return url


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    path = tmp_path / "ledger.sqlite3"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def postgres_url(postgres_migrated_url: str) -> str:
    """A migrated, empty PostgreSQL database (the tables are emptied per test)."""
    _empty_postgres(postgres_migrated_url)
    return postgres_migrated_url


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: sa.Engine) -> Iterator[Session]:
    session = make_session_factory(engine)()
    yield session
    session.close()


def set_up_region(session: Session, members: dict[str, tuple[int, int | None]] | None = None) -> None:
    """A region with members ``{slug: (floor, ceiling)}`` (amounts in minor units)."""
    init_region(
        session,
        slug="testland",
        name="Testland",
        unit_code="TST",
        unit_name="Test credit",
        unit_symbol="T",
        decimals=2,
        actor="test",
    )
    for slug, (floor, ceiling) in (members or {}).items():
        add_member(session, slug=slug, name=slug.title(), floor=floor, ceiling=ceiling, actor="test")


@pytest.fixture
def region(session: Session) -> Session:
    """Three members: alpha and beta (floor -1000.00), gamma (floor 0, ceiling 500.00)."""
    set_up_region(session, {"alpha": (-100_000, None), "beta": (-100_000, None), "gamma": (0, 50_000)})
    return session


def read_ledger_with_plain_sql(connection: Any) -> tuple[list[Any], list[Any], dict[int, int]]:
    """Accounts, transfers (with account codes) and each account's balance summed from its transfers.

    Plain SQL on purpose: concurrency tests check the ledger's figures against
    what the rows themselves add up to, without the services' code.
    """
    accounts = connection.execute(
        sa.text("SELECT id, code, floor, ceiling, balance, debits_pending, credits_pending FROM accounts")
    ).all()
    rows = connection.execute(
        sa.text(
            """
            SELECT t.id, payer.code AS payer, payee.code AS payee, t.amount_minor, t.description, t.kind, t.state
            FROM transfers AS t
            JOIN accounts AS payer ON payer.id = t.payer_account_id
            JOIN accounts AS payee ON payee.id = t.payee_account_id
            """
        )
    ).all()
    derived = dict(
        connection.execute(
            sa.text(
                """
                SELECT a.id, COALESCE(SUM(CASE WHEN t.payee_account_id = a.id THEN t.amount_minor
                                               ELSE -t.amount_minor END), 0)
                FROM accounts AS a
                LEFT JOIN transfers AS t
                  ON (t.payer_account_id = a.id OR t.payee_account_id = a.id)
                 AND t.kind IN ('transfer', 'post')
                GROUP BY a.id
                """
            )
        ).all()
    )
    return list(accounts), list(rows), derived
