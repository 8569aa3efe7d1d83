"""Statement pages end to end: filters, pages that neither skip nor repeat a line, CSV and Beancount downloads."""

from __future__ import annotations

import csv
import datetime as dt
import functools
import html
import io
import random
import re
import subprocess
import sys
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from mutualcredit.ledger import service as ledger
from mutualcredit.ledger import statements
from mutualcredit.ledger.export import beancount_account
from web_helpers import client_as, make_app

START = dt.datetime(2026, 1, 1, 9, 0, tzinfo=dt.timezone.utc)
TRANSFERS = 130  # alpha and beta, ten a day over thirteen days, plus a few from the commons
BEAN_CHECK = Path(sys.executable).parent / "bean-check"


def moment(index: int) -> dt.datetime:
    return START + dt.timedelta(days=index // 10, minutes=index)


@pytest.fixture
def app(database_url: str) -> Flask:
    app = make_app(database_url)
    rng = random.Random(7)
    with app.extensions["mutualcredit.sessions"]() as session:
        for index in range(TRANSFERS):
            payer, payee = ("alpha", "beta") if rng.random() < 0.5 else ("beta", "alpha")
            if index % 13 == 5:
                payer, payee = "commons", "alpha"
            spec = ledger.TransferSpec(id=uuid.uuid4(), payer=payer, payee=payee, amount_minor=rng.randint(1, 50_000) // 100, description=f"t{index}")
            ledger.create_transfer(session, spec, created_by="test", now=moment(index))
        # A hold and a transfer between other accounts: neither is a line of alpha's statement.
        ledger.create_transfer(
            session,
            ledger.TransferSpec(id=uuid.uuid4(), payer="alpha", payee="beta", amount_minor=77, description="hold", pending=True, expires_at=moment(500)),
            created_by="test",
            now=moment(TRANSFERS),
        )
        ledger.create_transfer(session, ledger.TransferSpec(id=uuid.uuid4(), payer="commons", payee="beta", amount_minor=5, description="elsewhere"), created_by="test", now=moment(3))
    return app


def ledger_lines(app: Flask, code: str = "alpha") -> list[dict[str, Any]]:
    """The account's movements with the balance after each, read back with plain SQL."""
    with app.extensions["mutualcredit.sessions"]() as session:
        rows = session.execute(
            sa.text(
                """
                SELECT t.seq, t.description, t.created_at, t.amount_minor, payer.code AS payer, payee.code AS payee
                FROM transfers AS t
                JOIN accounts AS payer ON payer.id = t.payer_account_id
                JOIN accounts AS payee ON payee.id = t.payee_account_id
                WHERE t.kind IN ('transfer', 'post') AND (payer.code = :code OR payee.code = :code)
                ORDER BY t.seq
                """
            ),
            {"code": code},
        ).all()
    lines, balance = [], 0
    for row in rows:
        amount = row.amount_minor if row.payee == code else -row.amount_minor
        balance += amount
        created_at = row.created_at if isinstance(row.created_at, dt.datetime) else dt.datetime.fromisoformat(row.created_at)
        lines.append(
            {
                "description": row.description,
                "amount": amount,
                "balance_after": balance,
                "counterparty": row.payer if row.payee == code else row.payee,
                "day": created_at.date(),
            }
        )
    return lines


def plain(amount_minor: int) -> str:
    return f"{Decimal(amount_minor).scaleb(-2):.2f}"


def shown_descriptions(page: str) -> list[str]:
    return re.findall(r"<td>(t\d+)</td>", page)


def link(page: str, rel: str) -> str | None:
    match = re.search(rf'<a rel="{rel}" href="([^"]+)"', page)
    return html.unescape(match.group(1)) if match else None


def field_errors(page: str, field_id: str) -> list[str]:
    match = re.search(rf'<ul class="errors" id="{field_id}-errors">(.*?)</ul>', page, re.S)
    return [html.unescape(item) for item in re.findall(r"<li>(.*?)</li>", match.group(1))] if match else []


def test_older_links_walk_every_line_once_back_to_the_first_and_newer_links_walk_forward_again(app: Flask) -> None:
    client = client_as(app, "treasurer_a")
    expected = [line["description"] for line in ledger_lines(app)]
    assert len(expected) > 2 * statements.STATEMENT_PAGE_LINES
    pages, url = [], "/accounts/alpha/statement"
    while url:
        response = client.get(url)
        assert response.status_code == 200
        page = response.get_data(as_text=True)
        pages.append(shown_descriptions(page))
        url = link(page, "prev")
        assert len(pages) < 10
    assert all(len(lines) <= statements.STATEMENT_PAGE_LINES for lines in pages)
    assert len(pages[0]) == statements.STATEMENT_PAGE_LINES  # the newest page is full
    assert [line for lines in reversed(pages) for line in lines] == expected
    assert link(page, "prev") is None and link(page, "next") is not None

    forward, url = [shown_descriptions(page)], link(page, "next")
    while url:
        page = client.get(url).get_data(as_text=True)
        forward.append(shown_descriptions(page))
        url = link(page, "next")
        assert len(forward) < 10
    assert [line for lines in forward for line in lines] == expected


def test_each_page_shows_the_balance_after_each_line_as_the_ledger_has_it(app: Flask) -> None:
    expected = ledger_lines(app)
    with app.extensions["mutualcredit.sessions"]() as session:
        page = statements.statement_page(session, "alpha")
        older = statements.statement_page(session, "alpha", before_seq=page.older_before_seq)
        oldest = statements.statement_page(session, "alpha", after_seq=0, page_lines=7)
    by_description = {line["description"]: line for line in expected}
    for line in (*page.lines, *older.lines, *oldest.lines):
        assert (line.amount_minor, line.balance_after_minor, line.counterparty) == (
            by_description[line.description]["amount"],
            by_description[line.description]["balance_after"],
            by_description[line.description]["counterparty"],
        )
    assert [line.description for line in oldest.lines] == [line["description"] for line in expected[:7]]
    assert (page.opening_minor, page.closing_minor) == (0, expected[-1]["balance_after"])


def test_a_period_and_a_counterparty_filter_the_lines_and_give_the_period_opening_and_closing_balances(app: Flask) -> None:
    client = client_as(app, "viewer_a")
    expected = ledger_lines(app)
    first_day, last_day = dt.date(2026, 1, 4), dt.date(2026, 1, 8)
    in_period = [line for line in expected if first_day <= line["day"] <= last_day]
    opening = sum(line["amount"] for line in expected if line["day"] < first_day)
    closing = sum(line["amount"] for line in expected if line["day"] <= last_day)
    response = client.get(f"/accounts/alpha/statement?from={first_day}&to={last_day}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert shown_descriptions(page) == [line["description"] for line in in_period]
    assert f">{opening / 100:,.2f} T<" in page and f">{closing / 100:,.2f} T<" in page
    assert 'value="2026-01-04"' in page and 'value="2026-01-08"' in page  # the filters are kept

    with_commons = [line["description"] for line in in_period if line["counterparty"] == "commons"]
    page = client.get(f"/accounts/alpha/statement?from={first_day}&to={last_day}&counterparty=commons").get_data(as_text=True)
    assert shown_descriptions(page) == with_commons and with_commons
    assert '<option selected value="commons">' in page

    with app.extensions["mutualcredit.sessions"]() as session:
        filtered = statements.statement_page(session, "alpha", statements.StatementFilter(first_day, last_day, "beta"), page_lines=3)
    by_description = {line["description"]: line for line in expected}
    assert [line.description for line in filtered.lines] == [line["description"] for line in in_period if line["counterparty"] == "beta"][-3:]
    assert all(line.balance_after_minor == by_description[line.description]["balance_after"] for line in filtered.lines)
    assert (filtered.opening_minor, filtered.closing_minor) == (opening, closing)


@pytest.mark.parametrize(
    ("query", "field_id", "message"),
    [
        ("from=2026-13-01", "from", "Enter a date as YYYY-MM-DD."),
        ("from=yesterday&to=2026-01-02", "from", "Enter a date as YYYY-MM-DD."),
        ("from=2026-01-09&to=2026-01-02", "to", "The period ends before it starts."),
        ("counterparty=nobody", "counterparty", "There is no such account."),
        ("counterparty=alpha", "counterparty", "There is no such account."),
    ],
)
def test_bad_filters_get_a_message_next_to_the_field_and_keep_what_was_typed(app: Flask, query: str, field_id: str, message: str) -> None:
    client = client_as(app, "treasurer_a")
    for path in ("/accounts/alpha/statement", "/accounts/alpha/statement.csv", "/accounts/alpha/statement.beancount"):
        response = client.get(f"{path}?{query}")
        assert response.status_code == 400, path
        page = response.get_data(as_text=True)
        assert field_errors(page, field_id) == [message]
        assert f'aria-describedby="{field_id}-errors"' in page
        typed = dict(part.split("=") for part in query.split("&"))
        if field_id in ("from", "to"):
            assert f'value="{typed[field_id]}"' in page


@pytest.mark.parametrize(
    ("role", "code", "status"),
    [
        ("treasurer_b", "alpha", 404),
        ("viewer_a", "beta", 404),
        ("admin", "no-such-account", 404),
        ("treasurer_a", "commons", 404),
        ("viewer_a", "alpha", 200),
        ("auditor", "commons", 200),
        ("coordinator", "beta", 200),
    ],
)
def test_only_readers_of_the_accounts_member_see_its_statement(app: Flask, role: str, code: str, status: int) -> None:
    client = client_as(app, role)
    for suffix in ("", ".csv", ".beancount"):
        response = client.get(f"/accounts/{code}/statement{suffix}")
        assert response.status_code == status, suffix
        if status == 404:
            assert "t1" not in response.get_data(as_text=True)


def test_the_csv_download_holds_the_whole_filtered_period_with_plain_amounts_and_the_unit(app: Flask) -> None:
    client = client_as(app, "treasurer_a")
    expected = [line for line in ledger_lines(app) if line["day"] >= dt.date(2026, 1, 2)]
    response = client.get("/accounts/alpha/statement.csv?from=2026-01-02")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == 'attachment; filename="statement-alpha-2026-01-02-to-' + str(dt.date.today()) + '.csv"'
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert len(rows) == len(expected) > statements.STATEMENT_PAGE_LINES
    assert [(row["description"], row["amount"], row["balance_after"], row["counterparty"], row["unit"]) for row in rows] == [
        (line["description"], plain(line["amount"]), plain(line["balance_after"]), line["counterparty"], "TST") for line in expected
    ]
    assert any(row["amount"].startswith("-") for row in rows) and not any("," in row["amount"] for row in rows)


def beancount_balances(text: str, tmp_path: Path) -> dict[str, Decimal]:
    """Load a Beancount file as bean-check does (no errors allowed) and return each account's final balance."""
    from beancount import loader
    from beancount.core import realization

    path = tmp_path / "statement.beancount"
    path.write_text(text)
    check = subprocess.run([str(BEAN_CHECK), str(path)], capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr + text
    entries, load_errors, _options = loader.load_file(str(path))
    assert load_errors == []
    balances: dict[str, Decimal] = {}
    for real_account in realization.iter_children(realization.realize(entries)):
        for position in real_account.balance:
            balances[real_account.account] = position.units.number
    return balances


@pytest.mark.parametrize(
    "query",
    ["", "from=2026-01-04&to=2026-01-08", "from=2026-01-04&counterparty=commons", "to=2026-01-03&counterparty=beta", "from=2027-01-01"],
)
def test_the_beancount_download_passes_bean_check_and_ends_at_the_ledgers_closing_balance(app: Flask, tmp_path: Path, query: str) -> None:
    client = client_as(app, "auditor")
    response = client.get(f"/accounts/alpha/statement.beancount?{query}")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith('attachment; filename="statement-alpha')
    text = response.get_data(as_text=True)
    balances = beancount_balances(text, tmp_path)
    expected = ledger_lines(app)
    filters = dict(part.split("=") for part in query.split("&") if part)
    last_day = dt.date.fromisoformat(filters["to"]) if "to" in filters else dt.date.max
    closing = sum(line["amount"] for line in expected if line["day"] <= last_day)
    assert balances[beancount_account("member", "alpha")] == Decimal(plain(closing))
    first_day = dt.date.fromisoformat(filters["from"]) if "from" in filters else dt.date.min
    shown = [
        line
        for line in expected
        if first_day <= line["day"] <= last_day and filters.get("counterparty", line["counterparty"]) == line["counterparty"]
    ]
    assert text.count(' * "') == len(shown) + (1 if "from" in filters and any(line["day"] < first_day for line in expected) else 0) + (
        1 if "counterparty" in filters else 0
    )


def test_a_download_beyond_the_line_maximum_is_refused_with_a_clear_message(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    from webapp import statement_pages

    monkeypatch.setattr(statement_pages, "whole_statement", functools.partial(statements.whole_statement, lines_max=20))
    client = client_as(app, "treasurer_a")
    for suffix in (".csv", ".beancount"):
        response = client.get(f"/accounts/alpha/statement{suffix}?from=2026-01-02")
        assert response.status_code == 400
        assert "more than 20 lines" in html.unescape(response.get_data(as_text=True))
    assert client.get("/accounts/alpha/statement.csv?from=2026-01-13").status_code == 200  # a short period still fits


def test_a_statement_page_shows_dates_and_amounts_in_the_persons_language(app: Flask) -> None:
    client = client_as(app, "treasurer_a")
    client.post("/account/language", data={"csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', client.get("/account").get_data(as_text=True)).group(1), "language-locale": "es"})  # type: ignore[union-attr]
    page = client.get("/accounts/alpha/statement").get_data(as_text=True)
    last = ledger_lines(app)[-1]
    spanish = f"{abs(last['balance_after']) / 100:,.2f}".replace(",", "X").replace(".", ",").replace("X", ".")
    assert spanish in page
    assert "13/1/26" in page  # the last day, 2026-01-13, in Spanish short form
