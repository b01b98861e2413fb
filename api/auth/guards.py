"""Authentication (bearer API keys) and role guards."""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from api.auth.cache import ApiKeyCache
from api.auth.schemas import Principal

# Handlers with ``opt={PUBLIC: True}`` need no API key (health checks, docs, public survey answers).
PUBLIC = "public"
# Handlers carry the roles they admit in ``opt[ROLES]``, so the OpenAPI spec can document 403s.
ROLES = "roles"


class ApiKeyAuthenticationMiddleware(AbstractAuthenticationMiddleware):
    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        header = connection.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise NotAuthorizedException("Send an API key as 'Authorization: Bearer <token>'.")
        cache: ApiKeyCache = connection.app.state.api_key_cache
        principal = await cache.principal_for(token.strip())
        if principal is None:
            raise NotAuthorizedException("The API key is invalid or has been revoked.")
        return AuthenticationResult(user=principal, auth=principal.key_id)


async def require_roles(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """Refuse callers whose role is not in the handler's ``roles`` option (403, after a valid key).

    Async on purpose: Litestar runs synchronous guards in a thread pool, a thread hop on every request.
    """
    allowed = handler.opt.get(ROLES)
    if allowed is None:
        return
    principal: Principal = connection.user
    if principal.role not in allowed:
        raise PermissionDeniedException(f"This action needs the {' or '.join(allowed)} role.")


ADMIN_ONLY = {ROLES: ("admin",)}
ANY_ROLE = {ROLES: ("admin", "agent")}
