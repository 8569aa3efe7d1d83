"""The persistent shape of users, their roles and invitations."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mutualcredit.db import Base, UTCDateTime, utc_now


class User(Base):
    """A person who logs in to the web app."""

    __tablename__ = "users"
    __table_args__ = (
        # Emails are unique case-insensitively because they are stored lower-cased.
        CheckConstraint("email = lower(email)", name="email_lower_case"),
        CheckConstraint("failed_login_count >= 0", name="failed_login_count_not_negative"),
        CheckConstraint("login_epoch >= 0", name="login_epoch_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(255))
    preferred_locale: Mapped[str | None] = mapped_column(String(16))
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    failed_login_count: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # Raised when the password changes or the user is deactivated: web sessions
    # carry it, so every session opened before then stops working.
    login_epoch: Mapped[int] = mapped_column(default=0)


class Membership(Base):
    """A user's role in one member (co-op): treasurer or viewer."""

    __tablename__ = "user_memberships"
    __table_args__ = (
        UniqueConstraint("user_id", "member_id"),
        CheckConstraint("role IN ('treasurer', 'viewer')", name="role_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    granted_by: Mapped[str] = mapped_column(String(200))
    granted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)


class RegionalRole(Base):
    """A user's regional role: coordinator, auditor or admin."""

    __tablename__ = "user_regional_roles"
    __table_args__ = (
        UniqueConstraint("user_id", "role"),
        CheckConstraint("role IN ('coordinator', 'auditor', 'admin')", name="role_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    role: Mapped[str] = mapped_column(String(16))
    granted_by: Mapped[str] = mapped_column(String(200))
    granted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)


class Invitation(Base):
    """A one-time link to join with one role; only the hash of its secret is kept."""

    __tablename__ = "invitations"
    __table_args__ = (
        CheckConstraint("email = lower(email)", name="email_lower_case"),
        # Exactly one role: a member role for a member, or a regional role.
        CheckConstraint(
            "(member_id IS NULL AND member_role IS NULL AND regional_role IS NOT NULL)"
            " OR (member_id IS NOT NULL AND member_role IS NOT NULL AND regional_role IS NULL)",
            name="one_role",
        ),
        CheckConstraint("member_role IS NULL OR member_role IN ('treasurer', 'viewer')", name="member_role_known"),
        CheckConstraint(
            "regional_role IS NULL OR regional_role IN ('coordinator', 'auditor', 'admin')", name="regional_role_known"
        ),
        CheckConstraint("expires_at > created_at", name="expires_after_creation"),
        CheckConstraint("(used_at IS NULL) = (used_by_user_id IS NULL)", name="used_by_someone"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str] = mapped_column(String(254))
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    member_role: Mapped[str | None] = mapped_column(String(16))
    regional_role: Mapped[str | None] = mapped_column(String(16))
    invited_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utc_now)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    used_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
