"""Per-process cache of authenticated API keys, so a request costs no database round trip for auth.

Revocation stays prompt: revoking a key sends ``NOTIFY`` in the revoking transaction, and every process
keeps one ``LISTEN`` connection that evicts the key the moment that transaction commits. While the
listener is down (startup, lost connection) the cache is bypassed entirely, so a missed notification
can never keep a revoked key alive; the TTL bounds staleness from anything that bypasses the API.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from api.auth.schemas import Principal
from api.auth.service import REVOCATION_CHANNEL, REVOKE_ALL, find_principal
from api.auth.tokens import hash_token

log = logging.getLogger("api.auth")

MAX_ENTRIES = 10_000
RECONNECT_DELAY_SECONDS = 1.0


class ApiKeyCache:
    def __init__(self, engine: AsyncEngine, dsn: str, ttl_seconds: float) -> None:
        self._engine = engine
        self._dsn = dsn
        self._ttl = ttl_seconds
        self._entries: dict[bytes, tuple[Principal, float]] = {}
        self._listener: asyncpg.Connection | None = None
        self._listening = asyncio.Event()
        self._first_attempt_done = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.lookups_from_db = 0

    async def start(self) -> None:
        self._task = asyncio.create_task(self._keep_listening(), name="api-key-cache-listener")
        # Wait for the first connection attempt so the cache is useful from the first request;
        # if it fails, authentication works uncached until the listener reconnects.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._first_attempt_done.wait(), timeout=5)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._close_listener()

    async def principal_for(self, token: str) -> Principal | None:
        token_hash = hash_token(token)
        if self._listening.is_set():
            entry = self._entries.get(token_hash)
            if entry is not None and entry[1] > time.monotonic():
                return entry[0]
        self.lookups_from_db += 1
        async with self._engine.connect() as conn:
            principal = await find_principal(conn, token_hash)
        if principal is not None and self._listening.is_set():
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()
            self._entries[token_hash] = (principal, time.monotonic() + self._ttl)
        return principal

    def evict_key(self, key_id: uuid.UUID) -> None:
        """Drop a key from this process's cache now (the revoking process does not wait for its NOTIFY)."""
        for token_hash, (principal, _) in list(self._entries.items()):
            if principal.key_id == key_id:
                self._entries.pop(token_hash, None)

    def _on_notification(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        if payload == REVOKE_ALL:
            self._entries.clear()
            return
        try:
            self._entries.pop(bytes.fromhex(payload), None)
        except ValueError:
            self._entries.clear()

    def _on_listener_lost(self, _conn: Any) -> None:
        self._listening.clear()
        self._entries.clear()

    async def _keep_listening(self) -> None:
        while True:
            if self._listener is None or self._listener.is_closed():
                self._on_listener_lost(None)
                try:
                    conn = await asyncpg.connect(
                        self._dsn, server_settings={"application_name": "helpdesk-listen"}
                    )
                    await conn.add_listener(REVOCATION_CHANNEL, self._on_notification)
                    conn.add_termination_listener(self._on_listener_lost)
                except (OSError, asyncpg.PostgresError) as exc:
                    log.warning("api key cache listener unavailable, authenticating uncached: %s", exc)
                else:
                    self._listener = conn
                    self._entries.clear()  # anything cached before may have missed a revocation
                    self._listening.set()
                self._first_attempt_done.set()
            await asyncio.sleep(RECONNECT_DELAY_SECONDS)

    async def _close_listener(self) -> None:
        self._listening.clear()
        if self._listener is not None and not self._listener.is_closed():
            await self._listener.close()
        self._listener = None
