"""The `mutualcredit` console script: the instance's commands plus `serve`."""

from __future__ import annotations

import click

from mutualcredit.cli import cli, run


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--debug", is_flag=True, help="Reload on code changes (development only).")
def serve(host: str, port: int, debug: bool) -> None:
    """Serve the web app (for production, use gunicorn: see the README)."""
    from webapp import create_app

    # Debug mode serves plain http, so its session cookie may not insist on https.
    create_app({"DEBUG": True} if debug else None).run(host=host, port=port, debug=debug)


def main() -> None:
    run(cli)


if __name__ == "__main__":
    main()
