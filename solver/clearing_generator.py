"""Realistic obligation networks for tests and benchmarks: seeded and deterministic.

The same ``NetworkShape`` and seed always give the same obligations, on any
machine (numpy's PCG64 generator, no clock). The model, in the spirit of
the trade-credit networks that national set-off schemes clear:

* **Firms of different sizes.** Each firm has a size drawn from a Pareto
  distribution (``size_pareto_shape``; smaller = heavier tail): a few large
  firms, many small ones. Firms buy in proportion to their size.
* **Sector and region.** Each firm belongs to one of ``sectors`` sectors and
  one of ``regions`` regions. A buyer in sector k buys from its supplier
  sector (k + 1 mod sectors) with probability ``sector_affinity``, else from
  any sector; from its own region with probability ``region_affinity``,
  else from any region. Within the chosen sector and region, the supplier is
  drawn in proportion to size. These supply chains wrap round, so cycles of
  obligation form across sectors, as they do in real economies.
* **Reciprocal trade.** A share ``reciprocal_share`` of obligations reverse
  an earlier one (the supplier also buys from its customer), giving short
  two-party cycles.
* **Heavy-tailed amounts.** Log-normal (``amount_sigma``) around
  ``amount_median_minor``, scaled by the square root of the two firms'
  sizes relative to the median firm, clipped to 1..``amount_minor_max``.
* **Due dates.** Uniform over ``due_days`` days from ``due_start`` (a date
  you pass: the generator reads no clock).

Obligation ids are ``o0000001`` ...; firms are ``firm-000001`` ...
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np

from solver.clearing import Obligation

FIRMS_MAX = 10_000_000
OBLIGATIONS_MAX = 50_000_000


@dataclass(frozen=True, slots=True)
class NetworkShape:
    """The generator's knobs; see the module docstring."""

    firms: int = 1_000
    obligations: int = 10_000
    sectors: int = 12
    regions: int = 6
    sector_affinity: float = 0.7
    region_affinity: float = 0.6
    reciprocal_share: float = 0.1
    size_pareto_shape: float = 1.2
    amount_median_minor: int = 50_000
    amount_sigma: float = 1.5
    amount_minor_max: int = 10**12
    due_start: dt.date = dt.date(2026, 1, 1)
    due_days: int = 180

    def __post_init__(self) -> None:
        if not 2 <= self.firms <= FIRMS_MAX:
            raise ValueError(f"firms must be in 2..{FIRMS_MAX}")
        if not 0 <= self.obligations <= OBLIGATIONS_MAX:
            raise ValueError(f"obligations must be in 0..{OBLIGATIONS_MAX}")
        for name in ("sector_affinity", "region_affinity", "reciprocal_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        if self.sectors < 1 or self.regions < 1 or self.amount_minor_max < 1 or self.due_days < 1:
            raise ValueError("sectors, regions, amount_minor_max and due_days must be positive")


def firm_name(index: int) -> str:
    return f"firm-{index:06d}"


def generate_arrays(shape: NetworkShape, *, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Debtor index, creditor index, amount (minor units) and due day offset per obligation."""
    rng = np.random.default_rng(seed)
    n, m = shape.firms, shape.obligations
    size = rng.pareto(shape.size_pareto_shape, n) + 1.0
    sector = rng.integers(0, shape.sectors, n)
    region = rng.integers(0, shape.regions, n)

    # Firms sorted by (region, sector) group, with cumulative size, to draw a supplier in a group by size.
    group = region * shape.sectors + sector
    by_group = np.argsort(group, kind="stable")
    cumulative = np.concatenate([[0.0], np.cumsum(size[by_group])])
    group_start = np.searchsorted(group[by_group], np.arange(shape.regions * shape.sectors + 1))

    buyer_weight = np.cumsum(size) / size.sum()
    debtor = np.minimum(np.searchsorted(buyer_weight, rng.random(m)), n - 1)
    supplier_sector = np.where(
        rng.random(m) < shape.sector_affinity,
        (sector[debtor] + 1) % shape.sectors,
        rng.integers(0, shape.sectors, m),
    )
    supplier_region = np.where(
        rng.random(m) < shape.region_affinity, region[debtor], rng.integers(0, shape.regions, m)
    )
    wanted = supplier_region * shape.sectors + supplier_sector
    low, high = group_start[wanted], group_start[wanted + 1]
    empty = low == high
    # An empty group (possible with few firms): fall back to any firm by size.
    low = np.where(empty, 0, low)
    high = np.where(empty, n, high)
    draw = cumulative[low] + rng.random(m) * (cumulative[high] - cumulative[low])
    position = np.clip(np.searchsorted(cumulative, draw, side="right") - 1, low, high - 1)
    creditor = by_group[position]

    # Reciprocal trade: reverse an earlier obligation.
    reciprocal = rng.random(m) < shape.reciprocal_share
    reciprocal[0] = False
    earlier = (rng.random(m) * np.arange(m)).astype(np.int64)
    for _ in range(2):  # an earlier obligation may itself be reciprocal; two passes settle most chains
        debtor, creditor = (
            np.where(reciprocal, creditor[earlier], debtor),
            np.where(reciprocal, debtor[earlier], creditor),
        )
    same = debtor == creditor
    creditor = np.where(same, (creditor + 1 + rng.integers(0, n - 1, m)) % n, creditor)
    assert not np.any(debtor == creditor)

    median_size = float(np.median(size))
    scale = np.sqrt(size[debtor] * size[creditor]) / median_size
    amount = np.exp(rng.normal(np.log(shape.amount_median_minor), shape.amount_sigma, m)) * np.sqrt(scale)
    amount = np.clip(np.rint(amount), 1, shape.amount_minor_max).astype(np.int64)
    due = rng.integers(0, shape.due_days, m)
    return debtor.astype(np.int64), creditor.astype(np.int64), amount, due


def generate(shape: NetworkShape, *, seed: int) -> tuple[Obligation, ...]:
    """The obligations of one network (see the module docstring)."""
    debtor, creditor, amount, due = generate_arrays(shape, seed=seed)
    names = [firm_name(i) for i in range(shape.firms)]
    dates = [shape.due_start + dt.timedelta(days=d) for d in range(shape.due_days)]
    return tuple(
        Obligation(f"o{i + 1:07d}", names[d], names[c], a, dates[u])
        for i, (d, c, a, u) in enumerate(zip(debtor.tolist(), creditor.tolist(), amount.tolist(), due.tolist()))
    )


def write_csv(obligations: tuple[Obligation, ...] | list[Obligation], out: TextIO | Path, *, decimals: int = 2) -> None:
    """Write obligations as the CSV ``mutualcredit clearing solve`` reads (amounts in major units)."""
    if isinstance(out, Path):
        with out.open("w", encoding="utf-8", newline="") as handle:
            write_csv(obligations, handle, decimals=decimals)
        return
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["id", "debtor", "creditor", "amount", "due"])
    scale = 10**decimals
    for o in obligations:
        whole, fraction = divmod(o.amount_minor, scale)
        amount = f"{whole}.{fraction:0{decimals}d}" if decimals else str(whole)
        writer.writerow([o.id, o.debtor, o.creditor, amount, o.due.isoformat() if o.due else ""])
