"""The jobs every background runner runs. Features add their job, or their timer kinds, here."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from api.runner import Job
from api.settings import Settings
from api.tickets.hooks import AUTO_CLOSE
from api.tickets.service import auto_close_handler, config_from
from api.timers.service import Handler, TimerJob
from api.webhooks.retention import RetentionJob
from api.webhooks.worker import DeliveryJob


def timer_handlers(settings: Settings) -> dict[str, Handler]:
    config = config_from(settings)
    return {AUTO_CLOSE: auto_close_handler(config)}


def build_jobs(engine: AsyncEngine, settings: Settings) -> list[Job]:
    jobs: list[Job] = [
        TimerJob(engine, timer_handlers(settings)),
        DeliveryJob(engine, settings),
        RetentionJob(engine, settings),
    ]
    return jobs
