"""Every table, imported in one place so Alembic sees the whole schema."""

from api.auth.models import ApiKey
from api.db import Base
from api.people.models import Agent
from api.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookMessage

metadata = Base.metadata

__all__ = [
    "Agent",
    "ApiKey",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookMessage",
    "metadata",
]
