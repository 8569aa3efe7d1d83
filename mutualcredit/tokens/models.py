"""The persistent shape of API tokens."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from mutualcredit.db import Base, UTCDateTime, utc_now


class ApiToken(Base):
    """A bearer token: its public id, the hash of its secret, its binding and scopes."""

    __tablename__ = "api_tokens"
    __table_args__ = (
        CheckConstraint("(member_id IS NULL) <> (role IS NULL)", name="one_binding"),
        CheckConstraint("role IS NULL OR role IN ('coordinator', 'auditor', 'admin')", name="role_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(16), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    role: Mapped[str | None] = mapped_column(String(16))
    scopes: Mapped[list[str]] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
