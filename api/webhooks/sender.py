"""Sending one delivery attempt over HTTP: signed headers, SSRF-guarded connections, no redirects.

Each endpoint gets its own connection pool (an aiohttp session with its own connector), capped at the
per-endpoint concurrency: connections stay alive between deliveries to the same endpoint, and a slow or
dead endpoint can exhaust only its own pool. The pool's resolver is the SSRF guard: it resolves the host
once, refuses the lot if any address is not public, and aiohttp connects to exactly those addresses while
still sending the URL's host name as ``Host`` and TLS SNI.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import hmac
import time
import uuid
from dataclasses import dataclass

import aiohttp
import yarl

from api.webhooks.signing import prepared, secret_key, webhook_headers
from api.webhooks.ssrf import (
    GuardedResolver,
    SsrfPolicy,
    SsrfRefused,
    UrlProblem,
    guarded_socket_factory,
    parse_url,
)

RESPONSE_BODY_LIMIT = 4096
USER_AGENT = "helpdesk-webhooks/1"


@dataclass(frozen=True, slots=True)
class Claim:
    """A delivery a worker holds the lease on, with what it needs to send it."""

    delivery_id: int
    endpoint_id: uuid.UUID
    message_id: str
    attempt_count: int
    retry_count: int
    body: bytes
    url: str
    headers: dict[str, str]
    secrets: tuple[str, ...]
    endpoint_version: dt.datetime
    endpoint_failing: bool
    lease_token: uuid.UUID


@dataclass(frozen=True, slots=True)
class AttemptResult:
    claim: Claim
    started_at: dt.datetime
    duration_ms: float
    status_code: int | None
    error_class: str | None
    error: str | None
    request_headers: dict[str, str]
    response_body: str | None
    retry_after: float | None

    @property
    def succeeded(self) -> bool:
        return self.error_class is None


class _Pool:
    def __init__(
        self,
        session: aiohttp.ClientSession | None,
        version: dt.datetime,
        refusal: tuple[str, str] | None = None,
        url: yarl.URL | None = None,
    ) -> None:
        self.session = session
        self.version = version
        self.url = url  # parsed once, as the SSRF rules judged it (aiohttp would parse it on every request)
        # (error class, message) when every attempt fails without a request: bad URL, refused literal IP.
        self.refusal = refusal


def _recorded_headers(headers: dict[str, str], custom: dict[str, str]) -> dict[str, str]:
    """Headers as recorded: every custom value is masked, whatever its name (``X-Tenant`` may hold a key
    as well as ``Authorization``), because the attempt log is readable by every admin."""
    if not custom:
        return headers
    return {name: "[redacted]" if name in custom else value for name, value in headers.items()}


def parse_retry_after(value: str | None, now: float) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


def _refusal(exc: BaseException) -> SsrfRefused | None:
    """The guard's refusal behind a client error (aiohttp wraps it as the connector's ``os_error``)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, SsrfRefused):
            return seen
        seen = getattr(seen, "os_error", None) or seen.__cause__
    return None


def _error_class(exc: BaseException) -> str:
    if _refusal(exc) is not None:
        return "ssrf_refused"
    if isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError):
        return "timeout"
    if isinstance(exc, aiohttp.InvalidURL):
        return "invalid_url"
    return "connection"


class Sender:
    def __init__(
        self, policy: SsrfPolicy, *, connect_timeout: float, timeout: float, per_endpoint: int
    ) -> None:
        self._policy = policy
        self._timeout = aiohttp.ClientTimeout(total=timeout, connect=connect_timeout)
        self._per_endpoint = per_endpoint
        self._pools: dict[uuid.UUID, _Pool] = {}
        self._keys: dict[tuple[str, ...], tuple[hmac.HMAC, ...]] = {}
        self._retiring: set[asyncio.Task[None]] = set()

    async def _retire(self, session: aiohttp.ClientSession) -> None:
        await asyncio.sleep((self._timeout.total or 0) + 1)
        await session.close()

    def _pool(self, claim: Claim) -> _Pool:
        pool = self._pools.get(claim.endpoint_id)
        if pool is not None and pool.version == claim.endpoint_version:
            return pool
        if pool is not None and pool.session is not None:
            # The endpoint changed (URL, headers…): retire its pool once in-flight requests finish.
            task = asyncio.create_task(self._retire(pool.session))
            self._retiring.add(task)
            task.add_done_callback(self._retiring.discard)
        pool = self._new_pool(claim)
        self._pools[claim.endpoint_id] = pool
        return pool

    def _new_pool(self, claim: Claim) -> _Pool:
        try:
            # Only the static rules here: addresses are judged where the client connects (below).
            url = parse_url(claim.url, self._policy)
        except UrlProblem as exc:
            return _Pool(None, claim.endpoint_version, ("invalid_url", str(exc)))
        connector = aiohttp.TCPConnector(
            resolver=GuardedResolver(self._policy),
            socket_factory=guarded_socket_factory(self._policy),
            limit=self._per_endpoint,
            ttl_dns_cache=60,
            keepalive_timeout=30,
        )
        session = aiohttp.ClientSession(
            connector=connector,
            timeout=self._timeout,
            auto_decompress=False,
            trust_env=False,  # no proxies from the environment: the guard must see the real destination
            cookie_jar=aiohttp.DummyCookieJar(),  # receivers cannot make us store or replay cookies
        )
        return _Pool(session, claim.endpoint_version, url=url)

    async def send(self, claim: Claim) -> AttemptResult:
        pool = self._pool(claim)
        timestamp = int(time.time())
        keys = self._keys.get(claim.secrets)
        if keys is None:
            if len(self._keys) > 10_000:
                self._keys.clear()
            keys = self._keys[claim.secrets] = tuple(prepared(secret_key(s)) for s in claim.secrets)
        headers = {
            **claim.headers,
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            **webhook_headers(keys, claim.message_id, timestamp, claim.body),
        }
        started_at = dt.datetime.now(dt.UTC)
        started = time.perf_counter()
        status: int | None = None
        body: str | None = None
        retry_after: float | None = None
        error_class: str | None = None
        error: str | None = None
        if pool.session is None:
            error_class, error = pool.refusal or ("invalid_url", None)
        else:
            try:
                async with pool.session.post(
                    pool.url or claim.url, data=claim.body, headers=headers, allow_redirects=False
                ) as response:
                    status = response.status
                    raw = await response.content.read(RESPONSE_BODY_LIMIT)
                    # PostgreSQL text cannot hold NUL: one binary reply must not poison a batch.
                    body = raw.decode("utf-8", "replace").replace("\x00", "\ufffd")
                    retry_after = parse_retry_after(response.headers.get("retry-after"), time.time())
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                error_class = _error_class(exc)
                cause = _refusal(exc) or exc
                error = f"{type(cause).__name__}: {cause}"[:1000] if str(cause) else type(cause).__name__
            if status is not None and not 200 <= status < 300:
                error_class, error = "http_status", f"HTTP {status}"
        return AttemptResult(
            claim=claim,
            started_at=started_at,
            duration_ms=(time.perf_counter() - started) * 1000,
            status_code=status,
            error_class=error_class,
            error=error,
            request_headers=_recorded_headers(headers, claim.headers),
            response_body=body,
            retry_after=retry_after,
        )

    async def close(self) -> None:
        sessions = [pool.session for pool in self._pools.values() if pool.session is not None]
        self._pools.clear()
        for task in self._retiring:
            task.cancel()
        await asyncio.gather(*(session.close() for session in sessions), return_exceptions=True)
