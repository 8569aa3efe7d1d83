"""`mutualcredit user`: the first admin, recovery, roles and invitations from the shell.

Whoever runs these commands already controls the instance, so they are not
checked against a principal; each act is logged with ``--actor``.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from mutualcredit.cli import Context, actor_option, emit_json, json_option, pass_context
from mutualcredit.users.permissions import MEMBER_ROLES, REGIONAL_ROLES
from mutualcredit.users.service import INVITATION_LIFETIME_DEFAULT, INVITATION_LIFETIME_MAX, UserView

BASE_URL_DEFAULT = "http://127.0.0.1:5000"
F = TypeVar("F", bound=Callable[..., Any])


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        if not line:
            raise click.UsageError("--password-stdin: nothing on standard input")
        return line.rstrip("\r\n")
    password: str = click.prompt("Password", hide_input=True, confirmation_prompt=True, err=True)
    return password


def _roles(view: UserView) -> str:
    roles = [f"{role.role}:{role.member_slug}" for role in view.member_roles] + list(view.regional_roles)
    return ",".join(roles) or "-"


def _user_json(view: UserView) -> dict[str, object]:
    return {
        "email": view.email,
        "name": view.display_name,
        "active": view.is_active,
        "locale": view.preferred_locale,
        "regional_roles": list(view.regional_roles),
        "member_roles": [{"member": role.member_slug, "role": role.role} for role in view.member_roles],
        "created_at": view.created_at.isoformat(),
        "last_login_at": view.last_login_at.isoformat() if view.last_login_at else None,
        "locked_until": view.locked_until.isoformat() if view.locked_until else None,
    }


def _member_role_options(function: F) -> F:
    """``--member SLUG --member-role treasurer|viewer``."""
    function = click.option("--member-role", type=click.Choice(MEMBER_ROLES), help="The role in --member.")(function)
    return click.option("--member", "member_slug", help="...or a member (co-op) slug.")(function)


def _check_member_pair(member_slug: str | None, member_role: str | None) -> None:
    if (member_slug is None) != (member_role is None):
        raise click.UsageError("--member and --member-role go together")


@click.group("user")
def user_group() -> None:
    """People who log in to the web app: add, reset passwords, roles, invitations."""


@user_group.command("add")
@click.argument("email")
@click.option("--name", required=True, help="The person's name, as pages show it.")
@click.option("--role", "regional_roles", type=click.Choice(REGIONAL_ROLES), multiple=True, help="A regional role (repeatable).")
@_member_role_options
@click.option("--locale", type=click.Choice(["en", "es", "fr"]), help="Language of the pages (default: the browser's).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input instead of prompting.")
@actor_option
@pass_context
def user_add(
    context: Context,
    email: str,
    name: str,
    regional_roles: tuple[str, ...],
    member_slug: str | None,
    member_role: str | None,
    locale: str | None,
    password_stdin: bool,
    actor: str,
) -> None:
    """Add a user (the first admin, say) with a password."""
    from mutualcredit.users.service import add_user

    _check_member_pair(member_slug, member_role)
    password = _read_password(password_stdin)
    view = add_user(
        context.session,
        email=email,
        display_name=name,
        password=password,
        actor=actor,
        regional_roles=regional_roles,
        member_roles=[(member_slug, member_role)] if member_slug and member_role else [],
        preferred_locale=locale,
    )
    click.echo(f"user {view.email} added ({_roles(view)})")


@user_group.command("reset-password")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="Read the new password from standard input instead of prompting.")
@actor_option
@pass_context
def user_reset_password(context: Context, email: str, password_stdin: bool, actor: str) -> None:
    """Set a new password (also unlocks the account and ends its sessions)."""
    from mutualcredit.users.service import reset_password

    password = _read_password(password_stdin)
    view = reset_password(context.session, email=email, new_password=password, actor=actor)
    click.echo(f"password of {view.email} reset")


@user_group.command("list")
@json_option
@pass_context
def user_list(context: Context, as_json: bool) -> None:
    """List users with their roles (never their password hashes)."""
    from mutualcredit.users.service import list_users

    views = list_users(context.session)
    if as_json:
        emit_json([_user_json(view) for view in views])
        return
    for view in views:
        state = "active" if view.is_active else "inactive"
        last = f"last login {view.last_login_at:%Y-%m-%d %H:%M}" if view.last_login_at else "never logged in"
        click.echo(f"{view.email:<36} {state:<8} {last:<28} {_roles(view)}  {view.display_name}")


@user_group.command("invite")
@click.argument("email")
@click.option("--role", "regional_role", type=click.Choice(REGIONAL_ROLES), help="Invite to a regional role...")
@_member_role_options
@click.option(
    "--expires-in-days",
    type=click.IntRange(1, INVITATION_LIFETIME_MAX.days),
    default=INVITATION_LIFETIME_DEFAULT.days,
    show_default=True,
)
@click.option("--base-url", envvar="MUTUALCREDIT_BASE_URL", default=BASE_URL_DEFAULT, show_default=True, help="The web app's address, for the link.")
@actor_option
@pass_context
def user_invite(
    context: Context,
    email: str,
    regional_role: str | None,
    member_slug: str | None,
    member_role: str | None,
    expires_in_days: int,
    base_url: str,
    actor: str,
) -> None:
    """Invite a person with a one-time link (printed once), for a regional or a member role."""
    from mutualcredit.users.service import invite

    _check_member_pair(member_slug, member_role)
    if (regional_role is None) == (member_slug is None):
        raise click.UsageError("give either --role or --member with --member-role")
    secret, view = invite(
        context.session,
        email=email,
        actor=actor,
        member_slug=member_slug,
        member_role=member_role,
        regional_role=regional_role,
        lifetime=dt.timedelta(days=expires_in_days),
    )
    click.echo(f"{base_url.rstrip('/')}/invitations/{secret}")
    click.echo(f"invitation for {view.email} as {view.role}, until {view.expires_at:%Y-%m-%d %H:%M} UTC; the link is not shown again", err=True)


@user_group.command("grant")
@click.argument("email")
@click.option("--role", "regional_role", type=click.Choice(REGIONAL_ROLES), help="A regional role...")
@_member_role_options
@actor_option
@pass_context
def user_grant(context: Context, email: str, regional_role: str | None, member_slug: str | None, member_role: str | None, actor: str) -> None:
    """Give an existing user a role (a member role replaces their previous one there)."""
    from mutualcredit.users.service import grant_member_role, grant_regional_role

    _check_member_pair(member_slug, member_role)
    if (regional_role is None) == (member_slug is None):
        raise click.UsageError("give either --role or --member with --member-role")
    if regional_role is not None:
        view = grant_regional_role(context.session, email=email, role=regional_role, actor=actor)
    else:
        assert member_slug is not None and member_role is not None
        view = grant_member_role(context.session, email=email, member_slug=member_slug, role=member_role, actor=actor)
    click.echo(f"user {view.email}: {_roles(view)}")


@user_group.command("revoke")
@click.argument("email")
@click.option("--role", "regional_role", type=click.Choice(REGIONAL_ROLES), help="A regional role...")
@click.option("--member", "member_slug", help="...or the user's role in this member.")
@actor_option
@pass_context
def user_revoke(context: Context, email: str, regional_role: str | None, member_slug: str | None, actor: str) -> None:
    """Take a role away from a user."""
    from mutualcredit.users.service import revoke_member_role, revoke_regional_role

    if (regional_role is None) == (member_slug is None):
        raise click.UsageError("give either --role or --member")
    if regional_role is not None:
        view = revoke_regional_role(context.session, email=email, role=regional_role, actor=actor)
    else:
        assert member_slug is not None
        view = revoke_member_role(context.session, email=email, member_slug=member_slug, actor=actor)
    click.echo(f"user {view.email}: {_roles(view)}")


@user_group.command("deactivate")
@click.argument("email")
@actor_option
@pass_context
def user_deactivate(context: Context, email: str, actor: str) -> None:
    """Stop a user from logging in (their open sessions end too)."""
    from mutualcredit.users.service import set_user_active

    view = set_user_active(context.session, email=email, is_active=False, actor=actor)
    click.echo(f"user {view.email} deactivated")


@user_group.command("activate")
@click.argument("email")
@actor_option
@pass_context
def user_activate(context: Context, email: str, actor: str) -> None:
    """Let a deactivated user log in again."""
    from mutualcredit.users.service import set_user_active

    view = set_user_active(context.session, email=email, is_active=True, actor=actor)
    click.echo(f"user {view.email} activated")
