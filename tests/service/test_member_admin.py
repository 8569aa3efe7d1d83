"""Administering the region: editing members, roles and activation by id, revoking invitations, logged audit runs, the activity log."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from mutualcredit import errors
from mutualcredit.activity import ACTIVITY_PAGE_SIZE_MAX, list_activity, record_activity
from mutualcredit.ledger import service as ledger
from mutualcredit.members import admin
from mutualcredit.members.service import leave
from mutualcredit.users import service as users
from mutualcredit.users.errors import InvitationNotValid, UserNotFound
from mutualcredit.users.passwords import FAST_HASHING_FOR_TESTS
from mutualcredit.users.permissions import MemberRole, Principal

PASSWORD = "a long test password"


def person(session: Session, email: str, *, regional: tuple[str, ...] = (), member_roles: tuple[tuple[str, str], ...] = ()) -> Principal:
    view = users.add_user(
        session,
        email=email,
        display_name=email.split("@")[0],
        password=PASSWORD,
        actor="test",
        regional_roles=regional,
        member_roles=member_roles,
        hashing=FAST_HASHING_FOR_TESTS,
    )
    return Principal(
        user_id=view.id,
        email=view.email,
        member_roles=view.member_roles,
        regional_roles=frozenset(view.regional_roles),
    )


# --- Principal (pure) -------------------------------------------------------------


def test_coordinators_and_admins_administer_and_auditors_only_read_and_run_the_audit() -> None:
    coordinator = Principal(user_id=1, email="c@x.org", regional_roles=frozenset({"coordinator"}))
    auditor = Principal(user_id=2, email="a@x.org", regional_roles=frozenset({"auditor"}))
    admin_ = Principal(user_id=3, email="root@x.org", regional_roles=frozenset({"admin"}))
    treasurer = Principal(user_id=4, email="t@x.org", member_roles=(MemberRole("alpha", "Alpha", "treasurer"),))
    assert [p.can_read_coordination for p in (coordinator, auditor, admin_, treasurer)] == [True, True, True, False]
    assert [p.can_administer for p in (coordinator, auditor, admin_, treasurer)] == [True, False, True, False]
    assert [p.can_administer_regional_roles for p in (coordinator, auditor, admin_, treasurer)] == [False, False, True, False]
    assert [p.can_run_audit for p in (coordinator, auditor, admin_, treasurer)] == [True, True, True, False]
    assert not Principal.anonymous().can_read_coordination


def test_nobody_deactivates_themselves_and_only_admins_deactivate_regional_people() -> None:
    coordinator = Principal(user_id=1, email="c@x.org", regional_roles=frozenset({"coordinator"}))
    admin_ = Principal(user_id=3, email="root@x.org", regional_roles=frozenset({"admin"}))
    auditor = Principal(user_id=2, email="a@x.org", regional_roles=frozenset({"auditor"}))
    assert coordinator.can_set_user_active(user_id=9, regional_roles=())
    assert not coordinator.can_set_user_active(user_id=3, regional_roles=("admin",))
    assert not coordinator.can_set_user_active(user_id=8, regional_roles=("coordinator",))
    assert not coordinator.can_set_user_active(user_id=1, regional_roles=("coordinator",))
    assert admin_.can_set_user_active(user_id=1, regional_roles=("coordinator",))
    assert not admin_.can_set_user_active(user_id=3, regional_roles=("admin",))
    assert not auditor.can_set_user_active(user_id=9, regional_roles=())


# --- editing a member -------------------------------------------------------------


def test_editing_a_member_records_each_change_and_renames_its_main_account(region: Session) -> None:
    details = admin.update_member(region, "alpha", name="Alpha Bakery", trade="bread", description="Sourdough.", actor="user:c@x.org")
    assert (details.name, details.trade, details.description) == ("Alpha Bakery", "bread", "Sourdough.")
    assert ledger.get_account(region, "alpha").name == "Alpha Bakery"
    (entry,) = list_activity(region, action="member.edit").entries
    assert (entry.actor, entry.subject) == ("user:c@x.org", "alpha")
    assert entry.details == {"name": ["Alpha", "Alpha Bakery"], "trade": ["", "bread"], "description": ["", "Sourdough."]}


def test_saving_a_member_unchanged_records_nothing(region: Session) -> None:
    admin.update_member(region, "beta", name="Beta", trade="", description="", actor="user:c@x.org")
    assert list_activity(region, action="member.edit").entries == ()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"name": "   "}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"trade": "x" * 201}, "trade"),
        ({"description": "x" * 2001}, "description"),
    ],
)
def test_a_member_edit_with_bad_input_is_refused_naming_the_field(region: Session, changes: dict[str, str], field: str) -> None:
    values = {"name": "Alpha", "trade": "", "description": "", **changes}
    with pytest.raises(errors.InvalidInput) as refused:
        admin.update_member(region, "alpha", actor="t", **values)
    assert refused.value.details["field"] == field
    assert admin.get_member_details(region, "alpha").name == "Alpha"


def test_editing_an_unknown_member_is_not_found(region: Session) -> None:
    with pytest.raises(errors.MemberNotFound):
        admin.update_member(region, "nobody", name="X", trade="", description="", actor="t")


# --- people by id -------------------------------------------------------------------


def test_a_coordinator_deactivates_a_treasurer_but_not_an_admin_nor_themselves(region: Session) -> None:
    coordinator = person(region, "c@x.org", regional=("coordinator",))
    root = person(region, "root@x.org", regional=("admin",))
    treasurer = person(region, "t@alpha.org", member_roles=(("alpha", "treasurer"),))
    assert treasurer.user_id is not None and root.user_id is not None and coordinator.user_id is not None
    view = admin.set_user_active_as(region, coordinator, user_id=treasurer.user_id, is_active=False)
    assert not view.is_active
    with pytest.raises(errors.NotAllowed):
        admin.set_user_active_as(region, coordinator, user_id=root.user_id, is_active=False)
    with pytest.raises(errors.NotAllowed):
        admin.set_user_active_as(region, coordinator, user_id=coordinator.user_id, is_active=False)
    assert admin.get_user_by_id(region, root.user_id).is_active
    admin.set_user_active_as(region, root, user_id=coordinator.user_id, is_active=False)
    assert not admin.get_user_by_id(region, coordinator.user_id).is_active
    assert {e.subject for e in list_activity(region, action="user.deactivate").entries} == {"t@alpha.org", "c@x.org"}


def test_an_unknown_user_id_is_not_found(region: Session) -> None:
    with pytest.raises(UserNotFound):
        admin.get_user_by_id(region, 999_999)


def test_a_coordinator_grants_member_roles_but_not_unknown_roles_nor_in_a_member_that_left(region: Session) -> None:
    coordinator = person(region, "c@x.org", regional=("coordinator",))
    someone = person(region, "someone@x.org")
    assert someone.user_id is not None
    view = admin.grant_member_role_as(region, coordinator, user_id=someone.user_id, member_slug="alpha", role="treasurer")
    assert [(r.member_slug, r.role) for r in view.member_roles] == [("alpha", "treasurer")]
    with pytest.raises(errors.InvalidInput):
        admin.grant_member_role_as(region, coordinator, user_id=someone.user_id, member_slug="beta", role="admin")
    leave(region, "gamma", actor="t")
    with pytest.raises(errors.MemberNotActive):
        admin.grant_member_role_as(region, coordinator, user_id=someone.user_id, member_slug="gamma", role="viewer")
    view = admin.revoke_member_role_as(region, coordinator, user_id=someone.user_id, member_slug="alpha")
    assert view.member_roles == ()
    assert [e.details for e in list_activity(region, actor="user:c@x.org", kind="user").entries] == [
        {"member": "alpha"},
        {"member": "alpha", "role": "treasurer"},
    ]


def test_auditors_and_treasurers_grant_no_roles(region: Session) -> None:
    auditor = person(region, "a@x.org", regional=("auditor",))
    treasurer = person(region, "t@alpha.org", member_roles=(("alpha", "treasurer"),))
    someone = person(region, "someone@x.org")
    assert someone.user_id is not None
    for principal in (auditor, treasurer):
        with pytest.raises(errors.NotAllowed):
            admin.grant_member_role_as(region, principal, user_id=someone.user_id, member_slug="alpha", role="viewer")
        with pytest.raises(errors.NotAllowed):
            admin.set_regional_role_as(region, principal, user_id=someone.user_id, role="auditor", granted=True)
    assert admin.get_user_by_id(region, someone.user_id).member_roles == ()


def test_only_an_admin_grants_regional_roles_and_never_changes_their_own(region: Session) -> None:
    coordinator = person(region, "c@x.org", regional=("coordinator",))
    root = person(region, "root@x.org", regional=("admin",))
    someone = person(region, "someone@x.org")
    assert someone.user_id is not None and root.user_id is not None
    with pytest.raises(errors.NotAllowed):
        admin.set_regional_role_as(region, coordinator, user_id=someone.user_id, role="admin", granted=True)
    assert admin.get_user_by_id(region, someone.user_id).regional_roles == ()
    assert admin.set_regional_role_as(region, root, user_id=someone.user_id, role="admin", granted=True).regional_roles == ("admin",)
    assert admin.set_regional_role_as(region, root, user_id=someone.user_id, role="admin", granted=False).regional_roles == ()
    with pytest.raises(errors.NotAllowed):
        admin.set_regional_role_as(region, root, user_id=root.user_id, role="admin", granted=False)
    with pytest.raises(errors.InvalidInput):
        admin.set_regional_role_as(region, root, user_id=someone.user_id, role="treasurer", granted=True)


# --- invitations -------------------------------------------------------------------


def test_a_revoked_invitation_link_stops_working_and_the_revocation_is_logged(region: Session) -> None:
    coordinator = person(region, "c@x.org", regional=("coordinator",))
    secret, invitation = users.invite(region, email="new@alpha.org", member_slug="alpha", member_role="viewer", actor="t")
    admin.revoke_invitation_as(region, coordinator, invitation.id)
    with pytest.raises(InvitationNotValid):
        users.get_invitation(region, secret)
    assert users.list_open_invitations(region) == []
    (entry,) = list_activity(region, action="user.revoke_invitation").entries
    assert (entry.actor, entry.subject) == ("user:c@x.org", "new@alpha.org")
    with pytest.raises(InvitationNotValid):
        admin.revoke_invitation_as(region, coordinator, invitation.id)


def test_a_coordinator_cannot_revoke_an_invitation_to_a_regional_role(region: Session) -> None:
    coordinator = person(region, "c@x.org", regional=("coordinator",))
    root = person(region, "root@x.org", regional=("admin",))
    secret, invitation = users.invite(region, email="boss@x.org", regional_role="admin", actor="t")
    with pytest.raises(errors.NotAllowed):
        admin.revoke_invitation_as(region, coordinator, invitation.id)
    assert users.get_invitation(region, secret).email == "boss@x.org"
    admin.revoke_invitation_as(region, root, invitation.id)
    with pytest.raises(InvitationNotValid):
        users.get_invitation(region, secret)


def test_an_invitation_revoked_with_a_clock_behind_its_creation_still_ends_at_once(region: Session) -> None:
    root = person(region, "root@x.org", regional=("admin",))
    now = dt.datetime.now(dt.timezone.utc)
    secret, invitation = users.invite(region, email="new@x.org", regional_role="auditor", actor="t", now=now)
    admin.revoke_invitation_as(region, root, invitation.id, now=now - dt.timedelta(seconds=5))
    with pytest.raises(InvitationNotValid):
        users.get_invitation(region, secret, now=now + dt.timedelta(milliseconds=1))


# --- the audit ---------------------------------------------------------------------


def test_an_audit_run_is_logged_with_its_findings(region: Session, engine: sa.Engine) -> None:
    auditor = person(region, "a@x.org", regional=("auditor",))
    ledger.create_transfer(region, ledger.TransferSpec(id=uuid.uuid4(), payer="alpha", payee="beta", amount_minor=100), created_by="t")
    assert admin.run_audit_as(region, auditor).is_clean
    last = admin.last_audit_run(region)
    assert last is not None and last.actor == "user:a@x.org" and last.details["is_clean"] is True
    region.close()
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE accounts SET balance = balance + 500 WHERE code = 'beta'"))
    report = admin.run_audit_as(region, auditor)
    assert not report.is_clean
    last = admin.last_audit_run(region)
    assert last is not None and last.details["finding_count"] == len(report.findings)
    assert {(f["code"], f["account"]) for f in last.details["findings"]} >= {("balance_mismatch", "beta"), ("zero_sum", None)}


def test_members_people_do_not_run_the_audit(region: Session) -> None:
    treasurer = person(region, "t@alpha.org", member_roles=(("alpha", "treasurer"),))
    with pytest.raises(errors.NotAllowed):
        admin.run_audit_as(region, treasurer)
    assert admin.last_audit_run(region) is None


# --- the activity log --------------------------------------------------------------


def test_the_activity_log_pages_newest_first_by_id_and_filters(session: Session) -> None:
    for number in range(7):
        record_activity(session, actor=f"user:{'a' if number % 2 else 'b'}@x.org", action="member.add" if number < 4 else "account.limits", subject=f"s{number}")
    session.commit()
    first = list_activity(session, limit=3)
    assert [e.subject for e in first.entries] == ["s6", "s5", "s4"]
    second = list_activity(session, limit=3, before_id=first.next_before_id)
    assert [e.subject for e in second.entries] == ["s3", "s2", "s1"]
    last = list_activity(session, limit=3, before_id=second.next_before_id)
    assert [e.subject for e in last.entries] == ["s0"] and last.next_before_id is None
    assert [e.subject for e in list_activity(session, actor="user:a@x.org").entries] == ["s5", "s3", "s1"]
    assert [e.subject for e in list_activity(session, kind="member").entries] == ["s3", "s2", "s1", "s0"]
    assert [e.subject for e in list_activity(session, action="account.limits", actor="user:b@x.org").entries] == ["s6", "s4"]
    assert [e.subject for e in list_activity(session, subject="s2").entries] == ["s2"]
    assert list_activity(session, kind="membe").entries == ()  # a kind is a whole first part, not a prefix
    assert list_activity(session, kind="%").entries == ()  # nor a pattern


@pytest.mark.parametrize("limit", [0, -1, ACTIVITY_PAGE_SIZE_MAX + 1])
def test_an_activity_page_size_out_of_bounds_is_refused(session: Session, limit: int) -> None:
    with pytest.raises(errors.InvalidInput):
        list_activity(session, limit=limit)
