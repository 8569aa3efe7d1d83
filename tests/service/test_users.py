"""Users: argon2 hashes, lock-out, one-time invitations, roles, and what each role may do."""

from __future__ import annotations

import datetime as dt

import argon2
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from mutualcredit import errors
from mutualcredit.activity import ActivityEntry
from mutualcredit.ledger.service import get_account
from mutualcredit.tokens import service as tokens
from mutualcredit.users import service as users
from mutualcredit.users.errors import (
    EmailTaken,
    InvalidEmail,
    InvitationNotValid,
    LoginRefused,
    PasswordNotAccepted,
    WrongPassword,
)
from mutualcredit.users.models import Invitation, User
from mutualcredit.users.passwords import FAST_HASHING_FOR_TESTS, PRODUCTION_HASHING, PasswordHashing
from mutualcredit.users.permissions import MEMBER_TOKEN_SCOPES, REGIONAL_ROLES, MemberRole, Principal

FAST = FAST_HASHING_FOR_TESTS
NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.timezone.utc)
PASSWORD = "correct horse battery"


def add(session: Session, email: str, *, regional: tuple[str, ...] = (), member_roles: tuple[tuple[str, str], ...] = ()) -> users.UserView:
    return users.add_user(
        session,
        email=email,
        display_name=email.split("@")[0].title(),
        password=PASSWORD,
        actor="test",
        regional_roles=regional,
        member_roles=member_roles,
        hashing=FAST,
        now=NOW - dt.timedelta(days=1),
    )


def login(session: Session, email: str, password: str = PASSWORD, *, now: dt.datetime = NOW) -> Principal:
    return users.authenticate(session, email=email, password=password, hashing=FAST, now=now)


def refusal_reason(session: Session, email: str, password: str, *, now: dt.datetime = NOW) -> str:
    with pytest.raises(LoginRefused) as refused:
        login(session, email, password, now=now)
    return str(refused.value.details["reason"])


# ---------------------------------------------------------------------------
# Passwords and logging in


def test_a_password_is_stored_only_as_an_argon2id_hash(region: Session) -> None:
    add(region, "ana@example.org")
    stored = region.scalars(sa.select(User)).one()
    assert stored.password_hash.startswith("$argon2id$")
    assert PASSWORD not in stored.password_hash
    assert login(region, "ana@example.org").email == "ana@example.org"


def test_production_hashing_keeps_argon2_s_recommended_costs() -> None:
    assert PRODUCTION_HASHING.memory_cost_kib >= 65_536
    assert PRODUCTION_HASHING.time_cost >= 3
    assert argon2.extract_parameters(users.hash_password(PASSWORD, PRODUCTION_HASHING)).memory_cost == 65_536


def test_emails_are_unique_whatever_their_case(region: Session) -> None:
    add(region, "Ana@Example.org")
    with pytest.raises(EmailTaken):
        add(region, "  ana@EXAMPLE.org ")
    assert login(region, "ANA@example.ORG").email == "ana@example.org"
    assert [view.email for view in users.list_users(region)] == ["ana@example.org"]


def test_the_database_refuses_an_email_that_is_not_lower_case(region: Session) -> None:
    with pytest.raises(sa.exc.IntegrityError):
        region.execute(
            sa.text(
                "INSERT INTO users (email, display_name, password_hash, is_active, created_at, failed_login_count, login_epoch)"
                " VALUES ('Ana@Example.org', 'Ana', 'x', true, :now, 0, 0)"
            ),
            {"now": NOW},
        )
        region.commit()
    region.rollback()


@pytest.mark.parametrize("email", ["", "ana", "ana@", "@example.org", "ana@example", "a b@example.org", "a@b@example.org", "x" * 250 + "@example.org"])
def test_what_is_not_an_email_is_refused(region: Session, email: str) -> None:
    with pytest.raises(InvalidEmail):
        add(region, email)


@pytest.mark.parametrize("password", ["", "short", "nine char", "x" * 1025])
def test_passwords_too_short_or_too_long_are_refused(region: Session, password: str) -> None:
    with pytest.raises(PasswordNotAccepted):
        users.add_user(region, email="ana@example.org", display_name="Ana", password=password, actor="t", hashing=FAST)
    assert users.list_users(region) == []


def test_an_unknown_email_and_a_wrong_password_are_refused_with_one_message(region: Session) -> None:
    add(region, "ana@example.org")
    with pytest.raises(LoginRefused) as unknown:
        login(region, "nobody@example.org")
    with pytest.raises(LoginRefused) as wrong:
        login(region, "ana@example.org", "not the password")
    with pytest.raises(LoginRefused) as malformed:
        login(region, "not an email")
    assert unknown.value.message == wrong.value.message == malformed.value.message
    assert unknown.value.code == wrong.value.code == "login_refused"
    assert (unknown.value.details["reason"], wrong.value.details["reason"]) == ("unknown_email", "wrong_password")


def test_an_unknown_email_costs_one_argon2_verification_like_a_known_one(region: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    add(region, "ana@example.org")
    calls: list[str] = []
    original = argon2.PasswordHasher.verify

    def counting_verify(self: argon2.PasswordHasher, stored: str, password: str) -> bool:
        calls.append(stored)
        return original(self, stored, password)

    monkeypatch.setattr(argon2.PasswordHasher, "verify", counting_verify)
    for email in ("nobody@example.org", "ana@example.org", "not an email"):
        calls.clear()
        with pytest.raises(LoginRefused):
            login(region, email, "not the password")
        assert len(calls) == 1, email


def test_five_failures_in_a_row_lock_the_account_for_fifteen_minutes(region: Session) -> None:
    add(region, "ana@example.org")
    for attempt in range(users.LOGIN_FAILURES_MAX):
        assert refusal_reason(region, "ana@example.org", "wrong guess", now=NOW + dt.timedelta(seconds=attempt)) == "wrong_password"
    # Locked: even the right password is refused, with the same message.
    assert refusal_reason(region, "ana@example.org", PASSWORD, now=NOW + dt.timedelta(minutes=14)) == "locked"
    assert login(region, "ana@example.org", now=NOW + dt.timedelta(minutes=15, seconds=5)).email == "ana@example.org"
    locks = region.scalars(sa.select(ActivityEntry).where(ActivityEntry.action == "user.lock")).all()
    assert [entry.subject for entry in locks] == ["ana@example.org"]


def test_a_successful_login_clears_the_failure_count(region: Session) -> None:
    add(region, "ana@example.org")
    for _ in range(users.LOGIN_FAILURES_MAX - 1):
        refusal_reason(region, "ana@example.org", "wrong guess")
    login(region, "ana@example.org")
    for _ in range(users.LOGIN_FAILURES_MAX - 1):
        refusal_reason(region, "ana@example.org", "wrong guess")
    assert login(region, "ana@example.org").email == "ana@example.org"
    assert users.get_user(region, "ana@example.org").last_login_at == NOW


def test_a_hash_made_with_other_parameters_is_upgraded_at_login(region: Session) -> None:
    add(region, "ana@example.org")
    stronger = PasswordHashing(time_cost=2, memory_cost_kib=16, parallelism=1)
    users.authenticate(region, email="ana@example.org", password=PASSWORD, hashing=stronger, now=NOW)
    stored = region.scalars(sa.select(User)).one()
    region.refresh(stored)
    parameters = argon2.extract_parameters(stored.password_hash)
    assert (parameters.time_cost, parameters.memory_cost) == (2, 16)
    assert users.authenticate(region, email="ana@example.org", password=PASSWORD, hashing=stronger, now=NOW)


def test_a_deactivated_user_cannot_log_in_and_their_sessions_end(region: Session) -> None:
    add(region, "ana@example.org")
    principal = login(region, "ana@example.org")
    assert users.load_principal(region, principal.user_id or 0, login_epoch=principal.login_epoch) is not None
    users.set_user_active(region, email="ana@example.org", is_active=False, actor="test")
    assert refusal_reason(region, "ana@example.org", PASSWORD) == "inactive"
    assert users.load_principal(region, principal.user_id or 0, login_epoch=principal.login_epoch) is None
    users.set_user_active(region, email="ana@example.org", is_active=True, actor="test")
    assert login(region, "ana@example.org").login_epoch == principal.login_epoch + 2


def test_a_password_reset_unlocks_the_account_and_ends_every_session(region: Session) -> None:
    add(region, "ana@example.org")
    before = login(region, "ana@example.org")
    for _ in range(users.LOGIN_FAILURES_MAX):
        refusal_reason(region, "ana@example.org", "wrong guess")
    users.reset_password(region, email="ana@example.org", new_password="a brand new password", actor="cli:root", hashing=FAST)
    assert users.load_principal(region, before.user_id or 0, login_epoch=before.login_epoch) is None
    assert refusal_reason(region, "ana@example.org", PASSWORD) == "wrong_password"
    assert login(region, "ana@example.org", "a brand new password").login_epoch == before.login_epoch + 1


def test_changing_one_s_password_needs_the_current_one(region: Session) -> None:
    add(region, "ana@example.org")
    ana = login(region, "ana@example.org")
    with pytest.raises(WrongPassword):
        users.change_password(region, user_id=ana.user_id or 0, current_password="wrong guess", new_password="another fine password", hashing=FAST)
    with pytest.raises(PasswordNotAccepted):
        users.change_password(region, user_id=ana.user_id or 0, current_password=PASSWORD, new_password="short", hashing=FAST)
    renewed = users.change_password(region, user_id=ana.user_id or 0, current_password=PASSWORD, new_password="another fine password", hashing=FAST)
    assert renewed.login_epoch == ana.login_epoch + 1
    assert login(region, "ana@example.org", "another fine password").user_id == ana.user_id


# ---------------------------------------------------------------------------
# Invitations


def test_an_invitation_is_stored_only_as_a_hash_and_works_once(region: Session) -> None:
    secret, invitation = users.invite(region, email="Bea@Example.org", member_slug="alpha", member_role="treasurer", actor="user:coord@example.org", now=NOW)
    stored = region.scalars(sa.select(Invitation)).one()
    assert secret not in stored.secret_hash and stored.secret_hash == users.hash_invitation_secret(secret)
    assert users.get_invitation(region, secret, now=NOW).email == "bea@example.org"
    bea = users.accept_invitation(region, secret=secret, display_name="Bea", password=PASSWORD, hashing=FAST, now=NOW + dt.timedelta(hours=1))
    assert bea.member_roles == (MemberRole("alpha", "Alpha", "treasurer"),)
    assert bea.email == invitation.email == "bea@example.org"
    with pytest.raises(InvitationNotValid):
        users.get_invitation(region, secret, now=NOW + dt.timedelta(hours=2))
    with pytest.raises(InvitationNotValid):
        users.accept_invitation(region, secret=secret, display_name="Eve", password="another password!", hashing=FAST, now=NOW + dt.timedelta(hours=2))
    assert [view.email for view in users.list_users(region)] == ["bea@example.org"]
    assert users.list_open_invitations(region, now=NOW) == []


def test_an_expired_invitation_is_refused(region: Session) -> None:
    secret, _ = users.invite(region, email="bea@example.org", regional_role="auditor", actor="t", lifetime=dt.timedelta(days=2), now=NOW)
    assert [view.email for view in users.list_open_invitations(region, now=NOW + dt.timedelta(days=1))] == ["bea@example.org"]
    with pytest.raises(InvitationNotValid):
        users.accept_invitation(region, secret=secret, display_name="Bea", password=PASSWORD, hashing=FAST, now=NOW + dt.timedelta(days=2))
    assert users.list_users(region) == []


@pytest.mark.parametrize("secret", ["", "nope", "x" * 43])
def test_an_unknown_invitation_is_refused(region: Session, secret: str) -> None:
    users.invite(region, email="bea@example.org", regional_role="auditor", actor="t", now=NOW)
    with pytest.raises(InvitationNotValid):
        users.get_invitation(region, secret, now=NOW)


def test_a_bad_password_leaves_the_invitation_usable(region: Session) -> None:
    secret, _ = users.invite(region, email="bea@example.org", regional_role="coordinator", actor="t", now=NOW)
    with pytest.raises(PasswordNotAccepted):
        users.accept_invitation(region, secret=secret, display_name="Bea", password="short", hashing=FAST, now=NOW)
    bea = users.accept_invitation(region, secret=secret, display_name="Bea", password=PASSWORD, hashing=FAST, now=NOW)
    assert bea.regional_roles == frozenset({"coordinator"})


@pytest.mark.parametrize(
    "roles",
    [
        {},
        {"member_slug": "alpha"},
        {"member_role": "viewer"},
        {"member_slug": "alpha", "member_role": "viewer", "regional_role": "admin"},
        {"member_slug": "alpha", "member_role": "owner"},
        {"regional_role": "king"},
    ],
)
def test_an_invitation_names_exactly_one_known_role(region: Session, roles: dict[str, str]) -> None:
    with pytest.raises(errors.InvalidInput):
        users.invite(region, email="bea@example.org", actor="t", now=NOW, **roles)


def test_the_database_refuses_an_invitation_with_two_roles(region: Session) -> None:
    with pytest.raises(sa.exc.IntegrityError):
        region.execute(
            sa.text(
                "INSERT INTO invitations (secret_hash, email, member_id, member_role, regional_role, invited_by, created_at, expires_at)"
                " VALUES ('h', 'bea@example.org', (SELECT id FROM members WHERE slug = 'alpha'), 'viewer', 'admin', 't', :now, :later)"
            ),
            {"now": NOW, "later": NOW + dt.timedelta(days=1)},
        )
        region.commit()
    region.rollback()


def test_someone_with_an_account_is_granted_a_role_instead_of_invited(region: Session) -> None:
    add(region, "ana@example.org")
    with pytest.raises(EmailTaken):
        users.invite(region, email="ANA@example.org", regional_role="auditor", actor="t", now=NOW)


# ---------------------------------------------------------------------------
# Roles


def test_roles_are_granted_replaced_and_revoked_and_every_change_is_logged(region: Session) -> None:
    add(region, "ana@example.org")
    users.grant_member_role(region, email="ana@example.org", member_slug="alpha", role="treasurer", actor="cli:root")
    view = users.grant_member_role(region, email="ana@example.org", member_slug="alpha", role="viewer", actor="cli:root")
    assert [(r.member_slug, r.role) for r in view.member_roles] == [("alpha", "viewer")]
    users.grant_regional_role(region, email="ana@example.org", role="auditor", actor="cli:root")
    view = users.grant_regional_role(region, email="ana@example.org", role="auditor", actor="cli:root")
    assert view.regional_roles == ("auditor",)
    users.revoke_member_role(region, email="ana@example.org", member_slug="alpha", actor="cli:root")
    view = users.revoke_regional_role(region, email="ana@example.org", role="auditor", actor="cli:root")
    assert (view.member_roles, view.regional_roles) == ((), ())
    actions = region.scalars(sa.select(ActivityEntry.action).where(ActivityEntry.subject == "ana@example.org").order_by(ActivityEntry.id)).all()
    assert actions == ["user.add", "user.grant", "user.grant", "user.grant", "user.revoke", "user.revoke"]
    with pytest.raises(errors.InvalidInput):
        users.grant_member_role(region, email="ana@example.org", member_slug="alpha", role="owner", actor="t")
    with pytest.raises(errors.MemberNotFound):
        users.grant_member_role(region, email="ana@example.org", member_slug="nowhere", role="viewer", actor="t")


def test_the_regional_roles_are_those_api_tokens_can_be_bound_to() -> None:
    assert REGIONAL_ROLES == tokens.ROLES
    assert set(MEMBER_TOKEN_SCOPES) == set(tokens.SCOPES) - {"admin"}


# ---------------------------------------------------------------------------
# What each role may do

TREASURER_A = Principal(user_id=1, email="t@a", member_roles=(MemberRole("alpha", "Alpha", "treasurer"),))
VIEWER_A = Principal(user_id=2, email="v@a", member_roles=(MemberRole("alpha", "Alpha", "viewer"),))
TREASURER_B = Principal(user_id=3, email="t@b", member_roles=(MemberRole("beta", "Beta", "treasurer"),))
COORDINATOR = Principal(user_id=4, email="c@r", regional_roles=frozenset({"coordinator"}))
AUDITOR = Principal(user_id=5, email="a@r", regional_roles=frozenset({"auditor"}))
ADMIN = Principal(user_id=6, email="admin@r", regional_roles=frozenset({"admin"}))
NOBODY = Principal.anonymous()
EVERYONE = {
    "anonymous": NOBODY,
    "treasurer_a": TREASURER_A,
    "viewer_a": VIEWER_A,
    "treasurer_b": TREASURER_B,
    "coordinator": COORDINATOR,
    "auditor": AUDITOR,
    "admin": ADMIN,
}


class Account:
    def __init__(self, member_slug: str | None) -> None:
        self.member_slug = member_slug


def answers(question) -> set[str]:  # type: ignore[no-untyped-def]
    return {name for name, principal in EVERYONE.items() if question(principal)}


def test_only_a_member_s_own_people_and_the_regional_roles_read_its_data() -> None:
    assert answers(lambda p: p.can_read_member("alpha")) == {"treasurer_a", "viewer_a", "coordinator", "auditor", "admin"}
    assert answers(lambda p: p.can_read_member("beta")) == {"treasurer_b", "coordinator", "auditor", "admin"}
    assert TREASURER_A.readable_member_slugs() == frozenset({"alpha"})
    assert AUDITOR.readable_member_slugs() is None
    assert NOBODY.readable_member_slugs() == frozenset()


def test_only_a_member_s_treasurer_pays_from_its_account_or_accepts_its_requests() -> None:
    assert answers(lambda p: p.can_pay_from(Account("alpha"))) == {"treasurer_a"}
    assert answers(lambda p: p.can_pay_from(Account("beta"))) == {"treasurer_b"}
    assert answers(lambda p: p.can_accept_requests_of("alpha")) == {"treasurer_a"}
    assert answers(lambda p: p.can_invoice_for("beta")) == {"treasurer_b"}
    # The region's own accounts (commons, pools) are the admin's to move, never a member's.
    assert answers(lambda p: p.can_pay_from(Account(None))) == {"admin"}


def test_pay_from_answers_for_a_real_account_view(region: Session) -> None:
    assert TREASURER_A.can_pay_from(get_account(region, "alpha"))
    assert not TREASURER_A.can_pay_from(get_account(region, "beta"))
    assert not COORDINATOR.can_pay_from(get_account(region, "alpha"))


def test_viewers_auditors_and_nobody_change_nothing() -> None:
    assert answers(lambda p: p.can_change_anything) == {"treasurer_a", "treasurer_b", "coordinator", "admin"}
    for name in ("viewer_a", "auditor", "anonymous"):
        principal = EVERYONE[name]
        assert not any(
            [
                principal.can_pay_from(Account("alpha")),
                principal.can_accept_requests_of("alpha"),
                principal.can_manage_tokens_of("alpha"),
                principal.can_create_regional_tokens,
                principal.can_invite(member_role="viewer"),
                principal.token_scopes_for("alpha"),
                principal.token_scopes_for(None),
            ]
        ), name


def test_who_may_invite_to_which_role() -> None:
    assert answers(lambda p: p.can_invite(member_role="treasurer")) == {"coordinator", "admin"}
    assert answers(lambda p: p.can_invite(regional_role="coordinator")) == {"admin"}
    assert answers(lambda p: p.can_invite()) == set()


def test_who_may_manage_which_api_tokens() -> None:
    alpha_token, regional_token = Account("alpha"), Account(None)
    assert answers(lambda p: p.can_manage_tokens_of("alpha")) == {"treasurer_a"}
    assert answers(lambda p: p.can_revoke_token(alpha_token)) == {"treasurer_a", "admin"}
    assert answers(lambda p: p.can_revoke_token(regional_token)) == {"admin"}
    assert answers(lambda p: p.can_read_token(alpha_token)) == {"treasurer_a", "viewer_a", "coordinator", "auditor", "admin"}
    assert answers(lambda p: p.can_read_token(regional_token)) == {"coordinator", "auditor", "admin"}
    assert TREASURER_A.token_scopes_for("alpha") == MEMBER_TOKEN_SCOPES
    assert "admin" in ADMIN.token_scopes_for(None) and ADMIN.token_scopes_for("alpha") == ()


def test_a_principal_loaded_from_the_database_carries_its_roles(region: Session) -> None:
    add(region, "ana@example.org", regional=("auditor",), member_roles=(("beta", "treasurer"), ("alpha", "viewer")))
    ana = login(region, "ana@example.org")
    assert ana.member_roles == (MemberRole("alpha", "Alpha", "viewer"), MemberRole("beta", "Beta", "treasurer"))
    assert ana.regional_roles == frozenset({"auditor"})
    assert ana.can_pay_from(Account("beta")) and not ana.can_pay_from(Account("alpha"))
    assert ana.actor == "user:ana@example.org"


# ---------------------------------------------------------------------------
# Acting as someone


def test_a_treasurer_creates_tokens_for_their_own_co_op_only_and_with_member_scopes(region: Session) -> None:
    secret, view = users.create_token_as(region, TREASURER_A, member_slug="alpha", scopes=["accounts:read", "transfers:write"], name="till")
    assert view.member_slug == "alpha" and view.created_by == "user:t@a"
    assert tokens.authenticate(region, secret).public_id == view.public_id
    with pytest.raises(errors.NotAllowed):
        users.create_token_as(region, TREASURER_A, member_slug="beta", scopes=["accounts:read"])
    with pytest.raises(errors.NotAllowed):
        users.create_token_as(region, TREASURER_A, member_slug="alpha", scopes=["admin"])
    for principal in (VIEWER_A, COORDINATOR, AUDITOR, ADMIN, NOBODY):
        with pytest.raises(errors.NotAllowed):
            users.create_token_as(region, principal, member_slug="alpha", scopes=["accounts:read"])
    assert [token.public_id for token in tokens.list_tokens(region)] == [view.public_id]


def test_only_an_admin_creates_regional_tokens(region: Session) -> None:
    _, view = users.create_token_as(region, ADMIN, role="auditor", scopes=["accounts:read"])
    assert view.role == "auditor"
    for principal in (TREASURER_A, COORDINATOR, AUDITOR):
        with pytest.raises(errors.NotAllowed):
            users.create_token_as(region, principal, role="auditor", scopes=["accounts:read"])
    with pytest.raises(errors.InvalidInput):  # the token service's own rule: admin scope, admin role
        users.create_token_as(region, ADMIN, role="auditor", scopes=["admin"])


def test_a_token_someone_may_not_see_is_not_found_and_one_they_only_see_is_not_theirs_to_revoke(region: Session) -> None:
    _, alpha = tokens.create_token(region, member_slug="alpha", scopes=["accounts:read"], created_by="t")
    _, beta = tokens.create_token(region, member_slug="beta", scopes=["accounts:read"], created_by="t")
    with pytest.raises(tokens.TokenNotFound):
        users.revoke_token_as(region, TREASURER_A, beta.public_id)
    with pytest.raises(errors.NotAllowed):
        users.revoke_token_as(region, VIEWER_A, alpha.public_id)
    with pytest.raises(errors.NotAllowed):
        users.revoke_token_as(region, AUDITOR, alpha.public_id)
    assert users.revoke_token_as(region, TREASURER_A, alpha.public_id).is_revoked
    assert users.revoke_token_as(region, ADMIN, beta.public_id).is_revoked
    assert [view.public_id for view in users.list_tokens_for(region, VIEWER_A)] == [alpha.public_id]


def test_inviting_as_someone_follows_their_roles(region: Session) -> None:
    _, invitation = users.invite_as(region, COORDINATOR, email="bea@example.org", member_slug="alpha", member_role="viewer", now=NOW)
    assert invitation.invited_by == "user:c@r"
    with pytest.raises(errors.NotAllowed):
        users.invite_as(region, COORDINATOR, email="cat@example.org", regional_role="admin", now=NOW)
    for principal in (TREASURER_A, VIEWER_A, AUDITOR, NOBODY):
        with pytest.raises(errors.NotAllowed):
            users.invite_as(region, principal, email="cat@example.org", member_slug="alpha", member_role="viewer", now=NOW)
    _, regional = users.invite_as(region, ADMIN, email="cat@example.org", regional_role="coordinator", now=NOW)
    assert regional.regional_role == "coordinator"
