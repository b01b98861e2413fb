"""HTTP routes for SLA policies (admins only)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, patch, post
from litestar.datastructures import State
from litestar.params import Body, FromPath
from sqlalchemy.ext.asyncio import AsyncConnection

from api.auth.guards import ADMIN_ONLY
from api.auth.schemas import Principal
from api.consistency import Reads
from api.db import Transaction, unit_of_work
from api.etags import etag_header, expected_version, if_match
from api.idempotency import IdempotencyKeyHeader, idempotent
from api.openapi import created_at_location, problems
from api.pagination import DEFAULT_LIMIT, Cursor, Limit
from api.sla import service
from api.sla.schemas import SlaPolicyCreate, SlaPolicyPage, SlaPolicyRead, SlaPolicyUpdate

ETAG = etag_header("policy")
IfMatch = Annotated[str | None, if_match("policy")]


def _with_etag(policy: SlaPolicyRead, status_code: int = 200) -> Response[SlaPolicyRead]:
    headers = {"ETag": f'"{policy.version}"'}
    if status_code == 201:
        headers["Location"] = f"/v1/sla-policies/{policy.id}"
    return Response(policy, status_code=status_code, headers=headers)


@asynccontextmanager
async def _policy_change(state: State) -> AsyncIterator[AsyncConnection]:
    """The change's unit of work; once it has committed, this process drops its cached policies at once
    (other processes drop theirs when the NOTIFY sent at commit reaches them, milliseconds later), so
    the caller's next ticket change sees the policy it was just told about."""
    async with unit_of_work(state) as tx:
        yield tx
    state.sla_cache.drop()


class SlaPolicyController(Controller):
    path = "/v1/sla-policies"
    tags = ["SLA policies"]
    opt = ADMIN_ONLY

    @post(
        operation_id="createSlaPolicy",
        opt={**problems(409), **created_at_location()},
        response_headers=ETAG,
    )
    async def create_policy(
        self,
        request: Request[Principal, Any, Any],
        data: Annotated[SlaPolicyCreate, Body()],
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> Response[SlaPolicyRead]:
        """Create an SLA policy (admin only).

        Policies are tried in `position` order and the first whose conditions a ticket meets applies.
        """

        async with _policy_change(request.app.state) as tx:

            async def work() -> Response[Any]:
                return _with_etag(await service.create_policy(tx, data), 201)

            return await idempotent(tx, request, idempotency_key, data, work)

    @get(operation_id="listSlaPolicies")
    async def list_policies(
        self, reads: Reads, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
    ) -> SlaPolicyPage:
        """List SLA policies in the order they are tried (admin only)."""
        return await service.list_policies(reads, limit=limit, cursor=cursor)

    @get("/{policy_id:uuid}", operation_id="getSlaPolicy", opt=problems(404), response_headers=ETAG)
    async def get_policy(self, tx: Transaction, policy_id: FromPath[uuid.UUID]) -> Response[SlaPolicyRead]:
        """Get an SLA policy; its `ETag` is the version (admin only)."""
        return _with_etag(await service.get_policy(tx, policy_id))

    @patch("/{policy_id:uuid}", operation_id="updateSlaPolicy", opt=problems(404, 412), response_headers=ETAG)
    async def update_policy(
        self,
        request: Request[Principal, Any, Any],
        policy_id: FromPath[uuid.UUID],
        data: Annotated[SlaPolicyUpdate, Body()],
        if_match: IfMatch = None,
    ) -> Response[SlaPolicyRead]:
        """Change an SLA policy (admin only): a new version; deactivate it with `active: false`.

        Tickets pick up the change at their next change or timer.
        """
        async with _policy_change(request.app.state) as tx:
            policy = await service.update_policy(tx, policy_id, data, expected_version(if_match))
        return _with_etag(policy)
