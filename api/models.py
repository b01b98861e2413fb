"""Every table, imported in one place so Alembic sees the whole schema."""

from api.auth.models import ApiKey
from api.calendars.models import BusinessCalendar, BusinessCalendarVersion
from api.db import Base
from api.events.models import Event
from api.idempotency import IdempotencyKey
from api.people.models import Agent, Customer, Group, GroupMember
from api.rules.models import Rule, RuleVersion
from api.sla.models import SlaPolicy, SlaPolicyVersion, SlaReevaluation
from api.tickets.models import Comment, SeamSetting, Ticket, TicketTag
from api.timers.models import Timer
from api.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookMessage

metadata = Base.metadata

__all__ = [
    "Agent",
    "ApiKey",
    "BusinessCalendar",
    "BusinessCalendarVersion",
    "Comment",
    "Customer",
    "Event",
    "Group",
    "GroupMember",
    "IdempotencyKey",
    "Rule",
    "RuleVersion",
    "SeamSetting",
    "SlaPolicy",
    "SlaPolicyVersion",
    "SlaReevaluation",
    "Ticket",
    "TicketTag",
    "Timer",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookMessage",
    "metadata",
]
