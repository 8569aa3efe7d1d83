"""Ledger operations: the only way to move value.

Every public function here runs in one database transaction on the session
it is given, commits it on success and rolls it back on error. Checks run
in one documented order, so the same bad input always gets the same error:

1. the input's shape (amount, accounts named, lengths);
2. idempotency: a known id with the same content returns the first result,
   with other content raises ``IdempotencyConflict`` (a retried request is
   answered even if it would no longer fit the limits);
3. the accounts exist (payer, then payee);
4. the accounts are open (payer, then payee) and their members active;
5. the payer's floor, then the payee's ceiling, counting pending holds.

Webhook events (``transfer.posted``, ``transfer.pending``) are written by
``_write`` in the same database transaction as the transfers they report,
and only while a subscription is active: the query that locks the accounts
also says whether anyone listens (see `mutualcredit.webhooks.outbox`), so
with no subscription the hot path costs no extra round trip.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Connection, bindparam, case, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from mutualcredit import errors
from mutualcredit.activity import record_activity
from mutualcredit.db import utc_now
from mutualcredit.ledger import postgresql
from mutualcredit.ledger.chain import canonical_json, transfer_hash
from mutualcredit.ledger.models import (
    Account,
    AccountKind,
    AccountStatus,
    Transfer,
    TransferKind,
    TransferState,
)
from mutualcredit.members.models import Member, MemberStatus
from mutualcredit.money import AMOUNT_MINOR_MAX
from mutualcredit.webhooks import outbox
from mutualcredit.webhooks.payloads import EventRegion

BATCH_SIZE_MAX = 1_000
DESCRIPTION_LENGTH_MAX = 500
METADATA_BYTES_MAX = 4_096
CREATED_BY_LENGTH_MAX = 200
IDEMPOTENCY_RETRIES_MAX = 3
EXPIRY_BATCH_SIZE_MAX = 1_000
ACCOUNT_CODE_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._:-]{0,99}$")

# Resolutions of a pending transfer get a deterministic id unless the client
# chooses one, so that retrying "post" or "void" is idempotent by itself.
RESOLUTION_NAMESPACE = uuid.UUID("6f1f6a4e-3b9c-4c1e-9a57-2f0c2f6a7d10")

_accounts = Account.__table__
_transfers = Transfer.__table__
_members = Member.__table__

_RESOLUTION_ERRORS: dict[str, type[errors.MutualCreditError]] = {
    TransferState.POSTED: errors.PendingTransferAlreadyPosted,
    TransferState.VOIDED: errors.PendingTransferAlreadyVoided,
    TransferState.EXPIRED: errors.PendingTransferExpired,
}


@dataclass(frozen=True, slots=True)
class TransferSpec:
    """What a client asks for: move ``amount_minor`` from ``payer`` to ``payee``.

    ``payer`` and ``payee`` are account codes. With ``pending`` the amount is
    only reserved until the transfer is posted, voided or expires.
    """

    id: uuid.UUID
    payer: str
    payee: str
    amount_minor: int
    description: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)
    pending: bool = False
    expires_at: dt.datetime | None = None
    reverses_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class TransferResult:
    """A transfer row as recorded, with account codes instead of row ids."""

    id: uuid.UUID
    seq: int
    kind: str
    state: str
    payer: str
    payee: str
    amount_minor: int
    description: str
    metadata: Mapping[str, Any]
    pending_id: uuid.UUID | None
    reverses_id: uuid.UUID | None
    expires_at: dt.datetime | None
    created_by: str
    created_at: dt.datetime
    hash: str
    is_replay: bool = False


@dataclass(frozen=True, slots=True)
class BatchItemResult:
    """The outcome of one item of a batch: a transfer, or an error."""

    index: int
    id: uuid.UUID
    transfer: TransferResult | None = None
    error: errors.MutualCreditError | None = None

    @property
    def is_ok(self) -> bool:
        return self.error is None


class BatchNotApplied(errors.Conflict):
    """Another item of this all-or-nothing batch failed, so nothing was applied."""

    code = "batch_not_applied"


@dataclass(slots=True)
class _LockedAccount:
    """An account row held under lock for the rest of the database transaction."""

    id: int
    code: str
    status: str
    member_id: int | None
    member_status: str | None
    floor: int | None
    ceiling: int | None
    balance: int
    debits_pending: int
    credits_pending: int
    head: str
    head_locked: str  # the head read under lock, for the conditional update

    @property
    def is_dirty(self) -> bool:
        return self.head != self.head_locked


class _LockedAccounts(dict[str, _LockedAccount]):
    """Accounts locked for this database transaction, by code.

    ``events_region`` is read by the same locking query: the region's facts
    while a webhook subscription is active (events are then recorded), else
    None.
    """

    events_region: EventRegion | None = None


# ---------------------------------------------------------------------------
# Transactions and locking


@contextmanager
def _transaction(session: Session) -> Iterator[Connection]:
    """Run the block in the session's transaction, then commit or roll back."""
    try:
        yield session.connection()
        session.commit()
    except BaseException:
        session.rollback()
        raise


_LOCK_COLUMNS = (
    _accounts.c.id,
    _accounts.c.code,
    _accounts.c.status,
    _accounts.c.member_id,
    _members.c.status.label("member_status"),
    _accounts.c.floor,
    _accounts.c.ceiling,
    _accounts.c.balance,
    _accounts.c.debits_pending,
    _accounts.c.credits_pending,
    _accounts.c.head,
    outbox.EVENTS_REGION_COLUMN,
)
_LOCK_FROM = _accounts.outerjoin(_members, _members.c.id == _accounts.c.member_id)
# Rows are locked in account-id order by every writer, so two writers never
# wait on each other in a cycle (no deadlock).
_LOCK_BY_CODE = (
    select(*_LOCK_COLUMNS)
    .select_from(_LOCK_FROM)
    .where(_accounts.c.code.in_(bindparam("codes", expanding=True)))
    .order_by(_accounts.c.id)
    .with_for_update(of=_accounts)
)
_LOCK_BY_ID = (
    select(*_LOCK_COLUMNS)
    .select_from(_LOCK_FROM)
    .where(_accounts.c.id.in_(bindparam("ids", expanding=True)))
    .order_by(_accounts.c.id)
    .with_for_update(of=_accounts)
)
_UPDATE_ACCOUNT = (
    update(_accounts)
    .where(_accounts.c.id == bindparam("b_id"), _accounts.c.head == bindparam("b_head_locked"))
    .values(
        balance=bindparam("b_balance"),
        debits_pending=bindparam("b_debits_pending"),
        credits_pending=bindparam("b_credits_pending"),
        head=bindparam("b_head"),
    )
)
_INSERT_TRANSFERS = insert(_transfers).returning(_transfers.c.seq, sort_by_parameter_order=True)


def _lock_rows(rows: Iterable[Any]) -> _LockedAccounts:
    locked = _LockedAccounts()
    for row in rows:
        locked[row.code] = _LockedAccount(
            id=row.id,
            code=row.code,
            status=row.status,
            member_id=row.member_id,
            member_status=row.member_status,
            floor=row.floor,
            ceiling=row.ceiling,
            balance=row.balance,
            debits_pending=row.debits_pending,
            credits_pending=row.credits_pending,
            head=row.head,
            head_locked=row.head,
        )
        locked.events_region = outbox.event_region(row.events_region)
    return locked


def _lock_accounts_by_code(conn: Connection, codes: Iterable[str]) -> _LockedAccounts:
    if conn.dialect.name == "postgresql":
        return _lock_rows(postgresql.lock_accounts(conn, codes=sorted(set(codes))))
    return _lock_rows(conn.execute(_LOCK_BY_CODE, {"codes": sorted(set(codes))}))


def _lock_accounts_by_id(conn: Connection, ids: Iterable[int]) -> _LockedAccounts:
    if conn.dialect.name == "postgresql":
        return _lock_rows(postgresql.lock_accounts(conn, ids=sorted(set(ids))))
    return _lock_rows(conn.execute(_LOCK_BY_ID, {"ids": sorted(set(ids))}))


def _write(conn: Connection, rows: list[dict[str, Any]], locked: _LockedAccounts) -> list[int]:
    """Insert the new transfer rows, their webhook events, and the accounts' new cached figures."""
    accounts = list(locked.values())
    dirty_count = sum(1 for account in accounts if account.is_dirty)
    events = _events_of(rows, accounts, locked.events_region) if locked.events_region is not None else []
    if events:
        outbox.note_recorded()
    if conn.dialect.name == "postgresql":
        if not rows:
            return []
        seq_of, updated = postgresql.write(conn, rows, accounts, events)
        seqs = [seq_of[row["id"]] for row in rows]
    else:
        seqs, updated = _write_portable(conn, rows, accounts)
        outbox.insert_events(conn, events)
    # Every account was read under lock; a changed head means something
    # wrote to it without taking the lock, which is a bug, not a user error.
    if updated != dirty_count:
        raise RuntimeError("an account changed while it was locked")
    for account in accounts:
        account.head_locked = account.head
    return seqs


def _events_of(
    rows: list[dict[str, Any]], accounts: list[_LockedAccount], region: EventRegion
) -> list[outbox.EventRow]:
    """The webhook events announcing new transfer rows (built only while someone listens)."""
    by_id = {account.id: account for account in accounts}
    events = []
    for row in rows:
        payer, payee = by_id[row["payer_account_id"]], by_id[row["payee_account_id"]]
        event = outbox.transfer_event(
            _Row({**row, "payer": payer.code, "payee": payee.code}),
            region,
            payer_member_id=payer.member_id,
            payee_member_id=payee.member_id,
        )
        if event is not None:
            events.append(event)
    return events


def _write_portable(
    conn: Connection, rows: list[dict[str, Any]], accounts: list[_LockedAccount]
) -> tuple[list[int], int]:
    dirty = [
        {
            "b_id": account.id,
            "b_head_locked": account.head_locked,
            "b_balance": account.balance,
            "b_debits_pending": account.debits_pending,
            "b_credits_pending": account.credits_pending,
            "b_head": account.head,
        }
        for account in accounts
        if account.is_dirty
    ]
    seqs = [row.seq for row in conn.execute(_INSERT_TRANSFERS, rows)] if rows else []
    updated = conn.execute(_UPDATE_ACCOUNT, dirty).rowcount if dirty else 0
    return seqs, updated


# ---------------------------------------------------------------------------
# Pure checks and effects on locked accounts


def _validate_spec(spec: TransferSpec) -> None:
    if not isinstance(spec.id, uuid.UUID):
        raise errors.InvalidInput("the transfer id must be a UUID")
    if not isinstance(spec.amount_minor, int) or isinstance(spec.amount_minor, bool):
        raise errors.InvalidAmount("the amount must be a whole number of minor units")
    if spec.amount_minor <= 0:
        raise errors.InvalidAmount("the amount must be greater than zero")
    if spec.amount_minor > AMOUNT_MINOR_MAX:
        raise errors.InvalidAmount("the amount is too large")
    if not spec.payer or not spec.payee:
        raise errors.InvalidInput("both the payer and the payee account are required")
    if spec.payer == spec.payee:
        raise errors.SameAccount()
    if len(spec.description) > DESCRIPTION_LENGTH_MAX:
        raise errors.InvalidInput(f"the description is longer than {DESCRIPTION_LENGTH_MAX} characters")
    try:
        metadata_bytes = len(canonical_json(spec.metadata).encode())
    except (TypeError, ValueError):
        raise errors.InvalidInput("the metadata must be a JSON object") from None
    if metadata_bytes > METADATA_BYTES_MAX:
        raise errors.InvalidInput(f"the metadata is larger than {METADATA_BYTES_MAX} bytes")
    if spec.expires_at is not None:
        if not spec.pending:
            raise errors.InvalidInput("only a pending transfer can have an expiry")
        if spec.expires_at.tzinfo is None:
            raise errors.InvalidInput("the expiry must include a time zone")


def _validate_created_by(created_by: str) -> None:
    if not created_by or len(created_by) > CREATED_BY_LENGTH_MAX:
        raise errors.InvalidInput("the actor (created_by) is required and at most 200 characters")


def _require_accounts(
    accounts: Mapping[str, _LockedAccount], payer: str, payee: str
) -> tuple[_LockedAccount, _LockedAccount]:
    if payer not in accounts:
        raise errors.AccountNotFound(f"no account {payer!r}", account=payer)
    if payee not in accounts:
        raise errors.AccountNotFound(f"no account {payee!r}", account=payee)
    return accounts[payer], accounts[payee]


def _require_usable(account: _LockedAccount) -> None:
    if account.status != AccountStatus.OPEN:
        raise errors.AccountNotOpen(f"account {account.code} is {account.status}", account=account.code)
    if account.member_status is not None and account.member_status != MemberStatus.ACTIVE:
        raise errors.MemberNotActive(
            f"the member owning {account.code} is {account.member_status}", account=account.code
        )


def _require_room(payer: _LockedAccount, payee: _LockedAccount, amount_minor: int) -> None:
    """Check the payer's floor, then the payee's ceiling, counting pending holds."""
    if payer.floor is not None:
        available = payer.balance - payer.debits_pending - payer.floor
        if amount_minor > available:
            raise errors.ExceedsFloor(
                f"{payer.code} has not enough available credit for this amount",
                account=payer.code,
                available_minor=max(available, 0),
            )
    if payee.ceiling is not None:
        room = payee.ceiling - payee.balance - payee.credits_pending
        if amount_minor > room:
            raise errors.ExceedsCeiling(
                f"{payee.code} would go above its ceiling",
                account=payee.code,
                room_minor=max(room, 0),
            )


def _chain_row(
    *,
    id: uuid.UUID,
    kind: str,
    state: str,
    payer: _LockedAccount,
    payee: _LockedAccount,
    amount_minor: int,
    description: str,
    meta: Mapping[str, Any],
    created_by: str,
    created_at: dt.datetime,
    pending_id: uuid.UUID | None = None,
    reverses_id: uuid.UUID | None = None,
    expires_at: dt.datetime | None = None,
) -> dict[str, Any]:
    """Build a transfer row linked to both accounts' heads, and advance the heads."""
    digest = transfer_hash(
        id=id,
        kind=kind,
        payer_account_id=payer.id,
        payee_account_id=payee.id,
        amount_minor=amount_minor,
        description=description,
        meta=meta,
        pending_id=pending_id,
        reverses_id=reverses_id,
        expires_at=expires_at,
        created_by=created_by,
        created_at=created_at,
        payer_prev_head=payer.head,
        payee_prev_head=payee.head,
    )
    row = {
        "id": id,
        "kind": kind,
        "state": state,
        "payer_account_id": payer.id,
        "payee_account_id": payee.id,
        "amount_minor": amount_minor,
        "description": description,
        "metadata": dict(meta),
        "pending_id": pending_id,
        "reverses_id": reverses_id,
        "expires_at": expires_at,
        "created_by": created_by,
        "created_at": created_at,
        "payer_prev_head": payer.head,
        "payee_prev_head": payee.head,
        "hash": digest,
    }
    payer.head = digest
    payee.head = digest
    return row


def _apply_spec(
    spec: TransferSpec,
    accounts: Mapping[str, _LockedAccount],
    *,
    created_by: str,
    created_at: dt.datetime,
    bypass_member_status: bool = False,
) -> dict[str, Any]:
    """Check a new transfer against locked accounts and apply its effect (steps 3-5)."""
    # Checked here, after idempotency, so that a retry is still answered
    # once the expiry it named has passed.
    if spec.expires_at is not None and spec.expires_at <= created_at:
        raise errors.InvalidInput("the expiry of a pending transfer must be in the future")
    payer, payee = _require_accounts(accounts, spec.payer, spec.payee)
    for account in (payer, payee):
        if bypass_member_status:
            if account.status != AccountStatus.OPEN:
                raise errors.AccountNotOpen(f"account {account.code} is {account.status}", account=account.code)
        else:
            _require_usable(account)
    _require_room(payer, payee, spec.amount_minor)
    if spec.pending:
        payer.debits_pending += spec.amount_minor
        payee.credits_pending += spec.amount_minor
    else:
        payer.balance -= spec.amount_minor
        payee.balance += spec.amount_minor
    return _chain_row(
        id=spec.id,
        kind=TransferKind.PENDING if spec.pending else TransferKind.TRANSFER,
        state=TransferState.PENDING if spec.pending else TransferState.POSTED,
        payer=payer,
        payee=payee,
        amount_minor=spec.amount_minor,
        description=spec.description,
        meta=spec.metadata,
        created_by=created_by,
        created_at=created_at,
        reverses_id=spec.reverses_id,
        expires_at=spec.expires_at,
    )


# ---------------------------------------------------------------------------
# Reading transfers back


_payer_account = aliased(Account, name="payer_account")
_payee_account = aliased(Account, name="payee_account")
_TRANSFER_WITH_CODES = select(
    Transfer.__table__, _payer_account.code.label("payer_code"), _payee_account.code.label("payee_code")
).select_from(
    _transfers.join(_payer_account, _payer_account.id == _transfers.c.payer_account_id).join(
        _payee_account, _payee_account.id == _transfers.c.payee_account_id
    )
)


def _result(row: Any, *, is_replay: bool = False) -> TransferResult:
    return TransferResult(
        id=row.id,
        seq=row.seq,
        kind=row.kind,
        state=row.state,
        payer=row.payer_code,
        payee=row.payee_code,
        amount_minor=row.amount_minor,
        description=row.description,
        metadata=row.metadata,
        pending_id=row.pending_id,
        reverses_id=row.reverses_id,
        expires_at=row.expires_at,
        created_by=row.created_by,
        created_at=row.created_at,
        hash=row.hash,
        is_replay=is_replay,
    )


def _fetch_transfers(conn: Connection, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Any]:
    ids = list(ids)
    if not ids:
        return {}
    if conn.dialect.name == "postgresql":
        return postgresql.fetch_transfers(conn, ids)
    rows = conn.execute(_TRANSFER_WITH_CODES.where(_transfers.c.id.in_(ids)))
    return {row.id: row for row in rows}


def get_transfer(session: Session, transfer_id: uuid.UUID) -> TransferResult:
    """One transfer by id."""
    row = _fetch_transfers(session.connection(), [transfer_id]).get(transfer_id)
    if row is None:
        raise errors.TransferNotFound(f"no transfer {transfer_id}")
    return _result(row)


TRANSFER_PAGE_SIZE_MAX = 500


def list_transfers(
    session: Session,
    *,
    accounts: Sequence[str] | None = None,
    counterparty: str | None = None,
    state: str | None = None,
    kind: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    after_seq: int | None = None,
    descending: bool = False,
    limit: int = 100,
) -> list[TransferResult]:
    """Transfers in ``seq`` order, filtered, one page after the ``after_seq`` cursor.

    ``accounts`` keeps transfers touching any of those accounts (``None``: all);
    ``counterparty`` keeps those whose other side is that account. With
    ``descending`` the newest come first and ``after_seq`` pages backwards.
    Paging by ``seq`` is stable: rows written later never shift a page.
    """
    if not 1 <= limit <= TRANSFER_PAGE_SIZE_MAX:
        raise errors.InvalidInput(f"a page holds 1 to {TRANSFER_PAGE_SIZE_MAX} transfers")
    query = _TRANSFER_WITH_CODES
    if accounts is not None:
        codes = list(accounts)
        query = query.where(or_(_payer_account.code.in_(codes), _payee_account.code.in_(codes)))
        if counterparty is not None:
            query = query.where(
                or_(
                    _payer_account.code.in_(codes) & (_payee_account.code == counterparty),
                    _payee_account.code.in_(codes) & (_payer_account.code == counterparty),
                )
            )
    elif counterparty is not None:
        query = query.where(or_(_payer_account.code == counterparty, _payee_account.code == counterparty))
    if state is not None:
        query = query.where(_transfers.c.state == state)
    if kind is not None:
        query = query.where(_transfers.c.kind == kind)
    if since is not None:
        query = query.where(_transfers.c.created_at >= since)
    if until is not None:
        query = query.where(_transfers.c.created_at < until)
    if after_seq is not None:
        query = query.where(_transfers.c.seq < after_seq if descending else _transfers.c.seq > after_seq)
    query = query.order_by(_transfers.c.seq.desc() if descending else _transfers.c.seq).limit(limit)
    rows = session.execute(query).all()
    session.rollback()
    return [_result(row) for row in rows]


def _same_content(row: Any, spec: TransferSpec) -> bool:
    kind = TransferKind.PENDING if spec.pending else TransferKind.TRANSFER
    return (
        row.kind == kind
        and row.payer_code == spec.payer
        and row.payee_code == spec.payee
        and row.amount_minor == spec.amount_minor
        and row.description == spec.description
        and canonical_json(row.metadata) == canonical_json(spec.metadata)
        and row.expires_at == spec.expires_at
        and row.reverses_id == spec.reverses_id
    )


def _replay(row: Any, spec: TransferSpec) -> TransferResult:
    if not _same_content(row, spec):
        raise errors.IdempotencyConflict(
            f"transfer id {spec.id} was already used for a different transfer", transfer_id=str(spec.id)
        )
    return _result(row, is_replay=True)


def _integrity_error_kind(error: IntegrityError) -> str:
    """Name the constraint behind an integrity error, as far as the driver tells."""
    text = str(error.orig)
    for name in ("within_floor", "within_ceiling", "reverses_id", "pending_id"):
        if name in text:
            return name
    return "other"


# ---------------------------------------------------------------------------
# Single transfers


def create_transfer(
    session: Session,
    spec: TransferSpec,
    *,
    created_by: str,
    now: dt.datetime | None = None,
) -> TransferResult:
    """Move (or, with ``spec.pending``, reserve) an amount between two accounts."""
    _validate_spec(spec)
    _validate_created_by(created_by)
    return _create_checked(session, spec, created_by=created_by, now=now)


def _create_checked(
    session: Session,
    spec: TransferSpec,
    *,
    created_by: str,
    now: dt.datetime | None,
    bypass_member_status: bool = False,
    before_commit: Any = None,
) -> TransferResult:
    created_at = now or utc_now()
    try:
        with _transaction(session) as conn:
            accounts = _lock_accounts_by_code(conn, (spec.payer, spec.payee))
            row = _apply_spec(
                spec,
                accounts,
                created_by=created_by,
                created_at=created_at,
                bypass_member_status=bypass_member_status,
            )
            (row["seq"],) = _write(conn, [row], accounts)
            if before_commit is not None:
                before_commit(conn, row)
    except errors.MutualCreditError:
        # Idempotency comes before every other check: look the id up only
        # now, on the error path, to keep the common path to one lock query.
        existing = _fetch_transfers(session.connection(), [spec.id]).get(spec.id)
        session.rollback()
        if existing is not None:
            return _replay(existing, spec)
        raise
    except IntegrityError as error:
        kind = _integrity_error_kind(error)
        existing = _fetch_transfers(session.connection(), [spec.id]).get(spec.id)
        session.rollback()
        if existing is not None:
            return _replay(existing, spec)
        if kind == "reverses_id":
            raise errors.CannotReverse("that transfer was already reversed") from None
        if kind == "within_floor":
            raise errors.ExceedsFloor(f"{spec.payer} has not enough available credit") from None
        if kind == "within_ceiling":
            raise errors.ExceedsCeiling(f"{spec.payee} cannot receive that much") from None
        raise
    row["payer_code"], row["payee_code"] = spec.payer, spec.payee
    return _result(_Row(row))


class _Row(SimpleNamespace):
    """A freshly written row dict that reads like a database row.

    Its values are plain attributes: a dict answering ``__getattr__`` paid a
    failed attribute lookup for every column read, 16 µs a transfer in batches.
    """

    def __init__(self, row: dict[str, Any]) -> None:
        super().__init__(**row)


# ---------------------------------------------------------------------------
# Batches


def create_transfers(
    session: Session,
    specs: Sequence[TransferSpec],
    *,
    created_by: str,
    is_atomic: bool = False,
    now: dt.datetime | None = None,
) -> list[BatchItemResult]:
    """Create up to ``BATCH_SIZE_MAX`` transfers in one database transaction.

    Items are applied in order, each seeing the effect of those before it.
    Each item gets a result: its transfer, or its error. With ``is_atomic``,
    one failing item means nothing is applied (the others get
    ``BatchNotApplied``).
    """
    if len(specs) > BATCH_SIZE_MAX:
        raise errors.BatchTooLarge(f"a batch holds at most {BATCH_SIZE_MAX} transfers, not {len(specs)}")
    _validate_created_by(created_by)
    for attempt in range(IDEMPOTENCY_RETRIES_MAX):
        try:
            return _create_batch_once(session, specs, created_by=created_by, is_atomic=is_atomic, now=now)
        except IntegrityError:
            # A concurrent writer inserted one of our ids between our lookup
            # and our insert; the next attempt finds it and replays it.
            session.rollback()
            if attempt == IDEMPOTENCY_RETRIES_MAX - 1:
                raise
    raise AssertionError("unreachable")


def create_transfers_together(
    session: Session,
    specs: Sequence[TransferSpec],
    *,
    created_by: str,
    before_commit: Callable[[Connection], None] | None = None,
    now: dt.datetime | None = None,
) -> list[TransferResult]:
    """Create every transfer of ``specs`` or none, in one database transaction, for another service.

    Items apply in order (a later one may spend what an earlier one brought
    in). ``before_commit(conn)`` runs inside the same transaction after the
    transfers are written, so a service records its own rows (a pool round's
    allocations) atomically with them; an exception it raises rolls
    everything back. The first failing item's error is raised as it is.
    Unlike the API's batches there is no size limit: the caller bounds it.
    """
    _validate_created_by(created_by)
    for attempt in range(IDEMPOTENCY_RETRIES_MAX):
        try:
            results = _create_batch_once(
                session, specs, created_by=created_by, is_atomic=True, now=now, before_commit=before_commit
            )
            break
        except IntegrityError:
            session.rollback()
            if attempt == IDEMPOTENCY_RETRIES_MAX - 1:
                raise
    for result in results:
        if result.error is not None and not isinstance(result.error, BatchNotApplied):
            raise result.error
    assert all(result.transfer is not None for result in results)
    return [result.transfer for result in results if result.transfer is not None]


class _AbortBatch(Exception):
    """Raised inside the transaction to roll an all-or-nothing batch back."""


def _create_batch_once(
    session: Session,
    specs: Sequence[TransferSpec],
    *,
    created_by: str,
    is_atomic: bool,
    now: dt.datetime | None,
    before_commit: Callable[[Connection], None] | None = None,
) -> list[BatchItemResult]:
    created_at = now or utc_now()
    # Per item: an error, a replayed transfer, or the index of its new row.
    outcomes: list[errors.MutualCreditError | TransferResult | int] = []
    new_rows: list[dict[str, Any]] = []
    first_of_id: dict[uuid.UUID, tuple[TransferSpec, int, int]] = {}
    try:
        with _transaction(session) as conn:
            valid = []
            for spec in specs:
                try:
                    _validate_spec(spec)
                    valid.append(spec)
                except errors.MutualCreditError as error:
                    outcomes.append(error)
                    continue
                outcomes.append(-1)
            existing = _fetch_transfers(conn, {spec.id for spec in valid})
            codes = {code for spec in valid if spec.id not in existing for code in (spec.payer, spec.payee)}
            accounts = _lock_accounts_by_code(conn, codes) if codes else _LockedAccounts()
            for index, spec in enumerate(specs):
                if outcomes[index] != -1:
                    continue
                try:
                    if spec.id in existing:
                        outcomes[index] = _replay(existing[spec.id], spec)
                    elif spec.id in first_of_id:
                        first_spec, row_index, _ = first_of_id[spec.id]
                        if first_spec != spec:
                            raise errors.IdempotencyConflict(
                                f"transfer id {spec.id} is used twice in this batch with different content"
                            )
                        outcomes[index] = row_index
                    else:
                        row = _apply_spec(spec, accounts, created_by=created_by, created_at=created_at)
                        first_of_id[spec.id] = (spec, len(new_rows), index)
                        outcomes[index] = len(new_rows)
                        new_rows.append(row)
                except errors.MutualCreditError as error:
                    outcomes[index] = error
            if is_atomic and any(isinstance(outcome, errors.MutualCreditError) for outcome in outcomes):
                raise _AbortBatch()
            for row, seq in zip(new_rows, _write(conn, new_rows, accounts), strict=True):
                row["seq"] = seq
            if before_commit is not None:
                before_commit(conn)
    except _AbortBatch:
        return [
            BatchItemResult(
                index,
                spec.id,
                error=outcome if isinstance(outcome, errors.MutualCreditError) else BatchNotApplied(),
            )
            for index, (spec, outcome) in enumerate(zip(specs, outcomes, strict=True))
        ]
    code_of = {account.id: account.code for account in accounts.values()}
    written = []
    for row in new_rows:
        row["payer_code"] = code_of[row["payer_account_id"]]
        row["payee_code"] = code_of[row["payee_account_id"]]
        written.append(_result(_Row(row)))
    results = []
    for index, (spec, outcome) in enumerate(zip(specs, outcomes, strict=True)):
        if isinstance(outcome, errors.MutualCreditError):
            results.append(BatchItemResult(index, spec.id, error=outcome))
        elif isinstance(outcome, TransferResult):
            results.append(BatchItemResult(index, spec.id, transfer=outcome))
        else:
            transfer = written[outcome]
            if first_of_id[spec.id][2] != index:
                transfer = _result(_Row(new_rows[outcome]), is_replay=True)
            results.append(BatchItemResult(index, spec.id, transfer=transfer))
    return results


# ---------------------------------------------------------------------------
# Two-phase transfers


def _resolution_id(pending_id: uuid.UUID) -> uuid.UUID:
    return uuid.uuid5(RESOLUTION_NAMESPACE, pending_id.hex)


def _load_pending(conn: Connection, pending_id: uuid.UUID) -> Any:
    row = _fetch_transfers(conn, [pending_id]).get(pending_id)
    if row is None:
        raise errors.PendingTransferNotFound(f"no pending transfer {pending_id}")
    if row.kind != TransferKind.PENDING:
        raise errors.NotPending(f"transfer {pending_id} is not a pending transfer")
    return row


def _existing_resolution(conn: Connection, pending_id: uuid.UUID) -> Any:
    rows = conn.execute(_TRANSFER_WITH_CODES.where(_transfers.c.pending_id == pending_id)).all()
    return rows[0] if rows else None


def _resolve_locked(
    conn: Connection,
    pending_id: uuid.UUID,
    *,
    kind: TransferKind,
    state: TransferState,
    amount_minor: int | None,
    resolution_id: uuid.UUID,
    created_by: str,
    created_at: dt.datetime,
) -> TransferResult:
    """Resolve a pending transfer inside the caller's database transaction."""
    pending = _load_pending(conn, pending_id)
    accounts = _lock_accounts_by_id(conn, (pending.payer_account_id, pending.payee_account_id))
    # Read the state again now that both accounts are locked: a
    # concurrent resolution has either committed or not started.
    pending = _load_pending(conn, pending_id)
    if pending.state != TransferState.PENDING:
        resolution = _existing_resolution(conn, pending_id)
        assert resolution is not None
        is_same = (
            resolution.kind == kind
            and resolution.id == resolution_id
            # No amount means the full pending amount: it repeats a full
            # post, not a partial one.
            and resolution.amount_minor == (pending.amount_minor if amount_minor is None else amount_minor)
        )
        if is_same:
            return _result(resolution, is_replay=True)
        raise _RESOLUTION_ERRORS[pending.state](
            f"pending transfer {pending_id} is already {pending.state}", transfer_id=str(pending_id)
        )
    if kind != TransferKind.EXPIRY and pending.expires_at is not None and pending.expires_at <= created_at:
        raise errors.PendingTransferExpired(f"pending transfer {pending_id} expired at {pending.expires_at}")
    payer, payee = accounts[pending.payer_code], accounts[pending.payee_code]
    payer.debits_pending -= pending.amount_minor
    payee.credits_pending -= pending.amount_minor
    released = pending.amount_minor
    if kind == TransferKind.POST:
        posted = pending.amount_minor if amount_minor is None else amount_minor
        if posted > pending.amount_minor:
            raise errors.ExceedsPendingAmount(
                f"cannot post {posted}: only {pending.amount_minor} is pending", pending_minor=pending.amount_minor
            )
        for account in (payer, payee):
            if account.status == AccountStatus.CLOSED:
                raise errors.AccountNotOpen(f"account {account.code} is closed", account=account.code)
        payer.balance -= posted
        payee.balance += posted
        released = posted
    row = _chain_row(
        id=resolution_id,
        kind=kind,
        state=state,
        payer=payer,
        payee=payee,
        amount_minor=released,
        description=pending.description,
        meta={},
        created_by=created_by,
        created_at=created_at,
        pending_id=pending_id,
    )
    (row["seq"],) = _write(conn, [row], accounts)
    changed = conn.execute(
        update(_transfers)
        .where(_transfers.c.id == pending_id, _transfers.c.state == TransferState.PENDING)
        .values(state=state)
    ).rowcount
    assert changed == 1
    row["payer_code"], row["payee_code"] = payer.code, payee.code
    return _result(_Row(row))


def _resolve(
    session: Session,
    pending_id: uuid.UUID,
    *,
    kind: TransferKind,
    amount_minor: int | None,
    resolution_id: uuid.UUID | None,
    created_by: str,
    now: dt.datetime | None,
) -> TransferResult:
    _validate_created_by(created_by)
    if amount_minor is not None and (not isinstance(amount_minor, int) or amount_minor <= 0):
        raise errors.InvalidAmount("the amount to post must be greater than zero")
    created_at = now or utc_now()
    resolution_id = resolution_id or _resolution_id(pending_id)
    state = {
        TransferKind.POST: TransferState.POSTED,
        TransferKind.VOID: TransferState.VOIDED,
        TransferKind.EXPIRY: TransferState.EXPIRED,
    }[kind]
    try:
        with _transaction(session) as conn:
            return _resolve_locked(
                conn,
                pending_id,
                kind=kind,
                state=state,
                amount_minor=amount_minor,
                resolution_id=resolution_id,
                created_by=created_by,
                created_at=created_at,
            )
    except IntegrityError:
        existing = _fetch_transfers(session.connection(), [resolution_id]).get(resolution_id)
        session.rollback()
        if existing is not None:
            raise errors.IdempotencyConflict(
                f"transfer id {resolution_id} was already used for a different transfer",
                transfer_id=str(resolution_id),
            ) from None
        raise


def post_pending_transfer(
    session: Session,
    pending_id: uuid.UUID,
    *,
    created_by: str,
    amount_minor: int | None = None,
    id: uuid.UUID | None = None,
    now: dt.datetime | None = None,
) -> TransferResult:
    """Post a pending transfer, in full or a smaller amount (the rest is released)."""
    return _resolve(
        session,
        pending_id,
        kind=TransferKind.POST,
        amount_minor=amount_minor,
        resolution_id=id,
        created_by=created_by,
        now=now,
    )


def void_pending_transfer(
    session: Session,
    pending_id: uuid.UUID,
    *,
    created_by: str,
    id: uuid.UUID | None = None,
    now: dt.datetime | None = None,
) -> TransferResult:
    """Release a pending transfer's hold without moving anything."""
    return _resolve(
        session, pending_id, kind=TransferKind.VOID, amount_minor=None, resolution_id=id, created_by=created_by, now=now
    )


def expire_overdue_transfers(
    session: Session,
    *,
    now: dt.datetime | None = None,
    batch_size_max: int = EXPIRY_BATCH_SIZE_MAX,
    created_by: str = "system:expiry",
) -> list[TransferResult]:
    """Record the expiry of pending transfers whose expiry has passed (at most ``batch_size_max``)."""
    now = now or utc_now()
    overdue = session.execute(
        select(_transfers.c.id)
        .where(_transfers.c.state == TransferState.PENDING, _transfers.c.expires_at <= now)
        .order_by(_transfers.c.expires_at, _transfers.c.seq)
        .limit(batch_size_max)
    ).scalars().all()
    session.rollback()
    expired = []
    for pending_id in overdue:
        # The derived resolution id first; should a client have taken it for
        # another transfer, a random one, so that one id cannot block expiry.
        for resolution_id in (None, uuid.uuid4()):
            try:
                expired.append(
                    _resolve(
                        session,
                        pending_id,
                        kind=TransferKind.EXPIRY,
                        amount_minor=None,
                        resolution_id=resolution_id,
                        created_by=created_by,
                        now=now,
                    )
                )
            except errors.IdempotencyConflict:
                continue
            except (
                errors.PendingTransferAlreadyPosted,
                errors.PendingTransferAlreadyVoided,
                errors.PendingTransferExpired,
            ):
                pass  # resolved concurrently: nothing left to expire
            break
    return expired


# ---------------------------------------------------------------------------
# Reversals


def reverse_transfer(
    session: Session,
    transfer_id: uuid.UUID,
    *,
    id: uuid.UUID,
    created_by: str,
    description: str | None = None,
    now: dt.datetime | None = None,
) -> TransferResult:
    """Correct a posted transfer with a new transfer the other way that points at it."""
    _validate_created_by(created_by)
    conn = session.connection()
    original = _fetch_transfers(conn, [transfer_id]).get(transfer_id)
    earlier = conn.execute(select(_transfers.c.id).where(_transfers.c.reverses_id == transfer_id)).scalar()
    session.rollback()
    if original is None:
        raise errors.TransferNotFound(f"no transfer {transfer_id}")
    if original.kind not in (TransferKind.TRANSFER, TransferKind.POST):
        raise errors.CannotReverse(f"a {original.kind} transfer moves no value; only posted transfers are reversed")
    # Being reversed already is checked before the limits: it is the reason
    # this reversal cannot happen, whatever the balances are now.
    if earlier is not None and earlier != id:
        raise errors.CannotReverse(f"transfer {transfer_id} was already reversed by {earlier}")
    spec = TransferSpec(
        id=id,
        payer=original.payee_code,
        payee=original.payer_code,
        amount_minor=original.amount_minor,
        description=description if description is not None else f"Reversal of {transfer_id}",
        metadata={},
        reverses_id=original.id,
    )
    _validate_spec(spec)
    # Reversals correct mistakes, so they go through even if a member was
    # suspended since; limits still hold.
    return _create_checked(session, spec, created_by=created_by, now=now, bypass_member_status=True)


# ---------------------------------------------------------------------------
# Closing accounts


def close_accounts(
    session: Session,
    codes: Sequence[str],
    *,
    write_off_to: str | None,
    write_off_ids: Mapping[str, uuid.UUID],
    description: str,
    metadata: Mapping[str, Any],
    created_by: str,
    now: dt.datetime | None = None,
    before_commit: Callable[[Connection, list[TransferResult]], None] | None = None,
) -> list[TransferResult]:
    """Close accounts in one database transaction, first moving any balance to ``write_off_to``.

    Accounts with pending holds are never closed. Without ``write_off_to``
    only accounts with a zero balance are. A write-off goes through the
    limits of the receiving account like any transfer.
    """
    created_at = now or utc_now()
    with _transaction(session) as conn:
        accounts = _lock_accounts_by_code(conn, [*codes, *([write_off_to] if write_off_to else [])])
        rows = []
        for code in codes:
            if code not in accounts:
                raise errors.AccountNotFound(f"no account {code!r}", account=code)
            account = accounts[code]
            if account.debits_pending or account.credits_pending:
                raise errors.MemberHasBalance(f"{code} still has pending holds; void or post them first")
            if not account.balance:
                continue
            if write_off_to is None:
                raise errors.MemberHasBalance(f"{code} has a balance; settle it or write it off")
            payer, payee = (write_off_to, code) if account.balance < 0 else (code, write_off_to)
            spec = TransferSpec(
                id=write_off_ids[code],
                payer=payer,
                payee=payee,
                amount_minor=abs(account.balance),
                description=description,
                metadata=metadata,
            )
            _validate_spec(spec)
            rows.append(_apply_spec(spec, accounts, created_by=created_by, created_at=created_at, bypass_member_status=True))
        for row, seq in zip(rows, _write(conn, rows, accounts), strict=True):
            row["seq"] = seq
        conn.execute(
            update(_accounts).where(_accounts.c.code.in_(list(codes))).values(status=AccountStatus.CLOSED)
        )
        code_of = {account.id: account.code for account in accounts.values()}
        for row in rows:
            row["payer_code"], row["payee_code"] = code_of[row["payer_account_id"]], code_of[row["payee_account_id"]]
        results = [_result(_Row(row)) for row in rows]
        if before_commit is not None:
            before_commit(conn, results)
    return results


# ---------------------------------------------------------------------------
# Accounts


@dataclass(frozen=True, slots=True)
class AccountView:
    """An account's figures as a treasurer sees them."""

    id: int
    code: str
    name: str
    kind: str
    status: str
    member_slug: str | None
    floor: int | None
    ceiling: int | None
    balance: int
    debits_pending: int
    credits_pending: int

    @property
    def available_minor(self) -> int | None:
        if self.floor is None:
            return None
        return self.balance - self.debits_pending - self.floor


def _account_view(account: Account, member_slug: str | None) -> AccountView:
    return AccountView(
        id=account.id,
        code=account.code,
        name=account.name,
        kind=account.kind,
        status=account.status,
        member_slug=member_slug,
        floor=account.floor,
        ceiling=account.ceiling,
        balance=account.balance,
        debits_pending=account.debits_pending,
        credits_pending=account.credits_pending,
    )


def list_accounts(session: Session, *, member_slug: str | None = None) -> list[AccountView]:
    """Every account (or one member's), by code."""
    query = select(Account, Member.slug).outerjoin(Member, Member.id == Account.member_id).order_by(Account.code)
    if member_slug is not None:
        query = query.where(Member.slug == member_slug)
    return [_account_view(account, slug) for account, slug in session.execute(query)]


def get_account(session: Session, code: str) -> AccountView:
    """One account by code."""
    row = session.execute(
        select(Account, Member.slug).outerjoin(Member, Member.id == Account.member_id).where(Account.code == code)
    ).first()
    if row is None:
        raise errors.AccountNotFound(f"no account {code!r}", account=code)
    return _account_view(row[0], row[1])


def open_account(
    session: Session,
    *,
    code: str,
    name: str,
    kind: str,
    floor: int | None,
    ceiling: int | None = None,
    member_id: int | None = None,
    actor: str,
) -> AccountView:
    """Open an account (members' accounts are opened by `members.service.add_member`)."""
    _check_limits_shape(floor, ceiling)
    if not ACCOUNT_CODE_PATTERN.match(code or ""):
        raise errors.InvalidInput("an account code is lower-case letters, digits and . _ : - (at most 100)")
    if kind not in {k.value for k in AccountKind}:
        raise errors.InvalidInput(f"unknown account kind {kind!r}")
    if kind == "member" and floor is None:
        raise errors.InvalidInput("a member's account needs a floor")
    with _transaction(session):
        if session.scalar(select(func.count()).select_from(_accounts).where(_accounts.c.code == code)):
            raise errors.AlreadyExists(f"an account {code!r} already exists")
        account = Account(code=code, name=name, kind=kind, floor=floor, ceiling=ceiling, member_id=member_id)
        session.add(account)
        session.flush()
        record_activity(
            session, actor=actor, action="account.open", subject=code, details={"floor": floor, "ceiling": ceiling}
        )
    return get_account(session, code)


def _check_limits_shape(floor: int | None, ceiling: int | None) -> None:
    if floor is not None and floor > 0:
        raise errors.InvalidInput("the floor must be zero or negative")
    if ceiling is not None and ceiling < 0:
        raise errors.InvalidInput("the ceiling must be zero or positive")
    for value in (floor, ceiling):
        if value is not None and abs(value) > AMOUNT_MINOR_MAX:
            raise errors.InvalidAmount("the limit is too large")


def set_account_limits(
    session: Session,
    code: str,
    *,
    floor: int | None,
    ceiling: int | None,
    actor: str,
    reason: str = "",
) -> AccountView:
    """Change an account's floor and ceiling; refused if the balance would fall outside them."""
    _check_limits_shape(floor, ceiling)
    with _transaction(session) as conn:
        locked = _lock_accounts_by_code(conn, [code])
        if code not in locked:
            raise errors.AccountNotFound(f"no account {code!r}", account=code)
        account = locked[code]
        kind = conn.execute(select(_accounts.c.kind).where(_accounts.c.id == account.id)).scalar_one()
        if kind == "member" and floor is None:
            raise errors.InvalidInput("a member's account needs a floor")
        if floor is not None and account.balance - account.debits_pending < floor:
            raise errors.LimitBelowBalance(
                f"{code} already stands at {account.balance - account.debits_pending} counting holds, below {floor}"
            )
        if ceiling is not None and account.balance + account.credits_pending > ceiling:
            raise errors.LimitBelowBalance(
                f"{code} already stands at {account.balance + account.credits_pending} counting holds, above {ceiling}"
            )
        conn.execute(update(_accounts).where(_accounts.c.id == account.id).values(floor=floor, ceiling=ceiling))
        record_activity(
            session,
            actor=actor,
            action="account.limits",
            subject=code,
            details={
                "floor": [account.floor, floor],
                "ceiling": [account.ceiling, ceiling],
                "reason": reason,
            },
        )
    return get_account(session, code)


def set_account_status(session: Session, code: str, *, status: str, actor: str, reason: str = "") -> AccountView:
    """Freeze, reopen or close an account (closing needs a zero balance and no holds)."""
    if status not in {s.value for s in AccountStatus}:
        raise errors.InvalidInput(f"unknown account status {status!r}")
    with _transaction(session) as conn:
        locked = _lock_accounts_by_code(conn, [code])
        if code not in locked:
            raise errors.AccountNotFound(f"no account {code!r}", account=code)
        account = locked[code]
        if status == AccountStatus.CLOSED and (account.balance or account.debits_pending or account.credits_pending):
            raise errors.MemberHasBalance(f"{code} can be closed only with a zero balance and no pending holds")
        conn.execute(update(_accounts).where(_accounts.c.id == account.id).values(status=status))
        record_activity(
            session, actor=actor, action="account.status", subject=code, details={"status": status, "reason": reason}
        )
    return get_account(session, code)


# ---------------------------------------------------------------------------
# Statements


@dataclass(frozen=True, slots=True)
class StatementLine:
    """One line of an account's statement: a movement and the balance after it."""

    seq: int
    transfer_id: uuid.UUID
    kind: str
    created_at: dt.datetime
    counterparty: str
    description: str
    amount_minor: int  # signed: negative when the account paid
    balance_after_minor: int
    pending_id: uuid.UUID | None
    reverses_id: uuid.UUID | None


STATEMENT_PAGE_SIZE_MAX = 1_000


def statement(
    session: Session,
    code: str,
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    counterparty: str | None = None,
    after_seq: int | None = None,
    limit: int = STATEMENT_PAGE_SIZE_MAX,
) -> list[StatementLine]:
    """The account's posted movements in order, each with the running balance after it.

    Pending holds move no balance and are not lines; their posting is.
    ``after_seq`` pages forward (pass the last line's ``seq``).
    """
    if not 1 <= limit <= STATEMENT_PAGE_SIZE_MAX:
        raise errors.InvalidInput(f"a statement page holds 1 to {STATEMENT_PAGE_SIZE_MAX} lines")
    account = get_account(session, code)
    moving = _transfers.c.kind.in_((TransferKind.TRANSFER, TransferKind.POST))
    touches = or_(_transfers.c.payer_account_id == account.id, _transfers.c.payee_account_id == account.id)
    signed = func.coalesce(
        func.sum(
            _signed_amount(account.id)
        ).over(order_by=_transfers.c.seq),
        0,
    )
    counterparty_id = _counterparty_account_id(account.id)
    inner = (
        select(
            _transfers.c.seq,
            _transfers.c.id,
            _transfers.c.kind,
            _transfers.c.created_at,
            _transfers.c.description,
            _transfers.c.pending_id,
            _transfers.c.reverses_id,
            _signed_amount(account.id).label("amount"),
            signed.label("balance_after"),
            counterparty_id.label("counterparty_id"),
        )
        .where(moving, touches)
        .subquery()
    )
    query = select(inner, _accounts.c.code.label("counterparty")).join(
        _accounts, _accounts.c.id == inner.c.counterparty_id
    )
    if since is not None:
        query = query.where(inner.c.created_at >= since)
    if until is not None:
        query = query.where(inner.c.created_at < until)
    if counterparty is not None:
        query = query.where(_accounts.c.code == counterparty)
    if after_seq is not None:
        query = query.where(inner.c.seq > after_seq)
    query = query.order_by(inner.c.seq).limit(limit)
    return [
        StatementLine(
            seq=row.seq,
            transfer_id=row.id,
            kind=row.kind,
            created_at=row.created_at,
            counterparty=row.counterparty,
            description=row.description,
            amount_minor=row.amount,
            balance_after_minor=row.balance_after,
            pending_id=row.pending_id,
            reverses_id=row.reverses_id,
        )
        for row in session.execute(query)
    ]


def _signed_amount(account_id: int) -> Any:
    return case(
        (_transfers.c.payee_account_id == account_id, _transfers.c.amount_minor),
        else_=-_transfers.c.amount_minor,
    )


def _counterparty_account_id(account_id: int) -> Any:
    return case(
        (_transfers.c.payee_account_id == account_id, _transfers.c.payer_account_id),
        else_=_transfers.c.payee_account_id,
    )
