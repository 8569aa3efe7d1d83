"""The activity log: every administrative act, who did it and when.

Coordinators only administer policy that members adopted; this log is how
their acts stay attributable. Rows are appended, never changed.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, Session, mapped_column

from mutualcredit.db import Base, BigId, UTCDateTime, utc_now


class ActivityEntry(Base):
    """One administrative act."""

    __tablename__ = "activity_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now, index=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(200))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


def record_activity(
    session: Session,
    *,
    actor: str,
    action: str,
    subject: str,
    details: dict[str, Any] | None = None,
    at: dt.datetime | None = None,
) -> None:
    """Append an entry in the caller's database transaction."""
    session.add(
        ActivityEntry(actor=actor, action=action, subject=subject, details=details or {}, at=at or utc_now())
    )
