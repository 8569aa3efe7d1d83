"""The persistent shape of resource pools: pools, rounds, contributions, needs, runs, objections, allocations.

A **pool** holds one resource, divisible (kg, hours, credit) or made of
slots (van-days, kitchen mornings); its price per unit is in the region's
credit (0: a gift pool). A **round** shares what members **contribute** to it
among the **needs** members declare, under the **policy** recorded with the
round when it opens (rule, member cap, weights, time limits), so a round can
be re-run and checked at any time. Each solver **run** keeps its whole input
and result as JSON documents (``solver.allocation.jsonfile``'s format);
**allocations** are written once, when a run is committed, together with the
ledger transfers of a priced pool.

The round's life: ``open`` (needs are declared) → ``closed`` → ``solved``
(a draft result) → ``review`` (members may object until ``review_ends_at``)
→ ``committed`` → ``archived``. A re-run after objections takes ``review``
back to ``solved``; every run is kept.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from mutualcredit.db import Base, UTCDateTime, utc_now


class PoolKind(enum.StrEnum):
    DIVISIBLE = "divisible"  # a quantity in minor units (``decimals``)
    SLOTS = "slots"  # indivisible items or time slots


class PoolStatus(enum.StrEnum):
    ACTIVE = "active"
    ARCHIVED = "archived"


class RoundState(enum.StrEnum):
    OPEN = "open"
    CLOSED = "closed"
    SOLVED = "solved"
    REVIEW = "review"
    COMMITTED = "committed"
    ARCHIVED = "archived"


class RunState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class Pool(Base):
    """A shared resource and the policy its members' assembly adopted for it (copied into each new round)."""

    __tablename__ = "pools"
    __table_args__ = (
        CheckConstraint("kind IN ('divisible', 'slots')", name="kind_known"),
        CheckConstraint("status IN ('active', 'archived')", name="status_known"),
        CheckConstraint("decimals BETWEEN 0 AND 8", name="decimals_range"),
        CheckConstraint("kind = 'divisible' OR decimals = 0", name="slots_are_whole"),
        CheckConstraint("price_minor >= 0", name="price_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[str] = mapped_column(String(16))
    unit: Mapped[str] = mapped_column(String(32))  # what one unit is called: "kg", "van-day"
    decimals: Mapped[int] = mapped_column(Integer)
    price_minor: Mapped[int] = mapped_column(BigInteger, default=0)  # credit minor units per whole unit
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), unique=True)
    rule: Mapped[str] = mapped_column(String(16))
    member_cap_share: Mapped[str | None] = mapped_column(String(40))  # an exact fraction, "1/4"
    weights: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # member slug -> exact fraction text
    time_limit_s: Mapped[int] = mapped_column(Integer, default=60)
    stage_time_limit_s: Mapped[int] = mapped_column(Integer, default=20)
    review_window_hours: Mapped[int] = mapped_column(Integer, default=72)
    status: Mapped[str] = mapped_column(String(16), default=PoolStatus.ACTIVE)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)


class Round(Base):
    """One sharing of a pool, with the policy that applies to it (recorded when it opens)."""

    __tablename__ = "pool_rounds"
    __table_args__ = (
        UniqueConstraint("pool_id", "number"),
        CheckConstraint(
            "state IN ('open', 'closed', 'solved', 'review', 'committed', 'archived')", name="state_known"
        ),
        CheckConstraint("review_window_hours >= 0", name="review_window_not_negative"),
        CheckConstraint("state <> 'review' OR review_ends_at IS NOT NULL", name="review_has_end"),
        CheckConstraint(
            "state NOT IN ('committed', 'archived') OR committed_run_id IS NOT NULL", name="committed_has_run"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    pool_id: Mapped[int] = mapped_column(ForeignKey("pools.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    reference: Mapped[str] = mapped_column(String(80), unique=True)  # "<pool slug>-<number>"
    title: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(16), default=RoundState.OPEN)
    needs_close_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())  # the schedule: needs until then
    # The policy, copied from the pool when the round opens: a round is re-run under its own policy.
    rule: Mapped[str] = mapped_column(String(16))
    member_cap_share: Mapped[str | None] = mapped_column(String(40))
    weights: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    time_limit_s: Mapped[int] = mapped_column(Integer)
    stage_time_limit_s: Mapped[int] = mapped_column(Integer)
    review_window_hours: Mapped[int] = mapped_column(Integer)
    price_minor: Mapped[int] = mapped_column(BigInteger)
    review_ends_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    current_run_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)  # the latest finished run (no FK: runs point here)
    committed_run_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    committed_by: Mapped[str | None] = mapped_column(String(200))
    committed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    archived_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class Contribution(Base):
    """What one member puts into a round: a quantity (divisible pools) or slots, paid in credit or given."""

    __tablename__ = "pool_contributions"
    __table_args__ = (
        CheckConstraint("quantity_minor > 0", name="quantity_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("pool_rounds.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    quantity_minor: Mapped[int] = mapped_column(BigInteger)  # for a slot pool: the slots' total capacity
    slots: Mapped[list[Any]] = mapped_column(JSON, default=list)  # [{"id", "capacity", "zone", "start", "end"}]
    is_paid: Mapped[bool] = mapped_column(Boolean, default=False)  # paid in credit at commit, or given
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)


class PoolNeed(Base):
    """One member's declared need in a round (editable while the round is open)."""

    __tablename__ = "pool_needs"
    __table_args__ = (
        CheckConstraint("desired_minor > 0", name="desired_positive"),
        CheckConstraint("minimum_minor >= 0 AND minimum_minor <= desired_minor", name="minimum_within_desired"),
        CheckConstraint("tier BETWEEN 1 AND 9", name="tier_range"),
        CheckConstraint(
            "(window_start IS NULL) = (window_end IS NULL) AND (window_start IS NULL OR window_start < window_end)",
            name="window_shape",
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("pool_rounds.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    desired_minor: Mapped[int] = mapped_column(BigInteger)
    minimum_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    tier: Mapped[int] = mapped_column(Integer, default=1)
    all_or_nothing: Mapped[bool] = mapped_column(Boolean, default=False)
    acceptable: Mapped[list[Any] | None] = mapped_column(JSON)  # slot ids, or None for any
    window_start: Mapped[int | None] = mapped_column(Integer)
    window_end: Mapped[int | None] = mapped_column(Integer)
    zone: Mapped[str | None] = mapped_column(String(100))
    justification: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)


class PoolRun(Base):
    """One solver run of a round: its whole input and its result, kept for good."""

    __tablename__ = "pool_runs"
    __table_args__ = (
        UniqueConstraint("round_id", "number"),
        CheckConstraint("state IN ('queued', 'running', 'done', 'failed')", name="state_known"),
        CheckConstraint("state <> 'done' OR result IS NOT NULL", name="done_has_result"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("pool_rounds.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), default=RunState.QUEUED)
    input: Mapped[dict[str, Any]] = mapped_column(JSON)  # solver.allocation.jsonfile's problem document
    input_sha256: Mapped[str] = mapped_column(String(64))
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # jsonfile.result_to_json's document
    status: Mapped[str | None] = mapped_column(String(16))  # optimal | feasible | infeasible
    stages_done: Mapped[int] = mapped_column(Integer, default=0)
    progress_text: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str] = mapped_column(Text, default="")
    reason: Mapped[str] = mapped_column(Text, default="")  # why it was (re-)run
    started_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class Objection(Base):
    """A member's objection to a round's result during review, with its reason."""

    __tablename__ = "pool_objections"

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("pool_rounds.id"), index=True)
    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("pool_runs.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)


class PoolAllocation(Base):
    """What a committed run gave one need, and what the member paid for it (priced pools)."""

    __tablename__ = "pool_allocations"
    __table_args__ = (
        UniqueConstraint("round_id", "need_id"),
        CheckConstraint("allocated_minor >= 0", name="allocated_not_negative"),
        CheckConstraint("price_paid_minor >= 0", name="price_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("pool_rounds.id"), index=True)
    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("pool_runs.id"))
    need_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("pool_needs.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    allocated_minor: Mapped[int] = mapped_column(BigInteger)
    slots: Mapped[list[Any]] = mapped_column(JSON, default=list)
    price_paid_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    transfer_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("transfers.id"))


class ContributionPayout(Base):
    """What a paid contribution received from the pool account when a round was committed."""

    __tablename__ = "pool_payouts"
    __table_args__ = (
        UniqueConstraint("round_id", "contribution_id"),
        CheckConstraint("amount_minor > 0", name="amount_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("pool_rounds.id"), index=True)
    contribution_id: Mapped[int] = mapped_column(ForeignKey("pool_contributions.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    used_minor: Mapped[int] = mapped_column(BigInteger)  # the contribution's part of what was allocated
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    transfer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("transfers.id"))
