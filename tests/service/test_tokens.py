"""API tokens: shown once, stored as a hash, bound and scoped, revocable."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from mutualcredit import errors
from mutualcredit.tokens import service as tokens
from mutualcredit.tokens.models import ApiToken

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.timezone.utc)


def test_a_token_is_shown_once_and_stored_only_as_a_hash(region: Session) -> None:
    secret, view = tokens.create_token(region, member_slug="alpha", scopes=["accounts:read"], created_by="c")
    stored = region.scalars(sa.select(ApiToken)).one()
    assert secret not in (stored.secret_hash, stored.public_id)
    assert stored.secret_hash == tokens.hash_secret(secret)
    assert view.public_id in secret and view.member_slug == "alpha"
    assert tokens.authenticate(region, secret, now=NOW).public_id == view.public_id


@pytest.mark.parametrize(
    "secret",
    [None, "", "Bearer x", "mct_000000000000_" + "a" * 43, "mct_zz_short"],
)
def test_a_missing_malformed_or_unknown_token_is_refused(region: Session, secret: str | None) -> None:
    tokens.create_token(region, member_slug="alpha", scopes=["accounts:read"], created_by="c")
    with pytest.raises(tokens.Unauthenticated):
        tokens.authenticate(region, secret)


def test_a_token_with_a_right_id_but_a_wrong_secret_is_refused(region: Session) -> None:
    secret, _ = tokens.create_token(region, member_slug="alpha", scopes=["accounts:read"], created_by="c")
    forged = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    with pytest.raises(tokens.Unauthenticated):
        tokens.authenticate(region, forged)


def test_a_revoked_token_no_longer_authenticates_but_stays_listed(region: Session) -> None:
    secret, view = tokens.create_token(region, role="coordinator", scopes=["accounts:read"], created_by="c")
    revoked = tokens.revoke_token(region, view.public_id, revoked_by="c", now=NOW)
    assert revoked.is_revoked
    assert tokens.revoke_token(region, view.public_id, revoked_by="c").revoked_at == NOW  # twice is harmless
    with pytest.raises(tokens.Unauthenticated, match="revoked"):
        tokens.authenticate(region, secret)
    assert [t.public_id for t in tokens.list_tokens(region)] == [view.public_id]
    with pytest.raises(tokens.TokenNotFound):
        tokens.revoke_token(region, "000000000000", revoked_by="c")


def test_last_use_is_recorded_at_most_once_a_minute(region: Session) -> None:
    secret, _ = tokens.create_token(region, member_slug="alpha", scopes=["accounts:read"], created_by="c")
    assert tokens.authenticate(region, secret, now=NOW).last_used_at == NOW
    assert tokens.authenticate(region, secret, now=NOW + dt.timedelta(seconds=30)).last_used_at == NOW
    later = NOW + dt.timedelta(minutes=2)
    assert tokens.authenticate(region, secret, now=later).last_used_at == later
    assert tokens.list_tokens(region)[0].last_used_at == later


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"scopes": ["accounts:read"]}, errors.InvalidInput),  # bound to nothing
        ({"member_slug": "alpha", "role": "admin", "scopes": ["admin"]}, errors.InvalidInput),
        ({"member_slug": "alpha", "scopes": []}, errors.InvalidInput),
        ({"member_slug": "alpha", "scopes": ["accounts:write"]}, errors.InvalidInput),
        ({"member_slug": "alpha", "scopes": ["admin"]}, errors.InvalidInput),
        ({"role": "treasurer", "scopes": ["accounts:read"]}, errors.InvalidInput),
        ({"member_slug": "nobody", "scopes": ["accounts:read"]}, errors.MemberNotFound),
    ],
)
def test_bad_tokens_are_refused(region: Session, kwargs: dict, error: type) -> None:
    with pytest.raises(error):
        tokens.create_token(region, created_by="c", **kwargs)
    assert tokens.list_tokens(region) == []


def test_scopes_decide_what_a_token_allows(region: Session) -> None:
    _, reader = tokens.create_token(region, member_slug="alpha", scopes=["accounts:read"], created_by="c")
    _, admin = tokens.create_token(region, role="admin", scopes=["admin"], created_by="c")
    assert reader.allows("accounts:read") and not reader.allows("transfers:write")
    assert admin.allows("transfers:write")


def test_the_database_refuses_a_token_bound_to_both_a_member_and_a_role(region: Session, engine: sa.Engine) -> None:
    region.close()
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO api_tokens (public_id, secret_hash, name, member_id, role, scopes, created_by, created_at)"
                " VALUES ('abc', 'h', '', 2, 'admin', '[]', 'x', CURRENT_TIMESTAMP)"
            )
        )
