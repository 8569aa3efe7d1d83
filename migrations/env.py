"""Alembic environment: migrates the database named by the configuration.

The URL comes from the Alembic config's ``sqlalchemy.url`` when a caller
set it (the CLI and the tests do), else from ``MUTUALCREDIT_DATABASE_URL``.
"""

from __future__ import annotations

from alembic import context

from mutualcredit.config import Settings
from mutualcredit.db import make_engine
from mutualcredit.models import Base

config = context.config
target_metadata = Base.metadata


def render_item(type_: str, obj, autogen_context):  # type: ignore[no-untyped-def]
    """Render the models' UTC timestamp type as the plain column type it stores."""
    from mutualcredit.db import UTCDateTime

    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def database_url() -> str:
    return config.get_main_option("sqlalchemy.url") or Settings.from_environ().database_url


def run_migrations_offline() -> None:
    context.configure(url=database_url(), target_metadata=target_metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(database_url())
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection, target_metadata=target_metadata, render_as_batch=True, render_item=render_item
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
