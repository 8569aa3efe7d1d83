"""Payment requests (invoices): the payee asks, the payer decides.

A request becomes a transfer only when the payer accepts it; the transfer's
id is derived from the request's, so accepting twice never pays twice.
Creating and accepting a request record their webhook events
(``request.created``, ``request.accepted``) in the same database transaction.

A new request is accepted at once when the payer's account has an
auto-accept rule for the payee's member covering its amount
(``mutualcredit.ledger.auto_accept``); the ledger's checks still apply, and
a refusal leaves the request open. An open request past its ``expires_at``
can no longer be accepted, rejected or cancelled; ``state_as_of`` shows it
as expired, and ``expire_overdue_requests`` (run from cron) records it so.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session, aliased

from mutualcredit import errors
from mutualcredit.db import utc_now
from mutualcredit.ledger import auto_accept
from mutualcredit.ledger import service as ledger
from mutualcredit.ledger.models import Account, PaymentRequest, PaymentRequestState
from mutualcredit.members.models import Member
from mutualcredit.webhooks import outbox
from mutualcredit.webhooks.models import EventType

ACCEPTANCE_NAMESPACE = uuid.UUID("a4d3c0de-58e3-4b0e-a0d4-64bb1ad6c0a1")
REQUEST_PAGE_SIZE_MAX = 500
REQUEST_OFFSET_MAX = 100_000
# How long a request made in the web app waits for an answer, unless its payee says otherwise.
EXPIRY_DAYS_DEFAULT = 30
EXPIRY_DAYS_MAX = 365


@dataclass(frozen=True, slots=True)
class PaymentRequestView:
    """A payment request with account codes."""

    id: uuid.UUID
    payer: str
    payee: str
    amount_minor: int
    description: str
    state: str
    expires_at: dt.datetime | None
    created_by: str
    created_at: dt.datetime
    decided_by: str | None
    decided_at: dt.datetime | None
    reason: str
    transfer_id: uuid.UUID | None


_payer = aliased(Account, name="payer")
_payee = aliased(Account, name="payee")
_WITH_CODES = (
    select(PaymentRequest, _payer.code, _payee.code)
    .join(_payer, _payer.id == PaymentRequest.payer_account_id)
    .join(_payee, _payee.id == PaymentRequest.payee_account_id)
)


def _view(request: PaymentRequest, payer: str, payee: str) -> PaymentRequestView:
    return PaymentRequestView(
        id=request.id,
        payer=payer,
        payee=payee,
        amount_minor=request.amount_minor,
        description=request.description,
        state=request.state,
        expires_at=request.expires_at,
        created_by=request.created_by,
        created_at=request.created_at,
        decided_by=request.decided_by,
        decided_at=request.decided_at,
        reason=request.reason,
        transfer_id=request.transfer_id,
    )


def get_payment_request(session: Session, request_id: uuid.UUID) -> PaymentRequestView:
    """One payment request."""
    row = session.execute(_WITH_CODES.where(PaymentRequest.id == request_id)).first()
    if row is None:
        raise errors.PaymentRequestNotFound(f"no payment request {request_id}")
    return _view(*row)


@dataclass(frozen=True, slots=True)
class RequestParties:
    """A payment request with the members (slug and name) whose accounts pay and are paid; ``None`` for system accounts."""

    request: PaymentRequestView
    payer_member: str | None
    payer_member_name: str | None
    payee_member: str | None
    payee_member_name: str | None


def get_request_parties(session: Session, request_id: uuid.UUID) -> RequestParties:
    """One payment request and the members on either side of it."""
    view = get_payment_request(session, request_id)
    payer_member, payee_member = aliased(Member), aliased(Member)
    row = session.execute(
        select(payer_member.slug, payer_member.name, payee_member.slug, payee_member.name)
        .select_from(PaymentRequest)
        .join(_payer, _payer.id == PaymentRequest.payer_account_id)
        .join(_payee, _payee.id == PaymentRequest.payee_account_id)
        .outerjoin(payer_member, payer_member.id == _payer.member_id)
        .outerjoin(payee_member, payee_member.id == _payee.member_id)
        .where(PaymentRequest.id == request_id)
    ).one()
    return RequestParties(view, row[0], row[1], row[2], row[3])


def request_exists(session: Session, request_id: uuid.UUID) -> bool:
    """Whether a request with this id was recorded (to tell a replay from a creation)."""
    found = session.scalar(select(PaymentRequest.id).where(PaymentRequest.id == request_id)) is not None
    session.rollback()
    return found


def state_as_of(view: PaymentRequestView, now: dt.datetime) -> str:
    """The request's state as people should see it: an open request past its expiry is expired."""
    if view.state == PaymentRequestState.OPEN and view.expires_at is not None and view.expires_at <= now:
        return PaymentRequestState.EXPIRED
    return view.state


def list_payment_requests(
    session: Session,
    *,
    account: str | None = None,
    member: str | None = None,
    side: str | None = None,
    state: str | None = None,
    as_of: dt.datetime | None = None,
    offset: int = 0,
    limit: int = REQUEST_PAGE_SIZE_MAX,
) -> list[PaymentRequestView]:
    """Requests an account (or any account of a member) sent or received (or all), newest first.

    ``side`` (with ``member``) keeps only the requests the member is asked to
    pay (``payer``) or asks to be paid (``payee``). With ``as_of``, an open
    request past its expiry counts as expired for the ``state`` filter, as
    ``state_as_of`` shows it, even before ``expire_overdue_requests`` ran.
    """
    if not 1 <= limit <= REQUEST_PAGE_SIZE_MAX:
        raise errors.InvalidInput(f"a page holds 1 to {REQUEST_PAGE_SIZE_MAX} requests")
    if not 0 <= offset <= REQUEST_OFFSET_MAX:
        raise errors.InvalidInput(f"a listing starts at most {REQUEST_OFFSET_MAX} requests in")
    if side not in (None, "payer", "payee") or (side is not None and member is None):
        raise errors.InvalidInput("side is payer or payee, and needs a member")
    query = _WITH_CODES.order_by(PaymentRequest.created_at.desc(), PaymentRequest.id).offset(offset).limit(limit)
    if account is not None:
        query = query.where(or_(_payer.code == account, _payee.code == account))
    if member is not None:
        member_id = select(Member.id).where(Member.slug == member).scalar_subquery()
        if side == "payer":
            query = query.where(_payer.member_id == member_id)
        elif side == "payee":
            query = query.where(_payee.member_id == member_id)
        else:
            query = query.where(or_(_payer.member_id == member_id, _payee.member_id == member_id))
    if state is not None and as_of is not None and state in (PaymentRequestState.OPEN, PaymentRequestState.EXPIRED):
        overdue = and_(
            PaymentRequest.state == PaymentRequestState.OPEN,
            PaymentRequest.expires_at.is_not(None),
            PaymentRequest.expires_at <= as_of,
        )
        if state == PaymentRequestState.OPEN:
            query = query.where(PaymentRequest.state == state, ~overdue)
        else:
            query = query.where(or_(PaymentRequest.state == state, overdue))
    elif state is not None:
        query = query.where(PaymentRequest.state == state)
    return [_view(*row) for row in session.execute(query)]


def create_payment_request(
    session: Session,
    *,
    id: uuid.UUID,
    payee: str,
    payer: str,
    amount_minor: int,
    description: str = "",
    expires_at: dt.datetime | None = None,
    created_by: str,
    now: dt.datetime | None = None,
) -> PaymentRequestView:
    """The payee asks the payer for an amount. Idempotent on ``id``."""
    now = now or utc_now()
    spec = ledger.TransferSpec(id=id, payer=payer, payee=payee, amount_minor=amount_minor, description=description)
    ledger._validate_spec(spec)
    ledger._validate_created_by(created_by)
    try:
        existing = session.execute(_WITH_CODES.where(PaymentRequest.id == id)).first()
        if existing is not None:
            view = _view(*existing)
            same = (view.payer, view.payee, view.amount_minor, view.description, view.expires_at) == (
                payer,
                payee,
                amount_minor,
                description,
                expires_at,
            )
            if not same:
                raise errors.IdempotencyConflict(f"request id {id} was already used for a different request")
            session.rollback()
            return view
        # After the idempotency check: a retry is answered even once the
        # expiry it named has passed.
        if expires_at is not None and expires_at <= now:
            raise errors.InvalidInput("the request's expiry must be in the future")
        accounts = {
            account.code: account
            for account in session.scalars(select(Account).where(Account.code.in_((payer, payee))))
        }
        for code in (payer, payee):
            if code not in accounts:
                raise errors.AccountNotFound(f"no account {code!r}", account=code)
        for code in (payee, payer):
            if accounts[code].status != "open":
                raise errors.AccountNotOpen(f"account {code} is {accounts[code].status}", account=code)
        request = PaymentRequest(
            id=id,
            payer_account_id=accounts[payer].id,
            payee_account_id=accounts[payee].id,
            amount_minor=amount_minor,
            description=description,
            state=PaymentRequestState.OPEN,
            expires_at=expires_at,
            created_by=created_by,
            created_at=now,
        )
        session.add(request)
        session.flush()
        outbox.record_request_event(
            session.connection(),
            EventType.REQUEST_CREATED,
            _view(request, payer, payee),
            payer_account_id=request.payer_account_id,
            payee_account_id=request.payee_account_id,
            created_at=now,
        )
        rule_id = auto_accept.matching_rule_id(
            session,
            payer_account_id=request.payer_account_id,
            payee_account_id=request.payee_account_id,
            amount_minor=amount_minor,
        )
        session.commit()
    except BaseException:
        session.rollback()
        raise
    if rule_id is not None:
        _accept_automatically(session, id, rule_id, now)
    return get_payment_request(session, id)


def _accept_automatically(session: Session, request_id: uuid.UUID, rule_id: int, now: dt.datetime) -> None:
    """Accept a new request under the payer's rule; a refusal leaves it open for a person to answer."""
    try:
        accept_payment_request(session, request_id, decided_by=f"{auto_accept.ACTOR_PREFIX}{rule_id}", now=now)
    except errors.MutualCreditError:
        # The ledger refused (not enough available credit, a frozen account,
        # ...): the request was still made, and waits like any other.
        session.rollback()


def _open_request(session: Session, request_id: uuid.UUID, now: dt.datetime) -> PaymentRequestView:
    view = get_payment_request(session, request_id)
    if view.state == PaymentRequestState.OPEN and view.expires_at is not None and view.expires_at <= now:
        raise errors.PaymentRequestNotOpen(f"payment request {request_id} expired at {view.expires_at}")
    return view


def accept_payment_request(
    session: Session, request_id: uuid.UUID, *, decided_by: str, now: dt.datetime | None = None
) -> ledger.TransferResult:
    """The payer accepts: the transfer is made and the request marked accepted, in one database transaction."""
    now = now or utc_now()
    view = _open_request(session, request_id, now)
    session.rollback()
    transfer_id = uuid.uuid5(ACCEPTANCE_NAMESPACE, request_id.hex)
    if view.state == PaymentRequestState.ACCEPTED:
        # Accepted before: answer the same transfer, as a replay.
        return dataclasses.replace(ledger.get_transfer(session, transfer_id), is_replay=True)
    if view.state != PaymentRequestState.OPEN:
        raise errors.PaymentRequestNotOpen(f"payment request {request_id} is {view.state}")
    spec = ledger.TransferSpec(
        id=transfer_id,
        payer=view.payer,
        payee=view.payee,
        amount_minor=view.amount_minor,
        description=view.description,
        metadata={"payment_request": str(request_id)},
    )

    def mark_accepted(conn, row) -> None:  # type: ignore[no-untyped-def]
        changed = conn.execute(
            update(PaymentRequest.__table__)
            .where(PaymentRequest.id == request_id, PaymentRequest.state == PaymentRequestState.OPEN)
            .values(state=PaymentRequestState.ACCEPTED, decided_by=decided_by, decided_at=now, transfer_id=transfer_id)
        ).rowcount
        if changed != 1:
            raise errors.PaymentRequestNotOpen(f"payment request {request_id} was decided meanwhile")
        accepted = dataclasses.replace(
            view,
            state=PaymentRequestState.ACCEPTED,
            decided_by=decided_by,
            decided_at=now,
            transfer_id=transfer_id,
        )
        outbox.record_request_event(
            conn,
            EventType.REQUEST_ACCEPTED,
            accepted,
            payer_account_id=row["payer_account_id"],
            payee_account_id=row["payee_account_id"],
            created_at=now,
        )

    return ledger._create_checked(session, spec, created_by=decided_by, now=now, before_commit=mark_accepted)


def _close_request(
    session: Session,
    request_id: uuid.UUID,
    *,
    state: PaymentRequestState,
    decided_by: str,
    reason: str,
    now: dt.datetime | None,
) -> PaymentRequestView:
    now = now or utc_now()
    try:
        view = _open_request(session, request_id, now)
        if view.state == state:
            session.rollback()
            return view
        if view.state != PaymentRequestState.OPEN:
            raise errors.PaymentRequestNotOpen(f"payment request {request_id} is {view.state}")
        changed = session.execute(
            update(PaymentRequest)
            .where(PaymentRequest.id == request_id, PaymentRequest.state == PaymentRequestState.OPEN)
            .values(state=state, decided_by=decided_by, decided_at=now, reason=reason)
        ).rowcount
        if changed != 1:
            raise errors.PaymentRequestNotOpen(f"payment request {request_id} was decided meanwhile")
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return get_payment_request(session, request_id)


def reject_payment_request(
    session: Session, request_id: uuid.UUID, *, decided_by: str, reason: str = "", now: dt.datetime | None = None
) -> PaymentRequestView:
    """The payer declines the request; nothing moves."""
    return _close_request(
        session, request_id, state=PaymentRequestState.REJECTED, decided_by=decided_by, reason=reason, now=now
    )


def cancel_payment_request(
    session: Session, request_id: uuid.UUID, *, decided_by: str, reason: str = "", now: dt.datetime | None = None
) -> PaymentRequestView:
    """The payee withdraws its request; nothing moves."""
    return _close_request(
        session, request_id, state=PaymentRequestState.CANCELLED, decided_by=decided_by, reason=reason, now=now
    )


def expire_overdue_requests(session: Session, *, now: dt.datetime | None = None) -> int:
    """Mark open requests past their expiry as expired; returns how many."""
    now = now or utc_now()
    try:
        changed = session.execute(
            update(PaymentRequest)
            .where(PaymentRequest.state == PaymentRequestState.OPEN, PaymentRequest.expires_at <= now)
            .values(state=PaymentRequestState.EXPIRED, decided_at=now, decided_by="system:expiry")
        ).rowcount
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return changed
