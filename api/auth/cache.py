"""Per-process cache of authenticated API keys, so a request costs no database round trip for auth.

Revocation stays prompt: revoking a key sends ``NOTIFY`` in the revoking transaction, and the process's
listener (:mod:`api.listener`) evicts the key the moment that transaction commits. While the listener
is down (startup, lost connection) the cache is bypassed entirely, so a missed notification can never
keep a revoked key alive; the TTL bounds staleness from anything that bypasses the API.
"""

from __future__ import annotations

import time
import uuid

from sqlalchemy.ext.asyncio import AsyncEngine

from api.auth.schemas import Principal
from api.auth.service import REVOCATION_CHANNEL, REVOKE_ALL, find_principal
from api.auth.tokens import hash_token
from api.listener import Listener

MAX_ENTRIES = 10_000


class ApiKeyCache:
    def __init__(self, engine: AsyncEngine, listener: Listener, ttl_seconds: float) -> None:
        self._engine = engine
        self._ttl = ttl_seconds
        self._entries: dict[bytes, tuple[Principal, float]] = {}
        self._revocations = listener.subscribe(
            REVOCATION_CHANNEL, on_notify=self._on_notification, on_reset=self._entries.clear
        )
        self.lookups_from_db = 0

    async def principal_for(self, token: str) -> Principal | None:
        token_hash = hash_token(token)
        if self._revocations.listening:
            entry = self._entries.get(token_hash)
            if entry is not None and entry[1] > time.monotonic():
                return entry[0]
        self.lookups_from_db += 1
        generation = self._revocations.generation
        async with self._engine.connect() as conn:
            principal = await find_principal(conn, token_hash)
        # A revocation announced while the key was read may have come after the read: keep nothing then.
        if principal is not None and self._revocations.unchanged_since(generation):
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()
            self._entries[token_hash] = (principal, time.monotonic() + self._ttl)
        return principal

    def evict_key(self, key_id: uuid.UUID) -> None:
        """Drop a key from this process's cache now (the revoking process does not wait for its NOTIFY)."""
        for token_hash, (principal, _) in list(self._entries.items()):
            if principal.key_id == key_id:
                self._entries.pop(token_hash, None)

    def _on_notification(self, payload: str) -> None:
        if payload == REVOKE_ALL:
            self._entries.clear()
            return
        try:
            self._entries.pop(bytes.fromhex(payload), None)
        except ValueError:
            self._entries.clear()
