"""The audit: recompute everything from the facts and say what disagrees.

`check_ledger` is pure: it takes plain records and returns every finding
(it collects, it does not stop at the first). `run_audit` loads the records
from the database and adds the checkpoint checks. A finding names what it
concerns (account, transfer), the expected value and the found value.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mutualcredit.ledger.chain import merkle_root, transfer_hash
from mutualcredit.ledger.checkpoint import checkpoint_message, verify_signature
from mutualcredit.ledger.models import HASH_GENESIS, Account, Checkpoint, Transfer, TransferKind, TransferState

_RESOLUTION_STATE = {
    TransferKind.POST: TransferState.POSTED,
    TransferKind.VOID: TransferState.VOIDED,
    TransferKind.EXPIRY: TransferState.EXPIRED,
}


@dataclass(frozen=True, slots=True)
class Finding:
    """One discrepancy: what it is, what it concerns, expected and found."""

    code: str
    message: str
    account: str | None = None
    transfer: str | None = None
    expected: str | None = None
    found: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {
            "code": self.code,
            "message": self.message,
            "account": self.account,
            "transfer": self.transfer,
            "expected": self.expected,
            "found": self.found,
        }


@dataclass(frozen=True, slots=True)
class AccountRecord:
    id: int
    code: str
    floor: int | None
    ceiling: int | None
    balance: int
    debits_pending: int
    credits_pending: int
    head: str


@dataclass(frozen=True, slots=True)
class TransferRecord:
    seq: int
    id: uuid.UUID
    kind: str
    state: str
    payer_account_id: int
    payee_account_id: int
    amount_minor: int
    description: str
    meta: Mapping[str, Any]
    pending_id: uuid.UUID | None
    reverses_id: uuid.UUID | None
    expires_at: dt.datetime | None
    created_by: str
    created_at: dt.datetime
    payer_prev_head: str
    payee_prev_head: str
    hash: str


@dataclass(frozen=True, slots=True)
class CheckpointRecord:
    id: int
    region_slug: str
    created_at: dt.datetime
    account_count: int
    leaves: Sequence[Sequence[Any]]
    merkle_root: str
    public_key: str
    signature: str


@dataclass(frozen=True, slots=True)
class AuditReport:
    """Everything the audit found, with what it counted."""

    findings: tuple[Finding, ...]
    account_count: int
    transfer_count: int
    checkpoint_id: int | None
    counts: Mapping[str, int] = field(default_factory=dict)

    @property
    def is_clean(self) -> bool:
        return not self.findings


def _recomputed_hash(transfer: TransferRecord) -> str:
    return transfer_hash(
        id=transfer.id,
        kind=transfer.kind,
        payer_account_id=transfer.payer_account_id,
        payee_account_id=transfer.payee_account_id,
        amount_minor=transfer.amount_minor,
        description=transfer.description,
        meta=transfer.meta,
        pending_id=transfer.pending_id,
        reverses_id=transfer.reverses_id,
        expires_at=transfer.expires_at,
        created_by=transfer.created_by,
        created_at=transfer.created_at,
        payer_prev_head=transfer.payer_prev_head,
        payee_prev_head=transfer.payee_prev_head,
    )


def check_ledger(accounts: Sequence[AccountRecord], transfers: Sequence[TransferRecord]) -> list[Finding]:
    """Every discrepancy between the cached figures, the chains and the facts.

    ``transfers`` must be in ``seq`` order.
    """
    findings: list[Finding] = []
    code_of = {account.id: account.code for account in accounts}
    by_id = {transfer.id: transfer for transfer in transfers}
    balance = dict.fromkeys(code_of, 0)
    debits_pending = dict.fromkeys(code_of, 0)
    credits_pending = dict.fromkeys(code_of, 0)
    head = dict.fromkeys(code_of, HASH_GENESIS)
    resolution_of: dict[uuid.UUID, TransferRecord] = {}

    for transfer in transfers:
        tid = str(transfer.id)
        payer, payee = transfer.payer_account_id, transfer.payee_account_id
        if payer not in code_of or payee not in code_of:
            findings.append(Finding("unknown_account", "the transfer names an account that does not exist", transfer=tid))
            continue
        recomputed = _recomputed_hash(transfer)
        if recomputed != transfer.hash:
            findings.append(
                Finding(
                    "transfer_hash_mismatch",
                    "the transfer's content does not match its hash: it was changed after it was written",
                    transfer=tid,
                    expected=recomputed,
                    found=transfer.hash,
                )
            )
        for account_id, prev in ((payer, transfer.payer_prev_head), (payee, transfer.payee_prev_head)):
            if prev != head[account_id]:
                findings.append(
                    Finding(
                        "chain_broken",
                        "the transfer does not link to the account's previous head",
                        account=code_of[account_id],
                        transfer=tid,
                        expected=head[account_id],
                        found=prev,
                    )
                )
            head[account_id] = transfer.hash
        if transfer.amount_minor <= 0:
            findings.append(Finding("amount_not_positive", "a transfer amount must be positive", transfer=tid, found=str(transfer.amount_minor)))
        if transfer.kind == TransferKind.TRANSFER:
            balance[payer] -= transfer.amount_minor
            balance[payee] += transfer.amount_minor
            if transfer.reverses_id is not None:
                original = by_id.get(transfer.reverses_id)
                if original is None or (original.payer_account_id, original.payee_account_id, original.amount_minor) != (
                    payee,
                    payer,
                    transfer.amount_minor,
                ):
                    findings.append(
                        Finding(
                            "reversal_mismatch",
                            "a reversal must move the original amount back between the same accounts",
                            transfer=tid,
                            expected=str(transfer.reverses_id),
                        )
                    )
        elif transfer.kind == TransferKind.PENDING:
            debits_pending[payer] += transfer.amount_minor
            credits_pending[payee] += transfer.amount_minor
        elif transfer.kind in _RESOLUTION_STATE:
            pending = by_id.get(transfer.pending_id) if transfer.pending_id else None
            if pending is None or pending.kind != TransferKind.PENDING or pending.seq > transfer.seq:
                findings.append(Finding("resolution_without_pending", "a resolution must follow its pending transfer", transfer=tid, expected=str(transfer.pending_id)))
                continue
            if transfer.pending_id in resolution_of:
                findings.append(Finding("resolved_twice", "a pending transfer was resolved more than once", transfer=str(transfer.pending_id)))
                continue
            resolution_of[transfer.pending_id] = transfer
            if (pending.payer_account_id, pending.payee_account_id) != (payer, payee):
                findings.append(Finding("resolution_accounts_differ", "a resolution must touch the pending transfer's accounts", transfer=tid))
            debits_pending[pending.payer_account_id] -= pending.amount_minor
            credits_pending[pending.payee_account_id] -= pending.amount_minor
            if transfer.kind == TransferKind.POST:
                if transfer.amount_minor > pending.amount_minor:
                    findings.append(
                        Finding(
                            "post_exceeds_pending",
                            "more was posted than was pending",
                            transfer=tid,
                            expected=f"<= {pending.amount_minor}",
                            found=str(transfer.amount_minor),
                        )
                    )
                balance[payer] -= transfer.amount_minor
                balance[payee] += transfer.amount_minor
            elif transfer.amount_minor != pending.amount_minor:
                findings.append(
                    Finding(
                        "release_amount_differs",
                        "a void or expiry must release exactly the pending amount",
                        transfer=tid,
                        expected=str(pending.amount_minor),
                        found=str(transfer.amount_minor),
                    )
                )
        else:
            findings.append(Finding("unknown_kind", "the transfer has an unknown kind", transfer=tid, found=transfer.kind))

    for transfer in transfers:
        if transfer.kind != TransferKind.PENDING:
            continue
        resolution = resolution_of.get(transfer.id)
        derived_state = TransferState.PENDING if resolution is None else _RESOLUTION_STATE[resolution.kind]
        if transfer.state != derived_state:
            findings.append(
                Finding(
                    "pending_state_mismatch",
                    "the pending transfer's cached state disagrees with its resolution",
                    transfer=str(transfer.id),
                    expected=derived_state,
                    found=transfer.state,
                )
            )

    for account in accounts:
        for name, derived, cached in (
            ("balance", balance[account.id], account.balance),
            ("debits_pending", debits_pending[account.id], account.debits_pending),
            ("credits_pending", credits_pending[account.id], account.credits_pending),
            ("head", head[account.id], account.head),
        ):
            if derived != cached:
                findings.append(
                    Finding(
                        f"{name}_mismatch",
                        f"the account's cached {name.replace('_', ' ')} differs from what its transfers say",
                        account=account.code,
                        expected=str(derived),
                        found=str(cached),
                    )
                )
        for label, figure_balance, figure_pending in (
            ("cached", account.balance, account.debits_pending),
            ("derived", balance[account.id], debits_pending[account.id]),
        ):
            if account.floor is not None and figure_balance - figure_pending < account.floor:
                findings.append(
                    Finding(
                        "below_floor",
                        f"the {label} balance less pending debits is below the floor",
                        account=account.code,
                        expected=f">= {account.floor}",
                        found=str(figure_balance - figure_pending),
                    )
                )
        for label, figure_balance, figure_pending in (
            ("cached", account.balance, account.credits_pending),
            ("derived", balance[account.id], credits_pending[account.id]),
        ):
            if account.ceiling is not None and figure_balance + figure_pending > account.ceiling:
                findings.append(
                    Finding(
                        "above_ceiling",
                        f"the {label} balance plus pending credits is above the ceiling",
                        account=account.code,
                        expected=f"<= {account.ceiling}",
                        found=str(figure_balance + figure_pending),
                    )
                )

    total = sum(account.balance for account in accounts)
    if total != 0:
        findings.append(Finding("zero_sum", "the cached balances of the region do not sum to zero", expected="0", found=str(total)))
    pending_debits = sum(account.debits_pending for account in accounts)
    pending_credits = sum(account.credits_pending for account in accounts)
    if pending_debits != pending_credits:
        findings.append(
            Finding(
                "pending_sum",
                "pending debits and pending credits of the region differ",
                expected=str(pending_debits),
                found=str(pending_credits),
            )
        )
    return findings


def check_checkpoint(
    checkpoint: CheckpointRecord,
    accounts: Sequence[AccountRecord],
    transfers: Iterable[TransferRecord],
    *,
    trusted_public_key: str | None = None,
) -> list[Finding]:
    """Whether a checkpoint is signed, consistent, and every head it names is still on its chain."""
    findings: list[Finding] = []
    subject = f"checkpoint {checkpoint.id}"
    if trusted_public_key is not None and checkpoint.public_key != trusted_public_key:
        findings.append(
            Finding(
                "checkpoint_key_unknown",
                f"{subject} was signed with a key other than the region's",
                expected=trusted_public_key,
                found=checkpoint.public_key,
            )
        )
    message = checkpoint_message(checkpoint.region_slug, checkpoint.created_at, checkpoint.account_count, checkpoint.merkle_root)
    if not verify_signature(checkpoint.public_key, checkpoint.signature, message):
        findings.append(Finding("checkpoint_signature_invalid", f"{subject}'s signature does not verify"))
    leaves = [(int(account_id), str(head)) for account_id, head in checkpoint.leaves]
    root = merkle_root(leaves)
    if root != checkpoint.merkle_root or len(leaves) != checkpoint.account_count:
        findings.append(
            Finding("checkpoint_root_mismatch", f"{subject}'s root does not match its leaves", expected=root, found=checkpoint.merkle_root)
        )
    code_of = {account.id: account.code for account in accounts}
    chain_hashes: dict[int, set[str]] = {account.id: {HASH_GENESIS} for account in accounts}
    for transfer in transfers:
        for account_id in (transfer.payer_account_id, transfer.payee_account_id):
            chain_hashes.setdefault(account_id, {HASH_GENESIS}).add(transfer.hash)
    for account_id, head in leaves:
        if account_id not in code_of:
            findings.append(Finding("checkpoint_account_missing", f"{subject} names an account that no longer exists", expected=str(account_id)))
        elif head not in chain_hashes[account_id]:
            findings.append(
                Finding(
                    "checkpoint_head_missing",
                    f"the head recorded by {subject} is no longer on the account's chain: history was rewritten",
                    account=code_of[account_id],
                    expected=head,
                )
            )
    return findings


def load_records(session: Session) -> tuple[list[AccountRecord], list[TransferRecord]]:
    """Every account and transfer (in seq order) as plain records."""
    accounts = [
        AccountRecord(
            id=row.id,
            code=row.code,
            floor=row.floor,
            ceiling=row.ceiling,
            balance=row.balance,
            debits_pending=row.debits_pending,
            credits_pending=row.credits_pending,
            head=row.head,
        )
        for row in session.execute(select(Account.__table__).order_by(Account.id))
    ]
    t = Transfer.__table__
    transfers = [
        TransferRecord(
            seq=row.seq,
            id=row.id,
            kind=row.kind,
            state=row.state,
            payer_account_id=row.payer_account_id,
            payee_account_id=row.payee_account_id,
            amount_minor=row.amount_minor,
            description=row.description,
            meta=row.metadata,
            pending_id=row.pending_id,
            reverses_id=row.reverses_id,
            expires_at=row.expires_at,
            created_by=row.created_by,
            created_at=row.created_at,
            payer_prev_head=row.payer_prev_head,
            payee_prev_head=row.payee_prev_head,
            hash=row.hash,
        )
        for row in session.execute(select(t).order_by(t.c.seq)).yield_per(10_000)
    ]
    return accounts, transfers


def run_audit(
    session: Session,
    *,
    trusted_public_key: str | None = None,
    extra_checks: Sequence[Callable[[Session], list[Finding]]] = (),
) -> AuditReport:
    """Audit the whole ledger and its latest checkpoint in one read snapshot.

    ``extra_checks`` (other areas' checks, such as ``mutualcredit.audit_checks.DOMAIN_CHECKS``)
    run in the same snapshot and add their findings after the ledger's.
    """
    session.rollback()
    if session.get_bind().dialect.name == "postgresql":
        # One snapshot for every query below, even while transfers go on.
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    try:
        accounts, transfers = load_records(session)
        latest = session.scalars(select(Checkpoint).order_by(Checkpoint.id.desc()).limit(1)).first()
        checkpoint = (
            CheckpointRecord(
                id=latest.id,
                region_slug=latest.region_slug,
                created_at=latest.created_at,
                account_count=latest.account_count,
                leaves=latest.leaves,
                merkle_root=latest.merkle_root,
                public_key=latest.public_key,
                signature=latest.signature,
            )
            if latest
            else None
        )
        extra_findings = [finding for check in extra_checks for finding in check(session)]
    finally:
        session.rollback()
    findings = check_ledger(accounts, transfers)
    if checkpoint is not None:
        findings += check_checkpoint(checkpoint, accounts, transfers, trusted_public_key=trusted_public_key)
    findings += extra_findings
    return AuditReport(
        findings=tuple(findings),
        account_count=len(accounts),
        transfer_count=len(transfers),
        checkpoint_id=checkpoint.id if checkpoint else None,
    )
