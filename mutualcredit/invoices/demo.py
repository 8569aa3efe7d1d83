"""Demo invoices among the demo co-ops: trade credit with cycles for a clearing run to cancel.

Deterministic (seeded), recorded through the services. Most invoices are
confirmed; a few wait for their debtor and one is disputed, so the pages
show every state. Three cycles are built in on purpose (bakery → farm →
brewery → bakery, and two more), among other invoices that form cycles of
their own by chance.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict

from sqlalchemy.orm import Session

from mutualcredit.invoices import service
from mutualcredit.invoices.service import InvoiceDraft

# Each (debtor, creditor, whole units): the debtor owes the creditor.
DESIGNED_CYCLES = (
    (("horno-comun", "tierra-viva", 840), ("tierra-viva", "cerveza-barrio", 610), ("cerveza-barrio", "horno-comun", 450)),
    (("imprenta-sur", "nodo-digital", 1_200), ("nodo-digital", "taller-madera", 980), ("taller-madera", "hilo-textil", 700), ("hilo-textil", "imprenta-sur", 520)),
    (("sol-energia", "libros-cafe", 300), ("libros-cafe", "rueda-libre", 260), ("rueda-libre", "sol-energia", 900)),
)
RANDOM_INVOICES = 24
AWAITING = 4  # left for the debtor to confirm


def load_demo_invoices(session: Session, slugs: list[str], *, today: dt.date, seed: int, decimals: int) -> dict[str, int]:
    """Record and (mostly) confirm demo invoices; returns how many of each state."""
    rng = random.Random(seed)
    scale = 10**decimals
    owed: list[tuple[str, str, int]] = [edge for cycle in DESIGNED_CYCLES for edge in cycle]
    for _ in range(RANDOM_INVOICES):
        debtor, creditor = rng.sample(slugs, 2)
        owed.append((debtor, creditor, rng.choice([45, 80, 120, 150, 220, 310, 480, 650])))
    by_creditor: dict[str, list[InvoiceDraft]] = defaultdict(list)
    for n, (debtor, creditor, units) in enumerate(owed, start=1):
        due = today + dt.timedelta(days=rng.randint(-20, 45))
        cents = rng.choice([0, 0, 50, 25]) * scale // 100
        by_creditor[creditor].append(
            InvoiceDraft(f"{creditor[:3].upper()}-{2026}-{n:03d}", debtor, units * scale + cents, due, f"Goods and services, batch {n}")
        )
    recorded = []
    for creditor in sorted(by_creditor):
        recorded += service.record_invoices(session, creditor, by_creditor[creditor], created_by=f"demo:{creditor}")
    awaiting = {view.id for view in rng.sample(recorded[len(DESIGNED_CYCLES) * 4 :], AWAITING)}
    disputed = rng.choice([view for view in recorded[len(DESIGNED_CYCLES) * 4 :] if view.id not in awaiting])
    counts = {"confirmed": 0, "recorded": len(awaiting), "disputed": 1}
    for view in recorded:
        if view.id in awaiting:
            continue
        if view.id == disputed.id:
            service.dispute_invoice(session, view.id, debtor=view.debtor, actor=f"demo:{view.debtor}", reason="Part of the order never arrived")
            continue
        service.confirm_invoice(session, view.id, debtor=view.debtor, actor=f"demo:{view.debtor}")
        counts["confirmed"] += 1
    return counts
