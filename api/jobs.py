"""The jobs every background runner runs. Features add their job here; their timers come with their
hooks (``api/features.py``): one handler fires every kind the registered hooks own."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from api.calendars.cache import CalendarCache
from api.features import HOOKS, HookConfig, applied_settings
from api.runner import Job
from api.settings import Settings
from api.sla.cache import SlaConfigCache
from api.tickets.reevaluation import ReevaluationJob
from api.tickets.writer import timer_handler
from api.timers.service import TimerJob
from api.webhooks.retention import RetentionJob
from api.webhooks.worker import DeliveryJob


def build_jobs(
    engine: AsyncEngine,
    settings: Settings,
    sla_cache: SlaConfigCache | None = None,
    calendar_cache: CalendarCache | None = None,
) -> list[Job]:
    """Without the API process's caches (a standalone worker, tests), timers read the policies afresh."""
    config = HookConfig(settings, sla_cache, calendar_cache)
    handler = timer_handler(config.get)
    jobs: list[Job] = [
        TimerJob(engine, dict.fromkeys(HOOKS.timer_kinds, handler)),
        ReevaluationJob(engine, config.fresh, applied_settings(settings)),
        DeliveryJob(engine, settings),
        RetentionJob(engine, settings),
    ]
    return jobs
