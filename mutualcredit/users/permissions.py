"""Who may do what: ``Principal`` answers every permission question, from roles alone.

The rules, in one place (the web app asks; it decides nothing itself):

- A member's **treasurer** reads that member's data, pays from its accounts,
  invoices for it, accepts or rejects requests addressed to it, and manages
  its API tokens (scopes ``MEMBER_TOKEN_SCOPES``).
- A member's **viewer** reads that member's data and changes nothing.
- **Regional roles** (coordinator, auditor, admin) read every member's data.
  An auditor changes nothing. A coordinator invites people to member roles.
  An admin also invites to regional roles, creates regional API tokens and
  revokes any token. Coordinators and admins administer members, member
  roles, limits and system accounts; only an admin grants regional roles or
  deactivates someone who holds one; nobody deactivates themselves. Every
  regional role runs the audit (it only reads). No regional role ever pays
  from, invoices for or accepts requests of a member's account: that is the
  member's own act.
- Resource pools: every signed-in person sees pools, rounds and results; a
  member's treasurer declares its needs and objects for it during review;
  coordinators and admins create pools, record contributions, and open,
  close, run, review and commit rounds (a member declares its own needs:
  no regional role declares for it).

Pure: no database, no Flask, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

MEMBER_ROLES = ("treasurer", "viewer")
REGIONAL_ROLES = ("coordinator", "auditor", "admin")
# What a member-bound API token may carry; ``admin`` is for admin-role tokens only.
MEMBER_TOKEN_SCOPES = ("accounts:read", "transfers:write", "requests:write", "pools:write")


class HasMemberSlug(Protocol):
    """An account as permissions see it (``AccountView`` and the like)."""

    @property
    def member_slug(self) -> str | None: ...


class TokenLike(Protocol):
    """An API token as permissions see it (``TokenView``)."""

    @property
    def member_slug(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class MemberRole:
    """A user's role in one member."""

    member_slug: str
    member_name: str
    role: str


@dataclass(frozen=True, slots=True)
class Principal:
    """A logged-in user (or nobody) and the answers to "may they ...?"."""

    user_id: int | None
    email: str = ""
    display_name: str = ""
    preferred_locale: str | None = None
    member_roles: tuple[MemberRole, ...] = ()
    regional_roles: frozenset[str] = field(default_factory=frozenset)
    login_epoch: int = 0

    @classmethod
    def anonymous(cls) -> "Principal":
        return cls(user_id=None)

    @property
    def is_anonymous(self) -> bool:
        return self.user_id is None

    @property
    def actor(self) -> str:
        """How the activity log and transfers name this person."""
        assert self.user_id is not None, "anonymous principals never act"
        return f"user:{self.email}"

    def role_in(self, member_slug: str | None) -> str | None:
        """``treasurer``, ``viewer`` or ``None``."""
        for member_role in self.member_roles:
            if member_role.member_slug == member_slug:
                return member_role.role
        return None

    def _is_treasurer_of(self, member_slug: str | None) -> bool:
        return member_slug is not None and self.role_in(member_slug) == "treasurer"

    # -- reading -------------------------------------------------------------

    @property
    def is_regional_reader(self) -> bool:
        """Coordinators, auditors and admins read every member's data."""
        return bool(self.regional_roles & set(REGIONAL_ROLES))

    @property
    def is_admin(self) -> bool:
        return "admin" in self.regional_roles

    @property
    def is_coordinator(self) -> bool:
        return "coordinator" in self.regional_roles

    def can_read_member(self, member_slug: str) -> bool:
        return self.is_regional_reader or self.role_in(member_slug) is not None

    def readable_member_slugs(self) -> frozenset[str] | None:
        """The members whose data this person reads; ``None`` means every member."""
        if self.is_regional_reader:
            return None
        return frozenset(member_role.member_slug for member_role in self.member_roles)

    # -- the ledger ----------------------------------------------------------

    def can_pay_from(self, account: HasMemberSlug) -> bool:
        """Only the account's member's treasurer pays from a member's account."""
        if account.member_slug is None:
            return self.is_admin  # the region's own accounts (commons, pools, clearing)
        return self._is_treasurer_of(account.member_slug)

    def can_accept_requests_of(self, member_slug: str) -> bool:
        """Accepting or rejecting a request addressed to ``member_slug`` (the payer)."""
        return self._is_treasurer_of(member_slug)

    def can_invoice_for(self, member_slug: str) -> bool:
        """Sending a payment request as ``member_slug`` (the payee)."""
        return self._is_treasurer_of(member_slug)

    # -- API tokens ----------------------------------------------------------

    def can_manage_tokens_of(self, member_slug: str) -> bool:
        return self._is_treasurer_of(member_slug)

    # -- the member directory --------------------------------------------------

    def can_edit_listing_of(self, member_slug: str) -> bool:
        """A co-op's directory profile (description, offers, wants) is its treasurers' to edit."""
        return self._is_treasurer_of(member_slug)

    @property
    def can_create_regional_tokens(self) -> bool:
        return self.is_admin

    def can_read_token(self, token: TokenLike) -> bool:
        if token.member_slug is None:
            return self.is_regional_reader
        return self.can_read_member(token.member_slug)

    def can_revoke_token(self, token: TokenLike) -> bool:
        """A member's treasurer revokes its tokens; an admin revokes any (a leaked token cannot wait)."""
        return self.is_admin or self._is_treasurer_of(token.member_slug)

    def token_scopes_for(self, member_slug: str | None) -> tuple[str, ...]:
        """Scopes this person may give a new token for ``member_slug`` (``None``: a regional token)."""
        if member_slug is None:
            return (*MEMBER_TOKEN_SCOPES, "admin") if self.can_create_regional_tokens else ()
        return MEMBER_TOKEN_SCOPES if self.can_manage_tokens_of(member_slug) else ()

    @property
    def treasurer_of(self) -> tuple[str, ...]:
        """The members this person is treasurer of."""
        return tuple(r.member_slug for r in self.member_roles if r.role == "treasurer")

    # -- people --------------------------------------------------------------

    @property
    def can_invite_to_members(self) -> bool:
        return self.is_coordinator or self.is_admin

    @property
    def can_invite_to_regional_roles(self) -> bool:
        return self.is_admin

    def can_invite(self, *, member_role: str | None = None, regional_role: str | None = None) -> bool:
        if regional_role is not None:
            return self.can_invite_to_regional_roles
        return member_role is not None and self.can_invite_to_members

    # -- resource pools ---------------------------------------------------------

    def can_declare_needs_for(self, member_slug: str) -> bool:
        """Declaring, editing and withdrawing a member's needs, and objecting for it: its treasurers."""
        return self._is_treasurer_of(member_slug)

    @property
    def can_administer_pools(self) -> bool:
        """Create pools, open, close, run, review and commit rounds, record contributions: coordinators and admins."""
        return self.is_coordinator or self.is_admin

    # -- coordination (administering what the members' assemblies decided) ----

    @property
    def can_read_coordination(self) -> bool:
        """Coordinators, auditors and admins see the coordination pages; auditors only see."""
        return self.is_regional_reader

    @property
    def can_administer(self) -> bool:
        """Admit, edit and suspend members, grant member roles, set limits, open system accounts."""
        return self.is_coordinator or self.is_admin

    @property
    def can_administer_regional_roles(self) -> bool:
        """Granting and revoking coordinator, auditor and admin: admins only."""
        return self.is_admin

    @property
    def can_run_audit(self) -> bool:
        """The audit only reads (each run is logged), so auditors run it too."""
        return self.is_regional_reader

    def can_set_user_active(self, *, user_id: int, regional_roles: Iterable[str]) -> bool:
        """Deactivate or reactivate a person: never oneself; someone with a regional role only by an admin."""
        if user_id == self.user_id:
            return False
        if set(regional_roles) & set(REGIONAL_ROLES):
            return self.is_admin
        return self.can_administer

    @property
    def can_change_anything(self) -> bool:
        """False for viewers and auditors (and nobody): read-only people."""
        return bool(self.treasurer_of) or self.is_coordinator or self.is_admin
