"""Authorization matrix cases for the coordination pages.

Coordinators, auditors and admins read every page; coordinators and admins
change things; only admins grant regional roles or deactivate an admin;
auditors run the audit and change nothing else; members' people see none of
it. Every change works on a fresh member, person, account or invitation made
by ``prepare``, so the cases repeat and leave alpha and beta to the other
areas; ``check`` and ``count`` prove a refused request changed nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from matrix_support import Case, logged_in
from mutualcredit.activity import list_activity
from mutualcredit.ledger import service as ledger
from mutualcredit.members import admin
from mutualcredit.members import service as members
from mutualcredit.users import service as users
from mutualcredit.users.passwords import FAST_HASHING_FOR_TESTS

READERS = logged_in(403, coordinator=200, auditor=200, admin=200)
ADMINISTRATORS = logged_in(403, coordinator=303, admin=303)
ADMINS_ONLY = logged_in(403, admin=303)


def fresh_member(*, suspended: bool = False) -> Callable[[Session], dict[str, Any]]:
    def prepare(session: Session) -> dict[str, Any]:
        slug = f"m-{uuid.uuid4().hex[:10]}"
        members.add_member(session, slug=slug, name="Fresh", floor=-1_000, actor="test")
        if suspended:
            members.set_member_status(session, slug, status="suspended", actor="test")
        return {"slug": slug}

    return prepare


def fresh_person(
    *, regional: tuple[str, ...] = (), member_roles: tuple[tuple[str, str], ...] = (), active: bool = True
) -> Callable[[Session], dict[str, Any]]:
    def prepare(session: Session) -> dict[str, Any]:
        email = f"p-{uuid.uuid4().hex[:10]}@region.example"
        view = users.add_user(
            session,
            email=email,
            display_name="Fresh",
            password="a long test password",
            actor="test",
            regional_roles=regional,
            member_roles=member_roles,
            hashing=FAST_HASHING_FOR_TESTS,
        )
        if not active:
            users.set_user_active(session, email=email, is_active=False, actor="test")
        return {"user_id": view.id}

    return prepare


def fresh_system_account(*, frozen: bool = False) -> Callable[[Session], dict[str, Any]]:
    def prepare(session: Session) -> dict[str, Any]:
        code = f"pool:{uuid.uuid4().hex[:10]}"
        ledger.open_account(session, code=code, name="Fresh pool", kind="pool", floor=None, actor="test")
        if frozen:
            ledger.set_account_status(session, code, status="frozen", actor="test")
        return {"code": code}

    return prepare


def fresh_invitation(session: Session) -> dict[str, Any]:
    secret, invitation = users.invite(
        session, email=f"i-{uuid.uuid4().hex[:10]}@alpha.example", member_slug="alpha", member_role="viewer", actor="test"
    )
    return {"invitation_id": invitation.id, "secret": secret}


def expect(describe: Callable[[Session, dict[str, Any]], Any], if_allowed: Any, if_refused: Any) -> Callable[[Session, dict[str, Any], bool], str | None]:
    """A check: the described state is ``if_allowed`` after an allowed request, else ``if_refused``."""

    def check(session: Session, context: dict[str, Any], allowed: bool) -> str | None:
        found = describe(session, context)
        wanted = if_allowed if allowed else if_refused
        return None if found == wanted else f"found {found!r}, expected {wanted!r}"

    return check


def member_status(session: Session, context: dict[str, Any]) -> str:
    return admin.get_member_details(session, context["slug"]).status


def member_name(session: Session, context: dict[str, Any]) -> str:
    return admin.get_member_details(session, context["slug"]).name


def person(session: Session, context: dict[str, Any]) -> users.UserView:
    return admin.get_user_by_id(session, context["user_id"])


def member_roles(session: Session, context: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple((role.member_slug, role.role) for role in person(session, context).member_roles)


def regional_roles(session: Session, context: dict[str, Any]) -> tuple[str, ...]:
    return person(session, context).regional_roles


def is_active(session: Session, context: dict[str, Any]) -> bool:
    return person(session, context).is_active


def account(session: Session, context: dict[str, Any]) -> ledger.AccountView:
    return ledger.get_account(session, context.get("code") or context["slug"])


def invitation_is_open(session: Session, context: dict[str, Any]) -> bool:
    return any(view.id == context["invitation_id"] for view in users.list_open_invitations(session))


def member_count(session: Session) -> int:
    return len(members.list_members(session))


def account_count(session: Session) -> int:
    return len(ledger.list_accounts(session))


def audit_runs(session: Session) -> int:
    return len(list_activity(session, action=admin.AUDIT_ACTION, limit=500).entries)


CASES = [
    # Reading.
    Case("coordination overview", "GET", "/coordination", READERS),
    Case("coordination: members", "GET", "/coordination/members", READERS),
    Case("coordination: admission form", "GET", "/coordination/members/new", READERS),
    Case("coordination: a member", "GET", "/coordination/members/<slug>", READERS, path="/coordination/members/alpha"),
    Case(
        "coordination: a member that does not exist",
        "GET",
        "/coordination/members/<slug>",
        logged_in(403, coordinator=404, auditor=404, admin=404),
        path="/coordination/members/nobody",
    ),
    Case("coordination: people", "GET", "/coordination/people", READERS),
    Case("coordination: accounts", "GET", "/coordination/accounts", READERS),
    Case("coordination: limits form", "GET", "/coordination/accounts/<code>/limits", READERS, path="/coordination/accounts/alpha/limits"),
    Case("coordination: system account form", "GET", "/coordination/accounts/new", READERS),
    Case("coordination: audit", "GET", "/coordination/audit", READERS),
    Case("coordination: activity log", "GET", "/coordination/activity", READERS),
    Case("coordination: activity log filtered", "GET", "/coordination/activity", READERS, path="/coordination/activity?kind=member&actor=test"),
    # Members.
    Case(
        "admit a member",
        "POST",
        "/coordination/members/new",
        ADMINISTRATORS,
        data=lambda c: {"slug": f"n-{uuid.uuid4().hex[:10]}", "name": "Newly admitted", "floor": "-10"},
        count=member_count,
    ),
    Case(
        "edit a member",
        "POST",
        "/coordination/members/<slug>",
        ADMINISTRATORS,
        path=lambda c: f"/coordination/members/{c['slug']}",
        data={"name": "Renamed", "trade": "", "description": ""},
        prepare=fresh_member(),
        check=expect(member_name, "Renamed", "Fresh"),
    ),
    Case(
        "suspend a member",
        "POST",
        "/coordination/members/<slug>/suspend",
        ADMINISTRATORS,
        path=lambda c: f"/coordination/members/{c['slug']}/suspend",
        data={"reason": "matrix"},
        prepare=fresh_member(),
        check=expect(member_status, "suspended", "active"),
    ),
    Case(
        "reactivate a member",
        "POST",
        "/coordination/members/<slug>/reactivate",
        ADMINISTRATORS,
        path=lambda c: f"/coordination/members/{c['slug']}/reactivate",
        data={"reason": "matrix"},
        prepare=fresh_member(suspended=True),
        check=expect(member_status, "active", "suspended"),
    ),
    # People and roles.
    Case(
        "grant a viewer role in alpha",
        "POST",
        "/coordination/people/<int:user_id>/roles",
        ADMINISTRATORS,
        path=lambda c: f"/coordination/people/{c['user_id']}/roles",
        data={"member": "alpha", "role": "viewer"},
        prepare=fresh_person(),
        check=expect(member_roles, (("alpha", "viewer"),), ()),
    ),
    Case(
        "grant the admin role through the member-role form (forged role)",
        "POST",
        "/coordination/people/<int:user_id>/roles",
        logged_in(403, coordinator=400, admin=400),
        path=lambda c: f"/coordination/people/{c['user_id']}/roles",
        data={"member": "alpha", "role": "admin"},
        prepare=fresh_person(),
        check=expect(lambda s, c: (member_roles(s, c), regional_roles(s, c)), ((), ()), ((), ())),
    ),
    Case(
        "grant a role to a person who does not exist",
        "POST",
        "/coordination/people/<int:user_id>/roles",
        logged_in(403, coordinator=404, admin=404),
        path="/coordination/people/999999/roles",
        data={"member": "alpha", "role": "viewer"},
    ),
    Case(
        "revoke a viewer role in alpha",
        "POST",
        "/coordination/people/<int:user_id>/roles/revoke",
        ADMINISTRATORS,
        path=lambda c: f"/coordination/people/{c['user_id']}/roles/revoke",
        data={"member": "alpha"},
        prepare=fresh_person(member_roles=(("alpha", "viewer"),)),
        check=expect(member_roles, (), (("alpha", "viewer"),)),
    ),
    Case(
        "grant the regional auditor role",
        "POST",
        "/coordination/people/<int:user_id>/regional",
        ADMINS_ONLY,
        path=lambda c: f"/coordination/people/{c['user_id']}/regional",
        data={"role": "auditor", "change": "grant"},
        prepare=fresh_person(),
        check=expect(regional_roles, ("auditor",), ()),
    ),
    Case(
        "grant the regional admin role (forged for a coordinator)",
        "POST",
        "/coordination/people/<int:user_id>/regional",
        ADMINS_ONLY,
        path=lambda c: f"/coordination/people/{c['user_id']}/regional",
        data={"role": "admin", "change": "grant"},
        prepare=fresh_person(),
        check=expect(regional_roles, ("admin",), ()),
    ),
    Case(
        "revoke a regional coordinator role",
        "POST",
        "/coordination/people/<int:user_id>/regional",
        ADMINS_ONLY,
        path=lambda c: f"/coordination/people/{c['user_id']}/regional",
        data={"role": "coordinator", "change": "revoke"},
        prepare=fresh_person(regional=("coordinator",)),
        check=expect(regional_roles, (), ("coordinator",)),
    ),
    Case(
        "deactivate a treasurer",
        "POST",
        "/coordination/people/<int:user_id>/deactivate",
        ADMINISTRATORS,
        path=lambda c: f"/coordination/people/{c['user_id']}/deactivate",
        prepare=fresh_person(member_roles=(("beta", "treasurer"),)),
        check=expect(is_active, False, True),
    ),
    Case(
        "deactivate an admin (refused to coordinators)",
        "POST",
        "/coordination/people/<int:user_id>/deactivate",
        ADMINS_ONLY,
        path=lambda c: f"/coordination/people/{c['user_id']}/deactivate",
        prepare=fresh_person(regional=("admin",)),
        check=expect(is_active, False, True),
    ),
    Case(
        "activate a deactivated person",
        "POST",
        "/coordination/people/<int:user_id>/activate",
        ADMINISTRATORS,
        path=lambda c: f"/coordination/people/{c['user_id']}/activate",
        prepare=fresh_person(active=False),
        check=expect(is_active, True, False),
    ),
    Case(
        "revoke an invitation",
        "POST",
        "/coordination/invitations/<int:invitation_id>/revoke",
        ADMINISTRATORS,
        path=lambda c: f"/coordination/invitations/{c['invitation_id']}/revoke",
        prepare=fresh_invitation,
        check=expect(invitation_is_open, False, True),
    ),
    # Accounts and limits.
    Case(
        "set a member account's limits",
        "POST",
        "/coordination/accounts/<code>/limits",
        ADMINISTRATORS,
        path=lambda c: f"/coordination/accounts/{c['slug']}/limits",
        data={"floor": "-5", "ceiling": "20", "reason": "matrix"},
        prepare=fresh_member(),
        check=expect(lambda s, c: (account(s, c).floor, account(s, c).ceiling), (-500, 2_000), (-1_000, None)),
    ),
    Case(
        "open a system account",
        "POST",
        "/coordination/accounts/new",
        ADMINISTRATORS,
        data=lambda c: {"kind": "pool", "code": f"pool:{uuid.uuid4().hex[:10]}", "name": "Matrix pool", "floor": "", "ceiling": ""},
        count=account_count,
    ),
    Case(
        "freeze an account",
        "POST",
        "/coordination/accounts/<code>/freeze",
        ADMINISTRATORS,
        path=lambda c: f"/coordination/accounts/{c['code']}/freeze",
        data={"reason": "matrix"},
        prepare=fresh_system_account(),
        check=expect(lambda s, c: account(s, c).status, "frozen", "open"),
    ),
    Case(
        "unfreeze an account",
        "POST",
        "/coordination/accounts/<code>/unfreeze",
        ADMINISTRATORS,
        path=lambda c: f"/coordination/accounts/{c['code']}/unfreeze",
        data={"reason": "matrix"},
        prepare=fresh_system_account(frozen=True),
        check=expect(lambda s, c: account(s, c).status, "open", "frozen"),
    ),
    # The audit only reads; every regional role runs it, and each run is logged.
    Case("run the audit", "POST", "/coordination/audit", READERS, count=audit_runs),
]
