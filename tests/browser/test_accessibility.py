"""axe-core on the main pages: no serious or critical violation, on a laptop screen and on a phone.

axe-core (``vendor/axe-core/axe.min.js``, MPL-2.0, unmodified) is injected
into the page after it loaded; the contexts bypass the app's Content
Security Policy for that, which allows no inline script. A failure prints
each violation's rule id, impact, help page and the nodes concerned. The
milder ones (moderate, minor) are printed too, without failing.
"""

from __future__ import annotations

import re

import pytest

from browser.conftest import OpenPage
from browser.support import (
    COORDINATOR,
    DESKTOP,
    PAYEE_NAME,
    PAYER,
    PHONE,
    TREASURER,
    MainPage,
    describe_violations,
    expect,
    failing,
    goto_ok,
    run_axe,
)

AXE_PAGES = (
    MainPage("login", "/login", None),
    MainPage("dashboard", f"/co-ops/{PAYER}", TREASURER),
    MainPage("pay", f"/co-ops/{PAYER}/pay", TREASURER),
    MainPage("statement", f"/accounts/{PAYER}/statement", TREASURER),
    MainPage("requests", f"/co-ops/{PAYER}/requests", TREASURER),
    MainPage("new-request", f"/co-ops/{PAYER}/requests/new", TREASURER),
    MainPage("directory", "/directory", TREASURER),
    MainPage("invoices", "/invoices", TREASURER),
    MainPage("clearing", "/clearing", COORDINATOR),
    MainPage("coordination", "/coordination", COORDINATOR),
    MainPage("bulk-payments", f"/co-ops/{PAYER}/payments/bulk", TREASURER),
    MainPage("recurring", f"/co-ops/{PAYER}/recurring", TREASURER),
    MainPage("members", "/", TREASURER),
    MainPage("my-account", "/account", TREASURER),
    MainPage("pools", "/pools", TREASURER),
    MainPage("pool-round-open", "/pools/rounds/seed-bank-2", TREASURER),
    MainPage("pool-round-slots", "/pools/rounds/delivery-vans-1", TREASURER),
    MainPage("pool-round-committed", "/pools/rounds/seed-bank-1", COORDINATOR),
)
VIEWPORTS = {"laptop": DESKTOP, "phone": PHONE}


def assert_no_serious_violations(page: object, where: str) -> None:
    violations = run_axe(page)  # type: ignore[arg-type]
    serious = failing(violations)
    if violations:
        print(f"axe on {where}:\n{describe_violations(violations)}")
    assert not serious, f"axe found serious or critical violations on {where}:\n{describe_violations(serious)}"


@pytest.mark.parametrize("viewport", VIEWPORTS, ids=str)
@pytest.mark.parametrize("main_page", AXE_PAGES, ids=lambda main_page: main_page.name)
def test_axe_finds_no_serious_violation_on_a_main_page(open_page: OpenPage, main_page: MainPage, viewport: str) -> None:
    page = open_page(main_page.email, viewport=VIEWPORTS[viewport], bypass_csp=True)
    goto_ok(page, main_page.path)
    assert_no_serious_violations(page, f"{main_page.path} ({viewport})")


@pytest.mark.parametrize("viewport", VIEWPORTS, ids=str)
def test_axe_finds_no_serious_violation_on_the_payment_confirmation_or_a_refused_payment(
    open_page: OpenPage, viewport: str
) -> None:
    page = open_page(TREASURER, viewport=VIEWPORTS[viewport], bypass_csp=True)
    goto_ok(page, f"/co-ops/{PAYER}/pay")
    page.get_by_label("Co-op to pay").select_option(label=PAYEE_NAME)
    page.get_by_label("Amount").fill("1.00")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirm the payment")
    assert_no_serious_violations(page, f"the confirmation ({viewport})")

    page.get_by_role("button", name="Change").click()
    page.get_by_label("Amount").fill("99999999")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("alert")).to_be_visible()
    assert_no_serious_violations(page, f"a refused payment ({viewport})")


def test_axe_finds_no_serious_violation_in_the_dark_colour_scheme(open_page: OpenPage) -> None:
    """Pico follows the system's dark scheme; the app's own colours must keep their contrast there too."""
    page = open_page(TREASURER, color_scheme="dark", bypass_csp=True)
    for path in (f"/co-ops/{PAYER}", f"/accounts/{PAYER}/statement", "/login"):
        goto_ok(page, path)
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert max(int(part) for part in re.findall(r"\d+", background)[:3]) < 64, f"not dark: {background}"
        assert_no_serious_violations(page, f"{path} (dark)")
