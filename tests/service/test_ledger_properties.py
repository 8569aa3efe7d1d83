"""Random sequences of ledger operations agree with a model and keep the ledger sound.

A hypothesis state machine drives the real services on a real (SQLite)
database and, beside them, a small in-memory model of the documented
semantics (see the docstring of `mutualcredit.ledger.service` for the order
of the checks). Each step predicts its outcome from the model, success or
which typed error, and checks that the service agrees. After every step the
database must hold what the model holds, balances must sum to zero, no
account may stand outside its limits counting pending holds, and the audit
must be clean.

The example-based tests at the end pin down, one by one, the disagreements
the state machine found, so that each stays fixed under a name of its own.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
import sqlite3
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import pytest
from conftest import set_up_region
from hypothesis import Phase, event, note, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test
from sqlalchemy import select
from sqlalchemy.orm import Session

from mutualcredit import errors
from mutualcredit.db import make_engine, make_session_factory
from mutualcredit.ledger import requests
from mutualcredit.ledger import service as ledger
from mutualcredit.ledger.audit import run_audit
from mutualcredit.ledger.models import Account, PaymentRequest, Transfer
from mutualcredit.ledger.service import TransferResult, TransferSpec
from mutualcredit.money import AMOUNT_MINOR_MAX

START = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.timezone.utc)
ACTOR = "test"
# Tight limits, some with ceilings, so that refusals really happen.
MEMBERS: dict[str, tuple[int, int | None]] = {
    "ash": (-1_000, None),
    "birch": (-500, 800),
    "cedar": (0, 600),
    "dogwood": (-1_500, 400),
    "elm": (-300, 300),
}
COMMONS = "commons"  # opened by the region: no floor, no ceiling
CODES = (*MEMBERS, COMMONS)
UNKNOWN = "nobody"
AMOUNT_MAX_DRAWN = 1_200
DESCRIPTIONS = ("", "bread", "van-day")
STEPS_PER_EXAMPLE = 30
EXAMPLES = 40

T = TypeVar("T")
COMPILED_CACHE: dict[Any, Any] = {}


# ---------------------------------------------------------------------------
# The model


@dataclass
class ModelAccount:
    code: str
    is_member: bool
    floor: int | None
    ceiling: int | None
    balance: int = 0
    debits_pending: int = 0
    credits_pending: int = 0


@dataclass
class ModelTransfer:
    """One transfer row as the model expects it, with the result first returned for it."""

    id: uuid.UUID
    kind: str
    state: str
    payer: str
    payee: str
    amount_minor: int
    description: str
    metadata: Mapping[str, Any]
    pending_id: uuid.UUID | None = None
    reverses_id: uuid.UUID | None = None
    expires_at: dt.datetime | None = None
    result: TransferResult | None = None


@dataclass
class ModelRequest:
    id: uuid.UUID
    payer: str
    payee: str
    amount_minor: int
    description: str
    expires_at: dt.datetime | None
    state: str = "open"
    transfer_id: uuid.UUID | None = None


@dataclass(frozen=True)
class Refusal:
    """The typed error the model predicts, with the details it must carry."""

    error: type[errors.MutualCreditError]
    details: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Replay:
    """The model predicts the first result for this id."""

    transfer: ModelTransfer


@dataclass(frozen=True)
class Success:
    pass


Prediction = Refusal | Replay | Success

_RESOLVED_ERRORS: dict[str, type[errors.MutualCreditError]] = {
    "posted": errors.PendingTransferAlreadyPosted,
    "voided": errors.PendingTransferAlreadyVoided,
    "expired": errors.PendingTransferExpired,
}


class Model:
    """What the ledger should hold, worked out without the code under test."""

    def __init__(self) -> None:
        self.accounts = {code: ModelAccount(code, True, floor, ceiling) for code, (floor, ceiling) in MEMBERS.items()}
        self.accounts[COMMONS] = ModelAccount(COMMONS, False, None, None)
        self.transfers: dict[uuid.UUID, ModelTransfer] = {}
        self.resolution_of: dict[uuid.UUID, uuid.UUID] = {}  # pending id -> resolution id
        self.reversal_of: dict[uuid.UUID, uuid.UUID] = {}  # original id -> reversal id
        self.requests: dict[uuid.UUID, ModelRequest] = {}
        self.now = START

    # Checks, in the documented order -------------------------------------

    @staticmethod
    def shape_refusal(spec: TransferSpec) -> Refusal | None:
        if spec.amount_minor <= 0 or spec.amount_minor > AMOUNT_MINOR_MAX:
            return Refusal(errors.InvalidAmount)
        if spec.payer == spec.payee:
            return Refusal(errors.SameAccount)
        if spec.expires_at is not None and (not spec.pending or spec.expires_at.tzinfo is None):
            return Refusal(errors.InvalidInput)
        return None

    def expiry_refusal(self, spec: TransferSpec) -> Refusal | None:
        """A new pending transfer must expire in the future (checked after idempotency)."""
        if spec.expires_at is not None and spec.expires_at <= self.now:
            return Refusal(errors.InvalidInput)
        return None

    def existence_refusal(self, *codes: str) -> Refusal | None:
        for code in codes:
            if code not in self.accounts:
                return Refusal(errors.AccountNotFound, {"account": code})
        return None

    def room_refusal(self, payer_code: str, payee_code: str, amount_minor: int) -> Refusal | None:
        """The payer's floor, then the payee's ceiling, counting pending holds."""
        payer, payee = self.accounts[payer_code], self.accounts[payee_code]
        if payer.floor is not None:
            available = payer.balance - payer.debits_pending - payer.floor
            if amount_minor > available:
                return Refusal(errors.ExceedsFloor, {"account": payer_code, "available_minor": max(available, 0)})
        if payee.ceiling is not None:
            room = payee.ceiling - payee.balance - payee.credits_pending
            if amount_minor > room:
                return Refusal(errors.ExceedsCeiling, {"account": payee_code, "room_minor": max(room, 0)})
        return None

    @staticmethod
    def has_same_content(row: ModelTransfer, spec: TransferSpec) -> bool:
        return (
            row.kind == ("pending" if spec.pending else "transfer")
            and (row.payer, row.payee, row.amount_minor, row.description)
            == (spec.payer, spec.payee, spec.amount_minor, spec.description)
            and dict(row.metadata) == dict(spec.metadata)
            and row.expires_at == spec.expires_at
            and row.reverses_id == spec.reverses_id
        )

    def idempotency(self, spec: TransferSpec) -> Prediction | None:
        row = self.transfers.get(spec.id)
        if row is None:
            return None
        return Replay(row) if self.has_same_content(row, spec) else Refusal(errors.IdempotencyConflict)

    def predict_transfer(self, spec: TransferSpec) -> Prediction:
        return (
            self.shape_refusal(spec)
            or self.idempotency(spec)
            or self.expiry_refusal(spec)
            or self.existence_refusal(spec.payer, spec.payee)
            or self.room_refusal(spec.payer, spec.payee, spec.amount_minor)
            or Success()
        )

    def predict_resolution(
        self, pending_id: uuid.UUID, *, kind: str, amount_minor: int | None, resolution_id: uuid.UUID | None
    ) -> Prediction:
        if amount_minor is not None and amount_minor <= 0:
            return Refusal(errors.InvalidAmount)
        pending = self.transfers.get(pending_id)
        if pending is None:
            return Refusal(errors.PendingTransferNotFound)
        if pending.kind != "pending":
            return Refusal(errors.NotPending)
        effective_id = resolution_id or ledger._resolution_id(pending_id)
        resolution = self.transfers.get(self.resolution_of[pending_id]) if pending_id in self.resolution_of else None
        # An id already used for another transfer is an idempotency conflict,
        # never a new row (the state machine only tries this on open pending
        # transfers, where nothing else can be refused).
        if effective_id in self.transfers and effective_id != (resolution.id if resolution else None):
            return Refusal(errors.IdempotencyConflict)
        if resolution is not None:
            is_same = (
                resolution.kind == kind
                and resolution.id == effective_id
                # No amount means the full pending amount, so it repeats a full post only.
                and resolution.amount_minor == (pending.amount_minor if amount_minor is None else amount_minor)
            )
            return Replay(resolution) if is_same else Refusal(_RESOLVED_ERRORS[pending.state])
        if pending.expires_at is not None and pending.expires_at <= self.now:
            return Refusal(errors.PendingTransferExpired)
        if kind == "post" and amount_minor is not None and amount_minor > pending.amount_minor:
            return Refusal(errors.ExceedsPendingAmount, {"pending_minor": pending.amount_minor})
        return Success()

    def reversal_spec(self, original_id: uuid.UUID, reversal_id: uuid.UUID) -> TransferSpec:
        original = self.transfers[original_id]
        return TransferSpec(
            id=reversal_id,
            payer=original.payee,
            payee=original.payer,
            amount_minor=original.amount_minor,
            description=f"Reversal of {original_id}",
            metadata={},
            reverses_id=original_id,
        )

    def predict_reversal(self, original_id: uuid.UUID, reversal_id: uuid.UUID) -> Prediction:
        original = self.transfers.get(original_id)
        if original is None:
            return Refusal(errors.TransferNotFound)
        if original.kind not in ("transfer", "post"):
            return Refusal(errors.CannotReverse)
        # Being reversed already (by another id) is a fact about the original,
        # like its kind: it comes before the reversal's own id and before the
        # limits, so reversing twice is CannotReverse whatever the balances.
        earlier = self.reversal_of.get(original_id)
        if earlier is not None and earlier != reversal_id:
            return Refusal(errors.CannotReverse)
        spec = self.reversal_spec(original_id, reversal_id)
        return self.idempotency(spec) or self.room_refusal(spec.payer, spec.payee, spec.amount_minor) or Success()

    def predict_limits(self, code: str, floor: int | None, ceiling: int | None) -> Prediction:
        if (floor is not None and floor > 0) or (ceiling is not None and ceiling < 0):
            return Refusal(errors.InvalidInput)
        account = self.accounts.get(code)
        if account is None:
            return Refusal(errors.AccountNotFound, {"account": code})
        if account.is_member and floor is None:
            return Refusal(errors.InvalidInput)
        if floor is not None and account.balance - account.debits_pending < floor:
            return Refusal(errors.LimitBelowBalance)
        if ceiling is not None and account.balance + account.credits_pending > ceiling:
            return Refusal(errors.LimitBelowBalance)
        return Success()

    def predict_request(
        self,
        *,
        id: uuid.UUID,
        payer: str,
        payee: str,
        amount_minor: int,
        description: str,
        expires_at: dt.datetime | None,
    ) -> Prediction | ModelRequest:
        if amount_minor <= 0 or amount_minor > AMOUNT_MINOR_MAX:
            return Refusal(errors.InvalidAmount)
        if payer == payee:
            return Refusal(errors.SameAccount)
        # Idempotent on id: a retry is answered with the first request even
        # once the clock has passed its expiry (a property of the retry's
        # moment, not of its shape).
        known = self.requests.get(id)
        if known is not None:
            same = (known.payer, known.payee, known.amount_minor, known.description, known.expires_at) == (
                payer,
                payee,
                amount_minor,
                description,
                expires_at,
            )
            return known if same else Refusal(errors.IdempotencyConflict)
        if expires_at is not None and expires_at <= self.now:
            return Refusal(errors.InvalidInput)
        return self.existence_refusal(payer, payee) or Success()

    def is_overdue(self, request: ModelRequest) -> bool:
        return request.state == "open" and request.expires_at is not None and request.expires_at <= self.now

    # Effects -------------------------------------------------------------

    def apply_transfer(self, spec: TransferSpec, result: TransferResult) -> None:
        payer, payee = self.accounts[spec.payer], self.accounts[spec.payee]
        if spec.pending:
            payer.debits_pending += spec.amount_minor
            payee.credits_pending += spec.amount_minor
        else:
            payer.balance -= spec.amount_minor
            payee.balance += spec.amount_minor
        self.transfers[spec.id] = ModelTransfer(
            id=spec.id,
            kind="pending" if spec.pending else "transfer",
            state="pending" if spec.pending else "posted",
            payer=spec.payer,
            payee=spec.payee,
            amount_minor=spec.amount_minor,
            description=spec.description,
            metadata=dict(spec.metadata),
            reverses_id=spec.reverses_id,
            expires_at=spec.expires_at,
            result=result,
        )
        if spec.reverses_id is not None:
            self.reversal_of[spec.reverses_id] = spec.id

    def apply_resolution(self, pending_id: uuid.UUID, kind: str, posted_minor: int, result: TransferResult) -> None:
        pending = self.transfers[pending_id]
        payer, payee = self.accounts[pending.payer], self.accounts[pending.payee]
        payer.debits_pending -= pending.amount_minor
        payee.credits_pending -= pending.amount_minor
        if kind == "post":
            payer.balance -= posted_minor
            payee.balance += posted_minor
        state = {"post": "posted", "void": "voided", "expiry": "expired"}[kind]
        pending.state = state
        self.transfers[result.id] = ModelTransfer(
            id=result.id,
            kind=kind,
            state=state,
            payer=pending.payer,
            payee=pending.payee,
            amount_minor=posted_minor if kind == "post" else pending.amount_minor,
            description=pending.description,
            metadata={},
            pending_id=pending_id,
            result=result,
        )
        self.resolution_of[pending_id] = result.id

    def overdue_pending_ids(self) -> set[uuid.UUID]:
        return {
            row.id
            for row in self.transfers.values()
            if row.kind == "pending"
            and row.state == "pending"
            and row.expires_at is not None
            and row.expires_at <= self.now
        }


# ---------------------------------------------------------------------------
# Checking outcomes


def attempt(call: Callable[[], T]) -> tuple[T | None, errors.MutualCreditError | None]:
    """Run a service call; a typed error is an outcome, anything else a failure."""
    try:
        return call(), None
    except errors.MutualCreditError as error:
        return None, error


def check_refused(what: str, expected: Refusal, outcome: object, error: errors.MutualCreditError | None) -> None:
    event(f"{what.split(':')[0]}: {expected.error.__name__}")
    note(f"{what} -> expecting {expected.error.__name__}")
    assert error is not None, f"{what}: expected {expected.error.__name__}, but it succeeded with {outcome!r}"
    assert type(error) is expected.error, (
        f"{what}: expected {expected.error.__name__}, got {type(error).__name__}: {error}"
    )
    for key, value in expected.details.items():
        assert error.details.get(key) == value, f"{what}: {key} should be {value!r}, not {error.details.get(key)!r}"


def check_succeeded(what: str, error: errors.MutualCreditError | None, *, outcome: str = "ok") -> None:
    event(f"{what.split(':')[0]}: {outcome}")
    note(f"{what} -> expecting {outcome}")
    assert error is None, f"{what}: expected success, got {type(error).__name__}: {error}"


_RESULT_FIELDS = (
    "id",
    "seq",
    "kind",
    "payer",
    "payee",
    "amount_minor",
    "description",
    "metadata",
    "pending_id",
    "reverses_id",
    "expires_at",
    "created_by",
    "created_at",
    "hash",
)


def check_same_transfer(what: str, result: TransferResult, first: ModelTransfer) -> None:
    assert first.result is not None
    for name in _RESULT_FIELDS:
        assert getattr(result, name) == getattr(first.result, name), f"{what}: {name} differs from the first result"
    assert result.state == first.state, f"{what}: state {result.state}, the model says {first.state}"


def check_replayed(
    what: str, result: TransferResult | None, error: errors.MutualCreditError | None, first: ModelTransfer
) -> None:
    check_succeeded(what, error, outcome="replay")
    assert result is not None
    assert result.is_replay, f"{what}: a retry must be answered as a replay"
    check_same_transfer(what, result, first)


def weighted(data: st.DataObject, *options: tuple[int, str]) -> str:
    """Draw one of the labels, with the given weights (the first is what examples shrink towards)."""
    pick = data.draw(st.integers(0, sum(weight for weight, _ in options) - 1))
    for weight, label in options:
        if pick < weight:
            return label
        pick -= weight
    raise AssertionError("unreachable")


codes = st.sampled_from(CODES)
descriptions = st.sampled_from(DESCRIPTIONS)
metadatas = st.sampled_from([{}, {"order": 7}])


# ---------------------------------------------------------------------------
# The state machine


class LedgerMachine(RuleBasedStateMachine):
    """Random operations on the real services, each checked against the model."""

    template: ClassVar[Path]

    def __init__(self) -> None:
        super().__init__()
        self.directory = Path(tempfile.mkdtemp(prefix="ledger-machine-"))
        path = self.directory / "ledger.sqlite3"
        shutil.copyfile(self.template, path)
        self.engine = make_engine(f"sqlite:///{path}")
        # Every example has its own engine; sharing one cache of compiled
        # statements spares compiling them all again for each example.
        self.session: Session = make_session_factory(self.engine.execution_options(compiled_cache=COMPILED_CACHE))()
        self.model = Model()
        self.ids_made = 0
        self.transfer_attempts: list[TransferSpec] = []
        self.request_attempts: list[dict[str, Any]] = []

    def teardown(self) -> None:
        self.session.close()
        self.engine.dispose()
        shutil.rmtree(self.directory, ignore_errors=True)

    # Drawing inputs ------------------------------------------------------

    def fresh_id(self) -> uuid.UUID:
        """A new id. Counted, not drawn: an id's value never matters, and drawn ids shrink slowly."""
        self.ids_made += 1
        return uuid.UUID(int=self.ids_made, version=4)

    def draw_code(self, data: st.DataObject) -> str:
        return UNKNOWN if weighted(data, (19, "known"), (1, "unknown")) == "unknown" else data.draw(codes)

    def draw_counterparty(self, data: st.DataObject, code: str) -> str:
        """Another account, mostly: now and then the same one, or one that does not exist."""
        match weighted(data, (18, "other"), (1, "same"), (1, "unknown")):
            case "other":
                return data.draw(st.sampled_from([other for other in CODES if other != code]))
            case "same":
                return code
            case _:
                return UNKNOWN

    def draw_amount(self, data: st.DataObject) -> int:
        match weighted(data, (18, "fits"), (1, "not positive"), (1, "too large")):
            case "fits":
                return data.draw(st.integers(1, AMOUNT_MAX_DRAWN))
            case "not positive":
                return data.draw(st.integers(-5, 0))
            case _:
                return AMOUNT_MINOR_MAX + 1

    def draw_expiry(self, data: st.DataObject) -> dt.datetime:
        return self.model.now + dt.timedelta(
            minutes=data.draw(st.integers(1, 60)), seconds=data.draw(st.integers(0, 59))
        )

    def draw_spec(self, data: st.DataObject, *, pending: bool | None = None) -> TransferSpec:
        if pending is None:
            pending = weighted(data, (3, "transfer"), (1, "pending")) == "pending"
        expires_at = None
        if pending and weighted(data, (2, "expires"), (1, "lasts")) == "expires":
            expires_at = self.draw_expiry(data)
        elif not pending and weighted(data, (30, "none"), (1, "misplaced expiry")) == "misplaced expiry":
            expires_at = self.draw_expiry(data)  # refused: only a pending transfer expires
        payer = self.draw_code(data)
        return TransferSpec(
            id=self.fresh_id(),
            payer=payer,
            payee=self.draw_counterparty(data, payer),
            amount_minor=self.draw_amount(data),
            description=data.draw(descriptions),
            metadata=data.draw(metadatas),
            pending=pending,
            expires_at=expires_at,
        )

    # Transfers -------------------------------------------------------------

    def submit_transfer(self, spec: TransferSpec, what: str) -> None:
        self.transfer_attempts.append(spec)
        expected = self.model.predict_transfer(spec)
        result, error = attempt(
            lambda: ledger.create_transfer(self.session, spec, created_by=ACTOR, now=self.model.now)
        )
        match expected:
            case Refusal():
                check_refused(what, expected, result, error)
            case Replay(first):
                check_replayed(what, result, error, first)
            case Success():
                check_succeeded(what, error)
                assert result is not None and not result.is_replay
                assert (result.id, result.payer, result.payee, result.amount_minor, result.state) == (
                    spec.id,
                    spec.payer,
                    spec.payee,
                    spec.amount_minor,
                    "pending" if spec.pending else "posted",
                )
                self.model.apply_transfer(spec, result)

    @rule(data=st.data())
    def create_a_transfer(self, data: st.DataObject) -> None:
        self.submit_transfer(self.draw_spec(data), "create_transfer: new id")

    @rule(data=st.data())
    def create_a_pending_transfer(self, data: st.DataObject) -> None:
        self.submit_transfer(self.draw_spec(data, pending=True), "create_transfer: new id, pending")

    @precondition(lambda self: self.transfer_attempts)
    @rule(data=st.data())
    def retry_a_transfer_with_the_same_id_and_content(self, data: st.DataObject) -> None:
        spec = data.draw(st.sampled_from(self.transfer_attempts))
        self.submit_transfer(spec, "create_transfer: retried")

    @precondition(lambda self: self.model.transfers)
    @rule(data=st.data())
    def reuse_a_transfer_id_for_other_content(self, data: st.DataObject) -> None:
        row = self.model.transfers[data.draw(st.sampled_from(sorted(self.model.transfers)))]
        original = TransferSpec(
            id=row.id,
            payer=row.payer,
            payee=row.payee,
            amount_minor=row.amount_minor,
            description=row.description,
            metadata=row.metadata,
            pending=row.kind == "pending",
            expires_at=row.expires_at,
        )
        match data.draw(st.sampled_from(["amount", "payee", "unknown payee", "description", "metadata", "kind"])):
            case "amount":
                changed = {"amount_minor": row.amount_minor + 1}
            case "payee":
                changed = {"payee": data.draw(st.sampled_from([code for code in CODES if code != row.payer]))}
            case "unknown payee":
                changed = {"payee": UNKNOWN}  # idempotency comes before the accounts' existence
            case "description":
                changed = {"description": row.description + " (changed)"}
            case "metadata":
                changed = {"metadata": {"changed": True}}
            case _:
                changed = {"pending": row.kind != "pending", "expires_at": None}
        spec = dataclasses.replace(original, **changed)
        self.submit_transfer(spec, "create_transfer: id reused")

    # Two-phase transfers ---------------------------------------------------

    def pending_ids(self) -> list[uuid.UUID]:
        return sorted(row.id for row in self.model.transfers.values() if row.kind == "pending")

    def draw_resolution_target(self, data: st.DataObject) -> uuid.UUID:
        pending_ids = self.pending_ids()
        open_ids = [i for i in pending_ids if self.model.transfers[i].state == "pending"]
        match weighted(data, (10, "open"), (6, "pending"), (1, "not pending"), (1, "unknown")):
            case "open" if open_ids:
                return data.draw(st.sampled_from(open_ids))
            case "open" | "pending" if pending_ids:
                return data.draw(st.sampled_from(pending_ids))
            case "not pending" if self.model.transfers:
                return data.draw(st.sampled_from(sorted(self.model.transfers)))
            case _:
                return self.fresh_id()

    def draw_resolution_id(self, data: st.DataObject, pending_id: uuid.UUID, *, may_collide: bool) -> uuid.UUID | None:
        choice = weighted(data, (6, "default"), (2, "chosen"), (2, "as before"), (1, "used elsewhere"))
        if choice == "chosen":
            return self.fresh_id()
        if choice == "as before" and pending_id in self.model.resolution_of:
            return self.model.resolution_of[pending_id]
        if choice == "used elsewhere" and may_collide:
            others = sorted(i for i in self.model.transfers if i != pending_id)
            if others:
                return data.draw(st.sampled_from(others))
        return None

    def is_open_and_current(self, pending_id: uuid.UUID) -> bool:
        row = self.model.transfers.get(pending_id)
        return (
            row is not None
            and row.kind == "pending"
            and row.state == "pending"
            and (row.expires_at is None or row.expires_at > self.model.now)
        )

    def submit_resolution(
        self, pending_id: uuid.UUID, kind: str, amount_minor: int | None, resolution_id: uuid.UUID | None
    ) -> None:
        what = f"{kind}_pending_transfer: {pending_id}, amount {amount_minor}, id {resolution_id or 'by default'}"
        expected = self.model.predict_resolution(
            pending_id, kind=kind, amount_minor=amount_minor, resolution_id=resolution_id
        )
        if kind == "post":
            call = lambda: ledger.post_pending_transfer(  # noqa: E731
                self.session,
                pending_id,
                created_by=ACTOR,
                amount_minor=amount_minor,
                id=resolution_id,
                now=self.model.now,
            )
        else:
            call = lambda: ledger.void_pending_transfer(  # noqa: E731
                self.session, pending_id, created_by=ACTOR, id=resolution_id, now=self.model.now
            )
        result, error = attempt(call)
        match expected:
            case Refusal():
                check_refused(what, expected, result, error)
            case Replay(first):
                check_replayed(what, result, error, first)
            case Success():
                check_succeeded(what, error)
                assert result is not None and not result.is_replay
                pending = self.model.transfers[pending_id]
                posted = (
                    (pending.amount_minor if amount_minor is None else amount_minor)
                    if kind == "post"
                    else pending.amount_minor
                )
                assert result.id == (resolution_id or ledger._resolution_id(pending_id))
                assert (result.kind, result.pending_id, result.amount_minor) == (kind, pending_id, posted)
                assert (result.payer, result.payee) == (pending.payer, pending.payee)
                self.model.apply_resolution(pending_id, kind, posted, result)

    @precondition(lambda self: self.pending_ids())
    @rule(data=st.data())
    def post_a_pending_transfer(self, data: st.DataObject) -> None:
        pending_id = self.draw_resolution_target(data)
        pending = self.model.transfers.get(pending_id)
        full = pending.amount_minor if pending is not None else 1
        match weighted(
            data, (5, "full"), (4, "partial"), (1, "stated in full"), (1, "more than pending"), (1, "not positive")
        ):
            case "full":
                amount_minor = None
            case "partial":
                amount_minor = data.draw(st.integers(1, full))
            case "stated in full":
                amount_minor = full
            case "more than pending":
                amount_minor = full + data.draw(st.integers(1, 100))
            case _:
                amount_minor = data.draw(st.integers(-3, 0))
        may_collide = self.is_open_and_current(pending_id) and (amount_minor is None or 0 < amount_minor <= full)
        resolution_id = self.draw_resolution_id(data, pending_id, may_collide=may_collide)
        self.submit_resolution(pending_id, "post", amount_minor, resolution_id)

    @precondition(lambda self: self.pending_ids())
    @rule(data=st.data())
    def void_a_pending_transfer(self, data: st.DataObject) -> None:
        pending_id = self.draw_resolution_target(data)
        resolution_id = self.draw_resolution_id(data, pending_id, may_collide=self.is_open_and_current(pending_id))
        self.submit_resolution(pending_id, "void", None, resolution_id)

    @rule(
        minutes=st.integers(0, 90),
        seconds=st.integers(0, 59),
        expire_transfers=st.booleans(),
        expire_requests=st.booleans(),
    )
    def let_time_pass_and_run_the_expiry_jobs(
        self, minutes: int, seconds: int, expire_transfers: bool, expire_requests: bool
    ) -> None:
        self.model.now += dt.timedelta(minutes=minutes, seconds=seconds)
        if expire_transfers:
            self.expire_overdue_transfers()
        if expire_requests:
            self.expire_overdue_payment_requests()

    def expire_overdue_transfers(self) -> None:
        overdue = self.model.overdue_pending_ids()
        expired = ledger.expire_overdue_transfers(self.session, now=self.model.now)
        event(f"expire_overdue_transfers: {min(len(expired), 2)}{'+' if len(expired) >= 2 else ''} expired")
        assert {result.pending_id for result in expired} == overdue
        assert len(expired) == len(overdue)
        for result in expired:
            assert result.pending_id is not None
            assert result.kind == "expiry" and not result.is_replay
            assert result.id == ledger._resolution_id(result.pending_id)
            assert result.amount_minor == self.model.transfers[result.pending_id].amount_minor
            self.model.apply_resolution(result.pending_id, "expiry", 0, result)

    # Reversals ------------------------------------------------------------

    @precondition(lambda self: any(row.kind in ("transfer", "post") for row in self.model.transfers.values()))
    @rule(data=st.data())
    def reverse_a_transfer(self, data: st.DataObject) -> None:
        movers = sorted(row.id for row in self.model.transfers.values() if row.kind in ("transfer", "post"))
        others = sorted(row.id for row in self.model.transfers.values() if row.kind not in ("transfer", "post"))
        match weighted(data, (12, "mover"), (1, "other"), (1, "unknown")):
            case "mover" if movers:
                original_id = data.draw(st.sampled_from(movers))
            case "other" if others:
                original_id = data.draw(st.sampled_from(others))
            case _:
                original_id = self.fresh_id()
        match weighted(data, (6, "fresh"), (3, "retry"), (1, "used elsewhere")):
            case "retry" if original_id in self.model.reversal_of:
                reversal_id = self.model.reversal_of[original_id]
            case "used elsewhere" if self.model.transfers:
                reversal_id = data.draw(st.sampled_from(sorted(self.model.transfers)))
            case _:
                reversal_id = self.fresh_id()
        what = f"reverse_transfer: {original_id}, id {reversal_id}"
        expected = self.model.predict_reversal(original_id, reversal_id)
        result, error = attempt(
            lambda: ledger.reverse_transfer(
                self.session, original_id, id=reversal_id, created_by=ACTOR, now=self.model.now
            )
        )
        match expected:
            case Refusal():
                check_refused(what, expected, result, error)
            case Replay(first):
                check_replayed(what, result, error, first)
            case Success():
                check_succeeded(what, error)
                assert result is not None and not result.is_replay
                spec = self.model.reversal_spec(original_id, reversal_id)
                assert (result.payer, result.payee, result.amount_minor, result.reverses_id) == (
                    spec.payer,
                    spec.payee,
                    spec.amount_minor,
                    original_id,
                )
                self.model.apply_transfer(spec, result)

    # Limits ----------------------------------------------------------------

    @rule(data=st.data())
    def change_an_account_s_limits(self, data: st.DataObject) -> None:
        code = self.draw_code(data)
        account = self.model.accounts.get(code)
        low = account.balance - account.debits_pending if account else 0
        high = account.balance + account.credits_pending if account else 0
        match weighted(data, (8, "near"), (4, "anywhere"), (1, "none"), (1, "positive")):
            case "near":
                floor = min(0, low + data.draw(st.integers(-400, 150)))
            case "anywhere":
                floor = data.draw(st.integers(-2_000, 0))
            case "none":
                floor = None
            case _:
                floor = data.draw(st.integers(1, 50))
        match weighted(data, (6, "none"), (6, "near"), (1, "negative")):
            case "none":
                ceiling = None
            case "near":
                ceiling = max(0, high + data.draw(st.integers(-150, 400)))
            case _:
                ceiling = -data.draw(st.integers(1, 50))
        what = f"set_account_limits: {code}, floor {floor}, ceiling {ceiling}"
        expected = self.model.predict_limits(code, floor, ceiling)
        view, error = attempt(
            lambda: ledger.set_account_limits(
                self.session, code, floor=floor, ceiling=ceiling, actor=ACTOR, reason="test"
            )
        )
        match expected:
            case Refusal():
                check_refused(what, expected, view, error)
            case _:
                check_succeeded(what, error)
                assert view is not None and (view.floor, view.ceiling) == (floor, ceiling)
                self.model.accounts[code].floor = floor
                self.model.accounts[code].ceiling = ceiling

    # Payment requests ------------------------------------------------------

    def submit_request(self, content: dict[str, Any], what: str) -> None:
        self.request_attempts.append(content)
        expected = self.model.predict_request(**content)
        view, error = attempt(
            lambda: requests.create_payment_request(self.session, **content, created_by=ACTOR, now=self.model.now)
        )
        match expected:
            case Refusal():
                check_refused(what, expected, view, error)
            case ModelRequest() as known:
                check_succeeded(what, error, outcome="replay")
                assert view is not None
                assert (view.id, view.payer, view.payee, view.amount_minor, view.state) == (
                    known.id,
                    known.payer,
                    known.payee,
                    known.amount_minor,
                    known.state,
                ), f"{what}: a retried request must answer the first one"
            case _:
                check_succeeded(what, error)
                assert view is not None and view.state == "open"
                self.model.requests[content["id"]] = ModelRequest(
                    id=content["id"],
                    payer=content["payer"],
                    payee=content["payee"],
                    amount_minor=content["amount_minor"],
                    description=content["description"],
                    expires_at=content["expires_at"],
                )

    @rule(data=st.data())
    def create_a_payment_request(self, data: st.DataObject) -> None:
        match weighted(data, (4, "none"), (4, "future"), (1, "past")):
            case "none":
                expires_at = None
            case "future":
                expires_at = self.draw_expiry(data)
            case _:
                expires_at = self.model.now - dt.timedelta(minutes=data.draw(st.integers(0, 30)))
        payee = self.draw_code(data)
        content = {
            "id": self.fresh_id(),
            "payer": self.draw_counterparty(data, payee),
            "payee": payee,
            "amount_minor": self.draw_amount(data),
            "description": data.draw(descriptions),
            "expires_at": expires_at,
        }
        self.submit_request(content, "create_payment_request: new id")

    @precondition(lambda self: self.request_attempts)
    @rule(data=st.data())
    def retry_a_payment_request(self, data: st.DataObject) -> None:
        self.submit_request(data.draw(st.sampled_from(self.request_attempts)), "create_payment_request: retried")

    @precondition(lambda self: self.model.requests)
    @rule(data=st.data())
    def reuse_a_payment_request_id_for_other_content(self, data: st.DataObject) -> None:
        known = self.model.requests[data.draw(st.sampled_from(sorted(self.model.requests)))]
        content = {
            "id": known.id,
            "payer": known.payer,
            "payee": known.payee,
            "amount_minor": known.amount_minor,
            "description": known.description,
            "expires_at": known.expires_at,
        }
        match data.draw(st.sampled_from(["amount", "description", "payer", "expiry"])):
            case "amount":
                content["amount_minor"] += 1
            case "description":
                content["description"] += " (changed)"
            case "payer":
                content["payer"] = data.draw(
                    st.sampled_from([code for code in CODES if code not in (known.payer, known.payee)])
                )
            case _:
                content["expires_at"] = self.draw_expiry(data)
        self.submit_request(content, "create_payment_request: id reused")

    def draw_request_id(self, data: st.DataObject) -> uuid.UUID:
        open_ids = sorted(i for i, known in self.model.requests.items() if known.state == "open")
        match weighted(data, (6, "open"), (3, "known"), (1, "unknown")):
            case "open" if open_ids:
                return data.draw(st.sampled_from(open_ids))
            case "open" | "known":
                return data.draw(st.sampled_from(sorted(self.model.requests)))
            case _:
                return self.fresh_id()

    @precondition(lambda self: self.model.requests)
    @rule(data=st.data())
    def accept_a_payment_request(self, data: st.DataObject) -> None:
        request_id = self.draw_request_id(data)
        what = f"accept_payment_request: {request_id}"
        known = self.model.requests.get(request_id)
        transfer, error = attempt(
            lambda: requests.accept_payment_request(self.session, request_id, decided_by=ACTOR, now=self.model.now)
        )
        if known is None:
            check_refused(what, Refusal(errors.PaymentRequestNotFound), transfer, error)
        elif self.model.is_overdue(known):
            check_refused(what, Refusal(errors.PaymentRequestNotOpen), transfer, error)
        elif known.state == "accepted":
            # Accepting twice answers the same transfer and never pays twice.
            check_succeeded(what, error, outcome="accepted before")
            assert transfer is not None and known.transfer_id is not None
            check_same_transfer(what, transfer, self.model.transfers[known.transfer_id])
        elif known.state != "open":
            check_refused(what, Refusal(errors.PaymentRequestNotOpen), transfer, error)
        elif (refusal := self.model.room_refusal(known.payer, known.payee, known.amount_minor)) is not None:
            check_refused(what, refusal, transfer, error)
        else:
            check_succeeded(what, error)
            assert transfer is not None and not transfer.is_replay
            spec = TransferSpec(
                id=uuid.uuid5(requests.ACCEPTANCE_NAMESPACE, request_id.hex),
                payer=known.payer,
                payee=known.payee,
                amount_minor=known.amount_minor,
                description=known.description,
                metadata={"payment_request": str(request_id)},
            )
            assert (transfer.id, transfer.payer, transfer.payee, transfer.amount_minor) == (
                spec.id,
                spec.payer,
                spec.payee,
                spec.amount_minor,
            )
            self.model.apply_transfer(spec, transfer)
            known.state, known.transfer_id = "accepted", spec.id

    def close_request(self, data: st.DataObject, state: str) -> None:
        request_id = self.draw_request_id(data)
        what = f"{'reject' if state == 'rejected' else 'cancel'}_payment_request: {request_id}"
        close = requests.reject_payment_request if state == "rejected" else requests.cancel_payment_request
        known = self.model.requests.get(request_id)
        view, error = attempt(
            lambda: close(self.session, request_id, decided_by=ACTOR, reason="test", now=self.model.now)
        )
        if known is None:
            check_refused(what, Refusal(errors.PaymentRequestNotFound), view, error)
        elif self.model.is_overdue(known) or known.state not in ("open", state):
            check_refused(what, Refusal(errors.PaymentRequestNotOpen), view, error)
        else:
            check_succeeded(what, error)
            assert view is not None and view.state == state
            known.state = state

    @precondition(lambda self: self.model.requests)
    @rule(data=st.data(), state=st.sampled_from(["rejected", "cancelled"]))
    def reject_or_cancel_a_payment_request(self, data: st.DataObject, state: str) -> None:
        self.close_request(data, state)

    def expire_overdue_payment_requests(self) -> None:
        overdue = [known for known in self.model.requests.values() if self.model.is_overdue(known)]
        assert requests.expire_overdue_requests(self.session, now=self.model.now) == len(overdue)
        event(f"expire_overdue_requests: {'some' if overdue else 'none'} expired")
        for known in overdue:
            known.state = "expired"

    # Invariants -------------------------------------------------------------

    @invariant()
    def the_ledger_is_sound_and_holds_what_the_model_holds(self) -> None:
        try:
            accounts = self.session.execute(select(Account.__table__)).all()
            transfers = self.session.execute(select(Transfer.__table__)).all()
            request_states = dict(self.session.execute(select(PaymentRequest.id, PaymentRequest.state)).all())
        finally:
            self.session.rollback()
        self.check_sound(accounts)
        self.check_accounts(accounts)
        self.check_transfers(transfers, {row.id: row.code for row in accounts})
        assert request_states == {request_id: known.state for request_id, known in self.model.requests.items()}

    @staticmethod
    def check_sound(accounts: Sequence[Any]) -> None:
        assert sum(row.balance for row in accounts) == 0, "the balances do not sum to zero"
        assert sum(row.debits_pending for row in accounts) == sum(row.credits_pending for row in accounts)
        for row in accounts:
            if row.floor is not None:
                assert row.balance - row.debits_pending >= row.floor, f"{row.code} is below its floor"
            if row.ceiling is not None:
                assert row.balance + row.credits_pending <= row.ceiling, f"{row.code} is above its ceiling"

    def check_accounts(self, accounts: Sequence[Any]) -> None:
        by_code = {row.code: row for row in accounts}
        assert set(by_code) == set(self.model.accounts)
        for code, expected in self.model.accounts.items():
            row = by_code[code]
            assert (row.balance, row.debits_pending, row.credits_pending) == (
                expected.balance,
                expected.debits_pending,
                expected.credits_pending,
            ), f"{code}: (balance, debits_pending, credits_pending) differ from the model"
            assert (row.floor, row.ceiling) == (expected.floor, expected.ceiling), f"{code}: the limits differ"

    def check_transfers(self, transfers: Sequence[Any], code_of: Mapping[int, str]) -> None:
        by_id = {row.id: row for row in transfers}
        assert len(by_id) == len(transfers)
        assert set(by_id) == set(self.model.transfers), "the transfers differ from the model's (lost or extra rows)"
        for transfer_id, expected in self.model.transfers.items():
            row = by_id[transfer_id]
            found = (
                row.kind,
                row.state,
                code_of[row.payer_account_id],
                code_of[row.payee_account_id],
                row.amount_minor,
                row.pending_id,
                row.reverses_id,
            )
            assert found == (
                expected.kind,
                expected.state,
                expected.payer,
                expected.payee,
                expected.amount_minor,
                expected.pending_id,
                expected.reverses_id,
            ), f"transfer {transfer_id} differs from the model"

    @invariant()
    def the_audit_is_clean(self) -> None:
        report = run_audit(self.session)
        assert report.is_clean, [finding.as_dict() for finding in report.findings]


def region_template(sqlite_template: Path, directory: Path) -> Path:
    """A migrated SQLite file holding the region and its members, copied for each example."""
    path = directory / "region.sqlite3"
    shutil.copyfile(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    with make_session_factory(engine)() as session:
        set_up_region(session, MEMBERS)
    engine.dispose()
    # Fold the write-ahead log into the file, since only the file is copied.
    with closing(sqlite3.connect(path)) as connection:
        connection.execute("PRAGMA journal_mode = DELETE")
    return path


def test_random_operations_agree_with_the_model_and_keep_the_ledger_sound(
    sqlite_template: Path, tmp_path: Path
) -> None:
    LedgerMachine.template = region_template(sqlite_template, tmp_path)
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS_PER_EXAMPLE,
            deadline=None,
            # One failure shrunk well beats several shrunk for minutes.
            report_multiple_bugs=False,
            # No explain phase: the line tracer it runs while shrinking makes
            # every example several times slower (minutes instead of seconds).
            phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
        ),
    )


# ---------------------------------------------------------------------------
# Disagreements found by the state machine, one test each


@pytest.fixture
def ledger_session(sqlite_url: str) -> Iterator[Session]:
    engine = make_engine(sqlite_url)
    session = make_session_factory(engine)()
    set_up_region(session, MEMBERS)
    yield session
    session.close()
    engine.dispose()


def pay(session: Session, payer: str, payee: str, amount_minor: int, **kwargs: Any) -> TransferResult:
    spec = TransferSpec(
        id=kwargs.pop("id", uuid.uuid4()), payer=payer, payee=payee, amount_minor=amount_minor, **kwargs
    )
    return ledger.create_transfer(session, spec, created_by=ACTOR, now=START)


def test_a_resolution_id_already_used_by_another_transfer_is_an_idempotency_conflict(ledger_session: Session) -> None:
    taken = pay(ledger_session, "ash", "birch", 100)
    pending = pay(ledger_session, "ash", "birch", 50, pending=True)
    with pytest.raises(errors.IdempotencyConflict):
        ledger.post_pending_transfer(ledger_session, pending.id, created_by=ACTOR, id=taken.id, now=START)
    with pytest.raises(errors.IdempotencyConflict):
        ledger.void_pending_transfer(ledger_session, pending.id, created_by=ACTOR, id=taken.id, now=START)
    assert ledger.get_transfer(ledger_session, pending.id).state == "pending"
    assert run_audit(ledger_session).is_clean


def test_a_transfer_holding_a_pending_transfer_s_derived_resolution_id_does_not_stop_the_expiry_job(
    ledger_session: Session,
) -> None:
    first = pay(ledger_session, "ash", "birch", 10, pending=True, expires_at=START + dt.timedelta(minutes=1))
    second = pay(ledger_session, "ash", "birch", 20, pending=True, expires_at=START + dt.timedelta(minutes=2))
    # A client is free to choose any id, including the one the ledger
    # derives for the first pending transfer's resolution.
    pay(ledger_session, "ash", "cedar", 1, id=ledger._resolution_id(first.id))
    expired = ledger.expire_overdue_transfers(ledger_session, now=START + dt.timedelta(hours=1))
    assert second.id in {result.pending_id for result in expired}
    assert ledger.get_transfer(ledger_session, second.id).state == "expired"
    assert run_audit(ledger_session).is_clean


def test_a_retried_payment_request_is_answered_even_after_its_expiry_has_passed(ledger_session: Session) -> None:
    content = {
        "id": uuid.uuid4(),
        "payee": "birch",
        "payer": "ash",
        "amount_minor": 10,
        "expires_at": START + dt.timedelta(minutes=5),
        "created_by": ACTOR,
    }
    first = requests.create_payment_request(ledger_session, **content, now=START)
    again = requests.create_payment_request(ledger_session, **content, now=START + dt.timedelta(minutes=10))
    assert again == first


def test_reversing_an_already_reversed_transfer_is_refused_as_such_whatever_the_balances(
    ledger_session: Session,
) -> None:
    original = pay(ledger_session, "ash", "birch", 300)
    ledger.reverse_transfer(ledger_session, original.id, id=uuid.uuid4(), created_by=ACTOR, now=START)
    with pytest.raises(errors.CannotReverse):
        ledger.reverse_transfer(ledger_session, original.id, id=uuid.uuid4(), created_by=ACTOR, now=START)
    pay(ledger_session, "birch", "ash", 500)  # birch now stands at its floor
    # The same bad input gets the same error: it does not turn into
    # ExceedsFloor, as if the reversal could go through once birch has room.
    with pytest.raises(errors.CannotReverse):
        ledger.reverse_transfer(ledger_session, original.id, id=uuid.uuid4(), created_by=ACTOR, now=START)
