"""The persistent shape of the ledger: accounts, transfers, requests, checkpoints.

The database enforces the ledger's invariants itself (see the initial
migration for the SQL): amounts are positive, no account crosses its floor
or ceiling counting pending holds, a pending transfer is resolved at most
once, a transfer is reversed at most once, and transfers are never deleted
or edited (only a pending transfer's cached ``state`` may change, once).
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    Uuid,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from mutualcredit.db import Base, BigId, UTCDateTime, utc_now

HASH_GENESIS = "0" * 64


class AccountKind(enum.StrEnum):
    MEMBER = "member"
    POOL = "pool"
    PEER_CLEARING = "peer_clearing"
    COMMONS = "commons"


class AccountStatus(enum.StrEnum):
    OPEN = "open"
    FROZEN = "frozen"
    CLOSED = "closed"


class TransferKind(enum.StrEnum):
    """What a transfer row records.

    ``transfer`` moves value at once; ``pending`` reserves it; ``post``,
    ``void`` and ``expiry`` resolve a pending transfer as new rows that point
    at it (``pending_id``), as in TigerBeetle's two-phase transfers.
    """

    TRANSFER = "transfer"
    PENDING = "pending"
    POST = "post"
    VOID = "void"
    EXPIRY = "expiry"


class TransferState(enum.StrEnum):
    PENDING = "pending"
    POSTED = "posted"
    VOIDED = "voided"
    EXPIRED = "expired"


class PaymentRequestState(enum.StrEnum):
    OPEN = "open"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class Account(Base):
    """An account of a member or of the system, with its cached figures.

    ``balance``, ``debits_pending``, ``credits_pending`` and ``head`` are
    derived from the transfers; `audit` proves they agree.
    """

    __tablename__ = "accounts"
    __table_args__ = (
        CheckConstraint("kind IN ('member', 'pool', 'peer_clearing', 'commons')", name="kind_known"),
        CheckConstraint("status IN ('open', 'frozen', 'closed')", name="status_known"),
        CheckConstraint("floor IS NULL OR floor <= 0", name="floor_not_positive"),
        CheckConstraint("ceiling IS NULL OR ceiling >= 0", name="ceiling_not_negative"),
        CheckConstraint("kind <> 'member' OR floor IS NOT NULL", name="member_has_floor"),
        CheckConstraint("debits_pending >= 0", name="debits_pending_not_negative"),
        CheckConstraint("credits_pending >= 0", name="credits_pending_not_negative"),
        CheckConstraint("floor IS NULL OR balance - debits_pending >= floor", name="within_floor"),
        CheckConstraint("ceiling IS NULL OR balance + credits_pending <= ceiling", name="within_ceiling"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default=AccountStatus.OPEN)
    floor: Mapped[int | None] = mapped_column(BigInteger)
    ceiling: Mapped[int | None] = mapped_column(BigInteger)
    balance: Mapped[int] = mapped_column(BigInteger, default=0)
    debits_pending: Mapped[int] = mapped_column(BigInteger, default=0)
    credits_pending: Mapped[int] = mapped_column(BigInteger, default=0)
    head: Mapped[str] = mapped_column(String(64), default=HASH_GENESIS)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)

    @property
    def available_minor(self) -> int | None:
        """How much more the account can pay now, counting pending holds (None: unbounded)."""
        if self.floor is None:
            return None
        return self.balance - self.debits_pending - self.floor


class Transfer(Base):
    """One immutable fact of the ledger: one row, two legs (payer and payee).

    Each row links the previous chain heads of both accounts it touches and
    carries its own hash, so that rewriting history breaks both chains.
    """

    __tablename__ = "transfers"
    __table_args__ = (
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        CheckConstraint("payer_account_id <> payee_account_id", name="two_accounts"),
        CheckConstraint("kind IN ('transfer', 'pending', 'post', 'void', 'expiry')", name="kind_known"),
        CheckConstraint(
            "(kind = 'pending' AND state IN ('pending', 'posted', 'voided', 'expired'))"
            " OR (kind IN ('transfer', 'post') AND state = 'posted')"
            " OR (kind = 'void' AND state = 'voided')"
            " OR (kind = 'expiry' AND state = 'expired')",
            name="state_fits_kind",
        ),
        CheckConstraint(
            "(kind IN ('post', 'void', 'expiry')) = (pending_id IS NOT NULL)", name="resolution_has_pending"
        ),
        CheckConstraint("kind = 'pending' OR expires_at IS NULL", name="only_pending_expires"),
        CheckConstraint("kind = 'transfer' OR reverses_id IS NULL", name="only_transfers_reverse"),
        Index("ix_transfers_payer_seq", "payer_account_id", "seq"),
        Index("ix_transfers_payee_seq", "payee_account_id", "seq"),
        # Partial unique indexes: a pending transfer is resolved once and a
        # transfer reversed once, without indexing the NULLs of every row.
        Index(
            "uq_transfers_pending_id",
            "pending_id",
            unique=True,
            sqlite_where=text("pending_id IS NOT NULL"),
            postgresql_where=text("pending_id IS NOT NULL"),
        ),
        Index(
            "uq_transfers_reverses_id",
            "reverses_id",
            unique=True,
            sqlite_where=text("reverses_id IS NOT NULL"),
            postgresql_where=text("reverses_id IS NOT NULL"),
        ),
        Index(
            "ix_transfers_open_pending",
            "expires_at",
            sqlite_where=text("state = 'pending'"),
            postgresql_where=text("state = 'pending'"),
        ),
    )

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    payer_account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    payee_account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    description: Mapped[str] = mapped_column(Text, default="")
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    pending_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("transfers.id"))
    reverses_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("transfers.id"))
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    payer_prev_head: Mapped[str] = mapped_column(String(64))
    payee_prev_head: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class PaymentRequest(Base):
    """An invoice: the payee asks, the payer accepts (creating a transfer) or rejects."""

    __tablename__ = "payment_requests"
    __table_args__ = (
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        CheckConstraint("payer_account_id <> payee_account_id", name="two_accounts"),
        CheckConstraint(
            "state IN ('open', 'accepted', 'rejected', 'cancelled', 'expired')", name="state_known"
        ),
        CheckConstraint("(state = 'accepted') = (transfer_id IS NOT NULL)", name="accepted_has_transfer"),
        Index("ix_payment_requests_payer_state", "payer_account_id", "state"),
        Index("ix_payment_requests_payee_state", "payee_account_id", "state"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    payer_account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    payee_account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    description: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(16), default=PaymentRequestState.OPEN)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)
    decided_by: Mapped[str | None] = mapped_column(String(200))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    reason: Mapped[str] = mapped_column(Text, default="")
    transfer_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("transfers.id"), unique=True)


class Checkpoint(Base):
    """A signed Merkle root over every account's chain head at one moment."""

    __tablename__ = "checkpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)
    created_by: Mapped[str] = mapped_column(String(200))
    region_slug: Mapped[str] = mapped_column(String(64))
    account_count: Mapped[int]
    leaves: Mapped[list[list[Any]]] = mapped_column(JSON)
    merkle_root: Mapped[str] = mapped_column(String(64))
    public_key: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(128))
