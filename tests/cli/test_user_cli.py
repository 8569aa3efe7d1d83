"""`mutualcredit user`: the first admin, recovery and invitations, from the shell as a person types them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import set_up_region
from mutualcredit.db import make_engine, make_session_factory
from mutualcredit.users import service as users


def mutualcredit(database_url: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    environ = dict(os.environ, MUTUALCREDIT_DATABASE_URL=database_url, MUTUALCREDIT_ACTOR="cli:test")
    return subprocess.run(
        [sys.executable, "-m", "webapp.cli", *args], input=stdin, capture_output=True, text=True, env=environ, timeout=120
    )


@pytest.fixture
def database(sqlite_url: str) -> str:
    session = make_session_factory(make_engine(sqlite_url))()
    set_up_region(session, {"alpha": (-100_000, None)})
    session.close()
    return sqlite_url


def test_the_first_admin_is_added_listed_and_can_log_in(database: str) -> None:
    added = mutualcredit(database, "user", "add", "Root@Example.org", "--name", "Root", "--role", "admin", "--password-stdin", stdin="a long admin password\n")
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == "user root@example.org added (admin)"
    listed = json.loads(mutualcredit(database, "user", "list", "--json").stdout)
    assert [(u["email"], u["regional_roles"], u["last_login_at"]) for u in listed] == [("root@example.org", ["admin"], None)]
    assert "password" not in json.dumps(listed).replace("password_", "")
    session = make_session_factory(make_engine(database))()
    assert users.authenticate(session, email="root@example.org", password="a long admin password").is_admin
    session.close()


def test_the_password_is_asked_twice_when_typed(database: str) -> None:
    added = mutualcredit(database, "user", "add", "t@alpha.example", "--name", "T", "--member", "alpha", "--member-role", "treasurer", stdin="a long password one\na long password one\n")
    assert added.returncode == 0, added.stderr
    assert "treasurer:alpha" in added.stdout


def test_a_reset_password_unlocks_the_account(database: str) -> None:
    mutualcredit(database, "user", "add", "ana@example.org", "--name", "Ana", "--password-stdin", stdin="the first password\n")
    session = make_session_factory(make_engine(database))()
    for _ in range(users.LOGIN_FAILURES_MAX):
        with pytest.raises(users.LoginRefused):
            users.authenticate(session, email="ana@example.org", password="wrong guess")
    reset = mutualcredit(database, "user", "reset-password", "ANA@example.org", "--password-stdin", stdin="the second password\n")
    assert reset.returncode == 0, reset.stderr
    assert users.authenticate(session, email="ana@example.org", password="the second password").email == "ana@example.org"
    session.close()


def test_an_invitation_link_is_printed_once_for_the_web_app(database: str) -> None:
    invited = mutualcredit(database, "user", "invite", "bea@alpha.example", "--member", "alpha", "--member-role", "viewer", "--base-url", "https://ribera.example/")
    assert invited.returncode == 0, invited.stderr
    link = invited.stdout.strip()
    assert link.startswith("https://ribera.example/invitations/")
    session = make_session_factory(make_engine(database))()
    assert users.get_invitation(session, link.rsplit("/", 1)[1]).member_role == "viewer"
    session.close()


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (("user", "add", "nobody", "--name", "N", "--password-stdin"), "a long enough password\n", "error: invalid_email:"),
        (("user", "add", "n@example.org", "--name", "N", "--password-stdin"), "short\n", "error: password_not_accepted:"),
        (("user", "add", "n@example.org", "--name", "N", "--member", "alpha", "--password-stdin"), "a long enough password\n", "--member and --member-role go together"),
        (("user", "add", "n@example.org", "--name", "N", "--member", "omega", "--member-role", "viewer", "--password-stdin"), "a long enough password\n", "error: member_not_found:"),
        (("user", "reset-password", "ghost@example.org", "--password-stdin"), "a long enough password\n", "error: user_not_found:"),
        (("user", "invite", "n@example.org"), "", "give either --role or --member"),
        (("user", "invite", "n@example.org", "--role", "admin", "--member", "alpha", "--member-role", "viewer"), "", "give either --role or --member"),
    ],
)
def test_mistakes_end_in_one_line_and_change_nothing(database: str, args: tuple[str, ...], stdin: str, message: str) -> None:
    result = mutualcredit(database, *args, stdin=stdin)
    assert result.returncode in (1, 2)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert json.loads(mutualcredit(database, "user", "list", "--json").stdout) == []


def test_demo_prints_its_users_and_their_password(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.sqlite3'}"
    assert mutualcredit(url, "db", "upgrade").returncode == 0
    output = mutualcredit(url, "demo").stdout
    assert "admin@ribera.example" in output and "ribera-demo-password" in output
