"""Resource pools: the operations on pools, rounds, contributions, needs, runs, objections and commits.

Every function here runs in one database transaction and returns frozen
views, or raises a typed error (``mutualcredit.pools.errors``). Permission
checks (who may act for which member) are the callers' business, through
``users.permissions.Principal``; a function that acts for a member takes
the member's slug and checks that the member exists and is active.

The round's life (``models`` has the states): a coordinator opens a round
of a pool (the pool's policy is copied into it), members contribute and
declare needs while it is open, the coordinator closes it, runs the solver
(``start_run`` then ``execute_run``, or ``run_round`` for both; every run's
input and result are kept), opens the review (members may object until the
window ends), re-runs it if objections call for it, and commits it. The
commit writes the allocations and, for a priced pool, the ledger transfers
(each recipient → the pool account, the pool account → each paid
contributor), all in one database transaction; transfer ids derive from the
round and the need or contribution, so a commit never pays twice.

A run's input is the problem document of ``solver.allocation.jsonfile``,
built by ``problem.problem_document`` from the round's rows, so
``pools export`` gives every member the exact file a run solved, and
``verify_round`` re-solves the stored input and compares.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from mutualcredit import errors
from mutualcredit.activity import record_activity
from mutualcredit.db import utc_now
from mutualcredit.ledger import service as ledger
from mutualcredit.ledger.models import Account, AccountKind
from mutualcredit.members.models import Member, MemberStatus
from mutualcredit.money import AMOUNT_MINOR_MAX, to_minor
from mutualcredit.pools import problem as pure
from mutualcredit.pools.errors import (
    InvalidPoolInput,
    NeedNotFound,
    NoValidResult,
    PoolNotFound,
    ReviewNotOver,
    ReviewOver,
    RoundNotFound,
    RoundNotInState,
    RunInProgress,
    RunNotFound,
)
from mutualcredit.pools.models import (
    Contribution,
    ContributionPayout,
    Objection,
    Pool,
    PoolAllocation,
    PoolKind,
    PoolNeed,
    PoolRun,
    PoolStatus,
    Round,
    RoundState,
    RunState,
)
from solver.allocation.model import Rule, StageReport

SLUG_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
NAME_LENGTH_MAX = 200
UNIT_LENGTH_MAX = 32
TEXT_LENGTH_MAX = 2000  # descriptions, justifications, objections, notes
ZONE_LENGTH_MAX = 100
SLOT_ID_LENGTH_MAX = 100
DECIMALS_MAX = 8
TIER_MAX = 9
TIME_LIMIT_S_MAX = 3600
REVIEW_WINDOW_HOURS_MAX = 24 * 60
SLOTS_PER_CONTRIBUTION_MAX = 1000
SLOT_CAPACITY_MAX = 1000
NEEDS_PER_ROUND_MAX = 100_000
CONTRIBUTIONS_PER_ROUND_MAX = 10_000
QUANTITY_MINOR_MAX = AMOUNT_MINOR_MAX
TRANSFER_NAMESPACE = uuid.UUID("0b7f6c1e-5a7d-4c3e-9f21-6d8e2a4b1c57")
RUN_STALE_MARGIN_S = 300  # a run unfinished this long after its time limit was abandoned
RUN_NAMESPACE = uuid.UUID("9e2d4f60-3b1a-4c8e-a7d5-1f0c6b9e8a32")


# ---------------------------------------------------------------------------
# Views


@dataclass(frozen=True, slots=True)
class PoolView:
    slug: str
    name: str
    description: str
    kind: str
    unit: str
    decimals: int
    price_minor: int
    account_code: str
    balance_minor: int
    rule: str
    member_cap_share: str | None
    weights: Mapping[str, str]
    time_limit_s: int
    stage_time_limit_s: int
    review_window_hours: int
    status: str
    created_by: str
    created_at: dt.datetime

    @property
    def is_slots(self) -> bool:
        return self.kind == PoolKind.SLOTS

    @property
    def is_gift(self) -> bool:
        return self.price_minor == 0


@dataclass(frozen=True, slots=True)
class RoundView:
    reference: str
    pool_slug: str
    pool_name: str
    kind: str
    unit: str
    decimals: int
    number: int
    title: str
    state: str
    needs_close_at: dt.datetime | None
    rule: str
    member_cap_share: str | None
    weights: Mapping[str, str]
    time_limit_s: int
    stage_time_limit_s: int
    review_window_hours: int
    price_minor: int
    review_ends_at: dt.datetime | None
    current_run_id: uuid.UUID | None
    committed_run_id: uuid.UUID | None
    created_by: str
    created_at: dt.datetime
    closed_at: dt.datetime | None
    committed_by: str | None
    committed_at: dt.datetime | None
    archived_at: dt.datetime | None
    contributed_minor: int
    need_count: int

    @property
    def is_slots(self) -> bool:
        return self.kind == PoolKind.SLOTS

    def accepts_needs(self, now: dt.datetime | None = None) -> bool:
        """Needs may be declared, edited and withdrawn: the round is open and its closing time not passed."""
        if self.state != RoundState.OPEN:
            return False
        return self.needs_close_at is None or (now or utc_now()) < self.needs_close_at

    def accepts_objections(self, now: dt.datetime | None = None) -> bool:
        return (
            self.state == RoundState.REVIEW
            and self.review_ends_at is not None
            and (now or utc_now()) < self.review_ends_at
        )


@dataclass(frozen=True, slots=True)
class ContributionView:
    id: int
    round_reference: str
    member: str
    quantity_minor: int
    slots: tuple[pure.SlotSpec, ...]
    is_paid: bool
    note: str
    created_by: str
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class NeedView:
    id: uuid.UUID
    round_reference: str
    member: str
    desired_minor: int
    minimum_minor: int
    tier: int
    all_or_nothing: bool
    acceptable: tuple[str, ...] | None
    window: tuple[int, int] | None
    zone: str | None
    justification: str
    created_by: str
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass(frozen=True, slots=True)
class ResultRow:
    """One need's line of a run's result, with its explanation."""

    need_id: str
    member: str
    declared_minor: int
    minimum_minor: int
    allocated_minor: int
    share_met: str  # a decimal string, 6 decimals
    decided_by: str
    binding: tuple[str, ...]
    slots: tuple[str, ...]

    @property
    def share_percent(self) -> Fraction:
        return Fraction(self.share_met) * 100


@dataclass(frozen=True, slots=True)
class RunView:
    id: uuid.UUID
    round_reference: str
    number: int
    state: str
    status: str | None
    stages_done: int
    progress_text: str
    error: str
    reason: str
    started_by: str
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    input: Mapping[str, Any]
    input_sha256: str
    result: Mapping[str, Any] | None

    @property
    def is_finished(self) -> bool:
        return self.state in (RunState.DONE, RunState.FAILED)

    @property
    def is_valid(self) -> bool:
        """Done with an allocation that can be committed (optimal, or feasible with its gap reported)."""
        return self.state == RunState.DONE and self.status in ("optimal", "feasible")

    def rows(self) -> list[ResultRow]:
        """The result per need, in the input's order (empty until the run is done)."""
        if self.result is None:
            return []
        decimals = int(self.input["decimals"])
        is_slots = "slots" in self.input["resources"][0]
        explanations = self.result.get("explanations", {})
        slots = self.result.get("slots", {})
        rows = []
        for need in self.input["needs"]:
            explanation = explanations[need["id"]]
            rows.append(
                ResultRow(
                    need_id=need["id"],
                    member=explanation["member"],
                    declared_minor=_minor(explanation["declared"], decimals, is_slots),
                    minimum_minor=_minor(explanation["minimum"], decimals, is_slots),
                    allocated_minor=_minor(explanation["allocated"], decimals, is_slots),
                    share_met=explanation["share_met"],
                    decided_by=explanation.get("decided_by", ""),
                    binding=tuple(explanation.get("binding", ())),
                    slots=tuple(slots.get(need["id"], ())),
                )
            )
        return rows

    def allocations(self) -> dict[str, int]:
        """Need id -> allocated minor units."""
        return {row.need_id: row.allocated_minor for row in self.rows()}


@dataclass(frozen=True, slots=True)
class ObjectionView:
    id: int
    round_reference: str
    run_number: int
    member: str
    reason: str
    created_by: str
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class AllocationView:
    need_id: uuid.UUID
    member: str
    allocated_minor: int
    slots: tuple[str, ...]
    price_paid_minor: int
    transfer_id: uuid.UUID | None


@dataclass(frozen=True, slots=True)
class PayoutView:
    contribution_id: int
    member: str
    used_minor: int
    amount_minor: int
    transfer_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """``verify_round``'s answer: whether re-solving the stored input gives the stored result."""

    round_reference: str
    run_number: int
    status: str
    matches: bool
    differences: tuple[str, ...]


def _minor(text: str, decimals: int, is_slots: bool) -> int:
    """A quantity string of the solver's file format (as ``round_problem`` writes it) in minor units."""
    return int(text) if is_slots else to_minor(Decimal(text), decimals)


# ---------------------------------------------------------------------------
# Small helpers


def _text(value: str | None, field: str, *, length_max: int, required: bool = False) -> str:
    text = (value or "").strip()
    if required and not text:
        raise InvalidPoolInput(f"{field} is required", field=field)
    if len(text) > length_max:
        raise InvalidPoolInput(f"{field} is longer than {length_max} characters", field=field)
    return text


def _share(value: str | None, field: str) -> str | None:
    """An exact share in (0, 1] as normalised text ("1/4"), or None."""
    if value is None or str(value).strip() == "":
        return None
    try:
        share = Fraction(str(value).strip())
    except (ValueError, ZeroDivisionError):
        raise InvalidPoolInput(f"{field}: {value!r} is not a number like 0.25 or 1/4", field=field) from None
    if not 0 < share <= 1:
        raise InvalidPoolInput(f"{field}: {value} is not more than 0 and at most 1", field=field)
    return str(share)


def _weights(session: Session, weights: Mapping[str, str] | None) -> dict[str, str]:
    result: dict[str, str] = {}
    for slug, value in sorted((weights or {}).items()):
        field = f"weights.{slug}"
        try:
            weight = Fraction(str(value).strip())
        except (ValueError, ZeroDivisionError):
            raise InvalidPoolInput(f"{field}: {value!r} is not a number", field=field) from None
        if weight <= 0 or weight > 1000:
            raise InvalidPoolInput(f"{field}: a weight is more than 0 and at most 1000", field=field)
        if session.scalar(select(Member.id).where(Member.slug == slug)) is None:
            raise errors.MemberNotFound(f"no member {slug!r}", member=slug)
        result[slug] = str(weight)
    return result


def _integer(value: int, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidPoolInput(f"{field} must be a whole number from {low} to {high}", field=field)
    return value


def _active_member(session: Session, slug: str) -> Member:
    member = session.scalar(select(Member).where(Member.slug == slug))
    if member is None:
        raise errors.MemberNotFound(f"no member {slug!r}", member=slug)
    if member.status != MemberStatus.ACTIVE:
        raise errors.MemberNotActive(f"member {slug!r} is {member.status}", member=slug)
    return member


def _slug_of(session: Session, member_id: int) -> str:
    return session.scalar(select(Member.slug).where(Member.id == member_id)) or ""


def _pool_row(session: Session, slug: str) -> Pool:
    pool = session.scalar(select(Pool).where(Pool.slug == slug))
    if pool is None:
        raise PoolNotFound(f"no pool {slug!r}", pool=slug)
    return pool


def _round_row(session: Session, reference: str, *, lock: bool = False) -> Round:
    query = select(Round).where(Round.reference == reference)
    if lock:
        query = query.with_for_update()
    round_ = session.scalar(query)
    if round_ is None:
        raise RoundNotFound(f"no round {reference!r}", round=reference)
    return round_


def _require_state(round_: Round, *states: RoundState) -> None:
    if round_.state not in states:
        wanted = " or ".join(state.value for state in states)
        raise RoundNotInState(
            f"round {round_.reference} is {round_.state}; this needs it {wanted}",
            round=round_.reference,
            state=round_.state,
        )


def _writing(session: Session, work: Callable[[], Any]) -> Any:
    """Run ``work`` in the session's transaction and commit, or roll back on any error."""
    try:
        result = work()
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return result


# ---------------------------------------------------------------------------
# Pools


def _pool_view(session: Session, pool: Pool) -> PoolView:
    account = session.get(Account, pool.account_id)
    assert account is not None
    return PoolView(
        slug=pool.slug,
        name=pool.name,
        description=pool.description,
        kind=pool.kind,
        unit=pool.unit,
        decimals=pool.decimals,
        price_minor=pool.price_minor,
        account_code=account.code,
        balance_minor=account.balance,
        rule=pool.rule,
        member_cap_share=pool.member_cap_share,
        weights=dict(pool.weights or {}),
        time_limit_s=pool.time_limit_s,
        stage_time_limit_s=pool.stage_time_limit_s,
        review_window_hours=pool.review_window_hours,
        status=pool.status,
        created_by=pool.created_by,
        created_at=pool.created_at,
    )


def pool_account_code(slug: str) -> str:
    return f"pool:{slug}"


@dataclass(frozen=True, slots=True)
class PolicyInput:
    """The policy a members' assembly adopted for a pool (applies to rounds opened afterwards)."""

    rule: str = Rule.PROPORTIONAL.value
    member_cap_share: str | None = None
    weights: Mapping[str, str] | None = None
    time_limit_s: int = 60
    stage_time_limit_s: int = 20
    review_window_hours: int = 72


def _checked_policy(session: Session, policy: PolicyInput) -> dict[str, Any]:
    if policy.rule not in {rule.value for rule in Rule}:
        known = ", ".join(rule.value for rule in Rule)
        raise InvalidPoolInput(f"rule: {policy.rule!r} is not one of {known}", field="rule")
    time_limit_s = _integer(policy.time_limit_s, "time_limit_s", 1, TIME_LIMIT_S_MAX)
    return {
        "rule": policy.rule,
        "member_cap_share": _share(policy.member_cap_share, "member_cap_share"),
        "weights": _weights(session, policy.weights),
        "time_limit_s": time_limit_s,
        "stage_time_limit_s": _integer(policy.stage_time_limit_s, "stage_time_limit_s", 1, time_limit_s),
        "review_window_hours": _integer(policy.review_window_hours, "review_window_hours", 0, REVIEW_WINDOW_HOURS_MAX),
    }


def create_pool(
    session: Session,
    *,
    slug: str,
    name: str,
    kind: str,
    unit: str,
    decimals: int = 0,
    price_minor: int = 0,
    description: str = "",
    policy: PolicyInput = PolicyInput(),
    actor: str,
) -> PoolView:
    """Create a pool and its account (``pool:<slug>``, floor 0: it never pays out more than it took in)."""
    if not SLUG_PATTERN.fullmatch(slug or ""):
        raise InvalidPoolInput("slug: lower-case letters, digits and hyphens, at most 63", field="slug")
    if kind not in {k.value for k in PoolKind}:
        raise InvalidPoolInput(f"kind: {kind!r} is not divisible or slots", field="kind")
    decimals = _integer(decimals, "decimals", 0, DECIMALS_MAX if kind == PoolKind.DIVISIBLE else 0)
    price_minor = _integer(price_minor, "price", 0, AMOUNT_MINOR_MAX)

    def work() -> PoolView:
        checked = _checked_policy(session, policy)
        if session.scalar(select(Pool.id).where(Pool.slug == slug)) is not None:
            raise errors.AlreadyExists(f"a pool {slug!r} already exists")
        code = pool_account_code(slug)
        if session.scalar(select(Account.id).where(Account.code == code)) is not None:
            raise errors.AlreadyExists(f"an account {code!r} already exists")
        account = Account(code=code, name=_text(name, "name", length_max=NAME_LENGTH_MAX, required=True),
                          kind=AccountKind.POOL, floor=0)
        session.add(account)
        session.flush()
        pool = Pool(
            slug=slug,
            name=account.name,
            description=_text(description, "description", length_max=TEXT_LENGTH_MAX),
            kind=kind,
            unit=_text(unit, "unit", length_max=UNIT_LENGTH_MAX, required=True),
            decimals=decimals,
            price_minor=price_minor,
            account_id=account.id,
            created_by=actor,
            **checked,
        )
        session.add(pool)
        session.flush()
        record_activity(
            session, actor=actor, action="pool.create", subject=slug,
            details={"kind": kind, "unit": pool.unit, "price_minor": price_minor, **checked},
        )
        return _pool_view(session, pool)

    return _writing(session, work)


def set_pool_policy(session: Session, slug: str, *, policy: PolicyInput, price_minor: int | None = None, actor: str) -> PoolView:
    """Record a newly adopted policy (and price) for the pool's future rounds; open rounds keep theirs."""

    def work() -> PoolView:
        pool = _pool_row(session, slug)
        checked = _checked_policy(session, policy)
        for key, value in checked.items():
            setattr(pool, key, value)
        if price_minor is not None:
            pool.price_minor = _integer(price_minor, "price", 0, AMOUNT_MINOR_MAX)
        record_activity(session, actor=actor, action="pool.policy", subject=slug,
                        details={**checked, "price_minor": pool.price_minor})
        session.flush()
        return _pool_view(session, pool)

    return _writing(session, work)


def get_pool(session: Session, slug: str) -> PoolView:
    return _pool_view(session, _pool_row(session, slug))


def list_pools(session: Session, *, include_archived: bool = False) -> list[PoolView]:
    query = select(Pool).order_by(Pool.name, Pool.slug)
    if not include_archived:
        query = query.where(Pool.status == PoolStatus.ACTIVE)
    return [_pool_view(session, pool) for pool in session.scalars(query)]


# ---------------------------------------------------------------------------
# Rounds


def _round_view(session: Session, round_: Round) -> RoundView:
    pool = session.get(Pool, round_.pool_id)
    assert pool is not None
    contributed = session.scalar(
        select(func.coalesce(func.sum(Contribution.quantity_minor), 0)).where(Contribution.round_id == round_.id)
    )
    need_count = session.scalar(select(func.count()).select_from(PoolNeed).where(PoolNeed.round_id == round_.id))
    return RoundView(
        reference=round_.reference,
        pool_slug=pool.slug,
        pool_name=pool.name,
        kind=pool.kind,
        unit=pool.unit,
        decimals=pool.decimals,
        number=round_.number,
        title=round_.title,
        state=round_.state,
        needs_close_at=round_.needs_close_at,
        rule=round_.rule,
        member_cap_share=round_.member_cap_share,
        weights=dict(round_.weights or {}),
        time_limit_s=round_.time_limit_s,
        stage_time_limit_s=round_.stage_time_limit_s,
        review_window_hours=round_.review_window_hours,
        price_minor=round_.price_minor,
        review_ends_at=round_.review_ends_at,
        current_run_id=round_.current_run_id,
        committed_run_id=round_.committed_run_id,
        created_by=round_.created_by,
        created_at=round_.created_at,
        closed_at=round_.closed_at,
        committed_by=round_.committed_by,
        committed_at=round_.committed_at,
        archived_at=round_.archived_at,
        contributed_minor=int(contributed or 0),
        need_count=int(need_count or 0),
    )


def open_round(
    session: Session,
    pool_slug: str,
    *,
    title: str = "",
    needs_close_at: dt.datetime | None = None,
    actor: str,
    now: dt.datetime | None = None,
) -> RoundView:
    """Open the pool's next round for contributions and needs, under the pool's policy as it is now."""
    now = now or utc_now()

    def work() -> RoundView:
        pool = _pool_row(session, pool_slug)
        if pool.status != PoolStatus.ACTIVE:
            raise RoundNotInState(f"pool {pool_slug!r} is archived", pool=pool_slug)
        if needs_close_at is not None and needs_close_at <= now:
            raise InvalidPoolInput("needs_close_at must be in the future", field="needs_close_at")
        number = (session.scalar(select(func.max(Round.number)).where(Round.pool_id == pool.id)) or 0) + 1
        round_ = Round(
            pool_id=pool.id,
            number=number,
            reference=f"{pool.slug}-{number}",
            title=_text(title, "title", length_max=NAME_LENGTH_MAX) or f"{pool.name} #{number}",
            state=RoundState.OPEN,
            needs_close_at=needs_close_at,
            rule=pool.rule,
            member_cap_share=pool.member_cap_share,
            weights=dict(pool.weights or {}),
            time_limit_s=pool.time_limit_s,
            stage_time_limit_s=pool.stage_time_limit_s,
            review_window_hours=pool.review_window_hours,
            price_minor=pool.price_minor,
            created_by=actor,
            created_at=now,
        )
        session.add(round_)
        session.flush()
        record_activity(session, actor=actor, action="round.open", subject=round_.reference, at=now,
                        details={"rule": round_.rule, "member_cap_share": round_.member_cap_share})
        return _round_view(session, round_)

    return _writing(session, work)


def get_round(session: Session, reference: str) -> RoundView:
    return _round_view(session, _round_row(session, reference))


def list_rounds(session: Session, *, pool_slug: str | None = None, states: Sequence[str] | None = None) -> list[RoundView]:
    query = select(Round).order_by(Round.created_at.desc(), Round.id.desc())
    if pool_slug is not None:
        query = query.where(Round.pool_id == _pool_row(session, pool_slug).id)
    if states:
        query = query.where(Round.state.in_(list(states)))
    return [_round_view(session, round_) for round_ in session.scalars(query)]


def _transition(
    session: Session,
    reference: str,
    *,
    allowed: Sequence[RoundState],
    to: RoundState,
    actor: str,
    action: str,
    now: dt.datetime,
    changes: Callable[[Round], None] | None = None,
) -> RoundView:
    def work() -> RoundView:
        round_ = _round_row(session, reference, lock=True)
        if round_.state == to:
            return _round_view(session, round_)
        _require_state(round_, *allowed)
        if changes is not None:
            changes(round_)
        round_.state = to
        record_activity(session, actor=actor, action=action, subject=reference, at=now)
        session.flush()
        return _round_view(session, round_)

    return _writing(session, work)


def close_round(session: Session, reference: str, *, actor: str, now: dt.datetime | None = None) -> RoundView:
    """Stop taking needs (open → closed)."""
    now = now or utc_now()

    def closing(round_: Round) -> None:
        round_.closed_at = now

    return _transition(session, reference, allowed=(RoundState.OPEN,), to=RoundState.CLOSED, actor=actor,
                       action="round.close", now=now, changes=closing)


def start_review(session: Session, reference: str, *, actor: str, now: dt.datetime | None = None) -> RoundView:
    """Show the latest run's result to the members, who may object until the review window ends (solved → review)."""
    now = now or utc_now()

    def reviewing(round_: Round) -> None:
        run = session.get(PoolRun, round_.current_run_id) if round_.current_run_id else None
        if run is None or run.state != RunState.DONE or run.status not in ("optimal", "feasible"):
            raise NoValidResult(f"round {reference} has no valid result to review", round=reference)
        round_.review_ends_at = now + dt.timedelta(hours=round_.review_window_hours)

    return _transition(session, reference, allowed=(RoundState.SOLVED,), to=RoundState.REVIEW, actor=actor,
                       action="round.review", now=now, changes=reviewing)


def archive_round(session: Session, reference: str, *, actor: str, now: dt.datetime | None = None) -> RoundView:
    """Put a committed round away (committed → archived); it stays readable and verifiable."""
    now = now or utc_now()

    def archiving(round_: Round) -> None:
        round_.archived_at = now

    return _transition(session, reference, allowed=(RoundState.COMMITTED,), to=RoundState.ARCHIVED, actor=actor,
                       action="round.archive", now=now, changes=archiving)


# ---------------------------------------------------------------------------
# Contributions


def _slot_specs(slots: Sequence[Mapping[str, Any]]) -> tuple[pure.SlotSpec, ...]:
    return tuple(
        pure.SlotSpec(
            id=slot["id"], capacity=int(slot.get("capacity", 1)), zone=slot.get("zone"),
            start=slot.get("start"), end=slot.get("end"),
        )
        for slot in slots
    )


def _contribution_view(contribution: Contribution, reference: str, member: str) -> ContributionView:
    return ContributionView(
        id=contribution.id,
        round_reference=reference,
        member=member,
        quantity_minor=contribution.quantity_minor,
        slots=_slot_specs(contribution.slots or []),
        is_paid=contribution.is_paid,
        note=contribution.note,
        created_by=contribution.created_by,
        created_at=contribution.created_at,
    )


def _checked_slots(slots: Sequence[pure.SlotSpec], taken: set[str]) -> list[dict[str, Any]]:
    if not slots:
        raise InvalidPoolInput("a contribution to a slot pool gives at least one slot", field="slots")
    if len(slots) > SLOTS_PER_CONTRIBUTION_MAX:
        raise InvalidPoolInput(f"at most {SLOTS_PER_CONTRIBUTION_MAX} slots at once", field="slots")
    documents = []
    for index, slot in enumerate(slots):
        field = f"slots[{index}]"
        slot_id = _text(slot.id, f"{field}.id", length_max=SLOT_ID_LENGTH_MAX, required=True)
        if slot_id in taken:
            raise InvalidPoolInput(f"{field}.id: the round already has a slot {slot_id!r}", field=f"{field}.id")
        taken.add(slot_id)
        capacity = _integer(slot.capacity, f"{field}.capacity", 1, SLOT_CAPACITY_MAX)
        zone = _text(slot.zone, f"{field}.zone", length_max=ZONE_LENGTH_MAX) or None
        if (slot.start is None) != (slot.end is None):
            raise InvalidPoolInput(f"{field}: start and end go together", field=f"{field}.end")
        if slot.start is not None and slot.end is not None:
            _integer(slot.start, f"{field}.start", -(10**9), 10**9)
            _integer(slot.end, f"{field}.end", -(10**9), 10**9)
            if slot.end <= slot.start:
                raise InvalidPoolInput(f"{field}.end: must be after start", field=f"{field}.end")
        documents.append(pure.SlotSpec(slot_id, capacity, zone, slot.start, slot.end).to_json())
    return documents


def add_contribution(
    session: Session,
    reference: str,
    *,
    member: str,
    quantity_minor: int = 0,
    slots: Sequence[pure.SlotSpec] = (),
    is_paid: bool = False,
    note: str = "",
    actor: str,
    now: dt.datetime | None = None,
) -> ContributionView:
    """Record what ``member`` puts into the round (open or closed): a quantity, or slots for a slot pool."""
    now = now or utc_now()

    def work() -> ContributionView:
        round_ = _round_row(session, reference, lock=True)
        _require_state(round_, RoundState.OPEN, RoundState.CLOSED)
        pool = session.get(Pool, round_.pool_id)
        assert pool is not None
        contributor = _active_member(session, member)
        count = session.scalar(select(func.count()).select_from(Contribution).where(Contribution.round_id == round_.id))
        if (count or 0) >= CONTRIBUTIONS_PER_ROUND_MAX:
            raise InvalidPoolInput(f"a round holds at most {CONTRIBUTIONS_PER_ROUND_MAX} contributions", field="round")
        if is_paid and round_.price_minor == 0:
            raise InvalidPoolInput("a gift pool pays nothing; give the contribution instead", field="is_paid")
        if pool.kind == PoolKind.SLOTS:
            if quantity_minor:
                raise InvalidPoolInput("a slot pool takes slots, not a quantity", field="quantity")
            taken = {
                slot["id"]
                for existing in session.scalars(select(Contribution.slots).where(Contribution.round_id == round_.id))
                for slot in existing or []
            }
            documents = _checked_slots(slots, taken)
            quantity = sum(document["capacity"] for document in documents)
        else:
            if slots:
                raise InvalidPoolInput("a divisible pool takes a quantity, not slots", field="slots")
            quantity = _integer(quantity_minor, "quantity", 1, QUANTITY_MINOR_MAX)
            documents = []
        contribution = Contribution(
            round_id=round_.id, member_id=contributor.id, quantity_minor=quantity, slots=documents,
            is_paid=is_paid, note=_text(note, "note", length_max=TEXT_LENGTH_MAX), created_by=actor, created_at=now,
        )
        session.add(contribution)
        session.flush()
        record_activity(session, actor=actor, action="pool.contribute", subject=reference, at=now,
                        details={"member": member, "quantity_minor": quantity, "paid": is_paid})
        return _contribution_view(contribution, reference, member)

    return _writing(session, work)


def list_contributions(session: Session, reference: str) -> list[ContributionView]:
    round_ = _round_row(session, reference)
    rows = session.execute(
        select(Contribution, Member.slug)
        .join(Member, Member.id == Contribution.member_id)
        .where(Contribution.round_id == round_.id)
        .order_by(Contribution.id)
    )
    return [_contribution_view(contribution, reference, slug) for contribution, slug in rows]


# ---------------------------------------------------------------------------
# Needs


@dataclass(frozen=True, slots=True)
class NeedInput:
    """What a member declares (quantities in the pool's minor units, or slots for a slot pool)."""

    desired_minor: int
    minimum_minor: int = 0
    tier: int = 1
    all_or_nothing: bool = False
    acceptable: tuple[str, ...] | None = None
    window: tuple[int, int] | None = None
    zone: str | None = None
    justification: str = ""


def _checked_need(need: NeedInput, *, is_slots: bool) -> dict[str, Any]:
    desired = _integer(need.desired_minor, "desired", 1, SLOTS_PER_CONTRIBUTION_MAX if is_slots else QUANTITY_MINOR_MAX)
    minimum = _integer(need.minimum_minor, "minimum", 0, QUANTITY_MINOR_MAX)
    if minimum > desired:
        raise InvalidPoolInput("minimum: the essential minimum is more than the desired quantity", field="minimum")
    tier = _integer(need.tier, "tier", 1, TIER_MAX)
    if not isinstance(need.all_or_nothing, bool):
        raise InvalidPoolInput("all_or_nothing must be true or false", field="all_or_nothing")
    if not is_slots:
        for name in ("acceptable", "window", "zone"):
            if getattr(need, name):
                raise InvalidPoolInput(f"{name} applies only to a pool of slots", field=name)
    acceptable = None
    if need.acceptable is not None:
        if len(need.acceptable) > SLOTS_PER_CONTRIBUTION_MAX:
            raise InvalidPoolInput(f"acceptable: at most {SLOTS_PER_CONTRIBUTION_MAX} slots", field="acceptable")
        acceptable = sorted({_text(slot, "acceptable", length_max=SLOT_ID_LENGTH_MAX, required=True) for slot in need.acceptable})
    window_start = window_end = None
    if need.window is not None:
        window_start, window_end = need.window
        _integer(window_start, "window", -(10**9), 10**9)
        _integer(window_end, "window", -(10**9), 10**9)
        if window_end <= window_start:
            raise InvalidPoolInput("window: the end must be after the start", field="window")
    return {
        "desired_minor": desired,
        "minimum_minor": minimum,
        "tier": tier,
        "all_or_nothing": need.all_or_nothing,
        "acceptable": acceptable,
        "window_start": window_start,
        "window_end": window_end,
        "zone": _text(need.zone, "zone", length_max=ZONE_LENGTH_MAX) or None,
        "justification": _text(need.justification, "justification", length_max=TEXT_LENGTH_MAX),
    }


def _need_view(need: PoolNeed, reference: str, member: str) -> NeedView:
    return NeedView(
        id=need.id,
        round_reference=reference,
        member=member,
        desired_minor=need.desired_minor,
        minimum_minor=need.minimum_minor,
        tier=need.tier,
        all_or_nothing=need.all_or_nothing,
        acceptable=None if need.acceptable is None else tuple(need.acceptable),
        window=None if need.window_start is None or need.window_end is None else (need.window_start, need.window_end),
        zone=need.zone,
        justification=need.justification,
        created_by=need.created_by,
        created_at=need.created_at,
        updated_at=need.updated_at,
    )


def _require_accepting_needs(round_: Round, now: dt.datetime) -> None:
    _require_state(round_, RoundState.OPEN)
    if round_.needs_close_at is not None and now >= round_.needs_close_at:
        raise RoundNotInState(f"round {round_.reference} stopped taking needs at {round_.needs_close_at:%Y-%m-%d %H:%M} UTC",
                              round=round_.reference, state=round_.state)


def declare_need(
    session: Session,
    reference: str,
    *,
    member: str,
    need: NeedInput,
    actor: str,
    need_id: uuid.UUID | None = None,
    now: dt.datetime | None = None,
) -> NeedView:
    """Declare ``member``'s need in an open round; the same ``need_id`` with the same content answers the first."""
    now = now or utc_now()

    def work() -> NeedView:
        round_ = _round_row(session, reference, lock=True)
        pool = session.get(Pool, round_.pool_id)
        assert pool is not None
        declarer = _active_member(session, member)
        values = _checked_need(need, is_slots=pool.kind == PoolKind.SLOTS)
        if need_id is not None:
            existing = session.get(PoolNeed, need_id)
            if existing is not None:
                same = existing.round_id == round_.id and existing.member_id == declarer.id and all(
                    getattr(existing, key) == value for key, value in values.items()
                )
                if not same:
                    raise errors.IdempotencyConflict(f"need id {need_id} was already used for another need")
                return _need_view(existing, reference, member)
        _require_accepting_needs(round_, now)
        count = session.scalar(select(func.count()).select_from(PoolNeed).where(PoolNeed.round_id == round_.id))
        if (count or 0) >= NEEDS_PER_ROUND_MAX:
            raise InvalidPoolInput(f"a round holds at most {NEEDS_PER_ROUND_MAX} needs", field="round")
        row = PoolNeed(id=need_id or uuid.uuid4(), round_id=round_.id, member_id=declarer.id, created_by=actor,
                       created_at=now, updated_at=now, **values)
        session.add(row)
        session.flush()
        record_activity(session, actor=actor, action="need.declare", subject=str(row.id), at=now,
                        details={"round": reference, "member": member, "desired_minor": row.desired_minor})
        return _need_view(row, reference, member)

    return _writing(session, work)


def _need_row(session: Session, need_id: uuid.UUID, member: str | None) -> tuple[PoolNeed, Round, str]:
    row = session.get(PoolNeed, need_id)
    if row is None:
        raise NeedNotFound(f"no need {need_id}", need=str(need_id))
    slug = _slug_of(session, row.member_id)
    if member is not None and slug != member:
        # Another member's need reads as missing: its existence is not the asker's business.
        raise NeedNotFound(f"no need {need_id}", need=str(need_id))
    round_ = session.get(Round, row.round_id, with_for_update=True)
    assert round_ is not None
    return row, round_, slug


def update_need(
    session: Session,
    need_id: uuid.UUID,
    *,
    member: str,
    need: NeedInput,
    actor: str,
    now: dt.datetime | None = None,
) -> NeedView:
    """Change a need of ``member``'s while its round takes needs."""
    now = now or utc_now()

    def work() -> NeedView:
        row, round_, slug = _need_row(session, need_id, member)
        pool = session.get(Pool, round_.pool_id)
        assert pool is not None
        _require_accepting_needs(round_, now)
        for key, value in _checked_need(need, is_slots=pool.kind == PoolKind.SLOTS).items():
            setattr(row, key, value)
        row.updated_at = now
        record_activity(session, actor=actor, action="need.update", subject=str(need_id), at=now,
                        details={"round": round_.reference, "desired_minor": row.desired_minor})
        session.flush()
        return _need_view(row, round_.reference, slug)

    return _writing(session, work)


def withdraw_need(session: Session, need_id: uuid.UUID, *, member: str, actor: str, now: dt.datetime | None = None) -> None:
    """Remove a need of ``member``'s while its round takes needs (a need is only a declaration until a run)."""
    now = now or utc_now()

    def work() -> None:
        row, round_, _ = _need_row(session, need_id, member)
        _require_accepting_needs(round_, now)
        session.delete(row)
        record_activity(session, actor=actor, action="need.withdraw", subject=str(need_id), at=now,
                        details={"round": round_.reference})

    _writing(session, work)


def get_need(session: Session, need_id: uuid.UUID, *, member: str | None = None) -> NeedView:
    row = session.get(PoolNeed, need_id)
    if row is None:
        raise NeedNotFound(f"no need {need_id}", need=str(need_id))
    slug = _slug_of(session, row.member_id)
    if member is not None and slug != member:
        raise NeedNotFound(f"no need {need_id}", need=str(need_id))
    round_ = session.get(Round, row.round_id)
    assert round_ is not None
    return _need_view(row, round_.reference, slug)


def list_needs(session: Session, reference: str, *, member: str | None = None) -> list[NeedView]:
    round_ = _round_row(session, reference)
    query = (
        select(PoolNeed, Member.slug)
        .join(Member, Member.id == PoolNeed.member_id)
        .where(PoolNeed.round_id == round_.id)
        .order_by(PoolNeed.created_at, PoolNeed.id)
    )
    if member is not None:
        query = query.where(Member.slug == member)
    return [_need_view(row, reference, slug) for row, slug in session.execute(query)]


# ---------------------------------------------------------------------------
# The problem a round poses


def _contribution_specs(session: Session, round_: Round) -> list[pure.ContributionSpec]:
    rows = session.execute(
        select(Contribution, Member.slug)
        .join(Member, Member.id == Contribution.member_id)
        .where(Contribution.round_id == round_.id)
        .order_by(Contribution.id)
    )
    return [
        pure.ContributionSpec(contribution.id, slug, contribution.quantity_minor, _slot_specs(contribution.slots or []),
                              contribution.is_paid)
        for contribution, slug in rows
    ]


def round_problem(session: Session, reference: str) -> dict[str, Any]:
    """The round's whole input now, as ``solver.allocation.jsonfile``'s problem document.

    On a slot pool, a need's acceptable slots are narrowed to the round's
    slots, and its desired and minimum counts to the number of slots the
    round has (the solver refuses more); the stored need is unchanged.
    """
    round_ = _round_row(session, reference)
    pool = session.get(Pool, round_.pool_id)
    assert pool is not None
    is_slots = pool.kind == PoolKind.SLOTS
    contributions = _contribution_specs(session, round_)
    slot_ids = {slot.id for contribution in contributions for slot in contribution.slots}
    needs = []
    for view in list_needs(session, reference):
        desired, minimum, acceptable = view.desired_minor, view.minimum_minor, view.acceptable
        if is_slots:
            desired = min(desired, len(slot_ids))
            minimum = min(minimum, desired)
            if acceptable is not None:
                acceptable = tuple(slot for slot in acceptable if slot in slot_ids)
        if desired == 0:
            continue  # a slot round with no slots: nothing can be asked of it
        needs.append(pure.NeedSpec(str(view.id), view.member, desired, minimum, view.tier, view.all_or_nothing,
                                   acceptable, view.window, view.zone))
    policy = pure.PolicySpec(round_.rule, round_.member_cap_share, dict(round_.weights or {}), round_.time_limit_s,
                             round_.stage_time_limit_s)
    return pure.problem_document(resource_id=pool.slug, is_slots=is_slots, decimals=pool.decimals, policy=policy,
                                 contributions=contributions, needs=needs)


def _digest(document: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(document, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


# ---------------------------------------------------------------------------
# Runs


def _run_view(run: PoolRun, reference: str) -> RunView:
    return RunView(
        id=run.id,
        round_reference=reference,
        number=run.number,
        state=run.state,
        status=run.status,
        stages_done=run.stages_done,
        progress_text=run.progress_text,
        error=run.error,
        reason=run.reason,
        started_by=run.started_by,
        created_at=run.created_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
        input=run.input,
        input_sha256=run.input_sha256,
        result=run.result,
    )


def start_run(session: Session, reference: str, *, actor: str, reason: str = "", now: dt.datetime | None = None) -> RunView:
    """Queue a solver run of a closed (or already solved, or in review) round, with its input as it is now."""
    now = now or utc_now()

    def work() -> RunView:
        round_ = _round_row(session, reference, lock=True)
        _require_state(round_, RoundState.CLOSED, RoundState.SOLVED, RoundState.REVIEW)
        unfinished = session.scalars(
            select(PoolRun).where(PoolRun.round_id == round_.id, PoolRun.state.in_([RunState.QUEUED, RunState.RUNNING]))
        ).all()
        for busy in unfinished:
            if now - busy.created_at <= dt.timedelta(seconds=round_.time_limit_s + RUN_STALE_MARGIN_S):
                raise RunInProgress(f"run {busy.number} of round {reference} has not finished", round=reference)
            # Its process stopped (a restart, a crash): record that, so the round can be run again.
            busy.state, busy.error, busy.finished_at = RunState.FAILED, "abandoned: the process running it stopped", now
        document = round_problem(session, reference)
        if not document["needs"]:
            raise NoValidResult(f"round {reference} has no needs to allocate", round=reference)
        resource = document["resources"][0]
        is_empty = (
            not resource["slots"] if "slots" in resource else _minor(resource["quantity"], document["decimals"], False) == 0
        )
        if is_empty:
            raise NoValidResult(f"round {reference} has nothing to share: no contributions", round=reference)
        number = (session.scalar(select(func.max(PoolRun.number)).where(PoolRun.round_id == round_.id)) or 0) + 1
        run = PoolRun(
            id=uuid.uuid5(RUN_NAMESPACE, f"{round_.id}:{number}"),
            round_id=round_.id,
            number=number,
            state=RunState.QUEUED,
            input=document,
            input_sha256=_digest(document),
            reason=_text(reason, "reason", length_max=TEXT_LENGTH_MAX),
            started_by=actor,
            created_at=now,
        )
        session.add(run)
        session.flush()
        record_activity(session, actor=actor, action="round.run", subject=reference, at=now,
                        details={"run": number, "needs": len(document["needs"]), "input_sha256": run.input_sha256})
        return _run_view(run, reference)

    return _writing(session, work)


ProgressCallback = Callable[[int, str], None]  # (stages done, the last stage's description)


def execute_run(
    session: Session,
    run_id: uuid.UUID,
    *,
    on_progress: ProgressCallback | None = None,
    record_progress: bool = True,
) -> RunView:
    """Solve a queued run and record its result; the round becomes ``solved`` with this run as its current one.

    Progress (stages done and the last stage) is written to the run row as
    each CP-SAT stage ends when ``record_progress`` (for the web page that
    polls it), and passed to ``on_progress`` (for a progress bar).
    """
    from solver.allocation import allocate
    from solver.allocation.errors import AllocationError
    from solver.allocation.jsonfile import format_fraction, parse_problem, result_to_json

    def claim() -> tuple[PoolRun, Round]:
        run = session.get(PoolRun, run_id, with_for_update=True)
        if run is None:
            raise RunNotFound(f"no run {run_id}", run=str(run_id))
        round_ = session.get(Round, run.round_id)
        assert round_ is not None
        if run.state != RunState.QUEUED:
            raise RunInProgress(f"run {run.number} of round {round_.reference} is {run.state}", round=round_.reference)
        run.state = RunState.RUNNING
        run.started_at = utc_now()
        return run, round_

    run, round_ = _writing(session, claim)
    reference = round_.reference
    stages_done = 0

    def on_stage(stage: StageReport) -> None:
        nonlocal stages_done
        stages_done += 1
        objective = "" if stage.objective is None else f" = {format_fraction(stage.objective, 4)}"
        text = f"{stage.name}: {stage.status}{objective} ({stage.solve_time_s:.1f} s)"
        if record_progress:
            session.execute(update(PoolRun).where(PoolRun.id == run_id).values(stages_done=stages_done, progress_text=text))
            session.commit()
        if on_progress is not None:
            on_progress(stages_done, text)

    document = run.input
    try:
        loaded = parse_problem(document)
        result = allocate(loaded.problem, on_stage=on_stage)
    except AllocationError as error:
        field = getattr(error, "field", "")
        message = f"{error.code}: {error}" if not field or str(error).startswith(field) else f"{error.code}: {field}: {error}"

        def fail() -> RunView:
            failed = session.get(PoolRun, run_id)
            assert failed is not None
            failed.state, failed.error, failed.finished_at = RunState.FAILED, message, utc_now()
            session.flush()
            return _run_view(failed, reference)

        return _writing(session, fail)
    except BaseException as error:  # a bug or an interruption: the run must not stay "running" for ever
        def crash() -> None:
            crashed = session.get(PoolRun, run_id)
            assert crashed is not None
            crashed.state, crashed.error, crashed.finished_at = RunState.FAILED, f"interrupted: {error!r}", utc_now()

        _writing(session, crash)
        raise
    result_document = result_to_json(result, loaded.problem, decimals=loaded.decimals)

    def finish() -> RunView:
        done = session.get(PoolRun, run_id, with_for_update=True)
        assert done is not None
        done.state, done.result, done.status = RunState.DONE, result_document, str(result.status)
        done.stages_done, done.finished_at = stages_done, utc_now()
        done.progress_text = f"{result.status}: {len(result.stages)} stage(s), {result.solve_time_s:.2f} s"
        current = session.get(Round, done.round_id, with_for_update=True)
        assert current is not None
        if current.state in (RoundState.CLOSED, RoundState.SOLVED, RoundState.REVIEW):
            current.state = RoundState.SOLVED
            current.current_run_id = done.id
            current.review_ends_at = None
        session.flush()
        return _run_view(done, reference)

    return _writing(session, finish)


def run_round(
    session: Session,
    reference: str,
    *,
    actor: str,
    reason: str = "",
    on_progress: ProgressCallback | None = None,
    record_progress: bool = True,
) -> RunView:
    """Start a run and solve it at once (the CLI's ``pools run``)."""
    run = start_run(session, reference, actor=actor, reason=reason)
    return execute_run(session, run.id, on_progress=on_progress, record_progress=record_progress)


def get_run(session: Session, run_id: uuid.UUID) -> RunView:
    run = session.get(PoolRun, run_id)
    if run is None:
        raise RunNotFound(f"no run {run_id}", run=str(run_id))
    round_ = session.get(Round, run.round_id)
    assert round_ is not None
    return _run_view(run, round_.reference)


def list_runs(session: Session, reference: str) -> list[RunView]:
    round_ = _round_row(session, reference)
    runs = session.scalars(select(PoolRun).where(PoolRun.round_id == round_.id).order_by(PoolRun.number))
    return [_run_view(run, reference) for run in runs]


def current_run(session: Session, reference: str) -> RunView | None:
    """The round's committed run, else its latest finished run (None before any)."""
    round_ = _round_row(session, reference)
    run_id = round_.committed_run_id or round_.current_run_id
    return None if run_id is None else get_run(session, run_id)


# ---------------------------------------------------------------------------
# Review


def _objection_view(objection: Objection, reference: str, run_number: int, member: str) -> ObjectionView:
    return ObjectionView(objection.id, reference, run_number, member, objection.reason, objection.created_by,
                         objection.created_at)


def object_to_round(
    session: Session, reference: str, *, member: str, reason: str, actor: str, now: dt.datetime | None = None
) -> ObjectionView:
    """``member`` objects to the result under review, saying why (only during the review window)."""
    now = now or utc_now()

    def work() -> ObjectionView:
        round_ = _round_row(session, reference, lock=True)
        _require_state(round_, RoundState.REVIEW)
        assert round_.review_ends_at is not None
        if now >= round_.review_ends_at:
            raise ReviewOver(f"the review of round {reference} ended at {round_.review_ends_at:%Y-%m-%d %H:%M} UTC",
                             round=reference)
        objector = _active_member(session, member)
        text = _text(reason, "reason", length_max=TEXT_LENGTH_MAX, required=True)
        run = session.get(PoolRun, round_.current_run_id)
        assert run is not None
        objection = Objection(round_id=round_.id, run_id=run.id, member_id=objector.id, reason=text, created_by=actor,
                              created_at=now)
        session.add(objection)
        session.flush()
        record_activity(session, actor=actor, action="round.object", subject=reference, at=now,
                        details={"member": member, "run": run.number})
        return _objection_view(objection, reference, run.number, member)

    return _writing(session, work)


def list_objections(session: Session, reference: str) -> list[ObjectionView]:
    round_ = _round_row(session, reference)
    rows = session.execute(
        select(Objection, PoolRun.number, Member.slug)
        .join(PoolRun, PoolRun.id == Objection.run_id)
        .join(Member, Member.id == Objection.member_id)
        .where(Objection.round_id == round_.id)
        .order_by(Objection.created_at, Objection.id)
    )
    return [_objection_view(objection, reference, number, slug) for objection, number, slug in rows]


# ---------------------------------------------------------------------------
# Commit


def allocation_transfer_id(round_id: int, need_id: uuid.UUID) -> uuid.UUID:
    return uuid.uuid5(TRANSFER_NAMESPACE, f"round:{round_id}:need:{need_id}")


def payout_transfer_id(round_id: int, contribution_id: int) -> uuid.UUID:
    return uuid.uuid5(TRANSFER_NAMESPACE, f"round:{round_id}:contribution:{contribution_id}")


@dataclass(frozen=True, slots=True)
class CommitPlan:
    """What committing the round's current run records and pays (the commit page shows it first)."""

    run: RunView
    allocations: tuple[tuple[str, str, int, tuple[str, ...], int], ...]  # (need id, member, allocated, slots, charge)
    payouts: tuple[pure.Payout, ...]

    @property
    def charged_minor(self) -> int:
        return sum(charge for *_, charge in self.allocations)

    @property
    def paid_out_minor(self) -> int:
        return sum(payout.amount_minor for payout in self.payouts)


def commit_plan(session: Session, reference: str) -> CommitPlan:
    """The allocations and ledger movements that committing the round's current run would make."""
    round_ = _round_row(session, reference)
    pool = session.get(Pool, round_.pool_id)
    assert pool is not None
    run_id = round_.committed_run_id or round_.current_run_id
    if run_id is None:
        raise NoValidResult(f"round {reference} has no result yet", round=reference)
    run = get_run(session, run_id)
    if not run.is_valid:
        raise NoValidResult(f"round {reference}'s run {run.number} has no valid allocation", round=reference)
    allocations = []
    slots_used: list[str] = []
    for row in run.rows():
        charge = pure.charge_minor(row.allocated_minor, round_.price_minor, pool.decimals)
        allocations.append((row.need_id, row.member, row.allocated_minor, row.slots, charge))
        slots_used.extend(row.slots)
    payouts = pure.payouts(
        is_slots=pool.kind == PoolKind.SLOTS,
        price_minor=round_.price_minor,
        contributions=_contribution_specs(session, round_),
        slots_used=slots_used,
        allocated_total_minor=sum(row[2] for row in allocations),
        revenue_minor=sum(row[4] for row in allocations),
    )
    return CommitPlan(run, tuple(allocations), tuple(payouts))


def commit_round(session: Session, reference: str, *, actor: str, now: dt.datetime | None = None) -> RoundView:
    """Record the current run's allocations and, for a priced pool, pay for them, all in one transaction.

    Refused before the review window ends, or when a recipient lacks the
    available credit (its error names the account; nothing is recorded).
    Committing a committed round answers it and changes nothing.
    """
    now = now or utc_now()
    round_ = _round_row(session, reference)
    if round_.state in (RoundState.COMMITTED, RoundState.ARCHIVED):
        view = _round_view(session, round_)
        session.rollback()
        return view
    _require_state(round_, RoundState.REVIEW)
    assert round_.review_ends_at is not None
    if now < round_.review_ends_at:
        session.rollback()
        raise ReviewNotOver(f"members may object to round {reference} until {round_.review_ends_at:%Y-%m-%d %H:%M} UTC",
                            round=reference)
    plan = commit_plan(session, reference)
    pool = session.get(Pool, round_.pool_id)
    assert pool is not None
    round_id, run_id, pool_code = round_.id, plan.run.id, pool_account_code(pool.slug)
    member_ids = {slug: member_id for slug, member_id in session.execute(select(Member.slug, Member.id))}
    session.rollback()
    specs = []
    transfer_of_need: dict[str, uuid.UUID] = {}
    for need_id, member, allocated, _, charge in plan.allocations:
        if charge > 0:
            transfer_id = allocation_transfer_id(round_id, uuid.UUID(need_id))
            transfer_of_need[need_id] = transfer_id
            specs.append(ledger.TransferSpec(
                id=transfer_id, payer=member, payee=pool_code, amount_minor=charge,
                description=f"{pool.name}: round {reference}",
                metadata={"pool_round": reference, "need": need_id, "allocated_minor": allocated},
            ))
    for payout in plan.payouts:
        specs.append(ledger.TransferSpec(
            id=payout_transfer_id(round_id, payout.contribution_id), payer=pool_code, payee=payout.member,
            amount_minor=payout.amount_minor, description=f"{pool.name}: contribution to round {reference}",
            metadata={"pool_round": reference, "contribution": payout.contribution_id, "used_minor": payout.used_minor},
        ))

    def record(conn: Connection) -> None:
        changed = conn.execute(
            update(Round.__table__)
            .where(Round.id == round_id, Round.state == RoundState.REVIEW, Round.current_run_id == run_id)
            .values(state=RoundState.COMMITTED, committed_run_id=run_id, committed_by=actor, committed_at=now)
        ).rowcount
        if changed != 1:
            raise RoundNotInState(f"round {reference} changed meanwhile (committed or re-run); look again", round=reference)
        if plan.allocations:
            conn.execute(PoolAllocation.__table__.insert(), [
                {
                    "round_id": round_id, "run_id": run_id, "need_id": uuid.UUID(need_id), "member_id": member_ids[member],
                    "allocated_minor": allocated, "slots": list(slots), "price_paid_minor": charge,
                    "transfer_id": transfer_of_need.get(need_id),
                }
                for need_id, member, allocated, slots, charge in plan.allocations
            ])
        if plan.payouts:
            conn.execute(ContributionPayout.__table__.insert(), [
                {
                    "round_id": round_id, "contribution_id": payout.contribution_id,
                    "member_id": member_ids[payout.member], "used_minor": payout.used_minor,
                    "amount_minor": payout.amount_minor,
                    "transfer_id": payout_transfer_id(round_id, payout.contribution_id),
                }
                for payout in plan.payouts
            ])
        record_activity(session, actor=actor, action="round.commit", subject=reference, at=now, details={
            "run": plan.run.number, "charged_minor": plan.charged_minor, "paid_out_minor": plan.paid_out_minor,
        })

    try:
        ledger.create_transfers_together(session, specs, created_by=actor, before_commit=record, now=now)
    except RoundNotInState:
        current = get_round(session, reference)
        session.rollback()
        if current.state in (RoundState.COMMITTED, RoundState.ARCHIVED):
            return current
        raise
    return get_round(session, reference)


def list_allocations(session: Session, reference: str, *, member: str | None = None) -> list[AllocationView]:
    round_ = _round_row(session, reference)
    query = (
        select(PoolAllocation, Member.slug)
        .join(Member, Member.id == PoolAllocation.member_id)
        .where(PoolAllocation.round_id == round_.id)
        .order_by(PoolAllocation.id)
    )
    if member is not None:
        query = query.where(Member.slug == member)
    return [
        AllocationView(row.need_id, slug, row.allocated_minor, tuple(row.slots or ()), row.price_paid_minor, row.transfer_id)
        for row, slug in session.execute(query)
    ]


def list_payouts(session: Session, reference: str) -> list[PayoutView]:
    round_ = _round_row(session, reference)
    rows = session.execute(
        select(ContributionPayout, Member.slug)
        .join(Member, Member.id == ContributionPayout.member_id)
        .where(ContributionPayout.round_id == round_.id)
        .order_by(ContributionPayout.contribution_id)
    )
    return [PayoutView(row.contribution_id, slug, row.used_minor, row.amount_minor, row.transfer_id) for row, slug in rows]


# ---------------------------------------------------------------------------
# Verification


def verify_round(session: Session, reference: str) -> VerifyReport:
    """Re-solve the round's committed (else current) run from its stored input and compare with its result.

    Also checks that the input is the one the run recorded (its SHA-256),
    and for a committed round that the recorded allocations are the run's.
    """
    from solver.allocation import allocate
    from solver.allocation.jsonfile import parse_problem, result_to_json

    run = current_run(session, reference)
    if run is None:
        raise NoValidResult(f"round {reference} has no run to verify", round=reference)
    differences: list[str] = []
    if _digest(run.input) != run.input_sha256:
        differences.append(f"run {run.number}: the stored input's SHA-256 is not the one recorded")
    stored = run.allocations()
    committed = {str(view.need_id): view.allocated_minor for view in list_allocations(session, reference)}
    session.rollback()
    loaded = parse_problem(run.input)
    result = allocate(loaded.problem)
    again = result_to_json(result, loaded.problem, decimals=loaded.decimals)
    if run.result is None:
        differences.append(f"run {run.number} has no stored result")
    else:
        if again["status"] != run.result.get("status"):
            differences.append(f"status: stored {run.result.get('status')}, re-run {again['status']}")
        for need_id, amount in again["allocations"].items():
            if run.result["allocations"].get(need_id) != amount:
                differences.append(f"need {need_id}: stored {run.result['allocations'].get(need_id)}, re-run {amount}")
        for need_id, slots in again.get("slots", {}).items():
            if run.result.get("slots", {}).get(need_id) != slots:
                differences.append(f"need {need_id}: stored slots {run.result.get('slots', {}).get(need_id)}, re-run {slots}")
    if committed:
        for need_id, amount in stored.items():
            if committed.get(need_id) != amount:
                differences.append(f"need {need_id}: committed {committed.get(need_id)}, run {amount}")
    return VerifyReport(reference, run.number, str(again["status"]), not differences, tuple(differences))


def export_round(session: Session, reference: str) -> dict[str, Any]:
    """The round's whole input as a problem file: the committed or current run's, else the round's data now."""
    run = current_run(session, reference)
    document = dict(run.input) if run is not None else round_problem(session, reference)
    session.rollback()
    return document
