"""What the browser tests share: the people, the main pages, reading figures, and axe-core."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mutualcredit.ledger import service as ledger
from mutualcredit.money import Unit, format_amount
from mutualcredit.region.service import get_region

try:
    from playwright.sync_api import expect
except ImportError:  # then the `browser` fixture skips each test with the reason (or fails it in CI)
    expect = None  # type: ignore[assignment]
else:
    expect.set_options(timeout=15_000)  # as long as any other wait (conftest.TIMEOUT_MS): the machine may be busy

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from browser.conftest import Site

HERE = Path(__file__).resolve().parent
AXE_SCRIPT = HERE / "vendor" / "axe-core" / "axe.min.js"
# axe-core's impacts, mildest first; these two fail a test.
FAILING_IMPACTS = frozenset({"serious", "critical"})

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 360, "height": 740}

# The demo's people (password mutualcredit.demo.DEMO_PASSWORD) and the ones the tests add.
TREASURER = "treasurer@horno-comun.example"  # treasurer of Horno Común Bakery
OTHER_TREASURER = "treasurer@tierra-viva.example"  # treasurer of Tierra Viva Farm
COORDINATOR = "coordinator@ribera.example"
PAYER = "horno-comun"  # the bakery: its slug and its account's code
PAYEE = "tierra-viva"
PAYER_NAME = "Horno Común Bakery"
PAYEE_NAME = "Tierra Viva Farm"
# Viewers of the bakery who read in Spanish and in French (the choice is stored on the user).
SPANISH_READER = "lectora@horno-comun.example"
FRENCH_READER = "lecteur@horno-comun.example"
EXTRA_USERS = (
    (SPANISH_READER, "Lucía (lectora)", ((PAYER, "viewer"),)),
    (FRENCH_READER, "Louis (lecteur)", ((PAYER, "viewer"),)),
)


@dataclass(frozen=True, slots=True)
class MainPage:
    """A page every visitor of its kind reaches from the menu, and who looks at it."""

    name: str
    path: str
    email: str | None  # None: not logged in


MAIN_PAGES = (
    MainPage("login", "/login", None),
    MainPage("members", "/", TREASURER),
    MainPage("dashboard", f"/co-ops/{PAYER}", TREASURER),
    MainPage("pay", f"/co-ops/{PAYER}/pay", TREASURER),
    MainPage("requests", f"/co-ops/{PAYER}/requests", TREASURER),
    MainPage("new-request", f"/co-ops/{PAYER}/requests/new", TREASURER),
    MainPage("statement", f"/accounts/{PAYER}/statement", TREASURER),
    MainPage("directory", "/directory", TREASURER),
    MainPage("invoices", "/invoices", TREASURER),
    MainPage("clearing", "/clearing", COORDINATOR),
    MainPage("coordination", "/coordination", COORDINATOR),
    MainPage("bulk-payments", f"/co-ops/{PAYER}/payments/bulk", TREASURER),
    MainPage("recurring", f"/co-ops/{PAYER}/recurring", TREASURER),
    MainPage("tokens", "/tokens", TREASURER),
    MainPage("my-account", "/account", TREASURER),
)


def slug_of(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def balance_of(site: Site, code: str) -> int:
    """An account's balance in minor units, read through the ledger's service."""
    with site.session() as session:
        return ledger.get_account(session, code).balance


def unit_of(site: Site) -> Unit:
    with site.session() as session:
        return get_region(session).unit


def transfer_count(site: Site, code: str) -> int:
    """How many transfers touch an account (up to the ledger's page size, plenty for these tests)."""
    with site.session() as session:
        return len(ledger.list_transfers(session, accounts=[code], limit=ledger.TRANSFER_PAGE_SIZE_MAX))


def money(amount_minor: int, unit: Unit, locale: str = "en") -> str:
    """An amount as the pages show it in ``locale`` (Babel's number format, the unit's symbol)."""
    return format_amount(amount_minor, unit, locale)


def goto_ok(page: Page, path: str) -> None:
    """Open a page and insist that it answered 200 (a missing page fails here, with its status)."""
    response = page.goto(path)
    assert response is not None, f"no response for {path}"
    assert response.status == 200, f"GET {path} answered {response.status}"


def run_axe(page: Page) -> list[dict[str, Any]]:
    """axe-core's violations on the page as it is now (the context needs ``bypass_csp=True``)."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE_SCRIPT))
    result: dict[str, Any] = page.evaluate(
        "async () => await axe.run(document, {resultTypes: ['violations']})"
    )
    violations: list[dict[str, Any]] = result["violations"]
    return violations


def failing(violations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [violation for violation in violations if violation.get("impact") in FAILING_IMPACTS]


def describe_violations(violations: list[dict[str, Any]]) -> str:
    """Each violation's id, impact, help and the nodes it concerns (selector and axe's summary)."""
    lines = []
    for violation in violations:
        lines.append(f"{violation['id']} ({violation.get('impact')}): {violation['help']} <{violation['helpUrl']}>")
        for node in violation["nodes"]:
            target = json.dumps(node.get("target"), ensure_ascii=False)
            summary = " ".join((node.get("failureSummary") or "").split())
            lines.append(f"    {target}: {summary}")
            lines.append(f"      {node.get('html', '')[:200]}")
    return "\n".join(lines)
