"""The demo's recurring payment: the bakery's monthly rent for the kitchen it shares with the bookshop café."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from mutualcredit.ledger import recurring

DEMO_RENT_PAYER = "horno-comun"
DEMO_RENT_PAYEE = "libros-cafe"
DEMO_RENT_MINOR = 30_000


def load_demo_recurring_payments(session: Session, *, now: dt.datetime, actor: str) -> int:
    """Set up the monthly rent, first due today, and pay today's occurrence; returns how many were set up."""
    today = now.date()
    recurring.create_recurring_payment(
        session,
        payer=DEMO_RENT_PAYER,
        payee=DEMO_RENT_PAYEE,
        amount_minor=DEMO_RENT_MINOR,
        interval=recurring.RecurringInterval.MONTHLY,
        first_due_on=today,
        today=today,
        description="Rent: shared kitchen and storage room",
        created_by=actor,
        now=now,
    )
    recurring.run_due_recurring_payments(session, today=today, now=now)
    return 1
