"""The request's database session, opened on first use and closed at teardown."""

from __future__ import annotations

from flask import current_app, g
from sqlalchemy.orm import Session


def db_session() -> Session:
    """This request's session (``create_app`` closes it when the request ends)."""
    if "db_session" not in g:
        g.db_session = current_app.extensions["mutualcredit.sessions"]()
    return g.db_session
