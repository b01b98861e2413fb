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

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class ApiKeyCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A new API key. Without ``agent_id`` the key belongs to a named integration."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200, examples=["Zapier integration"])]
    role: Role
    agent_id: uuid.UUID | None = None


class ApiKeyRead(msgspec.Struct, kw_only=True):
    """An API key without its secret."""

    id: uuid.UUID
    name: str
    role: Role
    prefix: Annotated[str, msgspec.Meta(description="The token's first characters, to tell keys apart.")]
    agent_id: uuid.UUID | None
    created_at: dt.datetime
    revoked_at: dt.datetime | None


class ApiKeyCreated(ApiKeyRead, kw_only=True):
    """A freshly created key: ``token`` is shown this once and cannot be retrieved again."""

    token: str
