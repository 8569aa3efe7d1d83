"""Resource pools in a real browser: a treasurer declares a need on a slot round; a coordinator runs the solver."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from browser.conftest import OpenPage, Site
from browser.support import COORDINATOR, PAYER, TREASURER, expect, goto_ok
from mutualcredit.pools import service as pools

Screenshot = Callable[[Any, str], Path]


def test_a_treasurer_declares_a_need_on_slots_with_a_zone_and_sees_it(open_page: OpenPage, site: Site,
                                                                      screenshot: Screenshot) -> None:
    why = f"Market stall {secrets.token_hex(3)}"
    page = open_page(TREASURER)
    goto_ok(page, "/pools")
    page.get_by_role("link", name="Vans, next week").click()
    expect(page).to_have_url(re.compile(r"/pools/rounds/delivery-vans-1$"))
    form = page.locator("form[action$='/needs']")
    form.get_by_label("Desired quantity", exact=True).fill("1")
    form.get_by_label("Priority tier").select_option("2")
    form.get_by_label("north-van-day5, north, day 5").check()
    form.get_by_label("Zone").select_option("north")
    form.get_by_label("Why you need it (members read this)").fill(why)
    screenshot(page, "pool-need-filled")
    form.get_by_role("button", name="Declare need").click()
    expect(page.get_by_role("status")).to_contain_text("Need declared: 1 van-day for Horno Común Bakery.")
    expect(page.locator("table[aria-labelledby=needs]")).to_contain_text(why)
    with site.session() as session:
        mine = [need for need in pools.list_needs(session, "delivery-vans-1", member=PAYER) if need.justification == why]
    assert len(mine) == 1 and mine[0].acceptable == ("north-van-day5",) and mine[0].zone == "north" and mine[0].tier == 2


def test_a_coordinator_runs_a_round_and_follows_it_to_the_result(open_page: OpenPage, site: Site) -> None:
    with site.session() as session:
        reference = pools.open_round(session, "seed-bank", title=f"Browser round {secrets.token_hex(2)}", actor="test").reference
        pools.add_contribution(session, reference, member="tierra-viva", quantity_minor=4_000, actor="test")
        pools.declare_need(session, reference, member="horno-comun", need=pools.NeedInput(3_000), actor="test")
        pools.declare_need(session, reference, member="semillero", need=pools.NeedInput(3_000), actor="test")
    page = open_page(COORDINATOR)
    goto_ok(page, f"/pools/rounds/{reference}")
    page.get_by_role("button", name="Close for needs").click()
    expect(page.get_by_role("status")).to_contain_text("no longer takes needs")
    page.get_by_label("Why (kept with the run)").fill("browser test")
    page.get_by_role("button", name="Run the solver").click()
    expect(page).to_have_url(re.compile(rf"/pools/rounds/{reference}/runs/1$"))
    # The page refreshes itself until the run is done (no JavaScript).
    expect(page.locator("dl.facts")).to_contain_text("done: optimal", timeout=60_000)
    page.get_by_role("link", name="Back to the round").click()
    expect(page.locator("figure.result-chart svg")).to_be_visible()
    # 40 kg for two needs of 30 kg, under the seed bank's cap of a quarter each: 10 kg each.
    expect(page.locator("table[aria-labelledby=explanation]")).to_contain_text("30.00 kg")
    expect(page.locator("table[aria-labelledby=explanation]")).to_contain_text("10.00 kg")
