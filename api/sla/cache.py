"""Per-process cache of the SLA configuration (active policies), dropped on NOTIFY.

Every ticket write needs the active policies; reading them is one query, so each process keeps them and
its listener (:mod:`api.listener`) drops the copy the moment a transaction that changed a policy commits
(the change sends ``NOTIFY helpdesk_sla_changed``). While the listener is down, every write reads the
policies afresh, so a missed notification can never keep a stale policy in use.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence

import asyncpg
import msgspec

from api.calendars.cache import CalendarCache, LoadedCalendar
from api.calendars.store import load_schedule
from api.listener import Listener
from api.sla.hook import BusinessTime, Calendar, SlaConfig, decode
from api.sla.policies import Policy, decode_targets
from api.sla.schemas import Conditions

CHANNEL = "helpdesk_sla_changed"

_ACTIVE = """
SELECT id, version, calendar_id, conditions::text AS conditions, targets::text AS targets
FROM sla_policies WHERE active ORDER BY position, created_at, id
"""


async def load(raw: asyncpg.Connection | asyncpg.Pool) -> SlaConfig:
    rows = await raw.fetch(_ACTIVE)
    policies = tuple(
        Policy(
            id=row["id"],
            version=row["version"],
            calendar_id=row["calendar_id"],
            conditions=msgspec.json.decode(row["conditions"], type=Conditions),
            targets={str(k): v for k, v in decode_targets(row["targets"]).items()},
        )
        for row in rows
    )
    return SlaConfig(policies=policies)


async def _calendars_of(
    config: SlaConfig, raw: asyncpg.Connection | asyncpg.Pool, calendars: CalendarCache | None
) -> dict[uuid.UUID, LoadedCalendar]:
    found: dict[uuid.UUID, LoadedCalendar] = {}
    for calendar_id in config.calendar_ids():
        getter = calendars.get if calendars is not None else load_schedule
        loaded = await getter(raw, calendar_id)
        if loaded is not None:
            found[calendar_id] = loaded
    return found


def _with(config: SlaConfig, loaded: dict[uuid.UUID, LoadedCalendar]) -> SlaConfig:
    """The configuration with the clock of every calendar its policies use."""
    found = {key: Calendar(BusinessTime(value.schedule), value.version) for key, value in loaded.items()}
    return dataclasses.replace(config, calendars=found) if found else config


async def load_all(raw: asyncpg.Connection) -> SlaConfig:
    """Policies and calendars, read afresh (re-evaluation, standalone runners)."""
    config = await load(raw)
    return _with(config, await _calendars_of(config, raw, None))


def _same(kept: dict[uuid.UUID, LoadedCalendar], loaded: dict[uuid.UUID, LoadedCalendar]) -> bool:
    """Whether the calendar cache answered with the very objects it did before (it builds a new one on
    every change, and on every read while it cannot listen)."""
    return kept.keys() == loaded.keys() and all(kept[key] is value for key, value in loaded.items())


class SlaConfigCache:
    def __init__(self, listener: Listener) -> None:
        self._value: SlaConfig | None = None
        self._changes = listener.subscribe(CHANNEL, on_notify=self._drop, on_reset=self.drop)
        self._complete: tuple[SlaConfig, dict[uuid.UUID, LoadedCalendar], SlaConfig] | None = None

    async def get(self, raw: asyncpg.Connection | asyncpg.Pool) -> SlaConfig:
        value = self._value
        if value is not None:
            return value
        generation = self._changes.generation
        value = await load(raw)
        # A policy change announced while this load ran may have committed after it read: keep it only if not.
        if self._changes.unchanged_since(generation):
            self._value = value
        return value

    async def get_with_calendars(
        self, raw: asyncpg.Connection | asyncpg.Pool, calendars: CalendarCache
    ) -> SlaConfig:
        """The policies with their calendars' clocks (from the calendar cache): the same object while
        neither the policies nor those calendars change, so what is built from it can be kept as well
        (every ticket write needs it)."""
        config = await self.get(raw)
        loaded = await _calendars_of(config, raw, calendars)
        kept = self._complete
        if kept is not None and kept[0] is config and _same(kept[1], loaded):
            return kept[2]
        complete = _with(config, loaded)
        self._complete = (config, loaded, complete)
        return complete

    def drop(self) -> None:
        self._value = None

    def _drop(self, _payload: str) -> None:
        self._value = None


async def with_earlier_calendars(
    config: SlaConfig, raw: asyncpg.Connection, tickets: Sequence[asyncpg.Record]
) -> SlaConfig:
    """The configuration with the past calendar versions these tickets' SLA states were computed with,
    so a re-evaluation measures the time already consumed with the calendar it was consumed under."""
    wanted = set()
    for ticket in tickets:
        sla = decode(ticket["sla"])
        if sla is not None and sla.calendar_id is not None and sla.calendar_version is not None:
            current = config.calendars.get(sla.calendar_id)
            if current is None or current.version != sla.calendar_version:
                wanted.add((sla.calendar_id, sla.calendar_version))
    earlier: dict[tuple[uuid.UUID, int], Calendar] = {}
    for calendar_id, version in wanted:
        loaded = await load_schedule(raw, calendar_id, version)
        if loaded is not None:
            earlier[(calendar_id, version)] = Calendar(BusinessTime(loaded.schedule), loaded.version)
    return dataclasses.replace(config, earlier_calendars=earlier) if earlier else config
