"""HTTP routes for managing API keys (admin only)."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery, JSONBody

from api.auth import service
from api.auth.cache import ApiKeyCache
from api.auth.guards import ADMIN_ONLY
from api.auth.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyRead
from api.db import Transaction
from api.idempotency import created
from api.openapi import created_at_location, problems
from api.pagination import DEFAULT_LIMIT, Cursor, Limit, Page


class ApiKeyController(Controller):
    path = "/v1/api-keys"
    tags = ["API keys"]
    opt = ADMIN_ONLY

    @post(operation_id="createApiKey", opt=created_at_location())
    async def create_api_key(self, tx: Transaction, data: JSONBody[ApiKeyCreate]) -> Response[ApiKeyCreated]:
        """Create an API key.

        The token is in this response only; it is stored as a hash and cannot be shown again.
        """
        key = await service.create_api_key(tx, data)
        return created(key, f"/v1/api-keys/{key.id}")

    @get(operation_id="listApiKeys")
    async def list_api_keys(
        self,
        tx: Transaction,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
        include_revoked: FromQuery[bool] = False,
    ) -> Page[ApiKeyRead]:
        """List API keys (never their secrets), oldest first.

        Shows name, role, prefix, the agent a key acts for and when it was created or revoked; revoked
        keys only with `include_revoked=true`.
        """
        return await service.list_api_keys(tx, limit=limit, cursor=cursor, include_revoked=include_revoked)

    @get("/{key_id:uuid}", operation_id="getApiKey", opt=problems(404))
    async def get_api_key(self, tx: Transaction, key_id: FromPath[uuid.UUID]) -> ApiKeyRead:
        """Get an API key.

        Never includes the token: it is stored only as a hash.
        """
        return await service.get_api_key(tx, key_id)

    @post("/{key_id:uuid}/revoke", status_code=200, operation_id="revokeApiKey", opt=problems(404))
    async def revoke_api_key(
        self, request: Request[Any, Any, Any], tx: Transaction, key_id: FromPath[uuid.UUID]
    ) -> ApiKeyRead:
        """Revoke an API key.

        Takes effect in every API process as soon as this call returns. Revoking twice is harmless.
        """
        revoked = await service.revoke_api_key(tx, key_id)
        # Other processes evict it when the NOTIFY sent with the commit arrives; this one at once.
        cache: ApiKeyCache = request.app.state.api_key_cache
        cache.evict_key(key_id)
        return revoked
