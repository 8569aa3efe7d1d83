"""Coordination pages end to end: members, people and roles, limits, system accounts, the audit, the activity log."""

from __future__ import annotations

import html
import re
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from mutualcredit import errors
from mutualcredit.activity import ActivityEntry, record_activity
from mutualcredit.ledger import service as ledger
from mutualcredit.members import admin
from mutualcredit.members import service as members
from mutualcredit.users import service as users
from mutualcredit.users.passwords import FAST_HASHING_FOR_TESTS
from web_helpers import client_as, csrf_token, log_in, make_app

COORDINATOR_ACTOR = "user:coordinator@region.example"


@pytest.fixture
def app(database_url: str) -> Flask:
    return make_app(database_url)


def post(client: FlaskClient, path: str, **data: Any) -> TestResponse:
    return client.post(path, data={"csrf_token": csrf_token(client), **data})


def text(response: TestResponse) -> str:
    return html.unescape(response.get_data(as_text=True))


def field_errors(page: str, field_id: str) -> list[str]:
    """The errors shown next to one field (its ``<ul class="errors">``)."""
    match = re.search(rf'<ul class="errors" id="{re.escape(field_id)}-errors">(.*?)</ul>', page, re.S)
    return [html.unescape(item).strip() for item in re.findall(r"<li>(.*?)</li>", match.group(1), re.S)] if match else []


def session_of(app: Flask) -> Session:
    session: Session = app.extensions["mutualcredit.sessions"]()
    return session


def pay(app: Flask, payer: str, payee: str, amount_minor: int) -> ledger.TransferResult:
    with session_of(app) as session:
        return ledger.create_transfer(
            session, ledger.TransferSpec(id=uuid.uuid4(), payer=payer, payee=payee, amount_minor=amount_minor), created_by="test"
        )


def activity_count(app: Flask) -> int:
    with session_of(app) as session:
        return session.scalar(sa.select(sa.func.count()).select_from(ActivityEntry)) or 0


def user_id(app: Flask, email: str) -> int:
    with session_of(app) as session:
        return users.get_user(session, email).id


def add_person(app: Flask, email: str) -> int:
    with session_of(app) as session:
        view = users.add_user(
            session, email=email, display_name="Newcomer", password="a long test password", actor="test", hashing=FAST_HASHING_FOR_TESTS
        )
        return view.id


# --- members -----------------------------------------------------------------------


def test_a_coordinator_admits_a_member_with_its_account_and_floor(app: Flask) -> None:
    coordinator = client_as(app, "coordinator")
    response = post(
        coordinator, "/coordination/members/new", slug="gamma", name="Gamma Tools", trade="tools", description="", floor="-1,234.50", ceiling="5,000"
    )
    assert response.status_code == 303 and response.headers["Location"].endswith("/coordination/members/gamma")
    with session_of(app) as session:
        account = ledger.get_account(session, "gamma")
        assert (account.member_slug, account.floor, account.ceiling, account.kind) == ("gamma", -123_450, 500_000, "member")
    listing = text(coordinator.get("/coordination/members"))
    assert "Gamma Tools" in listing and "-1,234.50 T" in listing
    log = text(coordinator.get("/coordination/activity"))
    assert COORDINATOR_ACTOR in log and "admitted a member" in log and "gamma" in log


def test_a_floor_is_typed_in_the_persons_language(app: Flask) -> None:
    coordinator = client_as(app, "coordinator")
    post(coordinator, "/account/language", **{"language-locale": "es"})
    response = post(coordinator, "/coordination/members/new", slug="delta", name="Delta", floor="-1.234,50")
    assert response.status_code == 303
    with session_of(app) as session:
        assert ledger.get_account(session, "delta").floor == -123_450


def test_admitting_with_bad_input_says_what_is_wrong_next_to_each_field_and_keeps_the_values(app: Flask) -> None:
    coordinator = client_as(app, "coordinator")
    response = post(coordinator, "/coordination/members/new", slug="Bad Slug", name="Some Name", trade="bread", floor="12", ceiling="abc")
    page = text(response)
    assert response.status_code == 400
    assert field_errors(page, "slug") and field_errors(page, "ceiling")
    assert field_errors(page, "floor") == ["A floor is zero or below (a negative amount)."]
    assert 'value="Bad Slug"' in page and 'value="Some Name"' in page and 'value="bread"' in page and 'value="12"' in page
    taken = post(coordinator, "/coordination/members/new", slug="alpha", name="Another Alpha", floor="-10")
    assert taken.status_code == 400
    assert field_errors(text(taken), "slug") == ["A member or an account with that short name already exists."]
    with session_of(app) as session:
        assert [m.slug for m in members.list_members(session)] == ["alpha", "beta"]


def test_a_coordinator_edits_and_suspends_a_member_which_then_cannot_pay(app: Flask) -> None:
    coordinator = client_as(app, "coordinator")
    edited = post(coordinator, "/coordination/members/alpha", name="Alpha Bakery", trade="bread", description="Sourdough since 1990.")
    assert edited.status_code == 303
    with session_of(app) as session:
        details = admin.get_member_details(session, "alpha")
    assert (details.name, details.trade, details.description) == ("Alpha Bakery", "bread", "Sourdough since 1990.")

    no_reason = post(coordinator, "/coordination/members/alpha/suspend", reason="")
    assert no_reason.status_code == 400 and field_errors(text(no_reason), "reason")
    pay(app, "alpha", "beta", 100)  # still active

    assert post(coordinator, "/coordination/members/alpha/suspend", reason="Assembly decision 12").status_code == 303
    with pytest.raises(errors.MemberNotActive):
        pay(app, "alpha", "beta", 100)
    page = text(coordinator.get("/coordination/members/alpha"))
    assert "suspended" in page and "Assembly decision 12" in page and COORDINATOR_ACTOR in page

    assert post(coordinator, "/coordination/members/alpha/reactivate", reason="Paid back").status_code == 303
    pay(app, "alpha", "beta", 100)


def test_an_edit_with_an_empty_name_is_refused_next_to_the_field_with_the_values_kept(app: Flask) -> None:
    coordinator = client_as(app, "coordinator")
    response = post(coordinator, "/coordination/members/alpha", name="", trade="new trade", description="kept")
    page = text(response)
    assert response.status_code == 400 and field_errors(page, "name") and 'value="new trade"' in page and "kept" in page
    with session_of(app) as session:
        assert admin.get_member_details(session, "alpha").trade == ""


def test_an_unknown_member_is_not_found(app: Flask) -> None:
    coordinator = client_as(app, "coordinator")
    assert coordinator.get("/coordination/members/nobody").status_code == 404
    assert post(coordinator, "/coordination/members/nobody/suspend", reason="x").status_code == 404


# --- people and roles --------------------------------------------------------------


def test_a_coordinator_grants_a_treasurer_role_and_revokes_it(app: Flask) -> None:
    newcomer = add_person(app, "new@beta.example")
    coordinator = client_as(app, "coordinator")
    assert "new@beta.example" in text(coordinator.get("/coordination/people"))
    assert post(coordinator, f"/coordination/people/{newcomer}/roles", member="beta", role="treasurer").status_code == 303
    with session_of(app) as session:
        assert [(r.member_slug, r.role) for r in users.get_user(session, "new@beta.example").member_roles] == [("beta", "treasurer")]
    assert post(coordinator, f"/coordination/people/{newcomer}/roles/revoke", member="beta").status_code == 303
    with session_of(app) as session:
        assert users.get_user(session, "new@beta.example").member_roles == ()
    assert "granted a role" in text(coordinator.get(f"/coordination/activity?actor={COORDINATOR_ACTOR}"))


def test_granting_a_role_in_an_unknown_member_is_refused_next_to_the_field(app: Flask) -> None:
    newcomer = add_person(app, "new@beta.example")
    coordinator = client_as(app, "coordinator")
    response = post(coordinator, f"/coordination/people/{newcomer}/roles", member="nobody", role="viewer")
    assert response.status_code == 400
    assert field_errors(text(response), f"member-grant-{newcomer}") == ["There is no such member."]


def test_a_coordinator_cannot_grant_the_admin_role_but_an_admin_can(app: Flask) -> None:
    newcomer = add_person(app, "new@region.example")
    coordinator = client_as(app, "coordinator")
    assert post(coordinator, f"/coordination/people/{newcomer}/regional", role="admin", change="grant").status_code == 403
    forged = post(coordinator, f"/coordination/people/{newcomer}/roles", member="alpha", role="admin")
    assert forged.status_code == 400
    assert field_errors(text(forged), f"role-grant-{newcomer}") == ["Choose treasurer or viewer."]
    with session_of(app) as session:
        view = users.get_user(session, "new@region.example")
        assert (view.regional_roles, view.member_roles) == ((), ())
    root = client_as(app, "admin")
    assert post(root, f"/coordination/people/{newcomer}/regional", role="admin", change="grant").status_code == 303
    with session_of(app) as session:
        assert users.get_user(session, "new@region.example").regional_roles == ("admin",)
    assert post(root, f"/coordination/people/{newcomer}/regional", role="admin", change="revoke").status_code == 303
    with session_of(app) as session:
        assert users.get_user(session, "new@region.example").regional_roles == ()


def test_only_admins_see_the_regional_role_forms(app: Flask) -> None:
    assert "Grant a regional role" not in text(client_as(app, "coordinator").get("/coordination/people"))
    assert "Grant a regional role" in text(client_as(app, "admin").get("/coordination/people"))


def test_a_coordinator_deactivates_a_treasurer_but_not_an_admin_nor_themselves(app: Flask) -> None:
    coordinator = client_as(app, "coordinator")
    treasurer = user_id(app, "treasurer@beta.example")
    assert post(coordinator, f"/coordination/people/{treasurer}/deactivate").status_code == 303
    with session_of(app) as session:
        assert not users.get_user(session, "treasurer@beta.example").is_active
    assert log_in(app.test_client(), "treasurer@beta.example").status_code != 303  # they can no longer log in
    assert post(coordinator, f"/coordination/people/{user_id(app, 'admin@region.example')}/deactivate").status_code == 403
    assert post(coordinator, f"/coordination/people/{user_id(app, 'coordinator@region.example')}/deactivate").status_code == 403
    with session_of(app) as session:
        assert users.get_user(session, "admin@region.example").is_active
        assert users.get_user(session, "coordinator@region.example").is_active
    assert post(coordinator, f"/coordination/people/{treasurer}/activate").status_code == 303
    with session_of(app) as session:
        assert users.get_user(session, "treasurer@beta.example").is_active
    assert post(coordinator, "/coordination/people/999999/deactivate").status_code == 404


def test_a_coordinator_revokes_an_open_invitation_from_the_people_page(app: Flask) -> None:
    with session_of(app) as session:
        secret, invitation = users.invite(session, email="invited@alpha.example", member_slug="alpha", member_role="viewer", actor="test")
    coordinator = client_as(app, "coordinator")
    page = text(coordinator.get("/coordination/people"))
    assert "invited@alpha.example" in page and "/invitations/new" in page
    assert post(coordinator, f"/coordination/invitations/{invitation.id}/revoke").status_code == 303
    assert client_as(app, "anonymous").get(f"/invitations/{secret}").status_code == 404
    assert post(coordinator, f"/coordination/invitations/{invitation.id}/revoke").status_code == 404


# --- accounts and limits -----------------------------------------------------------


def test_a_coordinator_sets_limits_and_a_limit_the_balance_is_outside_of_is_refused_next_to_the_field(app: Flask) -> None:
    coordinator = client_as(app, "coordinator")
    form = text(coordinator.get("/coordination/accounts/alpha/limits"))
    assert 'value="-1,000.00"' in form
    assert post(coordinator, "/coordination/accounts/alpha/limits", floor="-2,000", ceiling="", reason="Assembly 3").status_code == 303
    with session_of(app) as session:
        assert ledger.get_account(session, "alpha").floor == -200_000
    log = text(coordinator.get("/coordination/activity?action=account.limits"))
    assert "floor: -1,000.00 T → -2,000.00 T" in log and "reason: Assembly 3" in log and "ceiling:" not in log
    pay(app, "alpha", "beta", 50_000)  # alpha now stands at -500.00
    refused = post(coordinator, "/coordination/accounts/alpha/limits", floor="-100", ceiling="", reason="too tight")
    page = text(refused)
    assert refused.status_code == 400
    assert field_errors(page, "floor") == ["The balance less pending payments is -500.00 T, below this floor."]
    assert 'value="-100"' in page and 'value="too tight"' in page
    ceiling = post(coordinator, "/coordination/accounts/beta/limits", floor="-1,000", ceiling="100", reason="")
    assert ceiling.status_code == 400
    assert field_errors(text(ceiling), "ceiling") == ["The balance plus pending receipts is 500.00 T, above this ceiling."]
    with session_of(app) as session:
        assert ledger.get_account(session, "alpha").floor == -200_000
        assert ledger.get_account(session, "beta").ceiling is None
    member_without_floor = post(coordinator, "/coordination/accounts/beta/limits", floor="", ceiling="")
    assert member_without_floor.status_code == 400 and field_errors(text(member_without_floor), "floor")


def test_a_coordinator_opens_a_system_account_and_freezes_it(app: Flask) -> None:
    coordinator = client_as(app, "coordinator")
    opened = post(coordinator, "/coordination/accounts/new", kind="pool", code="pool:tools", name="Tool library", floor="", ceiling="")
    assert opened.status_code == 303
    with session_of(app) as session:
        account = ledger.get_account(session, "pool:tools")
        assert (account.kind, account.member_slug, account.floor, account.ceiling) == ("pool", None, None, None)
    again = post(coordinator, "/coordination/accounts/new", kind="pool", code="pool:tools", name="Again", floor="", ceiling="")
    assert again.status_code == 400 and field_errors(text(again), "code") == ["An account with that code already exists."]
    forged_kind = post(coordinator, "/coordination/accounts/new", kind="member", code="pool:x", name="X", floor="-1", ceiling="")
    assert forged_kind.status_code == 400
    listing = text(coordinator.get("/coordination/accounts"))
    assert "pool:tools" in listing and "Tool library" in listing

    assert post(coordinator, "/coordination/accounts/beta/freeze", reason="Investigation").status_code == 303
    with pytest.raises(errors.AccountNotOpen):
        pay(app, "alpha", "beta", 100)
    assert post(coordinator, "/coordination/accounts/beta/unfreeze", reason="Cleared").status_code == 303
    pay(app, "alpha", "beta", 100)


# --- the audit ---------------------------------------------------------------------


def test_the_audit_finds_nothing_on_a_clean_ledger_and_a_finding_after_tampering(app: Flask, database_url: str) -> None:
    pay(app, "alpha", "beta", 10_000)
    coordinator = client_as(app, "coordinator")
    assert "has not been run" in text(coordinator.get("/coordination/audit"))
    clean = post(coordinator, "/coordination/audit")
    assert clean.status_code == 200 and "No findings" in text(clean)

    engine = sa.create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE accounts SET balance = balance + 500 WHERE code = 'beta'"))
    engine.dispose()
    tampered = text(post(coordinator, "/coordination/audit"))
    assert "balance_mismatch" in tampered and "zero_sum" in tampered
    assert re.search(r"balance_mismatch.*?<td>beta</td>\s*<td>—</td>\s*<td><code>10000</code></td>\s*<td><code>10500</code></td>", tampered, re.S)
    # The last run stays on the page, and in the log with who ran it.
    last = text(client_as(app, "auditor").get("/coordination/audit"))
    assert "balance_mismatch" in last and COORDINATOR_ACTOR in last
    log = text(coordinator.get("/coordination/activity?action=audit.run"))
    assert log.count("ran the audit") == 2


def test_an_auditor_runs_the_audit_and_the_run_is_logged_as_theirs(app: Flask) -> None:
    auditor = client_as(app, "auditor")
    assert post(auditor, "/coordination/audit").status_code == 200
    with session_of(app) as session:
        last = admin.last_audit_run(session)
    assert last is not None and last.actor == "user:auditor@region.example"


# --- the activity log --------------------------------------------------------------


def test_the_activity_log_is_newest_first_fifty_to_a_page_and_filters_by_actor_and_action(app: Flask) -> None:
    with session_of(app) as session:
        for number in range(60):
            record_activity(session, actor="user:someone@region.example", action="account.limits", subject=f"entry-{number:02d}")
        session.commit()
    coordinator = client_as(app, "coordinator")
    post(coordinator, "/coordination/members/alpha/suspend", reason="Test")
    first = text(coordinator.get("/coordination/activity"))
    subjects = re.findall(r"<td>(entry-\d+|alpha)</td>", first)
    assert subjects[:3] == ["alpha", "entry-59", "entry-58"] and len(subjects) == 50
    older = re.search(r'href="([^"]*before=\d+[^"]*)" rel="next"', first)
    assert older is not None
    second = text(coordinator.get(html.unescape(older.group(1))))
    assert re.findall(r"<td>(entry-\d+)</td>", second)[0] == "entry-10"

    mine = text(coordinator.get(f"/coordination/activity?actor={COORDINATOR_ACTOR}"))
    assert re.findall(r"<td>(entry-\d+|alpha)</td>", mine) == ["alpha"] and "suspended a member" in mine
    by_action = text(coordinator.get("/coordination/activity?action=member.suspended"))
    assert re.findall(r"<td>(entry-\d+|alpha)</td>", by_action) == ["alpha"]
    by_kind = text(coordinator.get("/coordination/activity?kind=account"))
    assert "alpha</td>" not in by_kind and "entry-59" in by_kind


# --- who sees what -----------------------------------------------------------------

PAGES = (
    "/coordination",
    "/coordination/members",
    "/coordination/members/new",
    "/coordination/members/alpha",
    "/coordination/people",
    "/coordination/accounts",
    "/coordination/accounts/alpha/limits",
    "/coordination/accounts/new",
    "/coordination/audit",
    "/coordination/activity",
)


def test_an_auditor_reads_every_page_and_every_change_is_refused_with_nothing_changed(app: Flask) -> None:
    auditor = client_as(app, "auditor")
    for path in PAGES:
        assert auditor.get(path).status_code == 200, path
    treasurer = user_id(app, "treasurer@alpha.example")
    with session_of(app) as session:
        _, invitation = users.invite(session, email="x@alpha.example", member_slug="alpha", member_role="viewer", actor="test")
    before = activity_count(app)
    changes = [
        ("/coordination/members/new", {"slug": "gamma", "name": "Gamma", "floor": "-10"}),
        ("/coordination/members/alpha", {"name": "Renamed"}),
        ("/coordination/members/alpha/suspend", {"reason": "x"}),
        ("/coordination/members/alpha/reactivate", {"reason": "x"}),
        (f"/coordination/people/{treasurer}/roles", {"member": "beta", "role": "viewer"}),
        (f"/coordination/people/{treasurer}/roles/revoke", {"member": "alpha"}),
        (f"/coordination/people/{treasurer}/regional", {"role": "auditor", "change": "grant"}),
        (f"/coordination/people/{treasurer}/deactivate", {}),
        (f"/coordination/people/{treasurer}/activate", {}),
        (f"/coordination/invitations/{invitation.id}/revoke", {}),
        ("/coordination/accounts/alpha/limits", {"floor": "-5", "ceiling": ""}),
        ("/coordination/accounts/new", {"kind": "pool", "code": "pool:x", "name": "X"}),
        ("/coordination/accounts/alpha/freeze", {"reason": "x"}),
        ("/coordination/accounts/alpha/unfreeze", {"reason": "x"}),
    ]
    for path, data in changes:
        assert post(auditor, path, **data).status_code == 403, path
    assert activity_count(app) == before
    with session_of(app) as session:
        assert admin.get_member_details(session, "alpha").name == "Alpha"
        assert ledger.get_account(session, "alpha").floor == -100_000
        assert len(users.list_open_invitations(session)) == 1
    page = text(auditor.get("/coordination/members/alpha"))
    assert "Suspend" not in page and 'name="name"' not in page


@pytest.mark.parametrize("role", ["treasurer_a", "viewer_a", "treasurer_b"])
def test_members_people_see_no_coordination_page_and_no_menu_entry(app: Flask, role: str) -> None:
    client = client_as(app, role)
    for path in PAGES:
        assert client.get(path).status_code == 403, path
    assert "/coordination" not in text(client.get("/account"))


def test_regional_people_find_coordination_in_the_menu(app: Flask) -> None:
    for role in ("coordinator", "auditor", "admin"):
        assert 'href="/coordination"' in text(client_as(app, role).get("/account")), role
