"""The jobs every background runner runs. Features add their job here."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from api.runner import Job
from api.settings import Settings
from api.tickets.scheduling import AUTO_CLOSE, ScheduledActionsJob
from api.tickets.service import auto_close
from api.webhooks.retention import RetentionJob
from api.webhooks.worker import DeliveryJob


def build_jobs(engine: AsyncEngine, settings: Settings) -> list[Job]:
    jobs: list[Job] = [
        ScheduledActionsJob(engine, settings, {AUTO_CLOSE: auto_close}),
        DeliveryJob(engine, settings),
        RetentionJob(engine, settings),
    ]
    return jobs
