"""Authorization matrix: resource pools (everyone logged in reads; treasurers declare and object for their
own co-op; coordinators and admins administer pools and rounds; auditors and viewers change nothing)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from matrix_support import Case, logged_in
from mutualcredit.pools import service as pools
from mutualcredit.pools.models import Contribution, Objection, Pool, PoolNeed, PoolRun, Round

ADMINISTERS = {"coordinator": 303, "admin": 303}


def _pool(session: Session, slug: str, review_hours: int) -> None:
    if session.scalar(sa.select(Pool.id).where(Pool.slug == slug)) is None:
        pools.create_pool(session, slug=slug, name=slug.title(), kind="divisible", unit="kg", decimals=2,
                          policy=pools.PolicyInput(review_window_hours=review_hours), actor="test")


def fresh_round(state: str, *, review_hours: int = 24) -> Callable[[Session], dict[str, Any]]:
    """A new round of a matrix pool, with beta's contribution and alpha's need, taken to ``state``."""

    def prepare(session: Session) -> dict[str, Any]:
        slug = f"matrix-{review_hours}"
        _pool(session, slug, review_hours)
        reference = pools.open_round(session, slug, actor="test").reference
        pools.add_contribution(session, reference, member="beta", quantity_minor=1_000, actor="test")
        need = pools.declare_need(session, reference, member="alpha", need=pools.NeedInput(700), actor="test")
        if state != "open":
            pools.close_round(session, reference, actor="test")
        if state in ("solved", "review", "committed"):
            pools.run_round(session, reference, actor="test", record_progress=False)
        if state in ("review", "committed"):
            pools.start_review(session, reference, actor="test")
        if state == "committed":
            pools.commit_round(session, reference, actor="test")
        return {"reference": reference, "need": str(need.id), "slug": slug}

    return prepare


def rows_of(model: Any) -> Callable[[Session], int]:
    def count(session: Session) -> int:
        return session.scalar(sa.select(sa.func.count()).select_from(model)) or 0

    return count


def needs_of(slug: str) -> Callable[[Session], int]:
    def count(session: Session) -> int:
        from mutualcredit.members.models import Member

        return session.scalar(
            sa.select(sa.func.count()).select_from(PoolNeed).join(Member, Member.id == PoolNeed.member_id).where(Member.slug == slug)
        ) or 0

    return count


def state_became(state: str) -> Callable[[Session, dict[str, Any], bool], str | None]:
    def check(session: Session, context: dict[str, Any], allowed: bool) -> str | None:
        found = session.scalar(sa.select(Round.state).where(Round.reference == context["reference"]))
        if (found == state) != allowed:
            return f"round is {found}; allowed: {allowed}"
        return None

    return check


def need_gone_only_if_allowed(session: Session, context: dict[str, Any], allowed: bool) -> str | None:
    still_there = session.get(PoolNeed, uuid.UUID(context["need"])) is not None
    return None if still_there != allowed else f"need still there: {still_there}, expected {not allowed}"


def need_desired_changed_only_if_allowed(session: Session, context: dict[str, Any], allowed: bool) -> str | None:
    desired = session.scalar(sa.select(PoolNeed.desired_minor).where(PoolNeed.id == uuid.UUID(context["need"])))
    return None if (desired == 1_200) == allowed else f"desired is {desired}; allowed: {allowed}"


def new_pool_slug(_session: Session) -> dict[str, Any]:
    return {"slug": f"matrix-new-{uuid.uuid4().hex[:8]}"}


def pool_created_only_if_allowed(session: Session, context: dict[str, Any], allowed: bool) -> str | None:
    exists = session.scalar(sa.select(Pool.id).where(Pool.slug == context["slug"])) is not None
    return None if exists == allowed else f"pool exists: {exists}; allowed: {allowed}"


NEED = {"member": "alpha", "desired": "5", "tier": "1", "justification": "matrix"}

CASES = [
    Case("pools", "GET", "/pools", logged_in(200)),
    Case("new pool form", "GET", "/pools/new", logged_in(403, **{"coordinator": 200, "admin": 200})),
    Case(
        "create a pool", "POST", "/pools/new", logged_in(403, **ADMINISTERS),
        data=lambda c: {"slug": c["slug"], "name": "Matrix pool", "kind": "divisible", "unit": "kg", "decimals": "2",
                        "price": "0", "rule": "leximin", "review_window_hours": "24", "time_limit_s": "30"},
        prepare=new_pool_slug, check=pool_created_only_if_allowed,
    ),
    Case("a pool", "GET", "/pools/<slug>", logged_in(200), path=lambda c: f"/pools/{c['slug']}", prepare=fresh_round("open")),
    Case("a pool that does not exist", "GET", "/pools/<slug>", logged_in(404), path="/pools/nothing-here"),
    Case(
        "open a round", "POST", "/pools/<slug>/rounds", logged_in(403, **ADMINISTERS),
        path=lambda c: f"/pools/{c['slug']}/rounds", data={"title": "Matrix round"},
        prepare=fresh_round("open"), count=rows_of(Round),
    ),
    Case("a round", "GET", "/pools/rounds/<reference>", logged_in(200),
         path=lambda c: f"/pools/rounds/{c['reference']}", prepare=fresh_round("review")),
    Case("a round that does not exist", "GET", "/pools/rounds/<reference>", logged_in(404), path="/pools/rounds/nope-1"),
    Case("a round's input", "GET", "/pools/rounds/<reference>/input.json", logged_in(200),
         path=lambda c: f"/pools/rounds/{c['reference']}/input.json", prepare=fresh_round("solved")),
    Case(
        "declare a need for alpha", "POST", "/pools/rounds/<reference>/needs", logged_in(403, treasurer_a=303),
        path=lambda c: f"/pools/rounds/{c['reference']}/needs", data=NEED, prepare=fresh_round("open"),
        count=needs_of("alpha"),
    ),
    Case(
        "declare a need for beta (forged co-op for alpha's people)", "POST", "/pools/rounds/<reference>/needs",
        logged_in(403, treasurer_b=303), path=lambda c: f"/pools/rounds/{c['reference']}/needs",
        data={**NEED, "member": "beta"}, prepare=fresh_round("open"), count=needs_of("beta"),
    ),
    Case("alpha's need form", "GET", "/pools/needs/<uuid:need_id>/edit", logged_in(404, treasurer_a=200),
         path=lambda c: f"/pools/needs/{c['need']}/edit", prepare=fresh_round("open")),
    Case(
        "change alpha's need", "POST", "/pools/needs/<uuid:need_id>/edit", logged_in(404, treasurer_a=303),
        path=lambda c: f"/pools/needs/{c['need']}/edit", data={**NEED, "desired": "12"},
        prepare=fresh_round("open"), check=need_desired_changed_only_if_allowed,
    ),
    Case(
        "withdraw alpha's need", "POST", "/pools/needs/<uuid:need_id>/withdraw", logged_in(404, treasurer_a=303),
        path=lambda c: f"/pools/needs/{c['need']}/withdraw", prepare=fresh_round("open"), check=need_gone_only_if_allowed,
    ),
    Case(
        "record a contribution", "POST", "/pools/rounds/<reference>/contributions", logged_in(403, **ADMINISTERS),
        path=lambda c: f"/pools/rounds/{c['reference']}/contributions", data={"member": "alpha", "quantity": "3"},
        prepare=fresh_round("open"), count=rows_of(Contribution),
    ),
    Case(
        "close a round", "POST", "/pools/rounds/<reference>/close", logged_in(403, **ADMINISTERS),
        path=lambda c: f"/pools/rounds/{c['reference']}/close", prepare=fresh_round("open"), check=state_became("closed"),
    ),
    Case(
        "run the solver", "POST", "/pools/rounds/<reference>/runs", logged_in(403, **ADMINISTERS),
        path=lambda c: f"/pools/rounds/{c['reference']}/runs", data={"reason": "matrix"},
        prepare=fresh_round("closed"), count=rows_of(PoolRun),
    ),
    Case("a run", "GET", "/pools/rounds/<reference>/runs/<int:number>", logged_in(200),
         path=lambda c: f"/pools/rounds/{c['reference']}/runs/1", prepare=fresh_round("solved")),
    Case(
        "start the review", "POST", "/pools/rounds/<reference>/review", logged_in(403, **ADMINISTERS),
        path=lambda c: f"/pools/rounds/{c['reference']}/review", prepare=fresh_round("solved"), check=state_became("review"),
    ),
    Case(
        "object for alpha", "POST", "/pools/rounds/<reference>/objections", logged_in(403, treasurer_a=303),
        path=lambda c: f"/pools/rounds/{c['reference']}/objections", data={"member": "alpha", "reason": "matrix"},
        prepare=fresh_round("review"), count=rows_of(Objection),
    ),
    Case(
        "commit a round", "POST", "/pools/rounds/<reference>/commit", logged_in(403, **ADMINISTERS),
        path=lambda c: f"/pools/rounds/{c['reference']}/commit", prepare=fresh_round("review", review_hours=0),
        check=state_became("committed"),
    ),
    Case(
        "archive a round", "POST", "/pools/rounds/<reference>/archive", logged_in(403, **ADMINISTERS),
        path=lambda c: f"/pools/rounds/{c['reference']}/archive", prepare=fresh_round("committed", review_hours=0),
        check=state_became("archived"),
    ),
]
