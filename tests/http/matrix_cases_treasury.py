"""Authorization matrix cases for the treasurer's pages: dashboards, paying another co-op, receipts.

Forged fields are cases of their own: another co-op's account as the payer
on one's own co-op's pay page, and one's own account on another co-op's page.
A refused payment must leave the ledger as it was (``count``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from matrix_support import Case, all_transfers, logged_in, paid_by
from mutualcredit.ledger import service as ledger


def payment(payer: str, payee: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A pay form's fields, with a transfer id of its own each time."""

    def data(_context: dict[str, Any]) -> dict[str, Any]:
        return {"transfer_id": str(uuid.uuid4()), "from_account": payer, "payee": payee, "amount": "1", "description": "matrix"}

    return data



def fresh_transfer(payer: str, payee: str) -> Callable[[Session], dict[str, Any]]:
    def prepare(session: Session) -> dict[str, Any]:
        made = ledger.create_transfer(session, ledger.TransferSpec(uuid.uuid4(), payer, payee, 1, "matrix"), created_by="test")
        return {"transfer": str(made.id)}

    return prepare


def nothing_paid(session: Session, context: dict[str, Any], _allowed: bool) -> str | None:
    return None if all_transfers(session) == context["before"] else "checking a payment paid something"


CASES = [
    Case("where to start", "GET", "/dashboard", logged_in(303, coordinator=200, auditor=200, admin=200)),
    Case("alpha's dashboard", "GET", "/co-ops/<slug>", logged_in(200, treasurer_b=404), path="/co-ops/alpha"),
    Case("beta's dashboard", "GET", "/co-ops/<slug>", logged_in(200, treasurer_a=404, viewer_a=404), path="/co-ops/beta"),
    Case("the dashboard of a co-op that does not exist", "GET", "/co-ops/<slug>", logged_in(404), path="/co-ops/nobody"),
    Case("alpha's pay form", "GET", "/co-ops/<slug>/pay", logged_in(403, treasurer_a=200, treasurer_b=404), path="/co-ops/alpha/pay"),
    Case("beta's pay form", "GET", "/co-ops/<slug>/pay", logged_in(403, treasurer_b=200, treasurer_a=404, viewer_a=404), path="/co-ops/beta/pay"),
    Case("the pay form of a co-op that does not exist", "GET", "/co-ops/<slug>/pay", logged_in(404), path="/co-ops/nobody/pay"),
    Case(
        "check a payment from alpha (the confirmation page pays nothing)",
        "POST",
        "/co-ops/<slug>/pay",
        logged_in(403, treasurer_a=200, treasurer_b=404),
        path="/co-ops/alpha/pay",
        data=payment("alpha", "beta"),
        prepare=lambda session: {"before": all_transfers(session)},
        check=nothing_paid,
    ),
    Case(
        "check a payment from beta's account on alpha's page (forged account)",
        "POST",
        "/co-ops/<slug>/pay",
        logged_in(403, treasurer_a=400, treasurer_b=404),
        path="/co-ops/alpha/pay",
        data=payment("beta", "alpha"),
        prepare=lambda session: {"before": all_transfers(session)},
        check=nothing_paid,
    ),
    Case(
        "pay beta from alpha",
        "POST",
        "/co-ops/<slug>/pay/confirm",
        logged_in(403, treasurer_a=303, treasurer_b=404),
        path="/co-ops/alpha/pay/confirm",
        data=payment("alpha", "beta"),
        count=paid_by("alpha"),
    ),
    Case(
        "pay alpha from beta's account on alpha's page (forged account)",
        "POST",
        "/co-ops/<slug>/pay/confirm",
        logged_in(403, treasurer_a=400, treasurer_b=404),
        path="/co-ops/alpha/pay/confirm",
        data=payment("beta", "alpha"),
        count=paid_by("beta"),
    ),
    Case(
        "pay beta from alpha's account on beta's page (forged co-op for beta's treasurer)",
        "POST",
        "/co-ops/<slug>/pay/confirm",
        logged_in(403, treasurer_b=400, treasurer_a=404, viewer_a=404),
        path="/co-ops/beta/pay/confirm",
        data=payment("alpha", "beta"),
        count=paid_by("alpha"),
    ),
    Case(
        "pay alpha from beta",
        "POST",
        "/co-ops/<slug>/pay/confirm",
        logged_in(403, treasurer_b=303, treasurer_a=404, viewer_a=404),
        path="/co-ops/beta/pay/confirm",
        data=payment("beta", "alpha"),
        count=paid_by("beta"),
    ),
    Case(
        "pay with a forged transfer id",
        "POST",
        "/co-ops/<slug>/pay/confirm",
        logged_in(403, treasurer_a=400, treasurer_b=404),
        path="/co-ops/alpha/pay/confirm",
        data=lambda c: {**payment("alpha", "beta")(c), "transfer_id": "not-a-uuid"},
        count=paid_by("alpha"),
    ),
    Case(
        "a receipt of a payment from alpha to beta",
        "GET",
        "/transfers/<uuid:transfer_id>",
        logged_in(200),
        path=lambda c: f"/transfers/{c['transfer']}",
        prepare=fresh_transfer("alpha", "beta"),
    ),
    Case(
        "a receipt of a payment from beta to the region's commons",
        "GET",
        "/transfers/<uuid:transfer_id>",
        logged_in(200, treasurer_a=404, viewer_a=404),
        path=lambda c: f"/transfers/{c['transfer']}",
        prepare=fresh_transfer("beta", "commons"),
    ),
    Case("a receipt that does not exist", "GET", "/transfers/<uuid:transfer_id>", logged_in(404), path=f"/transfers/{uuid.UUID(int=0)}"),
]
