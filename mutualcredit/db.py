"""Database plumbing: the declarative base, engines and sessions.

SQLite is the embedded default (WAL, a busy timeout, and every transaction
begun with ``BEGIN IMMEDIATE`` so that writers queue instead of failing on
lock upgrades). PostgreSQL is the production database, reached through
psycopg 3; there the ledger takes row locks in a fixed order.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, overload

import psycopg
from psycopg.rows import namedtuple_row
from sqlalchemy import BigInteger, Connection, DateTime, Integer, MetaData, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

SQLITE_BUSY_TIMEOUT_MS = 30_000
POOL_RECYCLE_S = 1_800

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# 64-bit on every database; SQLite only autoincrements "INTEGER PRIMARY KEY".
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timestamp stored in UTC and always read back timezone-aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        assert value.tzinfo is not None, "naive datetimes are a bug"
        value = value.astimezone(dt.timezone.utc)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        return as_utc(value)


@overload
def as_utc(value: dt.datetime) -> dt.datetime: ...
@overload
def as_utc(value: None) -> None: ...
def as_utc(value: dt.datetime | None) -> dt.datetime | None:
    """A timestamp read from either database as timezone-aware UTC (SQLite's naive ones are UTC)."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc)


class Base(DeclarativeBase):
    """Every model of the regional instance."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utc_now() -> dt.datetime:
    """The current time, timezone-aware, with microseconds (stable across databases)."""
    return dt.datetime.now(dt.timezone.utc)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine configured for the ledger's locking rules on either database."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **kwargs)
        _configure_sqlite(engine)
        return engine
    # No pre-ping: it would cost a round trip on every transfer. Connections
    # are recycled instead, and a dropped one fails its transaction cleanly.
    kwargs.setdefault("pool_recycle", POOL_RECYCLE_S)
    return create_engine(url, **kwargs)


def driver_connection(conn: Connection) -> psycopg.Connection[Any]:
    """The psycopg connection under a SQLAlchemy connection, in the same transaction."""
    driver = conn.connection.driver_connection
    assert isinstance(driver, psycopg.Connection)
    return driver


def postgresql_rows(conn: Connection, sql: str, params: Any) -> list[Any]:
    """Run one statement (psycopg placeholders) on PostgreSQL as plain SQL; its rows as named tuples.

    For the few hot statements where building and running a SQLAlchemy
    statement costs more than the database's own work. The statement text
    is fixed, so psycopg prepares it after a few calls.
    """
    # Plain execution, not a pipeline: for one statement at a time, the
    # pipeline's client work costs more than the round trips it saves.
    with driver_connection(conn).cursor(row_factory=namedtuple_row) as cursor:
        try:
            cursor.execute(sql, params)
        except psycopg.IntegrityError as error:
            # Raised as SQLAlchemy's, so callers handle both paths alike.
            raise IntegrityError(sql, None, error) from error
        return cursor.fetchall()


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection: Any) -> None:
        # One writer at a time, taken up front: a deferred transaction that
        # later upgrades to a write lock can fail with SQLITE_BUSY at once.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit."""
    return sessionmaker(engine, expire_on_commit=False)
