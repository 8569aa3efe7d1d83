"""The persistent shape of invoices, clearing runs, their set-offs and cycles."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, Date, ForeignKey, Integer, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from mutualcredit.db import Base, UTCDateTime, utc_now


class InvoiceState(enum.StrEnum):
    RECORDED = "recorded"  # the creditor recorded it; the debtor has not answered
    CONFIRMED = "confirmed"  # the debtor agrees it owes it: it can be cleared and settled
    DISPUTED = "disputed"  # the debtor does not agree; never cleared
    SETTLED = "settled"  # nothing outstanding: cleared by set-off and/or paid in credit


class Invoice(Base):
    """``debtor`` owes ``creditor`` ``amount_minor``, due on ``due_date``.

    ``outstanding_minor`` is a cached figure: the amount less every set-off
    recorded against the invoice and its settlement transfer, if any (the
    audit in ``service.check_invoices`` recomputes it).
    """

    __tablename__ = "invoices"
    __table_args__ = (
        UniqueConstraint("creditor_member_id", "number"),
        CheckConstraint("creditor_member_id <> debtor_member_id", name="two_parties"),
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        CheckConstraint("outstanding_minor >= 0 AND outstanding_minor <= amount_minor", name="outstanding_within_amount"),
        CheckConstraint("state IN ('recorded', 'confirmed', 'disputed', 'settled')", name="state_known"),
        CheckConstraint("(state = 'settled') = (outstanding_minor = 0)", name="settled_when_nothing_outstanding"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    number: Mapped[str] = mapped_column(String(100))
    creditor_member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    debtor_member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    outstanding_minor: Mapped[int] = mapped_column(BigInteger)
    due_date: Mapped[dt.date] = mapped_column(Date)
    description: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(16), default=InvoiceState.RECORDED)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)
    decided_by: Mapped[str | None] = mapped_column(String(200))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    dispute_reason: Mapped[str] = mapped_column(Text, default="")
    settlement_transfer_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("transfers.id"), unique=True)


class ClearingRun(Base):
    """One multilateral set-off over every confirmed invoice with something outstanding."""

    __tablename__ = "clearing_runs"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    reference: Mapped[str] = mapped_column(String(100), unique=True)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)
    invoice_count: Mapped[int] = mapped_column(Integer)
    participant_count: Mapped[int] = mapped_column(Integer)
    td_minor: Mapped[int] = mapped_column(BigInteger)
    nid_minor: Mapped[int] = mapped_column(BigInteger)
    cleared_minor: Mapped[int] = mapped_column(BigInteger)


class InvoiceSetoff(Base):
    """What one run set off on one invoice."""

    __tablename__ = "invoice_setoffs"
    __table_args__ = (
        UniqueConstraint("run_id", "invoice_id"),
        CheckConstraint("amount_minor > 0 AND amount_minor <= outstanding_before_minor", name="within_outstanding"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clearing_runs.id"), index=True)
    invoice_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("invoices.id"), index=True)
    outstanding_before_minor: Mapped[int] = mapped_column(BigInteger)
    amount_minor: Mapped[int] = mapped_column(BigInteger)


class ClearingCycle(Base):
    """A cycle of obligation a run cancelled: each member owed the next, the last owed the first."""

    __tablename__ = "clearing_cycles"
    __table_args__ = (UniqueConstraint("run_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clearing_runs.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    participants: Mapped[list[Any]] = mapped_column(JSON)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
