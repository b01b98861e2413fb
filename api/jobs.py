"""The jobs every background runner runs. Features add their job here."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from api.runner import Job
from api.settings import Settings
from api.webhooks.retention import RetentionJob
from api.webhooks.worker import DeliveryJob


def build_jobs(engine: AsyncEngine, settings: Settings) -> list[Job]:
    jobs: list[Job] = [DeliveryJob(engine, settings), RetentionJob(engine, settings)]
    return jobs
