"""`mutualcredit token`: create, list and revoke API tokens."""

from __future__ import annotations

import click

from mutualcredit.cli import Context, actor_option, emit_json, json_option, pass_context
from mutualcredit.tokens.service import ROLES, SCOPES, TokenView


def _token_json(view: TokenView) -> dict[str, object]:
    return {
        "id": view.public_id,
        "name": view.name,
        "member": view.member_slug,
        "role": view.role,
        "scopes": list(view.scopes),
        "created_by": view.created_by,
        "created_at": view.created_at.isoformat(),
        "last_used_at": view.last_used_at.isoformat() if view.last_used_at else None,
        "revoked_at": view.revoked_at.isoformat() if view.revoked_at else None,
    }


@click.group("token")
def token_group() -> None:
    """API tokens for schemes and other programs."""


@token_group.command("create")
@click.option("--member", "member_slug", help="Bind the token to this member.")
@click.option("--role", type=click.Choice(ROLES), help="Bind the token to a regional role instead.")
@click.option("--scopes", required=True, help=f"Comma-separated: {','.join(SCOPES)}.")
@click.option("--name", default="", help="What the token is for.")
@actor_option
@pass_context
def token_create(context: Context, member_slug: str | None, role: str | None, scopes: str, name: str, actor: str) -> None:
    """Create a token and print its secret, once: it is stored only as a hash."""
    from mutualcredit.tokens.service import create_token

    secret, view = create_token(
        context.session,
        member_slug=member_slug,
        role=role,
        scopes=[scope.strip() for scope in scopes.split(",") if scope.strip()],
        name=name,
        created_by=actor,
    )
    click.echo(secret)
    click.echo(
        f"token {view.public_id} for {view.member_slug or view.role} ({', '.join(view.scopes)}); "
        "keep the secret above, it is not shown again",
        err=True,
    )


@token_group.command("list")
@click.option("--member", "member_slug", help="Only this member's tokens.")
@json_option
@pass_context
def token_list(context: Context, member_slug: str | None, as_json: bool) -> None:
    """List tokens (never their secrets), revoked ones included."""
    from mutualcredit.tokens.service import list_tokens

    views = list_tokens(context.session, member_slug=member_slug)
    if as_json:
        emit_json([_token_json(view) for view in views])
        return
    for view in views:
        state = f"revoked {view.revoked_at:%Y-%m-%d}" if view.revoked_at else "active"
        used = f"used {view.last_used_at:%Y-%m-%d %H:%M}" if view.last_used_at else "never used"
        click.echo(f"{view.public_id}  {view.member_slug or view.role:<18} {state:<18} {used:<22} {','.join(view.scopes)}  {view.name}")


@token_group.command("revoke")
@click.argument("token_id")
@actor_option
@pass_context
def token_revoke(context: Context, token_id: str, actor: str) -> None:
    """Revoke a token for good."""
    from mutualcredit.tokens.service import revoke_token

    view = revoke_token(context.session, token_id, revoked_by=actor)
    click.echo(f"token {view.public_id} revoked")


@token_group.command("purge-keys")
@click.option("--hours", type=click.IntRange(min=1), default=24, show_default=True, help="Keep keys this recent.")
@pass_context
def token_purge_keys(context: Context, hours: int) -> None:
    """Forget Idempotency-Keys older than HOURS (a key is honoured at least that long)."""
    import datetime as dt

    from mutualcredit.idempotency.service import purge

    count = purge(context.session, keep_for=dt.timedelta(hours=hours))
    click.echo(f"{count} idempotency keys older than {hours} h removed")
