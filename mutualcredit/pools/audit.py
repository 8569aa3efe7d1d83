"""The audit's pools checks: what committed rounds recorded and paid agrees with their runs.

For every committed (or archived) round: its committed run exists and is
done; the recorded allocations are exactly the run's result, need by need;
each charge is the price rule applied to the allocation, and its ledger
transfer exists (recipient → the pool's account, that amount); the payouts
are the ones the payout rule gives, each with its transfer (pool account →
contributor). Rounds not committed have no allocations or payouts. Like the
ledger's audit, it collects every finding instead of stopping at the first.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from mutualcredit.ledger.audit import Finding
from mutualcredit.ledger.models import Account, Transfer
from mutualcredit.pools import service
from mutualcredit.members.models import Member
from mutualcredit.pools.models import ContributionPayout, Pool, PoolAllocation, PoolRun, Round, RoundState, RunState

_COMMITTED = (RoundState.COMMITTED, RoundState.ARCHIVED)


def check_pools(session: Session) -> list[Finding]:
    """Every disagreement between committed rounds, their runs and the ledger.

    Read-only, in the caller's transaction (``run_audit`` gives it one snapshot).
    """
    findings: list[Finding] = []
    codes = {account_id: code for account_id, code in session.execute(select(Account.id, Account.code))}
    slugs = {member_id: slug for member_id, slug in session.execute(select(Member.id, Member.slug))}

    def transfer_finding(transfer_id: uuid.UUID | None, payer: str, payee: str, amount: int, what: str) -> None:
        transfer = None if transfer_id is None else session.scalar(select(Transfer).where(Transfer.id == transfer_id))
        expected = f"{payer} -> {payee} {amount}"
        if transfer is None:
            findings.append(Finding("pool_transfer_missing", f"{what}: no ledger transfer", transfer=str(transfer_id),
                                    expected=expected))
            return
        found = f"{codes.get(transfer.payer_account_id)} -> {codes.get(transfer.payee_account_id)} {transfer.amount_minor}"
        if found != expected:
            findings.append(Finding("pool_transfer_differs", f"{what}: the ledger transfer differs",
                                    transfer=str(transfer_id), expected=expected, found=found))

    for round_ in session.scalars(select(Round).order_by(Round.id)).all():
        reference = round_.reference
        allocations = session.scalars(select(PoolAllocation).where(PoolAllocation.round_id == round_.id)).all()
        payouts = session.scalars(select(ContributionPayout).where(ContributionPayout.round_id == round_.id)).all()
        if round_.state not in _COMMITTED:
            if allocations or payouts:
                findings.append(Finding("pool_allocations_uncommitted",
                                        f"round {reference} is {round_.state} but has allocations or payouts"))
            continue
        run = session.get(PoolRun, round_.committed_run_id) if round_.committed_run_id else None
        if run is None or run.state != RunState.DONE:
            findings.append(Finding("pool_committed_run_missing", f"round {reference}: its committed run is missing or not done"))
            continue
        plan = service.commit_plan(session, reference)
        expected = {need_id: (allocated, charge) for need_id, _, allocated, _, charge in plan.allocations}
        recorded = {str(row.need_id): row for row in allocations}
        for need_id in sorted(expected.keys() | recorded.keys()):
            row = recorded.get(need_id)
            want = expected.get(need_id)
            found = None if row is None else (row.allocated_minor, row.price_paid_minor)
            if found != want:
                findings.append(Finding("pool_allocation_differs",
                                        f"round {reference}, need {need_id}: recorded allocation and charge differ from the run",
                                        expected=str(want), found=str(found)))
        pool = session.get(Pool, round_.pool_id)
        assert pool is not None
        pool_code = service.pool_account_code(pool.slug)
        for need_id, (_, charge) in expected.items():
            row = recorded.get(need_id)
            if charge > 0 and row is not None:
                member = slugs.get(row.member_id, "")  # a member's main account's code is its slug
                transfer_finding(row.transfer_id, member, pool_code, charge, f"round {reference}, need {need_id}'s charge")
        recorded_payouts = {row.contribution_id: row for row in payouts}
        for payout in plan.payouts:
            row = recorded_payouts.pop(payout.contribution_id, None)
            if row is None or (row.used_minor, row.amount_minor) != (payout.used_minor, payout.amount_minor):
                findings.append(Finding("pool_payout_differs",
                                        f"round {reference}, contribution {payout.contribution_id}: payout differs",
                                        expected=f"{payout.used_minor} used, {payout.amount_minor}",
                                        found=None if row is None else f"{row.used_minor} used, {row.amount_minor}"))
                continue
            transfer_finding(row.transfer_id, pool_code, payout.member, payout.amount_minor,
                             f"round {reference}, contribution {payout.contribution_id}'s payout")
        for contribution_id in recorded_payouts:
            findings.append(Finding("pool_payout_differs",
                                    f"round {reference}, contribution {contribution_id}: a payout the rule does not give"))
    return findings

