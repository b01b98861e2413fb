"""The jobs every background runner runs. Features add their job, or their timer kinds, here."""

from __future__ import annotations

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from api.calendars.cache import CalendarCache
from api.runner import Job
from api.settings import Settings
from api.sla.cache import SlaConfigCache, load_all
from api.sla.hook import BREACH, MOMENT, WARNING
from api.sla.reevaluation import ReevaluationJob
from api.tickets.hooks import AUTO_CLOSE
from api.tickets.seam import Config
from api.tickets.service import auto_close_handler, config_from, moment_handler
from api.timers.service import Handler, TimerJob
from api.webhooks.retention import RetentionJob
from api.webhooks.worker import DeliveryJob


def timer_handlers(
    settings: Settings, sla_cache: SlaConfigCache | None, calendar_cache: CalendarCache | None
) -> dict[str, Handler]:
    """Without the API process's cache (a standalone worker, tests), timers read the policies afresh."""

    async def configure(raw: asyncpg.Connection) -> Config:
        if sla_cache is None or calendar_cache is None:
            return config_from(settings, await load_all(raw))
        return config_from(settings, await sla_cache.get_with_calendars(raw, calendar_cache))

    moment = moment_handler(configure)
    # The legacy per-metric kinds still fire (timers an older process wrote during a deploy).
    return {AUTO_CLOSE: auto_close_handler(configure), MOMENT: moment, WARNING: moment, BREACH: moment}


def build_jobs(
    engine: AsyncEngine,
    settings: Settings,
    sla_cache: SlaConfigCache | None = None,
    calendar_cache: CalendarCache | None = None,
) -> list[Job]:
    jobs: list[Job] = [
        TimerJob(engine, timer_handlers(settings, sla_cache, calendar_cache)),
        ReevaluationJob(engine, settings),
        DeliveryJob(engine, settings),
        RetentionJob(engine, settings),
    ]
    return jobs
