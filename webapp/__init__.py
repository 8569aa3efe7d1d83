"""The web delivery of a regional instance: pages now, the JSON API and federation later.

``create_app`` is the application factory; views translate HTTP to service
calls and back and hold no business rule of their own.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, g

from mutualcredit.config import Settings
from webapp.extensions import storage_uri
from mutualcredit.db import make_engine, make_session_factory


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the web app for the database named by the settings (or ``config``)."""
    settings = Settings.from_environ()
    app = Flask(__name__)
    app.config.from_mapping(
        SECRET_KEY=settings.secret_key,
        DATABASE_URL=settings.database_url,
        API_RATE_LIMIT=settings.api_rate_limit,
        RATELIMIT_STORAGE_URI=storage_uri(settings.rate_limit_storage_url),
        INSECURE_COOKIES=settings.insecure_cookies,
        PROXY_HOPS=settings.proxy_hops,
    )
    if config:
        app.config.update(config)
    _configure_webhooks(app, settings)
    engine = make_engine(app.config["DATABASE_URL"])
    app.extensions["mutualcredit.sessions"] = make_session_factory(engine)

    @app.teardown_appcontext
    def close_session(_error: BaseException | None) -> None:
        session = g.pop("db_session", None)
        if session is not None:
            session.close()

    from webapp import api, auth, i18n, invoice_pages, pages, people, tokens_pages
    from webapp import treasury_pages
    from webapp import request_pages
    from webapp import directory_pages, statement_pages
    from webapp import coordination_pages
    from webapp import payment_pages, pool_pages
    from webapp.extensions import limiter

    limiter.init_app(app)
    i18n.init_app(app)
    auth.init_app(app)

    app.register_blueprint(pages.blueprint)
    app.register_blueprint(tokens_pages.blueprint)
    app.register_blueprint(people.blueprint)
    app.register_blueprint(invoice_pages.blueprint)
    app.register_blueprint(treasury_pages.blueprint)
    app.register_blueprint(request_pages.blueprint)
    app.register_blueprint(statement_pages.blueprint)
    app.register_blueprint(directory_pages.blueprint)
    app.register_blueprint(coordination_pages.blueprint)
    app.register_blueprint(payment_pages.blueprint)
    app.register_blueprint(pool_pages.blueprint)
    api.init_app(app)
    _start_webhook_worker(app)
    return app


def _configure_webhooks(app: Flask, settings: Settings) -> None:
    # Tests (TESTING) run no worker thread unless they ask for one.
    app.config.setdefault("WEBHOOK_WORKER", settings.webhook_worker and not app.testing)
    app.config.setdefault("WEBHOOK_RETRY_BASE_S", settings.webhook_retry_base_s)
    app.config.setdefault("WEBHOOK_ATTEMPTS_MAX", settings.webhook_attempts_max)
    app.config.setdefault("WEBHOOK_TIMEOUT_S", settings.webhook_timeout_s)


def _start_webhook_worker(app: Flask) -> None:
    """Deliver webhooks from a daemon thread (with WEBHOOK_WORKER), woken after a request that recorded events."""
    from mutualcredit.webhooks.outbox import take_recorded
    from mutualcredit.webhooks.worker import DeliveryWorker, WorkerSettings, wake

    @app.after_request
    def wake_webhook_worker(response: Any) -> Any:
        # The view's service has committed by now, so the events it recorded
        # go out at once; requests that recorded none wake nothing.
        if take_recorded() and response.status_code < 400:
            wake()
        return response

    if not app.config["WEBHOOK_WORKER"]:
        return
    worker = DeliveryWorker(
        app.extensions["mutualcredit.sessions"],
        WorkerSettings(
            retry_base_s=float(app.config["WEBHOOK_RETRY_BASE_S"]),
            attempts_max=int(app.config["WEBHOOK_ATTEMPTS_MAX"]),
            timeout_s=float(app.config["WEBHOOK_TIMEOUT_S"]),
            poll_interval_s=float(app.config.get("WEBHOOK_POLL_INTERVAL_S", 1.0)),
        ),
    )
    app.extensions["mutualcredit.webhook_worker"] = worker
    worker.start()
