"""mutualcredit: a regional instance of mutual credit among co-operatives.

Areas, one package each: ``region`` (settings and unit of account),
``members`` (co-ops), ``ledger`` (accounts, transfers, two-phase transfers,
payment requests, hash chains, checkpoints, audit). Services are the only
way to change state; this package never imports Flask.
"""

__version__ = "0.1.0"
