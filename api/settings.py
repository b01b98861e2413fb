"""Settings, read once from the environment (``HELPDESK_`` prefix plus ``DATABASE_URL``)."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import msgspec


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    database_url: str | None = None
    """PostgreSQL URL. When unset, ``helpdesk serve`` runs an embedded server in ``data_dir``."""
    direct_database_url: str | None = None
    """A session-capable URL of the primary (not through a transaction pooler), for what needs one session:
    ``LISTEN`` and the migrations' advisory lock. Defaults to ``database_url``."""
    read_database_url: str | None = None
    """A streaming replica for lists, the change feed and histories (docs/deploy.md). Optional."""
    read_max_lag_seconds: float = 10.0
    """Reads without a consistency token go to the replica only while it is at most this far behind."""
    db_pgbouncer: Literal["off", "transaction"] = "off"
    """``transaction``: the database URLs point at PgBouncer in transaction mode, so no named prepared
    statements and no session settings in the startup packet (docs/deploy.md)."""
    data_dir: str = ".helpdesk"
    db_pool_size: int = 10
    db_max_overflow: int = 10
    db_pool_timeout_seconds: float = 5.0
    """How long a request waits for a free database connection before it is answered 503."""
    db_connect_timeout_seconds: float = 5.0
    """How long opening a database connection may take before the request is answered 503."""
    log_level: str = "INFO"
    access_log: bool = True
    max_body_bytes: int = 1_048_576
    api_key_cache_ttl_seconds: float = 60.0
    run_worker: bool = True
    """Run the background runner (scheduled work, webhook delivery) inside the API process."""
    auto_close_after_seconds: float = 4 * 24 * 3600.0
    """Resolved tickets close automatically after this delay (default 4 days)."""
    webhook_allow_cidrs: str = ""
    """Comma-separated networks webhook URLs may reach despite the SSRF guard (e.g. ``127.0.0.0/8``)."""
    webhook_allow_http: bool = False
    """Accept plain ``http://`` webhook URLs (development, receivers inside an allowed network)."""
    webhook_connect_timeout_seconds: float = 5.0
    webhook_timeout_seconds: float = 15.0
    """Total time for one delivery attempt: connect, send, and read the response head and body start."""
    webhook_lease_seconds: float = 30.0
    """How long a claimed delivery is reserved for its worker; must exceed the total timeout."""
    webhook_endpoint_concurrency: int = 16
    """Attempts in flight per endpoint and worker, so a slow endpoint cannot take every slot."""
    webhook_max_in_flight: int = 1024
    """Attempts in flight per worker process, over all endpoints."""
    webhook_poll_seconds: float = 1.0
    """Fallback poll for due retries and missed notifications."""
    webhook_disable_after_seconds: float = 5 * 24 * 3600.0
    """An endpoint failing continuously this long is disabled (and ``endpoint.disabled`` is emitted)."""
    webhook_retention_days: int = 30
    """Delivery history (attempts, finished deliveries, their messages) is kept this long."""
    ical_expansion_seconds: float = 5.0
    """An uploaded iCalendar file whose events take longer than this to expand is refused (422)."""
    ical_expansion_memory_mb: int = 1024
    """The address space the expansion of one uploaded file may use (it runs in a child process)."""
    http_max_header_bytes: int = 65_536
    """``helpdesk serve``: a request line and headers larger than this are refused (431)."""
    http_header_timeout_seconds: float = 15.0
    """``helpdesk serve``: a request's head must arrive within this long of its first byte (else 408)."""
    http_body_timeout_seconds: float = 30.0
    """``helpdesk serve``: the longest silence while a request body is read (else 408)."""

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir).expanduser().resolve()

    @property
    def session_database_url(self) -> str | None:
        """Where ``LISTEN`` and migrations connect: the direct URL when given, else ``database_url``."""
        return self.direct_database_url or self.database_url


_ENV_FIELDS = {
    "database_url": "DATABASE_URL",
    "direct_database_url": "HELPDESK_DIRECT_DATABASE_URL",
    "read_database_url": "HELPDESK_READ_DATABASE_URL",
    "read_max_lag_seconds": "HELPDESK_READ_MAX_LAG_SECONDS",
    "db_pgbouncer": "HELPDESK_DB_PGBOUNCER",
    "data_dir": "HELPDESK_DATA_DIR",
    "db_pool_size": "HELPDESK_DB_POOL_SIZE",
    "db_max_overflow": "HELPDESK_DB_MAX_OVERFLOW",
    "db_pool_timeout_seconds": "HELPDESK_DB_POOL_TIMEOUT_SECONDS",
    "db_connect_timeout_seconds": "HELPDESK_DB_CONNECT_TIMEOUT_SECONDS",
    "log_level": "HELPDESK_LOG_LEVEL",
    "access_log": "HELPDESK_ACCESS_LOG",
    "max_body_bytes": "HELPDESK_MAX_BODY_BYTES",
    "api_key_cache_ttl_seconds": "HELPDESK_API_KEY_CACHE_TTL_SECONDS",
    "run_worker": "HELPDESK_RUN_WORKER",
    "auto_close_after_seconds": "HELPDESK_AUTO_CLOSE_AFTER_SECONDS",
    "webhook_allow_cidrs": "HELPDESK_WEBHOOK_ALLOW_CIDRS",
    "webhook_allow_http": "HELPDESK_WEBHOOK_ALLOW_HTTP",
    "webhook_connect_timeout_seconds": "HELPDESK_WEBHOOK_CONNECT_TIMEOUT_SECONDS",
    "webhook_timeout_seconds": "HELPDESK_WEBHOOK_TIMEOUT_SECONDS",
    "webhook_lease_seconds": "HELPDESK_WEBHOOK_LEASE_SECONDS",
    "webhook_endpoint_concurrency": "HELPDESK_WEBHOOK_ENDPOINT_CONCURRENCY",
    "webhook_max_in_flight": "HELPDESK_WEBHOOK_MAX_IN_FLIGHT",
    "webhook_poll_seconds": "HELPDESK_WEBHOOK_POLL_SECONDS",
    "webhook_disable_after_seconds": "HELPDESK_WEBHOOK_DISABLE_AFTER_SECONDS",
    "webhook_retention_days": "HELPDESK_WEBHOOK_RETENTION_DAYS",
    "ical_expansion_seconds": "HELPDESK_ICAL_EXPANSION_SECONDS",
    "ical_expansion_memory_mb": "HELPDESK_ICAL_EXPANSION_MEMORY_MB",
    "http_max_header_bytes": "HELPDESK_HTTP_MAX_HEADER_BYTES",
    "http_header_timeout_seconds": "HELPDESK_HTTP_HEADER_TIMEOUT_SECONDS",
    "http_body_timeout_seconds": "HELPDESK_HTTP_BODY_TIMEOUT_SECONDS",
}


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build settings from environment variables; bad values fail loudly at startup, not per request."""
    env = os.environ if environ is None else environ
    raw = {field: env[var] for field, var in _ENV_FIELDS.items() if env.get(var, "") != ""}
    try:
        settings = msgspec.convert(raw, Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise SystemExit(f"invalid configuration: {exc}") from exc
    for cidr in filter(None, (part.strip() for part in settings.webhook_allow_cidrs.split(","))):
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            raise SystemExit(f"invalid configuration: HELPDESK_WEBHOOK_ALLOW_CIDRS: {cidr!r}") from None
    if settings.webhook_lease_seconds <= settings.webhook_timeout_seconds:
        # A lease shorter than an attempt would let a second worker send while the first still is.
        raise SystemExit("invalid configuration: HELPDESK_WEBHOOK_LEASE_SECONDS must exceed the timeout")
    if settings.db_pgbouncer == "transaction" and not settings.direct_database_url:
        # LISTEN through transaction pooling would land on whichever server connection is free and never
        # deliver a notification: the caches would go stale and the runner would only poll.
        raise SystemExit(
            "invalid configuration: HELPDESK_DB_PGBOUNCER=transaction needs HELPDESK_DIRECT_DATABASE_URL "
            "(a URL of the primary that bypasses PgBouncer, for LISTEN and migrations)"
        )
    return settings
