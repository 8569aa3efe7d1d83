"""Configuration from environment variables, with defaults for a laptop."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

INSTANCE_DIR_DEFAULT = Path.cwd() / "instance"
WEBHOOK_RETRY_BASE_S_DEFAULT = 30.0
WEBHOOK_ATTEMPTS_MAX_DEFAULT = 8
WEBHOOK_TIMEOUT_S_DEFAULT = 10.0


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the instance reads from its environment."""

    database_url: str
    instance_dir: Path
    signing_key_path: Path
    secret_key: str
    api_rate_limit: str = "1200 per minute"
    rate_limit_storage_url: str = "memory://"
    # Webhooks: the first retry waits webhook_retry_base_s, each next one twice as long.
    webhook_retry_base_s: float = WEBHOOK_RETRY_BASE_S_DEFAULT
    webhook_attempts_max: int = WEBHOOK_ATTEMPTS_MAX_DEFAULT
    webhook_timeout_s: float = WEBHOOK_TIMEOUT_S_DEFAULT
    webhook_worker: bool = True  # run the delivery worker inside the web app
    # Plain-http cookies, for the local demo only (`make run` serves http on 127.0.0.1).
    insecure_cookies: bool = False
    # How many reverse proxies in front set X-Forwarded-For/-Proto (0: trust no such header).
    proxy_hops: int = 0

    @classmethod
    def from_environ(cls, environ: dict[str, str] | None = None) -> "Settings":
        environ = dict(os.environ if environ is None else environ)
        instance_dir = Path(environ.get("MUTUALCREDIT_INSTANCE_DIR", INSTANCE_DIR_DEFAULT))
        database_url = environ.get(
            "MUTUALCREDIT_DATABASE_URL", f"sqlite:///{instance_dir / 'mutualcredit.sqlite3'}"
        )
        signing_key_path = Path(
            environ.get("MUTUALCREDIT_SIGNING_KEY", instance_dir / "region-signing-key.pem")
        )
        secret_key = environ.get("MUTUALCREDIT_SECRET_KEY", "dev-only-not-secret")
        return cls(
            database_url=normalise_database_url(database_url),
            instance_dir=instance_dir,
            signing_key_path=signing_key_path,
            secret_key=secret_key,
            api_rate_limit=environ.get("MUTUALCREDIT_API_RATE_LIMIT", "1200 per minute"),
            rate_limit_storage_url=environ.get("MUTUALCREDIT_RATE_LIMIT_STORAGE_URL", "memory://"),
            webhook_retry_base_s=_number(environ, "MUTUALCREDIT_WEBHOOK_RETRY_BASE_S", WEBHOOK_RETRY_BASE_S_DEFAULT, 0.001),
            webhook_attempts_max=int(_number(environ, "MUTUALCREDIT_WEBHOOK_ATTEMPTS_MAX", WEBHOOK_ATTEMPTS_MAX_DEFAULT, 1)),
            webhook_timeout_s=_number(environ, "MUTUALCREDIT_WEBHOOK_TIMEOUT_S", WEBHOOK_TIMEOUT_S_DEFAULT, 0.1),
            webhook_worker=environ.get("MUTUALCREDIT_WEBHOOK_WORKER", "true").strip().lower() not in ("0", "false", "no", "off"),
            insecure_cookies=environ.get("MUTUALCREDIT_INSECURE_COOKIES", "").lower() in ("1", "true", "yes"),
            proxy_hops=int(environ.get("MUTUALCREDIT_PROXY_HOPS", "0") or 0),
        )


def _number(environ: dict[str, str], name: str, default: float, minimum: float) -> float:
    """A number from the environment, at least ``minimum``; a clear error otherwise."""
    text = (environ.get(name) or "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name}={text!r} is not a number") from None
    if not value >= minimum:  # also refuses NaN
        raise ValueError(f"{name}={text!r} must be at least {minimum}")
    return value


def normalise_database_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL URLs written the common way."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url
