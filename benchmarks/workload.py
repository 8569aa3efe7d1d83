"""The benchmark's workload: which account pays which, and how much.

Standard library only, so that both the project's virtualenv and the peer
baseline's own virtualenv (benchmarks/.venv-peer) import the same code and
replay exactly the same transfers.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

AMOUNT_MINOR_MIN = 1
AMOUNT_MINOR_MAX = 10_000  # 100.00 with two decimals
# Far below any balance the workload can reach, so no transfer fails on limits.
GENEROUS_FLOOR_MINOR = -(10**12)


def account_code(index: int) -> str:
    """The code (and member slug) of the benchmark's ``index``-th account."""
    return f"bench-{index:05d}"


def transfers(count: int, accounts: int, *, seed: int) -> Iterator[tuple[int, int, int]]:
    """``count`` transfers as (payer index, payee index, amount in minor units).

    Payer and payee are drawn uniformly among ``accounts`` accounts and are
    never the same; the same seed always gives the same list.
    """
    if accounts < 2:
        raise ValueError("the workload needs at least two accounts")
    rng = random.Random(seed)
    for _ in range(count):
        payer = rng.randrange(accounts)
        payee = rng.randrange(accounts - 1)
        if payee >= payer:
            payee += 1
        yield payer, payee, rng.randint(AMOUNT_MINOR_MIN, AMOUNT_MINOR_MAX)
