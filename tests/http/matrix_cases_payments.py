"""Authorization matrix cases for bulk payments and recurring payments.

Forged fields and ids are cases of their own: another co-op's account as the
payer in a bulk form, another co-op's recurring payment cancelled under
one's own co-op's address. A refused request must leave the ledger and the
recurring payments as they were (``count``, ``check``).
"""

from __future__ import annotations

import datetime as dt
import io
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from matrix_support import Case, all_transfers, logged_in, paid_by
from mutualcredit.ledger import recurring



def csv_upload(account: str, payee: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def data(_context: dict[str, Any]) -> dict[str, Any]:
        return {"account": account, "file": (io.BytesIO(f"payee,amount,description\n{payee},1,matrix\n".encode()), "payments.csv")}

    return data


def previewed(account: str, payee: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def data(_context: dict[str, Any]) -> dict[str, Any]:
        return {"account": account, "content": f"payee,amount,description\n{payee},1,matrix\n", "batch_id": str(uuid.uuid4())}

    return data


def nothing_paid(session: Session, context: dict[str, Any], _allowed: bool) -> str | None:
    return None if all_transfers(session) == context["before"] else "a preview paid something"


def before(session: Session) -> dict[str, Any]:
    return {"before": all_transfers(session)}


def recurring_from(payer: str) -> Callable[[Session], int]:
    def count(session: Session) -> int:
        return sum(1 for view in recurring.list_recurring_payments(session) if view.payer == payer)

    return count


def fresh_recurring(payer: str, payee: str) -> Callable[[Session], dict[str, Any]]:
    def prepare(session: Session) -> dict[str, Any]:
        today = dt.date.today()
        view = recurring.create_recurring_payment(
            session, payer=payer, payee=payee, amount_minor=100, interval="monthly", first_due_on=today + dt.timedelta(days=1), today=today, created_by="test"
        )
        return {"recurring": view.id}

    return prepare


def cancelled_only_if_allowed(session: Session, context: dict[str, Any], allowed: bool) -> str | None:
    state = recurring.get_recurring_payment(session, context["recurring"]).state
    expected = "cancelled" if allowed else "active"
    return None if state == expected else f"recurring payment {state}, expected {expected}"


def new_recurring(payee: str, account: str = "") -> Callable[[dict[str, Any]], dict[str, Any]]:
    def data(_context: dict[str, Any]) -> dict[str, Any]:
        first = (dt.date.today() + dt.timedelta(days=2)).isoformat()
        return {"account": account, "payee": payee, "amount": "1", "description": "matrix", "interval": "weekly", "first_due_on": first}

    return data


BULK = "/co-ops/<slug>/payments/bulk"
CONFIRM = "/co-ops/<slug>/payments/bulk/confirm"
RECURRING = "/co-ops/<slug>/recurring"
NEW = "/co-ops/<slug>/recurring/new"
CANCEL = "/co-ops/<slug>/recurring/<int:recurring_id>/cancel"

CASES = [
    # Bulk payments.
    Case("alpha's bulk payment form", "GET", BULK, logged_in(403, treasurer_a=200, treasurer_b=404), path="/co-ops/alpha/payments/bulk"),
    Case("the bulk payment form of a co-op that does not exist", "GET", BULK, logged_in(404), path="/co-ops/nobody/payments/bulk"),
    Case(
        "preview a payments file for alpha (pays nothing)",
        "POST",
        BULK,
        logged_in(403, treasurer_a=200, treasurer_b=404),
        path="/co-ops/alpha/payments/bulk",
        data=csv_upload("alpha", "beta"),
        prepare=before,
        check=nothing_paid,
    ),
    Case(
        "preview a payments file from beta's account on alpha's page (forged account)",
        "POST",
        BULK,
        logged_in(403, treasurer_a=404, treasurer_b=404),
        path="/co-ops/alpha/payments/bulk",
        data=csv_upload("beta", "alpha"),
        prepare=before,
        check=nothing_paid,
    ),
    Case(
        "pay a previewed file from alpha",
        "POST",
        CONFIRM,
        logged_in(403, treasurer_a=200, treasurer_b=404),
        path="/co-ops/alpha/payments/bulk/confirm",
        data=previewed("alpha", "beta"),
        count=paid_by("alpha"),
    ),
    Case(
        "pay a previewed file from beta (forged co-op for alpha's people)",
        "POST",
        CONFIRM,
        logged_in(403, treasurer_b=200, treasurer_a=404, viewer_a=404),
        path="/co-ops/beta/payments/bulk/confirm",
        data=previewed("beta", "alpha"),
        count=paid_by("beta"),
    ),
    Case(
        "pay a file from beta's account on alpha's page (forged account)",
        "POST",
        CONFIRM,
        logged_in(403, treasurer_a=404, treasurer_b=404),
        path="/co-ops/alpha/payments/bulk/confirm",
        data=previewed("beta", "alpha"),
        count=paid_by("beta"),
    ),
    # Recurring payments.
    Case("alpha's recurring payments", "GET", RECURRING, logged_in(200, treasurer_b=404), path="/co-ops/alpha/recurring"),
    Case("the recurring payments of a co-op that does not exist", "GET", RECURRING, logged_in(404), path="/co-ops/nobody/recurring"),
    Case("alpha's new recurring payment form", "GET", NEW, logged_in(403, treasurer_a=200, treasurer_b=404), path="/co-ops/alpha/recurring/new"),
    Case(
        "set up a recurring payment from alpha",
        "POST",
        NEW,
        logged_in(403, treasurer_a=303, treasurer_b=404),
        path="/co-ops/alpha/recurring/new",
        data=new_recurring("beta"),
        count=recurring_from("alpha"),
    ),
    Case(
        "set up a recurring payment from beta's account on alpha's page (forged account)",
        "POST",
        NEW,
        logged_in(403, treasurer_a=404, treasurer_b=404),
        path="/co-ops/alpha/recurring/new",
        data=new_recurring("alpha", account="beta"),
        count=recurring_from("beta"),
    ),
    Case(
        "cancel one of alpha's recurring payments",
        "POST",
        CANCEL,
        logged_in(403, treasurer_a=303, treasurer_b=404),
        path=lambda c: f"/co-ops/alpha/recurring/{c['recurring']}/cancel",
        prepare=fresh_recurring("alpha", "beta"),
        check=cancelled_only_if_allowed,
    ),
    Case(
        "cancel one of beta's recurring payments under alpha's address (forged id)",
        "POST",
        CANCEL,
        logged_in(404),
        path=lambda c: f"/co-ops/alpha/recurring/{c['recurring']}/cancel",
        prepare=fresh_recurring("beta", "alpha"),
        check=cancelled_only_if_allowed,
    ),
    Case(
        "cancel one of beta's recurring payments",
        "POST",
        CANCEL,
        logged_in(403, treasurer_b=303, treasurer_a=404, viewer_a=404),
        path=lambda c: f"/co-ops/beta/recurring/{c['recurring']}/cancel",
        prepare=fresh_recurring("beta", "alpha"),
        check=cancelled_only_if_allowed,
    ),
    Case("cancel a recurring payment that does not exist", "POST", CANCEL, logged_in(404), path="/co-ops/alpha/recurring/999999/cancel"),
]
