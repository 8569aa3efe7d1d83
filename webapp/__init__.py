"""The web delivery of a regional instance: pages now, the JSON API and federation later.

``create_app`` is the application factory; views translate HTTP to service
calls and back and hold no business rule of their own.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, g

from mutualcredit.config import Settings
from mutualcredit.db import make_engine, make_session_factory


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the web app for the database named by the settings (or ``config``)."""
    settings = Settings.from_environ()
    app = Flask(__name__)
    app.config.from_mapping(
        SECRET_KEY=settings.secret_key,
        DATABASE_URL=settings.database_url,
        API_RATE_LIMIT=settings.api_rate_limit,
        RATELIMIT_STORAGE_URI=settings.rate_limit_storage_url,
    )
    if config:
        app.config.update(config)
    engine = make_engine(app.config["DATABASE_URL"])
    app.extensions["mutualcredit.sessions"] = make_session_factory(engine)

    @app.teardown_appcontext
    def close_session(_error: BaseException | None) -> None:
        session = g.pop("db_session", None)
        if session is not None:
            session.close()

    from webapp import api, pages
    from webapp.extensions import limiter

    limiter.init_app(app)

    app.register_blueprint(pages.blueprint)
    api.init_app(app)
    return app
