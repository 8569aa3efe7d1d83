"""A realistic demo region: a dozen co-ops trading for several months.

Everything goes through the services, as real use would, with timestamps
spread over the past months. The random generator is seeded, so the demo
is the same on every machine (only shifted to end today). Demo users, one
per kind of role, share ``DEMO_PASSWORD``: a demo only, never a real region.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from mutualcredit import errors
from mutualcredit.db import utc_now
from mutualcredit.ledger import auto_accept, requests
from mutualcredit.invoices.demo import load_demo_invoices
from mutualcredit.ledger import service as ledger
from mutualcredit.ledger.recurring_demo import load_demo_recurring_payments
from mutualcredit.members import service as members
from mutualcredit.members.directory import load_demo_listings
from mutualcredit.pools.demo import load_demo_pools
from mutualcredit.region.models import Region
from mutualcredit.region.service import init_region
from mutualcredit.users import service as users
from mutualcredit.users.passwords import PRODUCTION_HASHING, PasswordHashing

DEMO_SEED = 20261123
DEMO_ACTOR = "demo"
DEMO_DECIMALS = 2
DEMO_NAMESPACE = uuid.UUID("3e0d2f55-0b1e-4d43-b1a5-d7a3c5a2c9f4")

# slug, name, trade, floor (whole units), what it sells, typical sale (whole units)
CO_OPS = (
    ("horno-comun", "Horno Común Bakery", "bakery", -1500, "bread and pastries", 120),
    ("tierra-viva", "Tierra Viva Farm", "organic farm", -3000, "vegetables and eggs", 350),
    ("rueda-libre", "Rueda Libre Cycles", "bicycle repair and delivery", -1000, "deliveries and repairs", 90),
    ("imprenta-sur", "Imprenta Sur", "printing", -2000, "print runs and signage", 400),
    ("nodo-digital", "Nodo Digital", "software and IT support", -2500, "websites and IT support", 600),
    ("cerveza-barrio", "Cervecería del Barrio", "brewery", -2000, "beer kegs", 300),
    ("limpieza-clara", "Limpieza Clara", "cleaning", -800, "cleaning services", 150),
    ("taller-madera", "Taller de Madera", "carpentry", -2500, "furniture and repairs", 700),
    ("semillero", "Semillero Childcare", "childcare", -1000, "childcare hours", 200),
    ("libros-cafe", "Libros & Café", "bookshop café", -1200, "catering and books", 180),
    ("hilo-textil", "Hilo Textil", "textiles", -1500, "workwear and uniforms", 450),
    ("sol-energia", "Sol Energía", "solar installation", -4000, "solar panels and maintenance", 1500),
)
# email, name, regional roles, (member, role) pairs
DEMO_USERS = (
    ("admin@ribera.example", "Ada (admin)", ("admin",), ()),
    ("coordinator@ribera.example", "Carmen (coordinator)", ("coordinator",), ()),
    ("auditor@ribera.example", "Aurelio (auditor)", ("auditor",), ()),
    ("treasurer@horno-comun.example", "Teresa (Horno Común)", (), (("horno-comun", "treasurer"),)),
    ("viewer@horno-comun.example", "Víctor (Horno Común)", (), (("horno-comun", "viewer"),)),
    ("treasurer@tierra-viva.example", "Tomás (Tierra Viva)", (), (("tierra-viva", "treasurer"),)),
)
DEMO_PASSWORD = "ribera-demo-password"
MONTHS = 5
TRANSFERS = 360
OPEN_REQUESTS = 7


def demo_id(*parts: object) -> uuid.UUID:
    return uuid.uuid5(DEMO_NAMESPACE, ":".join(str(part) for part in parts))


def load_demo(
    session: Session, *, now: dt.datetime | None = None, password_hashing: PasswordHashing = PRODUCTION_HASHING
) -> dict[str, int]:
    """Create the demo region in an empty database; returns what it created."""
    if session.scalar(select(Region)) is not None:
        session.rollback()
        raise errors.AlreadyExists("the database already holds a region; the demo needs an empty one")
    now = now or utc_now()
    start = now - dt.timedelta(days=30 * MONTHS)
    rng = random.Random(DEMO_SEED)
    init_region(
        session,
        slug="ribera",
        name="Ribera Co-operative Network",
        unit_code="RBC",
        unit_name="Ribera credit",
        unit_symbol="RC",
        decimals=DEMO_DECIMALS,
        default_locale="en",
        time_zone="Europe/Madrid",
        actor=DEMO_ACTOR,
    )
    for slug, name, trade, floor, offers, _ in CO_OPS:
        members.add_member(
            session,
            slug=slug,
            name=name,
            trade=trade,
            description=f"Offers {offers}.",
            floor=floor * 100,
            ceiling=-floor * 100 * 3,
            actor=DEMO_ACTOR,
            joined_at=start - dt.timedelta(days=rng.randint(1, 30)),
        )
    slugs = [co_op[0] for co_op in CO_OPS]
    typical = {co_op[0]: co_op[5] for co_op in CO_OPS}
    offers = {co_op[0]: co_op[4] for co_op in CO_OPS}
    posted = refused = 0
    moments = sorted(start + dt.timedelta(seconds=rng.uniform(0, (now - start).total_seconds() - 86_400)) for _ in range(TRANSFERS))
    for index, moment in enumerate(moments):
        seller = rng.choice(slugs)
        buyer = rng.choice([slug for slug in slugs if slug != seller])
        amount = max(100, int(rng.lognormvariate(0, 0.6) * typical[seller] * 100) // 5 * 5)
        spec = ledger.TransferSpec(
            id=demo_id("transfer", index),
            payer=buyer,
            payee=seller,
            amount_minor=amount,
            description=offers[seller].capitalize(),
        )
        try:
            ledger.create_transfer(session, spec, created_by=f"demo:{buyer}", now=moment)
            posted += 1
        except (errors.ExceedsFloor, errors.ExceedsCeiling):
            refused += 1  # a real treasurer would have been told no, too
    # A pending transfer (a reserved delivery) and one reversal of a mistake.
    ledger.create_transfer(
        session,
        ledger.TransferSpec(
            id=demo_id("pending", 1),
            payer="sol-energia",
            payee="taller-madera",
            amount_minor=45_000,
            description="Mounting frames, reserved until delivery",
            pending=True,
            expires_at=now + dt.timedelta(days=14),
        ),
        created_by="demo:sol-energia",
        now=now - dt.timedelta(days=2),
    )
    mistaken = ledger.create_transfer(
        session,
        ledger.TransferSpec(
            id=demo_id("mistake", 1),
            payer="libros-cafe",
            payee="imprenta-sur",
            amount_minor=9_900,
            description="Flyers (paid twice by mistake)",
        ),
        created_by="demo:libros-cafe",
        now=now - dt.timedelta(days=3),
    )
    ledger.reverse_transfer(
        session,
        mistaken.id,
        id=demo_id("reversal", 1),
        created_by="demo:imprenta-sur",
        description="Refund: flyers were paid twice",
        now=now - dt.timedelta(days=2, hours=20),
    )
    for index in range(OPEN_REQUESTS):
        payee = rng.choice(slugs)
        payer = rng.choice([slug for slug in slugs if slug != payee])
        requests.create_payment_request(
            session,
            id=demo_id("request", index),
            payee=payee,
            payer=payer,
            amount_minor=max(100, int(typical[payee] * rng.uniform(0.5, 1.5)) * 100),
            description=f"Invoice: {offers[payee]}",
            expires_at=now + dt.timedelta(days=rng.randint(7, 30)),
            created_by=f"demo:{payee}",
            now=now - dt.timedelta(hours=rng.randint(1, 120)),
        )
    # The bakery pays the farm's weekly invoices without asking, up to 500.00.
    auto_accept.add_rule(session, payer_account="horno-comun", payee_member="tierra-viva", amount_max_minor=50_000, actor=DEMO_ACTOR)
    for email, name, regional_roles, member_roles in DEMO_USERS:
        users.add_user(
            session,
            email=email,
            display_name=name,
            password=DEMO_PASSWORD,
            actor=DEMO_ACTOR,
            regional_roles=regional_roles,
            member_roles=member_roles,
            hashing=password_hashing,
            now=start,
        )
    load_demo_listings(session, actor=DEMO_ACTOR)
    invoice_counts = load_demo_invoices(
        session, [slug for slug, *_ in CO_OPS], today=now.date(), seed=DEMO_SEED, decimals=DEMO_DECIMALS
    )
    load_demo_recurring_payments(session, now=now, actor=DEMO_ACTOR)
    pool_counts = load_demo_pools(session, now=now, actor=DEMO_ACTOR)
    return {
        "members": len(CO_OPS),
        "transfers": posted,
        "refused": refused,
        "requests": OPEN_REQUESTS,
        "users": len(DEMO_USERS),
        "invoices": sum(invoice_counts.values()),
        "pools": pool_counts["pools"],
        "pool needs": pool_counts["needs"],
    }
