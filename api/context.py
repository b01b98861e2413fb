"""Who is acting and through which request: recorded on every event a change writes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Literal

from litestar import Request

from api.auth.schemas import Principal

ActorType = Literal["agent", "customer", "integration", "system", "rule"]
"""``rule``: an automation acting on a ticket (a follow-on change), with id ``<rule id>@<version>``."""


@dataclass(frozen=True, slots=True)
class Actor:
    type: ActorType
    id: str | None
    name: str | None
    api_key_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class Context:
    """The acting party of a change: an agent's key, an integration key, or the system (jobs)."""

    actor: Actor
    request_id: str | None
    agent_id: uuid.UUID | None
    """The agent acting, when the key belongs to one (assignments, ``assignee=me``, resolving)."""
    speaks_for_customers: bool = False
    """The key may write comments as a ticket's requester."""


SYSTEM = Context(actor=Actor(type="system", id=None, name="system"), request_id=None, agent_id=None)


def context_from_principal(principal: Principal, request_id: str | None) -> Context:
    if principal.agent_id is not None:
        actor = Actor("agent", str(principal.agent_id), principal.name, principal.key_id)
    else:
        actor = Actor("integration", str(principal.key_id), principal.name, principal.key_id)
    return Context(
        actor=actor,
        request_id=request_id,
        agent_id=principal.agent_id,
        speaks_for_customers=principal.speaks_for_customers,
    )


def request_context(request: Request[Principal, Any, Any]) -> Context:
    request_id = request.scope.get("request_id")
    return context_from_principal(request.user, request_id if isinstance(request_id, str) else None)
