"""Wire types for API keys and the authenticated caller."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Annotated, Literal

import msgspec

Role = Literal["admin", "agent"]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the API key, its role and, for an agent's key, the agent it acts for."""

    key_id: uuid.UUID
    role: Role
    agent_id: uuid.UUID | None
    name: str
    speaks_for_customers: bool = False
    """The key may post comments as a ticket's requester (a customer portal, an email gateway)."""

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


SpeaksForCustomers = Annotated[
    bool,
    msgspec.Meta(
        description="The key may post comments as a ticket's requester (`author_type: customer`), as a "
        "customer portal or an email gateway does. Only for integration keys (no `agent_id`): an agent's "
        "key writes as that agent."
    ),
]


class ApiKeyCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A new API key. Without ``agent_id`` the key belongs to a named integration.

    A key bound to an agent acts as that agent and never has more rights: an `admin` key needs an agent
    whose role is `admin`.
    """

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200, examples=["Zapier integration"])]
    role: Role
    agent_id: uuid.UUID | None = None
    speaks_for_customers: SpeaksForCustomers = False


class ApiKeyRead(msgspec.Struct, kw_only=True):
    """An API key without its secret."""

    id: uuid.UUID
    name: str
    role: Role
    prefix: Annotated[str, msgspec.Meta(description="The token's first characters, to tell keys apart.")]
    agent_id: uuid.UUID | None
    speaks_for_customers: SpeaksForCustomers
    created_at: dt.datetime
    revoked_at: dt.datetime | None


class ApiKeyCreated(ApiKeyRead, kw_only=True):
    """A freshly created key: ``token`` is shown this once and cannot be retrieved again."""

    token: str
