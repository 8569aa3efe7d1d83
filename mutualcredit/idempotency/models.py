"""The persistent shape of idempotency keys."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mutualcredit.db import Base, UTCDateTime, utc_now


class IdempotencyKey(Base):
    """One client-chosen key per token: the request it first came with and the answer given.

    ``state`` is ``started`` while the first request runs and ``done`` once its
    response is stored; a ``started`` row left by a crashed process is taken
    over after a grace period (the ledger's own transfer ids keep that retry
    from paying twice).
    """

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        UniqueConstraint("token_public_id", "key"),
        CheckConstraint("state IN ('started', 'done')", name="state_known"),
        CheckConstraint("(state = 'done') = (response_status IS NOT NULL)", name="done_has_response"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    token_public_id: Mapped[str] = mapped_column(String(16), ForeignKey("api_tokens.public_id"))
    key: Mapped[str] = mapped_column(String(255))
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(500))
    request_hash: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(8), default="started")
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_type: Mapped[str | None] = mapped_column(String(100))
    response_location: Mapped[str | None] = mapped_column(String(500))
    response_body: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
