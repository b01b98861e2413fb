"""The composition root of ticket changes: which hooks run on every change, in which order, and with
which configuration.

The seam (``api/tickets/seam.py``) and its writer know no feature; features (the SLA clocks, and the
ticket's own events and auto-close) are hooks that declare what they own — columns, timer kinds, event
types, the actor their timers act as. They are listed here, in order: each sees the columns set by
those before it. The writer derives everything it writes from this registry, the timer runner gets
one handler for every kind it lists, and re-evaluation runs the same hooks over the open tickets. A new
feature (rules, surveys) is a package with a hook, added to :data:`HOOKS` and to :func:`build`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence

import asyncpg

from api.calendars.cache import CalendarCache
from api.settings import Settings
from api.sla import history as sla_history
from api.sla import hook as sla
from api.sla.cache import SlaConfigCache, load_all, with_earlier_calendars
from api.tickets import hooks
from api.tickets.seam import Config, Registry
from api.webhooks.catalog import CATALOG

# The SLA hook reads a ticket's history when a policy starts applying to it late (api/sla/history.py).
SLA = dataclasses.replace(sla.SLA, prepare=sla_history.attach)

# Order matters: the events hook reads the SLA state the SLA hook wrote, auto-close the status.
HOOKS = Registry((SLA, hooks.AUTO_CLOSE_HOOK, hooks.TICKET_EVENTS), known_event_types=CATALOG)


def build(settings: Settings, sla_config: sla.SlaConfig | None) -> Config:
    """The hooks' configuration: each feature's, under its name."""
    return Config(
        HOOKS,
        {
            hooks.AUTO_CLOSE: dt.timedelta(seconds=settings.auto_close_after_seconds),
            sla.FEATURE: sla_config,
        },
    )


def applied_settings(settings: Settings) -> dict[str, str]:
    """The settings hooks depend on: a process starting with other values than those last applied asks
    for a re-evaluation, which re-arms every open ticket's timers (``api/tickets/reevaluation.py``)."""
    return {"auto_close_after_seconds": repr(float(settings.auto_close_after_seconds))}


class HookConfig:
    """This process's hooks' configuration: settings, and the SLA policies with their calendars from the
    per-process caches (read afresh without them: a standalone runner, tests). The same object while
    neither changes, since every ticket write asks for it."""

    def __init__(
        self,
        settings: Settings,
        sla_cache: SlaConfigCache | None = None,
        calendar_cache: CalendarCache | None = None,
    ) -> None:
        self._settings = settings
        self._sla_cache = sla_cache
        self._calendar_cache = calendar_cache
        self._kept: tuple[sla.SlaConfig, Config] | None = None

    async def get(self, raw: asyncpg.Connection | asyncpg.Pool) -> Config:
        if self._sla_cache is None or self._calendar_cache is None:
            assert isinstance(raw, asyncpg.Connection)
            return build(self._settings, await load_all(raw))
        sla_config = await self._sla_cache.get_with_calendars(raw, self._calendar_cache)
        kept = self._kept
        if kept is None or kept[0] is not sla_config:
            kept = self._kept = (sla_config, build(self._settings, sla_config))
        return kept[1]

    async def fresh(self, raw: asyncpg.Connection, tickets: Sequence[asyncpg.Record]) -> Config:
        """Read afresh, with the past calendar versions these tickets were computed with (re-evaluation)."""
        return build(self._settings, await with_earlier_calendars(await load_all(raw), raw, tickets))
