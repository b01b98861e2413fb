"""Wire types for customers, agents and groups."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

import msgspec

from api.pagination import Page

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Email = Annotated[
    str,
    msgspec.Meta(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$", examples=["ada@example.com"]),
]
Role = Literal["admin", "agent"]


class CustomerCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A customer. Emails are unique regardless of case."""

    name: Annotated[Name, msgspec.Meta(examples=["Ada Lovelace"])]
    email: Email
    external_id: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None
    locale: Annotated[str, msgspec.Meta(min_length=2, max_length=35, examples=["en-GB"])] | None = None
    time_zone: Annotated[str, msgspec.Meta(max_length=64, examples=["Europe/London"])] | None = None


class CustomerUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Fields to change; omitted fields keep their value. Deactivate with ``active: false``."""

    name: Name | msgspec.UnsetType = msgspec.UNSET
    email: Email | msgspec.UnsetType = msgspec.UNSET
    external_id: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | msgspec.UnsetType | None = (
        msgspec.UNSET
    )
    locale: Annotated[str, msgspec.Meta(min_length=2, max_length=35)] | msgspec.UnsetType | None = (
        msgspec.UNSET
    )
    time_zone: Annotated[str, msgspec.Meta(max_length=64)] | msgspec.UnsetType | None = msgspec.UNSET
    active: bool | msgspec.UnsetType = msgspec.UNSET


class CustomerRead(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    name: str
    email: str
    external_id: str | None
    locale: str | None
    time_zone: str | None
    active: bool
    created_at: dt.datetime
    updated_at: dt.datetime


class CustomerPage(Page[CustomerRead]):
    """A page of customers, oldest first."""


class AgentCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """An agent (a person working tickets). Emails are unique regardless of case."""

    name: Annotated[Name, msgspec.Meta(examples=["Grace Hopper"])]
    email: Email
    role: Role = "agent"


class AgentUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Fields to change.

    Deactivating (``active: false``) revokes the agent's API keys at once; reactivating does not bring
    them back (create new ones). Setting ``role: agent`` revokes the agent's `admin` keys: a key never
    has more rights than its agent.
    """

    name: Name | msgspec.UnsetType = msgspec.UNSET
    email: Email | msgspec.UnsetType = msgspec.UNSET
    role: Role | msgspec.UnsetType = msgspec.UNSET
    active: bool | msgspec.UnsetType = msgspec.UNSET


class AgentRead(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    name: str
    email: str
    role: Role
    active: bool
    created_at: dt.datetime
    updated_at: dt.datetime


class AgentPage(Page[AgentRead]):
    """A page of agents, oldest first."""


class GroupCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A group of agents tickets can be routed to."""

    name: Annotated[Name, msgspec.Meta(examples=["Billing"])]
    description: Annotated[str, msgspec.Meta(max_length=2000)] | None = None
    member_ids: Annotated[list[uuid.UUID], msgspec.Meta(max_length=1000)] = []


class GroupUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Fields to change; ``member_ids`` replaces the whole membership."""

    name: Name | msgspec.UnsetType = msgspec.UNSET
    description: Annotated[str, msgspec.Meta(max_length=2000)] | msgspec.UnsetType | None = msgspec.UNSET
    member_ids: Annotated[list[uuid.UUID], msgspec.Meta(max_length=1000)] | msgspec.UnsetType = msgspec.UNSET
    active: bool | msgspec.UnsetType = msgspec.UNSET


class GroupRead(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    name: str
    description: str | None
    member_ids: list[uuid.UUID]
    active: bool
    created_at: dt.datetime
    updated_at: dt.datetime


class GroupPage(Page[GroupRead]):
    """A page of groups, oldest first."""
