"""Demo pools among the demo co-ops: a gift seed bank and priced delivery-van days.

Everything goes through the services with fixed ids and times relative to
``now``, so the demo is the same on every machine:

- **Seed bank** (divisible, kg with 2 decimals, a gift pool, leximin on the
  share of need met, a member gets at most a quarter of a round): last
  month's round was contributed, declared, solved, reviewed and committed;
  this month's round is open with needs declared (essential minimums, a
  second tier) and two contributions.
- **Delivery vans** (slots: van-days of two vans in two zones, priced in
  credit, leximin): next week's round is open; the cycle co-op contributes
  the van-days (paid), five co-ops declare needs with zones, day windows,
  one all-or-nothing need and a second tier. A coordinator closes it and
  runs the solver from the round's page.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy.orm import Session

from mutualcredit.pools import service
from mutualcredit.pools.problem import SlotSpec

DEMO_NAMESPACE = uuid.UUID("7c1d9a3e-2f4b-4e6a-8d0c-5b9e1f2a3c47")
DEMO_ACTOR = "demo"

# Seed bank: (member, desired kg, essential minimum kg, tier, why)
SEED_PAST_NEEDS = (
    ("tierra-viva", "60.00", "20.00", 1, "Spring sowing of the market garden"),
    ("horno-comun", "15.00", "0", 2, "Herb beds behind the bakery"),
    ("semillero", "12.50", "5.00", 1, "The children's vegetable patch"),
    ("libros-cafe", "20.00", "0", 2, "Window boxes"),
)
SEED_OPEN_NEEDS = (
    ("tierra-viva", "80.00", "15.00", 1, "Winter crops for the weekly veg boxes"),
    ("semillero", "10.00", "4.00", 1, "Planting with the children"),
    ("horno-comun", "18.00", "0", 2, "Rye trial for our sourdough"),
    ("cerveza-barrio", "25.00", "0", 2, "Hops garden"),
    ("taller-madera", "8.00", "0", 2, "Green roof on the workshop"),
)
# Delivery vans: van-days of the cycle co-op's two vans, days 1-5 of next week.
VAN_SLOTS = tuple(
    SlotSpec(f"{van}-day{day}", 1, zone, day, day + 1)
    for van, zone in (("north-van", "north"), ("south-van", "south"))
    for day in range(1, 6)
)
# (member, days wanted, minimum, tier, zone, window, all or nothing, why)
VAN_NEEDS = (
    ("tierra-viva", 3, 1, 1, "north", (1, 4), False, "Veg-box rounds early in the week"),
    ("horno-comun", 2, 0, 1, "north", None, False, "Bread to the school canteens"),
    ("cerveza-barrio", 2, 0, 2, "south", (4, 6), True, "A festival order: both days or none"),
    ("taller-madera", 2, 1, 1, "south", None, False, "Delivering two wardrobes"),
    ("sol-energia", 3, 0, 2, "south", None, False, "Panels to three roofs"),
)


def _need_id(*parts: object) -> uuid.UUID:
    return uuid.uuid5(DEMO_NAMESPACE, ":".join(str(part) for part in parts))


def _kg(text: str) -> int:
    whole, _, fraction = text.partition(".")
    return int(whole) * 100 + int((fraction + "00")[:2])


def load_demo_pools(session: Session, *, now: dt.datetime, actor: str = DEMO_ACTOR) -> dict[str, int]:
    """Create the demo pools and rounds (see the module docstring); returns what it created."""
    service.create_pool(
        session, slug="seed-bank", name="Seed bank", kind="divisible", unit="kg", decimals=2, price_minor=0,
        description="Seed saved by member co-ops, shared each month by need. A gift pool: no credit moves.",
        policy=service.PolicyInput(rule="leximin", member_cap_share="1/4", review_window_hours=72, time_limit_s=30),
        actor=actor,
    )
    past_start = now - dt.timedelta(days=35)
    past = service.open_round(session, "seed-bank", title="Seed bank, last month", actor=actor, now=past_start)
    for member, quantity in (("tierra-viva", "70.00"), ("semillero", "15.00"), ("libros-cafe", "5.00")):
        service.add_contribution(session, past.reference, member=member, quantity_minor=_kg(quantity), actor=actor,
                                 note="Saved from last season", now=past_start + dt.timedelta(days=1))
    _declare_seed(session, past.reference, SEED_PAST_NEEDS, "past", past_start + dt.timedelta(days=2))
    service.close_round(session, past.reference, actor=actor, now=past_start + dt.timedelta(days=7))
    service.run_round(session, past.reference, actor=actor, reason="monthly round")
    service.start_review(session, past.reference, actor=actor, now=past_start + dt.timedelta(days=8))
    service.object_to_round(
        session, past.reference, member="tierra-viva", actor="demo:tierra-viva", now=past_start + dt.timedelta(days=9),
        reason="The quarter cap left us 22.50 kg of the 60 we need for spring sowing while 20 kg stayed unshared. "
        "We accept this round, but ask the assembly to let caps give way to essential needs.",
    )
    service.commit_round(session, past.reference, actor=actor, now=past_start + dt.timedelta(days=12))

    current = service.open_round(session, "seed-bank", title="Seed bank, this month", actor=actor,
                                 needs_close_at=now + dt.timedelta(days=10), now=now - dt.timedelta(days=3))
    for member, quantity in (("tierra-viva", "55.00"), ("horno-comun", "12.00")):
        service.add_contribution(session, current.reference, member=member, quantity_minor=_kg(quantity), actor=actor,
                                 now=now - dt.timedelta(days=2))
    _declare_seed(session, current.reference, SEED_OPEN_NEEDS, "open", now - dt.timedelta(days=1))

    service.create_pool(
        session, slug="delivery-vans", name="Delivery vans", kind="slots", unit="van-day", price_minor=3_500,
        description="Rueda Libre's two electric vans, one in each zone, shared by the day. 35.00 per van-day, "
        "paid to Rueda Libre when a round is committed.",
        policy=service.PolicyInput(rule="leximin", review_window_hours=24, time_limit_s=30),
        actor=actor,
    )
    vans = service.open_round(session, "delivery-vans", title="Vans, next week", actor=actor,
                              needs_close_at=now + dt.timedelta(days=4), now=now - dt.timedelta(days=1))
    service.add_contribution(session, vans.reference, member="rueda-libre", slots=VAN_SLOTS, is_paid=True, actor=actor,
                             note="Both vans, Monday to Friday", now=now - dt.timedelta(days=1))
    for member, days, minimum, tier, zone, window, whole, why in VAN_NEEDS:
        service.declare_need(
            session, vans.reference, member=member, actor=f"demo:{member}", need_id=_need_id("vans", member),
            need=service.NeedInput(desired_minor=days, minimum_minor=minimum, tier=tier, zone=zone, window=window,
                                   all_or_nothing=whole, justification=why),
            now=now - dt.timedelta(hours=12),
        )
    return {"pools": 2, "rounds": 3, "needs": len(SEED_PAST_NEEDS) + len(SEED_OPEN_NEEDS) + len(VAN_NEEDS)}


def _declare_seed(session: Session, reference: str, needs: tuple, label: str, when: dt.datetime) -> None:  # type: ignore[type-arg]
    for member, desired, minimum, tier, why in needs:
        service.declare_need(
            session, reference, member=member, actor=f"demo:{member}", need_id=_need_id(label, member),
            need=service.NeedInput(desired_minor=_kg(desired), minimum_minor=_kg(minimum), tier=tier, justification=why),
            now=when,
        )
