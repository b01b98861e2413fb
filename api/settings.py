"""Settings, read once from the environment (``HELPDESK_`` prefix plus ``DATABASE_URL``)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import msgspec


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    database_url: str | None = None
    """PostgreSQL URL. When unset, ``helpdesk serve`` runs an embedded server in ``data_dir``."""
    data_dir: str = ".helpdesk"
    db_pool_size: int = 10
    db_max_overflow: int = 10
    log_level: str = "INFO"
    access_log: bool = True
    max_body_bytes: int = 1_048_576
    api_key_cache_ttl_seconds: float = 60.0
    run_worker: bool = True
    """Run the background runner (scheduled work, webhook delivery) inside the API process."""
    auto_close_after_seconds: float = 4 * 24 * 3600.0
    """Resolved tickets close automatically after this delay (default 4 days)."""
    scheduler_poll_seconds: float = 5.0
    """How often runners look for due scheduled actions when no NOTIFY woke them."""

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir).expanduser().resolve()


_ENV_FIELDS = {
    "database_url": "DATABASE_URL",
    "data_dir": "HELPDESK_DATA_DIR",
    "db_pool_size": "HELPDESK_DB_POOL_SIZE",
    "db_max_overflow": "HELPDESK_DB_MAX_OVERFLOW",
    "log_level": "HELPDESK_LOG_LEVEL",
    "access_log": "HELPDESK_ACCESS_LOG",
    "max_body_bytes": "HELPDESK_MAX_BODY_BYTES",
    "api_key_cache_ttl_seconds": "HELPDESK_API_KEY_CACHE_TTL_SECONDS",
    "run_worker": "HELPDESK_RUN_WORKER",
    "auto_close_after_seconds": "HELPDESK_AUTO_CLOSE_AFTER_SECONDS",
    "scheduler_poll_seconds": "HELPDESK_SCHEDULER_POLL_SECONDS",
}


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build settings from environment variables; bad values fail loudly at startup, not per request."""
    env = os.environ if environ is None else environ
    raw = {field: env[var] for field, var in _ENV_FIELDS.items() if env.get(var, "") != ""}
    try:
        return msgspec.convert(raw, Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise SystemExit(f"invalid configuration: {exc}") from exc
