"""Pages in Spanish and French: the menu and headings translated, amounts written the locale's way."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from babel import numbers

from browser.conftest import OpenPage, Site
from browser.support import FRENCH_READER, PAYER, PAYER_NAME, SPANISH_READER, expect, goto_ok, money, unit_of
from mutualcredit.ledger import service as ledger

Screenshot = Callable[[Any, str], Path]


def bakery_row(page: Any) -> Any:
    return page.get_by_role("row").filter(has_text=PAYER_NAME)


def figures(site: Site) -> tuple[int, int]:
    """The bakery's balance and available credit, as the members page adds them up."""
    with site.session() as session:
        account = ledger.get_account(session, PAYER)
    return account.balance, account.available_minor or 0


def test_a_person_chooses_spanish_on_their_account_page_and_reads_spanish_pages_and_amounts(
    open_page: OpenPage, site: Site, screenshot: Screenshot
) -> None:
    page = open_page(SPANISH_READER, locale="en-GB")  # an English browser: the choice on the account wins
    goto_ok(page, "/account")
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    page.get_by_label("Language").select_option(label="Español")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status").first).to_be_visible()  # "Language saved." (said in the language it was chosen in)
    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(page.get_by_role("button", name="Cerrar sesión")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_have_text("Mi cuenta")

    goto_ok(page, "/")
    screenshot(page, "members-es")
    expect(page.get_by_role("link", name="Miembros")).to_be_visible()
    unit = unit_of(site)
    balance, available = figures(site)
    row = bakery_row(page)
    for amount_minor in (balance, available):
        spanish = money(amount_minor, unit, "es")
        assert numbers.get_decimal_symbol("es") == "," and "," in spanish
        assert spanish != money(amount_minor, unit, "en")
        expect(row).to_contain_text(spanish)


def test_a_french_browser_gets_french_pages_with_narrow_spaces_between_thousands(
    open_page: OpenPage, site: Site, screenshot: Screenshot
) -> None:
    page = open_page(FRENCH_READER, locale="fr-FR")  # no choice made: the browser's Accept-Language decides
    goto_ok(page, f"/co-ops/{PAYER}")
    screenshot(page, "dashboard-fr")
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(page.get_by_role("button", name="Se déconnecter")).to_be_visible()
    expect(page.get_by_role("link", name="Membres")).to_be_visible()

    # The bakery's floor (-1,500.00 in English) is over a thousand: French groups it with a narrow no-break space.
    unit = unit_of(site)
    with site.session() as session:
        floor = ledger.get_account(session, PAYER).floor
    assert floor is not None and abs(floor) >= 1000 * 10**unit.decimals
    french = money(floor, unit, "fr")
    assert numbers.get_group_symbol("fr") == "\u202f" and "\u202f" in french and "," in french
    accounts = page.locator("table[aria-labelledby=accounts]")
    expect(accounts).to_contain_text(french)
    expect(accounts).not_to_contain_text(money(floor, unit, "en"))
    balance, _ = figures(site)
    expect(accounts).to_contain_text(money(balance, unit, "fr"))

    # The same person, with an English browser, reads English again.
    english = open_page(FRENCH_READER, locale="en-GB")
    goto_ok(english, "/")
    expect(english.get_by_role("button", name="Log out")).to_be_visible()
    expect(bakery_row(english)).to_contain_text(money(balance, unit, "en"))
