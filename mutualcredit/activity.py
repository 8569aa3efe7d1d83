"""The activity log: every administrative act, who did it and when.

Coordinators only administer policy that members adopted; this log is how
their acts stay attributable. Rows are appended, never changed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from mutualcredit import errors
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


# ---------------------------------------------------------------------------
# Reading the log

ACTIVITY_PAGE_SIZE_DEFAULT = 50
ACTIVITY_PAGE_SIZE_MAX = 500


@dataclass(frozen=True, slots=True)
class ActivityView:
    """One entry as listings show it."""

    id: int
    at: dt.datetime
    actor: str
    action: str
    subject: str
    details: Mapping[str, Any]

    @property
    def kind(self) -> str:
        """What the act concerns: ``member`` for ``member.suspend``."""
        return self.action.partition(".")[0]


@dataclass(frozen=True, slots=True)
class ActivityPage:
    """Entries newest first; ``next_before_id`` asks for the page after this one (``None``: the last page)."""

    entries: tuple[ActivityView, ...]
    next_before_id: int | None


def list_activity(
    session: Session,
    *,
    actor: str | None = None,
    action: str | None = None,
    kind: str | None = None,
    subject: str | None = None,
    before_id: int | None = None,
    limit: int = ACTIVITY_PAGE_SIZE_DEFAULT,
) -> ActivityPage:
    """The log newest first, one page at a time (keyset by id), filtered by actor, action, kind or subject.

    ``action`` matches exactly (``member.suspend``); ``kind`` matches every
    action of one kind (``member`` matches ``member.add``, ``member.suspend``).
    """
    if not 1 <= limit <= ACTIVITY_PAGE_SIZE_MAX:
        raise errors.InvalidInput(f"a page holds between 1 and {ACTIVITY_PAGE_SIZE_MAX} entries")
    query = select(ActivityEntry).order_by(ActivityEntry.id.desc()).limit(limit + 1)
    if actor:
        query = query.where(ActivityEntry.actor == actor)
    if action:
        query = query.where(ActivityEntry.action == action)
    if kind:
        escaped = kind.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(ActivityEntry.action.like(f"{escaped}.%", escape="\\"))
    if subject:
        query = query.where(ActivityEntry.subject == subject)
    if before_id is not None:
        query = query.where(ActivityEntry.id < before_id)
    rows = session.scalars(query).all()
    views = tuple(
        ActivityView(id=row.id, at=row.at, actor=row.actor, action=row.action, subject=row.subject, details=dict(row.details or {}))
        for row in rows[:limit]
    )
    return ActivityPage(entries=views, next_before_id=views[-1].id if len(rows) > limit else None)
