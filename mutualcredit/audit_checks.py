"""The checks ``mutualcredit audit`` (and the coordination page's audit) run beyond the ledger's own."""

from __future__ import annotations

from mutualcredit.pools.audit import check_pools

DOMAIN_CHECKS = (check_pools,)
