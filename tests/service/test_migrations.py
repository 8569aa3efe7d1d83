"""Alembic's head is exactly the models' schema, and it goes down to base cleanly."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from mutualcredit import schema
from mutualcredit.db import make_engine
from mutualcredit.models import Base


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_database_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.sqlite3'}"
        return
    with request.getfixturevalue("postgres_database_factory")("migrations") as url:
        yield url


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(schema.alembic_config("sqlite://")).get_current_head()


def schema_differences(url: str) -> list:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()


def table_names(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_to_head_gives_exactly_the_models_schema_and_downgrade_to_base_removes_it(empty_database_url: str) -> None:
    schema.upgrade(empty_database_url)
    assert schema.current_revision(empty_database_url) == head_revision()
    assert schema_differences(empty_database_url) == []
    assert table_names(empty_database_url) >= set(Base.metadata.tables)
    schema.downgrade(empty_database_url, "base")
    assert schema.current_revision(empty_database_url) is None
    assert table_names(empty_database_url) <= {"alembic_version"}
    schema.upgrade(empty_database_url)  # and up again, as a redeploy would
    assert schema_differences(empty_database_url) == []


def test_the_difference_check_notices_a_schema_that_drifted(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'drift.sqlite3'}"
    schema.upgrade(url)
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.text("DROP INDEX ix_transfers_payer_seq"))
    engine.dispose()
    assert schema_differences(url) != []
