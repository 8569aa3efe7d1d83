"""A treasurer's work in a real browser: log in, pay, be refused, accept a request, download a statement."""

from __future__ import annotations

import csv
import io
import re
import secrets
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from browser.conftest import OpenPage, Site, log_in
from browser.support import (
    OTHER_TREASURER,
    PAYEE,
    PAYEE_NAME,
    PAYER,
    PAYER_NAME,
    TREASURER,
    balance_of,
    expect,
    goto_ok,
    money,
    transfer_count,
    unit_of,
)

Screenshot = Callable[[Any, str], Path]
UUID_IN_PATH = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def accounts_table_balance(page: Any) -> str:
    """The balance shown in the first row of a dashboard's accounts table."""
    table = page.locator("table[aria-labelledby=accounts]")
    return str(table.locator("tbody tr").first.locator("td.amount").first.inner_text()).strip()


def test_a_treasurer_logs_in_pays_another_co_op_after_confirming_and_both_balances_change(
    open_page: OpenPage, site: Site, screenshot: Screenshot
) -> None:
    unit = unit_of(site)
    payer_before, payee_before = balance_of(site, PAYER), balance_of(site, PAYEE)
    amount_minor = 1234  # 12.34
    description = f"Flour sacks {secrets.token_hex(3)}"

    page = open_page()
    log_in(page, site, TREASURER)
    expect(page).to_have_url(re.compile(rf"/co-ops/{PAYER}$"))  # /dashboard sent one treasurer to their co-op
    expect(page.get_by_role("heading", level=1)).to_have_text(PAYER_NAME)
    assert accounts_table_balance(page) == money(payer_before, unit)

    page.get_by_role("link", name="Pay another co-op").click()
    expect(page).to_have_url(re.compile(rf"/co-ops/{PAYER}/pay$"))
    page.get_by_label("Co-op to pay").select_option(label=PAYEE_NAME)
    page.get_by_label("Amount").fill("12.34")
    page.get_by_label("Description").fill(description)
    screenshot(page, "pay-filled")
    page.get_by_role("button", name="Continue").click()

    # The confirmation: nothing paid yet, the balance after the payment shown.
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirm the payment")
    facts = page.locator("dl.facts")
    expect(facts).to_contain_text(money(amount_minor, unit))
    expect(facts).to_contain_text(money(payer_before - amount_minor, unit))
    screenshot(page, "pay-confirmation")
    assert balance_of(site, PAYER) == payer_before

    page.get_by_role("button", name="Confirm payment").click()
    expect(page).to_have_url(re.compile(rf"/transfers/{UUID_IN_PATH}$"))
    expect(page.get_by_role("status").first).to_contain_text(f"Paid {money(amount_minor, unit)} to {PAYEE_NAME}")
    screenshot(page, "transfer-receipt")

    page.goto(f"/co-ops/{PAYER}")
    assert accounts_table_balance(page) == money(payer_before - amount_minor, unit)
    expect(page.locator("table[aria-labelledby=recent]")).to_contain_text(description)

    # The payee's side, as its own treasurer sees it.
    payee_page = open_page(OTHER_TREASURER)
    goto_ok(payee_page, f"/co-ops/{PAYEE}")
    assert accounts_table_balance(payee_page) == money(payee_before + amount_minor, unit)
    expect(payee_page.locator("table[aria-labelledby=recent]")).to_contain_text(description)
    assert balance_of(site, PAYER) == payer_before - amount_minor
    assert balance_of(site, PAYEE) == payee_before + amount_minor


def test_a_payment_beyond_the_available_credit_is_refused_with_a_clear_message_and_nothing_paid(
    open_page: OpenPage, site: Site, screenshot: Screenshot
) -> None:
    unit = unit_of(site)
    transfers_before = transfer_count(site, PAYER)
    balance_before = balance_of(site, PAYER)
    page = open_page(TREASURER)
    goto_ok(page, f"/co-ops/{PAYER}/pay")
    page.get_by_label("Co-op to pay").select_option(label=PAYEE_NAME)
    page.get_by_label("Amount").fill("1000000.00")
    page.get_by_label("Description").fill("A whole farm")
    with page.expect_response(lambda response: response.request.method == "POST") as answer:
        page.get_by_role("button", name="Continue").click()
    assert answer.value.status == 400
    screenshot(page, "pay-refused")

    expect(page.get_by_role("heading", level=1)).to_have_text("Pay another co-op")  # still the form, no confirmation
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("There is not enough available credit for this payment.")
    # The message is also next to the amount, tied to it for screen readers, and what was typed is kept.
    amount = page.get_by_label("Amount")
    expect(amount).to_have_attribute("aria-invalid", "true")
    expect(amount).to_have_value("1000000.00")
    errors_id = (amount.get_attribute("aria-describedby") or "").split()[-1]
    expect(page.locator(f"#{errors_id}")).to_contain_text("There is not enough available credit")
    expect(page.get_by_label("Description")).to_have_value("A whole farm")
    expect(page.get_by_label("Co-op to pay")).to_have_value(PAYEE)
    assert transfer_count(site, PAYER) == transfers_before
    assert balance_of(site, PAYER) == balance_before
    assert money(balance_before, unit) in accounts_balance_on_dashboard(open_page, TREASURER)


def accounts_balance_on_dashboard(open_page: OpenPage, email: str) -> str:
    page = open_page(email)
    goto_ok(page, f"/co-ops/{PAYER}")
    return accounts_table_balance(page)


def test_a_treasurer_accepts_a_request_another_co_op_sent_and_pays_it(
    open_page: OpenPage, site: Site, screenshot: Screenshot
) -> None:
    # The bakery asks Tierra Viva to pay (the demo's bakery accepts Tierra Viva's requests
    # automatically, so this way round the request waits for a person's answer).
    unit = unit_of(site)
    amount_minor = 725  # 7.25
    description = f"Bread for the farm shop {secrets.token_hex(3)}"
    asker = open_page(TREASURER)
    goto_ok(asker, f"/co-ops/{PAYER}/requests/new")
    asker.get_by_label("Co-op asked to pay").select_option(label=PAYEE_NAME)
    asker.get_by_label("Amount").fill("7.25")
    asker.get_by_label("Description").fill(description)
    screenshot(asker, "request-new-filled")
    asker.get_by_role("button", name="Send the request").click()
    expect(asker).to_have_url(re.compile(rf"/requests/{UUID_IN_PATH}$"))
    request_id = uuid.UUID(asker.url.rsplit("/", 1)[1])

    asked_before, asking_before = balance_of(site, PAYEE), balance_of(site, PAYER)
    page = open_page(OTHER_TREASURER)
    goto_ok(page, f"/co-ops/{PAYEE}")
    expect(page.locator("table[aria-labelledby=waiting]")).to_contain_text(description)
    goto_ok(page, f"/requests/{request_id}")
    screenshot(page, "request")
    page.get_by_role("button", name=f"Accept and pay {money(amount_minor, unit)}").click()
    expect(page.get_by_role("status").first).to_contain_text("Request accepted")
    screenshot(page, "request-accepted")

    goto_ok(page, f"/co-ops/{PAYEE}")
    assert accounts_table_balance(page) == money(asked_before - amount_minor, unit)
    expect(page.locator("table[aria-labelledby=waiting]")).not_to_contain_text(description)
    expect(page.locator("table[aria-labelledby=recent]")).to_contain_text(description)
    assert balance_of(site, PAYER) == asking_before + amount_minor

    # The asking co-op's treasurer sees the money arrive.
    goto_ok(asker, f"/co-ops/{PAYER}")
    assert accounts_table_balance(asker) == money(asking_before + amount_minor, unit)
    expect(asker.locator("table[aria-labelledby=recent]")).to_contain_text(description)


def test_a_treasurer_downloads_the_statement_as_csv_and_it_holds_the_payment(
    open_page: OpenPage, site: Site, screenshot: Screenshot
) -> None:
    unit = unit_of(site)
    description = f"Statement check {secrets.token_hex(3)}"
    page = open_page(TREASURER)
    # A payment of our own, through the pages, to find in the download.
    goto_ok(page, f"/co-ops/{PAYER}/pay")
    page.get_by_label("Co-op to pay").select_option(label=PAYEE_NAME)
    page.get_by_label("Amount").fill("3.21")
    page.get_by_label("Description").fill(description)
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("button", name="Confirm payment").click()
    expect(page).to_have_url(re.compile(rf"/transfers/{UUID_IN_PATH}$"))
    transfer_id = page.url.rsplit("/", 1)[1]

    goto_ok(page, f"/accounts/{PAYER}/statement")
    expect(page.locator("table")).to_contain_text(description)
    expect(page.locator("table")).to_contain_text(money(-321, unit))
    screenshot(page, "statement-with-payment")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download as CSV").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".csv")
    content = Path(download.path()).read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(content)))
    assert rows, content[:500]
    ours = [row for row in rows if row["description"] == description]
    assert len(ours) == 1, f"the download does not hold the payment once:\n{content[-1500:]}"
    assert (ours[0]["transfer_id"], ours[0]["counterparty"], ours[0]["amount"]) == (transfer_id, PAYEE, "-3.21"), ours[0]

    # The filters apply to the download too: this counterparty only.
    goto_ok(page, f"/accounts/{PAYER}/statement?counterparty={PAYEE}")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download as CSV").click()
    filtered = list(csv.DictReader(io.StringIO(Path(download_info.value.path()).read_text(encoding="utf-8-sig"))))
    assert any(row["description"] == description for row in filtered)
    assert {row["counterparty"] for row in filtered} == {PAYEE}
    assert len(filtered) < len(rows)
