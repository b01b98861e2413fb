"""Per-process cache of calendar schedules, for the SLA engine's every ticket write.

``await cache.get(conn, calendar_id)`` answers from memory at steady state. Every calendar change sends
``NOTIFY helpdesk_calendar_changed, '<id>'`` in its transaction; each process keeps one ``LISTEN``
connection and drops the calendar the moment that transaction commits. While the listener is down
(startup, lost connection) current versions are loaded from the database on every call, so a missed
notification can never keep an old schedule in use. Past versions never change and stay cached.

The same listening pattern as :mod:`api.auth.cache` (which does it for revoked API keys).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Any

import asyncpg

from api.calendars.businesstime import Schedule
from api.calendars.store import CHANGED_CHANNEL, LoadedCalendar, load_schedule

__all__ = ["CalendarCache", "LoadedCalendar", "load_schedule"]

log = logging.getLogger("api.calendars")

MAX_ENTRIES = 10_000
RECONNECT_DELAY_SECONDS = 1.0


class CalendarCache:
    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._current: dict[uuid.UUID, LoadedCalendar] = {}
        self._versions: dict[tuple[uuid.UUID, int], Schedule] = {}
        # Bumped by every invalidation: a load that overlapped one is not stored, since it may have read
        # the calendar before the change that the invalidation announced.
        self._generation = 0
        self._listener: asyncpg.Connection | None = None
        self._listening = asyncio.Event()
        self._first_attempt_done = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.loads_from_db = 0

    async def start(self) -> None:
        self._task = asyncio.create_task(self._keep_listening(), name="calendar-cache-listener")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._first_attempt_done.wait(), timeout=5)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._listening.clear()
        if self._listener is not None and not self._listener.is_closed():
            await self._listener.close()
        self._listener = None

    @property
    def listening(self) -> bool:
        return self._listening.is_set()

    async def get(
        self, conn: asyncpg.Connection, calendar_id: uuid.UUID, version: int | None = None
    ) -> LoadedCalendar | None:
        """A calendar's schedule and version: the current one, or the given past ``version``.

        ``conn`` is used only on a miss (pass the transaction's connection to read what it sees). None
        when the calendar (or that version) does not exist.
        """
        current = self._current.get(calendar_id) if self._listening.is_set() else None
        if current is not None and (version is None or current.version == version):
            return current
        if version is not None:
            schedule = self._versions.get((calendar_id, version))
            if schedule is not None:
                return LoadedCalendar(schedule, version)
        generation = self._generation
        self.loads_from_db += 1
        loaded = await load_schedule(conn, calendar_id, version)
        if loaded is None:
            return None
        self._remember(calendar_id, loaded, current=version is None, generation=generation)
        return loaded

    def _remember(
        self, calendar_id: uuid.UUID, loaded: LoadedCalendar, *, current: bool, generation: int
    ) -> None:
        if len(self._versions) >= MAX_ENTRIES:
            self._versions.clear()
        self._versions[(calendar_id, loaded.version)] = loaded.schedule
        if current and self._listening.is_set() and generation == self._generation:
            if len(self._current) >= MAX_ENTRIES:
                self._current.clear()
            self._current[calendar_id] = loaded

    def evict(self, calendar_id: uuid.UUID) -> None:
        self._generation += 1
        self._current.pop(calendar_id, None)

    def _on_notification(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            calendar_id = uuid.UUID(payload)
        except ValueError:
            self._clear()
            return
        self.evict(calendar_id)

    def _clear(self) -> None:
        self._generation += 1
        self._current.clear()

    def _on_listener_lost(self, _conn: Any) -> None:
        self._listening.clear()
        self._clear()

    async def _keep_listening(self) -> None:
        while True:
            if self._listener is None or self._listener.is_closed():
                self._on_listener_lost(None)
                try:
                    conn = await asyncpg.connect(
                        self._dsn, server_settings={"application_name": "helpdesk-calendar-listen"}
                    )
                    await conn.add_listener(CHANGED_CHANNEL, self._on_notification)
                    conn.add_termination_listener(self._on_listener_lost)
                except (OSError, asyncpg.PostgresError) as exc:
                    log.warning("calendar cache listener unavailable, loading uncached: %s", exc)
                else:
                    self._listener = conn
                    self._clear()  # anything cached before may have missed a change
                    self._listening.set()
                self._first_attempt_done.set()
            await asyncio.sleep(RECONNECT_DELAY_SECONDS)
