"""Per-process cache of calendar schedules, for the SLA engine's every ticket write.

``await cache.get(conn, calendar_id)`` answers from memory at steady state. Every calendar change sends
``NOTIFY helpdesk_calendar_changed, '<id>'`` in its transaction; the process's listener
(:mod:`api.listener`) drops the calendar the moment that transaction commits. While the listener is down
(startup, lost connection) current versions are loaded from the database on every call, so a missed
notification can never keep an old schedule in use. Past versions never change and stay cached.
"""

from __future__ import annotations

import uuid

import asyncpg

from api.calendars.businesstime import Schedule
from api.calendars.store import CHANGED_CHANNEL, LoadedCalendar, load_schedule
from api.listener import Listener

__all__ = ["CalendarCache", "LoadedCalendar", "load_schedule"]

MAX_ENTRIES = 10_000


class CalendarCache:
    def __init__(self, listener: Listener) -> None:
        self._current: dict[uuid.UUID, LoadedCalendar] = {}
        self._versions: dict[tuple[uuid.UUID, int], Schedule] = {}
        self._changes = listener.subscribe(
            CHANGED_CHANNEL, on_notify=self._on_notification, on_reset=self._current.clear
        )
        self.loads_from_db = 0

    @property
    def listening(self) -> bool:
        return self._changes.listening

    async def get(
        self, conn: asyncpg.Connection, calendar_id: uuid.UUID, version: int | None = None
    ) -> LoadedCalendar | None:
        """A calendar's schedule and version: the current one, or the given past ``version``.

        ``conn`` is used only on a miss (pass the transaction's connection to read what it sees). None
        when the calendar (or that version) does not exist.
        """
        current = self._current.get(calendar_id) if self._changes.listening else None
        if current is not None and (version is None or current.version == version):
            return current
        if version is not None:
            schedule = self._versions.get((calendar_id, version))
            if schedule is not None:
                return LoadedCalendar(schedule, version)
        generation = self._changes.generation
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
        # A change announced while this load ran may have committed after it read: keep it only if not.
        if current and self._changes.unchanged_since(generation):
            if len(self._current) >= MAX_ENTRIES:
                self._current.clear()
            self._current[calendar_id] = loaded

    def evict(self, calendar_id: uuid.UUID) -> None:
        self._current.pop(calendar_id, None)

    def _on_notification(self, payload: str) -> None:
        try:
            calendar_id = uuid.UUID(payload)
        except ValueError:
            self._current.clear()
            return
        self.evict(calendar_id)
