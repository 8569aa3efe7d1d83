"""Creating, listing, revoking and checking API tokens."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from mutualcredit import errors
from mutualcredit.activity import record_activity
from mutualcredit.db import as_utc, postgresql_rows, utc_now
from mutualcredit.members.models import Member, MemberStatus
from mutualcredit.tokens.models import ApiToken

SCOPES = ("accounts:read", "transfers:write", "requests:write", "pools:write", "admin")
ROLES = ("coordinator", "auditor", "admin")
TOKEN_PREFIX = "mct"
TOKEN_PATTERN = re.compile(r"^mct_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
# Recording every use would make every read a write; once a minute is enough.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)
NAME_LENGTH_MAX = 200


class Unauthenticated(errors.MutualCreditError):
    """The bearer token is missing, malformed, unknown or revoked."""

    code = "unauthenticated"
    status = 401


class TokenNotFound(errors.NotFound):
    """No token has that id."""

    code = "token_not_found"


@dataclass(frozen=True, slots=True)
class TokenView:
    """What a token allows, never its secret."""

    public_id: str
    name: str
    member_slug: str | None
    role: str | None
    scopes: tuple[str, ...]
    created_by: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def allows(self, scope: str) -> bool:
        return scope in self.scopes or "admin" in self.scopes


def hash_secret(token: str) -> str:
    """The stored form of a token: tokens are long random strings, so SHA-256 suffices."""
    return hashlib.sha256(token.encode()).hexdigest()


def _view(token: ApiToken, member_slug: str | None) -> TokenView:
    return TokenView(
        public_id=token.public_id,
        name=token.name,
        member_slug=member_slug,
        role=token.role,
        scopes=tuple(token.scopes),
        created_by=token.created_by,
        created_at=token.created_at,
        last_used_at=token.last_used_at,
        revoked_at=token.revoked_at,
    )


def _check_scopes(scopes: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise errors.InvalidInput(f"unknown scope {', '.join(unknown)}; known: {', '.join(SCOPES)}")
    if not scopes:
        raise errors.InvalidInput("a token needs at least one scope")
    return tuple(sorted(set(scopes), key=SCOPES.index))


def create_token(
    session: Session,
    *,
    scopes: list[str] | tuple[str, ...],
    created_by: str,
    member_slug: str | None = None,
    role: str | None = None,
    name: str = "",
    now: dt.datetime | None = None,
) -> tuple[str, TokenView]:
    """Create a token bound to a member or a role; returns the secret (shown once) and the token."""
    if (member_slug is None) == (role is None):
        raise errors.InvalidInput("a token is bound to exactly one member or one regional role")
    if role is not None and role not in ROLES:
        raise errors.InvalidInput(f"unknown role {role!r}; known: {', '.join(ROLES)}")
    if len(name) > NAME_LENGTH_MAX:
        raise errors.InvalidInput(f"a token's name is at most {NAME_LENGTH_MAX} characters")
    ordered = _check_scopes(scopes)
    if "admin" in ordered and role != "admin":
        raise errors.InvalidInput("the admin scope is for tokens bound to the admin role")
    try:
        member_id = None
        if member_slug is not None:
            member = session.scalar(select(Member).where(Member.slug == member_slug))
            if member is None:
                raise errors.MemberNotFound(f"no member {member_slug!r}", member=member_slug)
            if member.status == MemberStatus.LEFT:
                raise errors.MemberNotActive(f"{member_slug} has left the region")
            member_id = member.id
        public_id = secrets.token_hex(6)
        secret = f"{TOKEN_PREFIX}_{public_id}_{secrets.token_urlsafe(32)}"
        token = ApiToken(
            public_id=public_id,
            secret_hash=hash_secret(secret),
            name=name,
            member_id=member_id,
            role=role,
            scopes=list(ordered),
            created_by=created_by,
            created_at=now or utc_now(),
        )
        session.add(token)
        record_activity(
            session,
            actor=created_by,
            action="token.create",
            subject=public_id,
            details={"member": member_slug, "role": role, "scopes": list(ordered)},
        )
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return secret, _view(token, member_slug)


def list_tokens(session: Session, *, member_slug: str | None = None) -> list[TokenView]:
    """Every token (or one member's), newest first, revoked ones included."""
    query = (
        select(ApiToken, Member.slug)
        .outerjoin(Member, Member.id == ApiToken.member_id)
        .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
    )
    if member_slug is not None:
        query = query.where(Member.slug == member_slug)
    return [_view(token, slug) for token, slug in session.execute(query)]


def revoke_token(session: Session, public_id: str, *, revoked_by: str, now: dt.datetime | None = None) -> TokenView:
    """Revoke a token for good (revoking twice is harmless)."""
    try:
        row = session.execute(
            select(ApiToken, Member.slug)
            .outerjoin(Member, Member.id == ApiToken.member_id)
            .where(ApiToken.public_id == public_id)
        ).first()
        if row is None:
            raise TokenNotFound(f"no token {public_id!r}")
        token, slug = row
        if token.revoked_at is None:
            token.revoked_at = now or utc_now()
            record_activity(session, actor=revoked_by, action="token.revoke", subject=public_id)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return _view(token, slug)


# Built once: every API call runs it, and building a SELECT costs more than running it.
_AUTHENTICATE = (
    select(
        ApiToken.id,
        ApiToken.public_id,
        ApiToken.secret_hash,
        ApiToken.name,
        ApiToken.role,
        ApiToken.scopes,
        ApiToken.created_by,
        ApiToken.created_at,
        ApiToken.last_used_at,
        ApiToken.revoked_at,
        Member.slug,
    )
    .outerjoin(Member, Member.id == ApiToken.member_id)
    .where(ApiToken.public_id == bindparam("public_id"))
)


_AUTHENTICATE_POSTGRESQL = """
SELECT t.id, t.public_id, t.secret_hash, t.name, t.role, t.scopes, t.created_by, t.created_at,
       t.last_used_at, t.revoked_at, m.slug
FROM api_tokens AS t LEFT JOIN members AS m ON m.id = t.member_id
WHERE t.public_id = %s
"""


def authenticate(session: Session, secret: str | None, *, now: dt.datetime | None = None) -> TokenView:
    """The token a bearer secret stands for; `Unauthenticated` if it stands for none in force.

    Every API call comes through here, so it is one indexed read. On
    PostgreSQL it is plain SQL, and when the token's last-used time needs no
    update it leaves the session's transaction open: the call's own work
    (a transfer, say) goes on in it and commits it, so a call takes one
    BEGIN and one COMMIT in all. A failed check rolls back; so does the
    session's close when the call writes nothing. SQLite commits here, as
    it holds its write lock from BEGIN.
    """
    now = now or utc_now()
    match = TOKEN_PATTERN.match(secret or "")
    if match is None:
        raise Unauthenticated("a valid bearer token is required")
    try:
        connection = session.connection()
        is_postgresql = connection.dialect.name == "postgresql"
        if is_postgresql:
            rows = postgresql_rows(connection, _AUTHENTICATE_POSTGRESQL, (match.group(1),))
            row = rows[0] if rows else None
        else:
            row = connection.execute(_AUTHENTICATE, {"public_id": match.group(1)}).first()
        # Compare hashes in constant time, so timing tells nothing of a near miss.
        if row is None or not hmac.compare_digest(row.secret_hash, hash_secret(secret or "")):
            raise Unauthenticated("a valid bearer token is required")
        if row.revoked_at is not None:
            raise Unauthenticated("this token was revoked")
        last_used_at = row.last_used_at
        if last_used_at is None or now - last_used_at >= LAST_USED_RESOLUTION:
            # Committed at once, whatever becomes of the call.
            connection.execute(update(ApiToken).where(ApiToken.id == row.id).values(last_used_at=now))
            last_used_at = now
            session.commit()
        elif not is_postgresql:
            session.commit()
    except BaseException:
        session.rollback()
        raise
    return TokenView(
        public_id=row.public_id,
        name=row.name,
        member_slug=row.slug,
        role=row.role,
        scopes=tuple(row.scopes),
        created_by=row.created_by,
        created_at=as_utc(row.created_at),
        last_used_at=as_utc(last_used_at),
        revoked_at=None,
    )
