"""HTTP routes for customers (agents and admins), agents and groups (admins manage, everyone reads)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, patch, post
from litestar.openapi.spec import Example
from litestar.params import Body, FromPath, FromQuery

from api.auth.cache import ApiKeyCache
from api.auth.guards import ADMIN_ONLY, ANY_ROLE
from api.auth.schemas import Principal
from api.consistency import Reads
from api.db import Transaction
from api.idempotency import IdempotencyKeyHeader, created, idempotent
from api.openapi import created_at_location, problems
from api.pagination import DEFAULT_LIMIT, Cursor, Limit
from api.people import service
from api.people.schemas import (
    AgentCreate,
    AgentPage,
    AgentRead,
    AgentUpdate,
    CustomerCreate,
    CustomerPage,
    CustomerRead,
    CustomerUpdate,
    GroupCreate,
    GroupPage,
    GroupRead,
    GroupUpdate,
)

Req = Request[Principal, Any, Any]

_CUSTOMER_CREATE = [
    Example(
        summary="A customer",
        value={
            "name": "Ada Lovelace",
            "email": "ada@example.com",
            "external_id": "crm-4411",
            "locale": "en-GB",
            "time_zone": "Europe/London",
        },
    )
]
_CUSTOMER_UPDATE = [
    Example(summary="Change the time zone", value={"time_zone": "America/New_York"}),
    Example(summary="Deactivate", value={"active": False}),
]
_AGENT_CREATE = [Example(summary="An agent", value={"name": "Grace Hopper", "email": "grace@example.com"})]
_AGENT_UPDATE = [
    Example(summary="Make admin", value={"role": "admin"}),
    Example(summary="Deactivate (their API keys stop working)", value={"active": False}),
]
_GROUP_CREATE = [
    Example(
        summary="A group with members",
        value={"name": "Billing", "member_ids": ["5d2c1b0a-8e7f-4a6b-9c3d-2e1f0a9b8c7d"]},
    )
]
_GROUP_UPDATE = [Example(summary="Replace members", value={"member_ids": []})]


class CustomerController(Controller):
    path = "/v1/customers"
    tags = ["Customers"]
    opt = ANY_ROLE

    @post(operation_id="createCustomer", opt={**problems(409), **created_at_location()})
    async def create_customer(
        self,
        tx: Transaction,
        request: Req,
        data: Annotated[CustomerCreate, Body(examples=_CUSTOMER_CREATE)],
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[CustomerRead]:
        """Create a customer.

        The email must be unique among customers (409 otherwise). Tickets can also create customers on
        the fly from `requester_email`.
        """

        async def work() -> Response[Any]:
            customer = await service.create_customer(tx, data)
            return created(customer, f"/v1/customers/{customer.id}")

        return await idempotent(tx, request, idempotency_key, data, work)

    @get(operation_id="listCustomers")
    async def list_customers(
        self,
        reads: Reads,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
        email: FromQuery[str | None] = None,
    ) -> CustomerPage:
        """List customers, oldest first; ``email`` finds one by address (any case).

        Customers are the people who ask for help. `email` matches case-insensitively and returns at
        most one customer.
        """
        return await service.list_customers(reads, limit=limit, cursor=cursor, email=email)

    @get("/{customer_id:uuid}", operation_id="getCustomer", opt=problems(404))
    async def get_customer(self, tx: Transaction, customer_id: FromPath[uuid.UUID]) -> CustomerRead:
        """Get a customer.

        Returns 404 for an unknown id.
        """
        return await service.get_customer(tx, customer_id)

    @patch("/{customer_id:uuid}", operation_id="updateCustomer", opt=problems(404, 409))
    async def update_customer(
        self,
        tx: Transaction,
        customer_id: FromPath[uuid.UUID],
        data: Annotated[CustomerUpdate, Body(examples=_CUSTOMER_UPDATE)],
    ) -> CustomerRead:
        """Update a customer; only the fields sent change.

        Changing the email to one another customer has is a 409.
        """
        return await service.update_customer(tx, customer_id, data)


class AgentController(Controller):
    path = "/v1/agents"
    tags = ["Agents"]

    @post(operation_id="createAgent", opt={**ADMIN_ONLY, **problems(409), **created_at_location()})
    async def create_agent(
        self,
        tx: Transaction,
        request: Req,
        data: Annotated[AgentCreate, Body(examples=_AGENT_CREATE)],
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[AgentRead]:
        """Create an agent.

        The email must be unique (409 otherwise). An agent can be given API keys that act as it.
        """

        async def work() -> Response[Any]:
            agent = await service.create_agent(tx, data)
            return created(agent, f"/v1/agents/{agent.id}")

        return await idempotent(tx, request, idempotency_key, data, work)

    @get(operation_id="listAgents", opt=ANY_ROLE)
    async def list_agents(
        self,
        reads: Reads,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
        active: FromQuery[bool | None] = None,
    ) -> AgentPage:
        """List agents, oldest first.

        Agents are the people who work tickets; `active: false` agents are listed too. Paginate with
        `cursor`.
        """
        return await service.list_agents(reads, limit=limit, cursor=cursor, active=active)

    @get("/{agent_id:uuid}", operation_id="getAgent", opt={**ANY_ROLE, **problems(404)})
    async def get_agent(self, tx: Transaction, agent_id: FromPath[uuid.UUID]) -> AgentRead:
        """Get an agent.

        Any key may read agents, so consoles can show who is assigned.
        """
        return await service.get_agent(tx, agent_id)

    @patch("/{agent_id:uuid}", operation_id="updateAgent", opt={**ADMIN_ONLY, **problems(404, 409)})
    async def update_agent(
        self,
        request: Request[Principal, Any, Any],
        tx: Transaction,
        agent_id: FromPath[uuid.UUID],
        data: Annotated[AgentUpdate, Body(examples=_AGENT_UPDATE)],
    ) -> AgentRead:
        """Update an agent; ``active: false`` deactivates it and revokes its API keys.

        Only the fields sent change. Deactivating an agent revokes every API key bound to it at once, in
        every process, for good: reactivating the agent does not bring them back. `role: agent` revokes
        the agent's `admin` keys the same way (a key never has more rights than its agent).
        """
        agent, revoked = await service.update_agent(tx, agent_id, data)
        # Other processes evict them when the NOTIFY sent with the commit arrives; this one at once.
        cache: ApiKeyCache = request.app.state.api_key_cache
        for key_id in revoked:
            cache.evict_key(key_id)
        return agent


class GroupController(Controller):
    path = "/v1/groups"
    tags = ["Groups"]

    @post(operation_id="createGroup", opt={**ADMIN_ONLY, **problems(409), **created_at_location()})
    async def create_group(
        self,
        tx: Transaction,
        request: Req,
        data: Annotated[GroupCreate, Body(examples=_GROUP_CREATE)],
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[GroupRead]:
        """Create a group.

        Group names are unique (409 otherwise); `member_ids` sets the agents in it.
        """

        async def work() -> Response[Any]:
            group = await service.create_group(tx, data)
            return created(group, f"/v1/groups/{group.id}")

        return await idempotent(tx, request, idempotency_key, data, work)

    @get(operation_id="listGroups", opt=ANY_ROLE)
    async def list_groups(
        self, reads: Reads, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
    ) -> GroupPage:
        """List groups, oldest first.

        Groups are teams of agents that tickets are routed to. Paginate with `cursor`.
        """
        return await service.list_groups(reads, limit=limit, cursor=cursor)

    @get("/{group_id:uuid}", operation_id="getGroup", opt={**ANY_ROLE, **problems(404)})
    async def get_group(self, tx: Transaction, group_id: FromPath[uuid.UUID]) -> GroupRead:
        """Get a group and its members.

        The members are listed by id in `member_ids`.
        """
        return await service.get_group(tx, group_id)

    @patch("/{group_id:uuid}", operation_id="updateGroup", opt={**ADMIN_ONLY, **problems(404, 409)})
    async def update_group(
        self,
        tx: Transaction,
        group_id: FromPath[uuid.UUID],
        data: Annotated[GroupUpdate, Body(examples=_GROUP_UPDATE)],
    ) -> GroupRead:
        """Update a group; ``member_ids`` replaces the membership.

        Only the fields sent change; send `member_ids: []` to empty the group.
        """
        return await service.update_group(tx, group_id, data)
