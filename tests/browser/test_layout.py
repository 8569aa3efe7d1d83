"""The main pages on a 360 px phone and a laptop screen, and moving through them with the keyboard."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from browser.conftest import OpenPage
from browser.support import DESKTOP, MAIN_PAGES, PHONE, TREASURER, MainPage, goto_ok
from mutualcredit.demo import DEMO_PASSWORD

# Elements sticking out past the right edge of the viewport, outside the scrolling table wrappers.
WIDE_ELEMENTS_SCRIPT = """
() => {
  const width = document.documentElement.clientWidth;
  const wide = [];
  for (const element of document.querySelectorAll('body *')) {
    if (element.closest('.table-wrap') && !element.matches('.table-wrap')) continue;
    const box = element.getBoundingClientRect();
    if (box.width > 0 && box.right > width + 0.5) {
      wide.push(`${element.tagName.toLowerCase()}${element.id ? '#' + element.id : ''}` +
                `${element.className && typeof element.className === 'string' ? '.' + element.className.trim().split(/\\s+/).join('.') : ''}` +
                ` right=${Math.round(box.right)}: ${(element.textContent || '').trim().slice(0, 60)}`);
    }
  }
  return wide.slice(0, 15);
}
"""


@pytest.mark.parametrize("main_page", MAIN_PAGES, ids=lambda main_page: main_page.name)
def test_a_main_page_fits_a_360_px_phone_without_sideways_scrolling(
    open_page: OpenPage, screenshot: Callable[[Any, str], Path], main_page: MainPage
) -> None:
    page = open_page(main_page.email, viewport=PHONE)
    goto_ok(page, main_page.path)
    screenshot(page, f"{main_page.name}-360")
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= PHONE["width"], (
        f"{main_page.path} is {scroll_width} px wide on a {PHONE['width']} px phone; too wide: "
        + "; ".join(page.evaluate(WIDE_ELEMENTS_SCRIPT))
    )


@pytest.mark.parametrize("main_page", MAIN_PAGES, ids=lambda main_page: main_page.name)
def test_a_main_page_has_one_main_heading_and_the_stylesheets_on_a_laptop_screen(
    open_page: OpenPage, screenshot: Callable[[Any, str], Path], main_page: MainPage
) -> None:
    page = open_page(main_page.email, viewport=DESKTOP)
    goto_ok(page, main_page.path)
    screenshot(page, f"{main_page.name}-1280")
    assert page.locator("h1").count() == 1
    # Pico's base and the app's own rules both arrived (the CSP lets only same-origin styles in).
    sheets = page.evaluate("[...document.styleSheets].map(sheet => sheet.href && new URL(sheet.href).pathname)")
    assert sheets == ["/static/vendor/pico/pico.min.css", "/static/style.css"]
    assert page.evaluate("getComputedStyle(document.body).fontFamily").startswith("system-ui")


def focused(page: Any) -> dict[str, Any]:
    """What has the keyboard focus: its tag, id, classes, text, box and outline."""
    info: dict[str, Any] = page.evaluate(
        """() => {
          const element = document.activeElement;
          const box = element.getBoundingClientRect();
          const style = getComputedStyle(element);
          return {tag: element.tagName.toLowerCase(), id: element.id, classes: [...element.classList],
                  text: (element.textContent || '').trim(), href: element.getAttribute('href'),
                  visible: box.width > 0 && box.height > 0 && box.right > 0 && box.bottom > 0
                           && box.left < window.innerWidth && box.top < window.innerHeight,
                  outline: style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0
                           || style.boxShadow !== 'none'};
        }"""
    )
    return info


def test_the_first_tab_reaches_a_visible_skip_link_that_jumps_to_the_content(open_page: OpenPage) -> None:
    page = open_page(None, viewport=PHONE)
    goto_ok(page, "/login")
    page.keyboard.press("Tab")
    skip = focused(page)
    assert skip["classes"] == ["skip-link"] and skip["href"] == "#content"
    assert skip["visible"], "the skip link stays off screen when it has the focus"
    assert skip["outline"], "the focused skip link shows no focus ring"
    page.keyboard.press("Enter")
    assert page.url.endswith("#content")
    # The next Tab starts from the content: the login form's first field, not the menu.
    page.keyboard.press("Tab")
    assert focused(page)["id"] == "email"


def test_the_keyboard_alone_reaches_the_login_fields_and_logs_in(open_page: OpenPage) -> None:
    page = open_page(None, viewport=DESKTOP)
    goto_ok(page, "/login")
    order = []
    for _ in range(12):
        page.keyboard.press("Tab")
        now = focused(page)
        order.append(now["id"] or now["text"])
        if now["id"] == "email":
            break
    assert order[-1] == "email", f"Tab never reached the email field; it went through {order}"
    assert focused(page)["outline"], "the focused field shows no focus ring"
    page.keyboard.type(TREASURER)
    page.keyboard.press("Tab")
    assert focused(page)["id"] == "password"
    page.keyboard.type(DEMO_PASSWORD)
    page.keyboard.press("Tab")
    button = focused(page)
    assert button["tag"] == "button" and button["text"] == "Log in"
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: "/login" not in url)
    assert page.get_by_role("button", name="Log out").is_visible()
