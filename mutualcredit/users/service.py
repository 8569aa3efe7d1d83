"""Users: adding, logging in, passwords, roles, invitations, and acting as someone.

Logging in checks, in this order: the email is known, the account is
active, it is not locked, the password matches. Every failure raises the
same ``LoginRefused`` (its ``reason`` is for logs and tests only), and an
unknown email costs the same argon2 verification as a known one.
``LOGIN_FAILURES_MAX`` failures in a row lock the account for
``LOCKOUT_DURATION``; a successful login or a password reset clears the
count. The ``*_as`` functions check a ``Principal``'s permission first, then
do what the plain function does; the plain ones are for trusted callers
(the command line, the demo).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from mutualcredit import errors
from mutualcredit.activity import record_activity
from mutualcredit.db import utc_now
from mutualcredit.members.models import Member, MemberStatus
from mutualcredit.tokens import service as tokens
from mutualcredit.users.errors import (
    EmailTaken,
    InvalidEmail,
    InvitationNotValid,
    LoginRefused,
    UnknownLocale,
    UserNotFound,
    WrongPassword,
)
from mutualcredit.users.models import Invitation, Membership, RegionalRole, User
from mutualcredit.users.passwords import (
    PRODUCTION_HASHING,
    PasswordHashing,
    check_new_password,
    hash_password,
    needs_rehash,
    verify_password,
)
from mutualcredit.users.permissions import MEMBER_ROLES, REGIONAL_ROLES, MemberRole, Principal

LOGIN_FAILURES_MAX = 5
LOCKOUT_DURATION = dt.timedelta(minutes=15)
INVITATION_LIFETIME_DEFAULT = dt.timedelta(days=7)
INVITATION_LIFETIME_MAX = dt.timedelta(days=30)
EMAIL_LENGTH_MAX = 254
DISPLAY_NAME_LENGTH_MAX = 200
SUPPORTED_LOCALES = ("en", "es", "fr")
# Deliberately loose: one "@", something on each side, a dot in the domain, no spaces.
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True, slots=True)
class UserView:
    """A user as listings show them (never the password hash)."""

    id: int
    email: str
    display_name: str
    preferred_locale: str | None
    is_active: bool
    created_at: dt.datetime
    last_login_at: dt.datetime | None
    locked_until: dt.datetime | None
    member_roles: tuple[MemberRole, ...]
    regional_roles: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class InvitationView:
    """An invitation, never its secret."""

    id: int
    email: str
    member_slug: str | None
    member_role: str | None
    regional_role: str | None
    invited_by: str
    created_at: dt.datetime
    expires_at: dt.datetime
    used_at: dt.datetime | None

    @property
    def role(self) -> str:
        return self.member_role or self.regional_role or ""


# ---------------------------------------------------------------------------
# Checking input


def normalise_email(email: str) -> str:
    """The stored form of an email: trimmed and lower-cased; ``InvalidEmail`` if it is none."""
    normal = (email or "").strip().lower()
    if len(normal) > EMAIL_LENGTH_MAX or not EMAIL_PATTERN.match(normal):
        raise InvalidEmail(f"{email!r} is not an email address")
    return normal


def _check_display_name(display_name: str) -> str:
    name = (display_name or "").strip()
    if not name:
        raise errors.InvalidInput("a user needs a name")
    if len(name) > DISPLAY_NAME_LENGTH_MAX:
        raise errors.InvalidInput(f"a name has at most {DISPLAY_NAME_LENGTH_MAX} characters")
    return name


def _check_locale(locale: str | None) -> str | None:
    if locale in (None, ""):
        return None
    if locale not in SUPPORTED_LOCALES:
        raise UnknownLocale(f"unknown language {locale!r}; known: {', '.join(SUPPORTED_LOCALES)}")
    return locale


def _check_member_role(role: str) -> None:
    if role not in MEMBER_ROLES:
        raise errors.InvalidInput(f"unknown member role {role!r}; known: {', '.join(MEMBER_ROLES)}")


def _check_regional_role(role: str) -> None:
    if role not in REGIONAL_ROLES:
        raise errors.InvalidInput(f"unknown regional role {role!r}; known: {', '.join(REGIONAL_ROLES)}")


def _member(session: Session, slug: str) -> Member:
    member = session.scalar(select(Member).where(Member.slug == slug))
    if member is None:
        raise errors.MemberNotFound(f"no member {slug!r}", member=slug)
    return member


def _user(session: Session, email: str) -> User:
    user = session.scalar(select(User).where(User.email == normalise_email(email)))
    if user is None:
        raise UserNotFound(f"no user {email!r}")
    return user


# ---------------------------------------------------------------------------
# Reading


def _member_roles(session: Session, user_ids: Iterable[int]) -> dict[int, list[MemberRole]]:
    ids = list(user_ids)
    roles: dict[int, list[MemberRole]] = {user_id: [] for user_id in ids}
    rows = session.execute(
        select(Membership.user_id, Member.slug, Member.name, Membership.role)
        .join(Member, Member.id == Membership.member_id)
        .where(Membership.user_id.in_(ids))
        .order_by(Member.name)
    )
    for user_id, slug, name, role in rows:
        roles[user_id].append(MemberRole(slug, name, role))
    return roles


def _regional_roles(session: Session, user_ids: Iterable[int]) -> dict[int, list[str]]:
    ids = list(user_ids)
    roles: dict[int, list[str]] = {user_id: [] for user_id in ids}
    for user_id, role in session.execute(
        select(RegionalRole.user_id, RegionalRole.role).where(RegionalRole.user_id.in_(ids))
    ):
        roles[user_id].append(role)
    for found in roles.values():
        found.sort(key=REGIONAL_ROLES.index)
    return roles


def _views(session: Session, users: list[User]) -> list[UserView]:
    member_roles = _member_roles(session, (user.id for user in users))
    regional_roles = _regional_roles(session, (user.id for user in users))
    return [
        UserView(
            id=user.id,
            email=user.email,
            display_name=user.display_name,
            preferred_locale=user.preferred_locale,
            is_active=user.is_active,
            created_at=user.created_at,
            last_login_at=user.last_login_at,
            locked_until=user.locked_until,
            member_roles=tuple(member_roles[user.id]),
            regional_roles=tuple(regional_roles[user.id]),
        )
        for user in users
    ]


def get_user(session: Session, email: str) -> UserView:
    """One user with their roles."""
    return _views(session, [_user(session, email)])[0]


def list_users(session: Session) -> list[UserView]:
    """Every user, by email, with their roles."""
    return _views(session, list(session.scalars(select(User).order_by(User.email))))


def _principal(session: Session, user: User) -> Principal:
    return Principal(
        user_id=user.id,
        email=user.email,
        display_name=user.display_name,
        preferred_locale=user.preferred_locale,
        member_roles=tuple(_member_roles(session, [user.id])[user.id]),
        regional_roles=frozenset(_regional_roles(session, [user.id])[user.id]),
        login_epoch=user.login_epoch,
    )


def load_principal(session: Session, user_id: int, *, login_epoch: int | None = None) -> Principal | None:
    """The active user with this id (and, if given, this login epoch) as a principal; else ``None``."""
    user = session.get(User, user_id)
    if user is None or not user.is_active:
        return None
    if login_epoch is not None and user.login_epoch != login_epoch:
        return None  # the password changed since this session began
    return _principal(session, user)


# ---------------------------------------------------------------------------
# Adding users and logging in


def add_user(
    session: Session,
    *,
    email: str,
    display_name: str,
    password: str,
    actor: str,
    regional_roles: Iterable[str] = (),
    member_roles: Iterable[tuple[str, str]] = (),
    preferred_locale: str | None = None,
    hashing: PasswordHashing = PRODUCTION_HASHING,
    now: dt.datetime | None = None,
) -> UserView:
    """Add a user with roles: regional roles, and ``(member_slug, role)`` pairs."""
    normal = normalise_email(email)
    name = _check_display_name(display_name)
    locale = _check_locale(preferred_locale)
    check_new_password(password)
    regional = list(dict.fromkeys(regional_roles))
    for role in regional:
        _check_regional_role(role)
    per_member = list(member_roles)
    for _, role in per_member:
        _check_member_role(role)
    if len({slug for slug, _ in per_member}) != len(per_member):
        raise errors.InvalidInput("one role per member")
    now = now or utc_now()
    password_hash = hash_password(password, hashing)  # slow: before the database transaction
    try:
        if session.scalar(select(User.id).where(User.email == normal)) is not None:
            raise EmailTaken(f"a user {normal!r} already exists")
        user = User(email=normal, display_name=name, password_hash=password_hash, preferred_locale=locale, created_at=now)
        session.add(user)
        session.flush()
        for role in regional:
            session.add(RegionalRole(user_id=user.id, role=role, granted_by=actor, granted_at=now))
        for slug, role in per_member:
            session.add(Membership(user_id=user.id, member_id=_member(session, slug).id, role=role, granted_by=actor, granted_at=now))
        record_activity(
            session,
            actor=actor,
            action="user.add",
            subject=normal,
            details={"regional_roles": regional, "member_roles": [list(pair) for pair in per_member]},
            at=now,
        )
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return get_user(session, normal)


def authenticate(
    session: Session,
    *,
    email: str,
    password: str,
    hashing: PasswordHashing = PRODUCTION_HASHING,
    now: dt.datetime | None = None,
) -> Principal:
    """The principal for a right email and password; ``LoginRefused`` (one message for every cause) otherwise."""
    now = now or utc_now()
    try:
        normal = normalise_email(email)
    except InvalidEmail:
        normal = None
    try:
        user = session.scalar(select(User).where(User.email == normal)) if normal else None
        # Verify before looking at the account's state, so every path costs one verification.
        matches = verify_password(user.password_hash if user else None, password, hashing)
        if user is None:
            raise LoginRefused("unknown_email")
        if not user.is_active:
            raise LoginRefused("inactive")
        if user.locked_until is not None and user.locked_until > now:
            raise LoginRefused("locked")
        if not matches:
            _count_failure(session, user, now)
            session.commit()
            raise LoginRefused("wrong_password")
        values: dict[str, object] = {"failed_login_count": 0, "locked_until": None, "last_login_at": now}
        if needs_rehash(user.password_hash, hashing):
            values["password_hash"] = hash_password(password, hashing)
        session.execute(update(User).where(User.id == user.id).values(**values))
        session.refresh(user)
        principal = _principal(session, user)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return principal


def _count_failure(session: Session, user: User, now: dt.datetime) -> None:
    # One conditional statement, so concurrent failures are all counted.
    session.execute(
        update(User).where(User.id == user.id).values(failed_login_count=User.failed_login_count + 1)
    )
    session.refresh(user)
    if user.failed_login_count >= LOGIN_FAILURES_MAX:
        user.locked_until = now + LOCKOUT_DURATION
        user.failed_login_count = 0
        record_activity(session, actor="system", action="user.lock", subject=user.email, at=now)


def change_password(
    session: Session,
    *,
    user_id: int,
    current_password: str,
    new_password: str,
    hashing: PasswordHashing = PRODUCTION_HASHING,
    now: dt.datetime | None = None,
) -> Principal:
    """Change one's own password (the current one is asked again); other sessions end."""
    check_new_password(new_password)
    user = session.get(User, user_id)
    if user is None or not user.is_active:
        session.rollback()
        raise UserNotFound("no such user")
    if not verify_password(user.password_hash, current_password, hashing):
        session.rollback()
        raise WrongPassword()
    return _set_password(session, user, new_password, actor=f"user:{user.email}", hashing=hashing, now=now)


def reset_password(
    session: Session,
    *,
    email: str,
    new_password: str,
    actor: str,
    hashing: PasswordHashing = PRODUCTION_HASHING,
    now: dt.datetime | None = None,
) -> UserView:
    """Set a user's password (recovery): also unlocks the account and ends every session."""
    check_new_password(new_password)
    user = _user(session, email)
    _set_password(session, user, new_password, actor=actor, hashing=hashing, now=now)
    return get_user(session, user.email)


def _set_password(
    session: Session, user: User, password: str, *, actor: str, hashing: PasswordHashing, now: dt.datetime | None
) -> Principal:
    password_hash = hash_password(password, hashing)
    try:
        user.password_hash = password_hash
        user.failed_login_count = 0
        user.locked_until = None
        user.login_epoch = user.login_epoch + 1
        record_activity(session, actor=actor, action="user.password", subject=user.email, at=now)
        session.flush()
        principal = _principal(session, user)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return principal


def set_preferred_locale(session: Session, *, user_id: int, locale: str | None) -> None:
    """Choose the web app's language (``None``: follow the browser)."""
    checked = _check_locale(locale)
    try:
        session.execute(update(User).where(User.id == user_id).values(preferred_locale=checked))
        session.commit()
    except BaseException:
        session.rollback()
        raise


def set_user_active(session: Session, *, email: str, is_active: bool, actor: str) -> UserView:
    """Deactivate a user (their sessions end, they cannot log in) or activate them again."""
    try:
        user = _user(session, email)
        if user.is_active != is_active:
            user.is_active = is_active
            user.login_epoch = user.login_epoch + 1
            record_activity(session, actor=actor, action="user.activate" if is_active else "user.deactivate", subject=user.email)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return get_user(session, email)


# ---------------------------------------------------------------------------
# Roles


def grant_member_role(session: Session, *, email: str, member_slug: str, role: str, actor: str) -> UserView:
    """Make a user treasurer or viewer of a member (replacing a previous role there)."""
    _check_member_role(role)
    try:
        user = _user(session, email)
        member = _member(session, member_slug)
        existing = session.scalar(
            select(Membership).where(Membership.user_id == user.id, Membership.member_id == member.id)
        )
        if existing is None:
            session.add(Membership(user_id=user.id, member_id=member.id, role=role, granted_by=actor))
        elif existing.role != role:
            existing.role, existing.granted_by, existing.granted_at = role, actor, utc_now()
        record_activity(session, actor=actor, action="user.grant", subject=user.email, details={"member": member_slug, "role": role})
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return get_user(session, email)


def revoke_member_role(session: Session, *, email: str, member_slug: str, actor: str) -> UserView:
    """Take away a user's role in a member."""
    try:
        user = _user(session, email)
        member = _member(session, member_slug)
        removed = session.execute(
            delete(Membership).where(Membership.user_id == user.id, Membership.member_id == member.id)
        ).rowcount
        if removed:
            record_activity(session, actor=actor, action="user.revoke", subject=user.email, details={"member": member_slug})
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return get_user(session, email)


def grant_regional_role(session: Session, *, email: str, role: str, actor: str) -> UserView:
    """Give a user a regional role (granting twice is harmless)."""
    _check_regional_role(role)
    try:
        user = _user(session, email)
        exists = session.scalar(select(RegionalRole.id).where(RegionalRole.user_id == user.id, RegionalRole.role == role))
        if exists is None:
            session.add(RegionalRole(user_id=user.id, role=role, granted_by=actor))
            record_activity(session, actor=actor, action="user.grant", subject=user.email, details={"role": role})
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return get_user(session, email)


def revoke_regional_role(session: Session, *, email: str, role: str, actor: str) -> UserView:
    """Take a regional role away from a user."""
    _check_regional_role(role)
    try:
        user = _user(session, email)
        removed = session.execute(
            delete(RegionalRole).where(RegionalRole.user_id == user.id, RegionalRole.role == role)
        ).rowcount
        if removed:
            record_activity(session, actor=actor, action="user.revoke", subject=user.email, details={"role": role})
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return get_user(session, email)


# ---------------------------------------------------------------------------
# Invitations


def hash_invitation_secret(secret: str) -> str:
    """Invitation secrets are long and random, so SHA-256 suffices (as for API tokens)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def _invitation_view(invitation: Invitation, member_slug: str | None) -> InvitationView:
    return InvitationView(
        id=invitation.id,
        email=invitation.email,
        member_slug=member_slug,
        member_role=invitation.member_role,
        regional_role=invitation.regional_role,
        invited_by=invitation.invited_by,
        created_at=invitation.created_at,
        expires_at=invitation.expires_at,
        used_at=invitation.used_at,
    )


def invite(
    session: Session,
    *,
    email: str,
    actor: str,
    member_slug: str | None = None,
    member_role: str | None = None,
    regional_role: str | None = None,
    lifetime: dt.timedelta = INVITATION_LIFETIME_DEFAULT,
    now: dt.datetime | None = None,
) -> tuple[str, InvitationView]:
    """Invite a person to one role; returns the secret for the link (shown once) and the invitation."""
    normal = normalise_email(email)
    if regional_role is not None:
        if member_slug is not None or member_role is not None:
            raise errors.InvalidInput("an invitation is for a member role or a regional role, not both")
        _check_regional_role(regional_role)
    else:
        if member_slug is None or member_role is None:
            raise errors.InvalidInput("an invitation needs a member and a member role, or a regional role")
        _check_member_role(member_role)
    if not dt.timedelta(0) < lifetime <= INVITATION_LIFETIME_MAX:
        raise errors.InvalidInput(f"an invitation lasts more than nothing and at most {INVITATION_LIFETIME_MAX.days} days")
    now = now or utc_now()
    try:
        if session.scalar(select(User.id).where(User.email == normal)) is not None:
            raise EmailTaken(f"{normal} already has an account: grant the role instead")
        member_id = None
        if member_slug is not None:
            member = _member(session, member_slug)
            if member.status == MemberStatus.LEFT:
                raise errors.MemberNotActive(f"{member_slug} has left the region")
            member_id = member.id
        secret = secrets.token_urlsafe(32)
        invitation = Invitation(
            secret_hash=hash_invitation_secret(secret),
            email=normal,
            member_id=member_id,
            member_role=member_role,
            regional_role=regional_role,
            invited_by=actor,
            created_at=now,
            expires_at=now + lifetime,
        )
        session.add(invitation)
        session.flush()
        record_activity(
            session,
            actor=actor,
            action="user.invite",
            subject=normal,
            details={"member": member_slug, "member_role": member_role, "regional_role": regional_role},
            at=now,
        )
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return secret, _invitation_view(invitation, member_slug)


def invite_as(
    session: Session,
    principal: Principal,
    *,
    email: str,
    member_slug: str | None = None,
    member_role: str | None = None,
    regional_role: str | None = None,
    lifetime: dt.timedelta = INVITATION_LIFETIME_DEFAULT,
    now: dt.datetime | None = None,
) -> tuple[str, InvitationView]:
    """Invite someone, if ``principal`` may invite to that role."""
    if not principal.can_invite(member_role=member_role, regional_role=regional_role):
        raise errors.NotAllowed("you may not invite people to that role")
    return invite(
        session,
        email=email,
        actor=principal.actor,
        member_slug=member_slug,
        member_role=member_role,
        regional_role=regional_role,
        lifetime=lifetime,
        now=now,
    )


def _open_invitation(session: Session, secret: str, now: dt.datetime) -> tuple[Invitation, str | None]:
    row = session.execute(
        select(Invitation, Member.slug)
        .outerjoin(Member, Member.id == Invitation.member_id)
        .where(Invitation.secret_hash == hash_invitation_secret(secret or ""))
    ).first()
    if row is None or row[0].used_at is not None or row[0].expires_at <= now:
        raise InvitationNotValid("this invitation link is not valid: it is unknown, used or expired")
    return row[0], row[1]


def get_invitation(session: Session, secret: str, *, now: dt.datetime | None = None) -> InvitationView:
    """The open invitation a link stands for; ``InvitationNotValid`` if unknown, used or expired."""
    try:
        invitation, slug = _open_invitation(session, secret, now or utc_now())
        view = _invitation_view(invitation, slug)
    finally:
        session.rollback()
    return view


def accept_invitation(
    session: Session,
    *,
    secret: str,
    display_name: str,
    password: str,
    hashing: PasswordHashing = PRODUCTION_HASHING,
    now: dt.datetime | None = None,
) -> Principal:
    """Create the invited person's account with the invited role; the link then stops working."""
    name = _check_display_name(display_name)
    check_new_password(password)
    now = now or utc_now()
    password_hash = hash_password(password, hashing)
    try:
        invitation, member_slug = _open_invitation(session, secret, now)
        if session.scalar(select(User.id).where(User.email == invitation.email)) is not None:
            raise EmailTaken(f"{invitation.email} already has an account")
        user = User(email=invitation.email, display_name=name, password_hash=password_hash, created_at=now, last_login_at=now)
        session.add(user)
        session.flush()
        # Conditional, so that two people racing with one link cannot both use it.
        claimed = session.execute(
            update(Invitation)
            .where(Invitation.id == invitation.id, Invitation.used_at.is_(None))
            .values(used_at=now, used_by_user_id=user.id)
        ).rowcount
        if claimed != 1:
            raise InvitationNotValid("this invitation link is not valid: it is unknown, used or expired")
        if invitation.regional_role is not None:
            session.add(RegionalRole(user_id=user.id, role=invitation.regional_role, granted_by=invitation.invited_by, granted_at=now))
        else:
            assert invitation.member_id is not None
            assert invitation.member_role is not None
            session.add(
                Membership(
                    user_id=user.id,
                    member_id=invitation.member_id,
                    role=invitation.member_role,
                    granted_by=invitation.invited_by,
                    granted_at=now,
                )
            )
        record_activity(
            session,
            actor=f"user:{user.email}",
            action="user.accept_invitation",
            subject=user.email,
            details={"invited_by": invitation.invited_by, "member": member_slug, "role": invitation.member_role or invitation.regional_role},
            at=now,
        )
        session.flush()
        principal = _principal(session, user)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return principal


def list_open_invitations(session: Session, *, now: dt.datetime | None = None) -> list[InvitationView]:
    """Invitations neither used nor expired, newest first."""
    now = now or utc_now()
    rows = session.execute(
        select(Invitation, Member.slug)
        .outerjoin(Member, Member.id == Invitation.member_id)
        .where(Invitation.used_at.is_(None), Invitation.expires_at > now)
        .order_by(Invitation.created_at.desc(), Invitation.id.desc())
    )
    views = [_invitation_view(invitation, slug) for invitation, slug in rows]
    session.rollback()
    return views


# ---------------------------------------------------------------------------
# API tokens, as a person


def create_token_as(
    session: Session,
    principal: Principal,
    *,
    scopes: Iterable[str],
    member_slug: str | None = None,
    role: str | None = None,
    name: str = "",
) -> tuple[str, tokens.TokenView]:
    """Create an API token: a treasurer for their member, an admin for a regional role."""
    wanted = tuple(scopes)
    if member_slug is not None:
        if not principal.can_manage_tokens_of(member_slug):
            raise errors.NotAllowed("only the member's treasurer creates its tokens")
    elif not principal.can_create_regional_tokens:
        raise errors.NotAllowed("only an admin creates regional tokens")
    allowed = principal.token_scopes_for(member_slug)
    refused = sorted(set(wanted) - set(allowed))
    if refused:
        raise errors.NotAllowed(f"you may not give a token the scopes {', '.join(refused)}")
    return tokens.create_token(
        session, scopes=wanted, created_by=principal.actor, member_slug=member_slug, role=role, name=name
    )


def list_tokens_for(session: Session, principal: Principal) -> list[tokens.TokenView]:
    """The tokens this person may see: their members', or all for regional roles."""
    return [view for view in tokens.list_tokens(session) if principal.can_read_token(view)]


def revoke_token_as(session: Session, principal: Principal, public_id: str) -> tokens.TokenView:
    """Revoke a token, if this person may (a token they may not even see is "not found")."""
    found = [view for view in tokens.list_tokens(session) if view.public_id == public_id]
    session.rollback()
    if not found or not principal.can_read_token(found[0]):
        raise tokens.TokenNotFound(f"no token {public_id!r}")
    if not principal.can_revoke_token(found[0]):
        raise errors.NotAllowed("you may not revoke this token")
    return tokens.revoke_token(session, public_id, revoked_by=principal.actor)
