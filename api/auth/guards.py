"""Authentication (bearer API keys) and role checks, in one middleware."""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from api.auth.cache import ApiKeyCache

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
        # Roles are checked here rather than in a Litestar guard: guards copy the route handler on
        # every call, which cost a third of the throughput of a cheap route.
        allowed = connection.scope["route_handler"].opt.get(ROLES)
        if allowed is not None and principal.role not in allowed:
            raise PermissionDeniedException(f"This action needs the {' or '.join(allowed)} role.")
        return AuthenticationResult(user=principal, auth=principal.key_id)


ADMIN_ONLY = {ROLES: ("admin",)}
ANY_ROLE = {ROLES: ("admin", "agent")}
