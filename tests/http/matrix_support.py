"""The authorization matrix's machinery: a ``Case`` is one request and the status each role must get.

Every area's cases live in ``matrix_cases_<area>.py`` beside this file (a
module-level ``CASES`` list); ``test_authorization_matrix.py`` collects them
all and fails when a page or form has no case.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from mutualcredit.ledger import service as ledger
from web_helpers import ROLES, client_as, csrf_token

LOGIN = 302  # Flask-Login sends anonymous people to the login page


def everyone(status: int, **exceptions: int) -> dict[str, int]:
    return {role: exceptions.get(role, status) for role in ROLES}


def logged_in(status: int, **exceptions: int) -> dict[str, int]:
    return everyone(status, anonymous=LOGIN, **exceptions)


@dataclass
class Case:
    """One request, and the status every role must get for it."""

    name: str
    method: str
    rule: str  # the URL rule it exercises, for the coverage check
    expected: dict[str, int]
    path: Callable[[dict[str, Any]], str] | str = ""
    data: Callable[[dict[str, Any]], dict[str, Any]] | dict[str, Any] = field(default_factory=dict)
    form_page: str = "/login"  # where to take a CSRF token from
    prepare: Callable[[Session], dict[str, Any]] | None = None
    # Checked after the request: the state a refused request must leave alone.
    check: Callable[[Session, dict[str, Any], bool], str | None] | None = None
    # What a successful request adds one of, and a refused one must not.
    count: Callable[[Session], int] | None = None

    def url(self, context: dict[str, Any]) -> str:
        return self.path(context) if callable(self.path) else (self.path or self.rule)

    def form(self, context: dict[str, Any]) -> dict[str, Any]:
        return self.data(context) if callable(self.data) else dict(self.data)



def run_case(app: Flask, role: str, case: Case) -> str | None:
    """Run one case as ``role``; a description of what went wrong, or None."""
    session: Session = app.extensions["mutualcredit.sessions"]()
    try:
        context = case.prepare(session) if case.prepare else {}
        before = case.count(session) if case.count else 0
        session.close()
        client: FlaskClient = client_as(app, role)
        if case.method == "GET":
            response: TestResponse = client.get(case.url(context))
        else:
            data = {"csrf_token": csrf_token(client, case.form_page), **case.form(context)}
            response = client.post(case.url(context), data=data)
        expected = case.expected[role]
        if response.status_code != expected:
            return f"{case.name}: {response.status_code}, expected {expected}"
        allowed = expected in (200, 303)  # 302 is the login redirect: refused
        if case.check is not None:
            problem = case.check(session, context, allowed)
            session.rollback()
            if problem:
                return f"{case.name}: {problem}"
        if case.count is not None:
            added = case.count(session) - before
            session.rollback()
            if added != int(allowed):
                return f"{case.name}: {added} added, expected {int(allowed)}"
        return None
    finally:
        session.close()


def paid_by(payer: str) -> Callable[[Session], int]:
    """A ``count``: transfers paid from ``payer`` (what a refused payment must not add to)."""

    def count(session: Session) -> int:
        return sum(1 for transfer in ledger.list_transfers(session, accounts=[payer], limit=500) if transfer.payer == payer)

    return count


def all_transfers(session: Session) -> int:
    """A ``count``: every transfer in the ledger."""
    return len(ledger.list_transfers(session, limit=500))
