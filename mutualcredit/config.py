"""Configuration from environment variables, with defaults for a laptop."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

INSTANCE_DIR_DEFAULT = Path.cwd() / "instance"


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the instance reads from its environment."""

    database_url: str
    instance_dir: Path
    signing_key_path: Path
    secret_key: str
    api_rate_limit: str = "1200 per minute"
    rate_limit_storage_url: str = "memory://"

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
        )


def normalise_database_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL URLs written the common way."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url
