"""The persistent shape of members."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import CheckConstraint, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from mutualcredit.db import Base, UTCDateTime, utc_now


class MemberStatus(enum.StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    LEFT = "left"


class Member(Base):
    """A co-operative that is (or was) a member of the region."""

    __tablename__ = "members"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'suspended', 'left')", name="status_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    trade: Mapped[str] = mapped_column(String(200), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default=MemberStatus.ACTIVE)
    joined_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)
    left_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
