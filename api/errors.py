"""Domain errors and their single mapping to RFC 9457 ``application/problem+json`` at the edge.

Services raise the domain errors below and never HTTP exceptions; Litestar's own HTTP exceptions
(routing, validation, auth, body size) are translated here too, so clients see exactly one error shape.
"""

from __future__ import annotations

import logging
import re
from http import HTTPStatus
from typing import Any, ClassVar

import asyncpg
import msgspec
from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    InternalServerException,
    MethodNotAllowedException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.types import ExceptionHandlersMap
from sqlalchemy.exc import DBAPIError

from api.availability import Unavailable, unavailability

log = logging.getLogger("api.errors")

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_PREFIX = "urn:helpdesk:problem:"


class FieldError(msgspec.Struct, frozen=True):
    """One invalid input: where it was (body, query, path, header), its JSON path, and what is wrong."""

    location: str
    path: str
    message: str


class Problem(msgspec.Struct, omit_defaults=True):
    """An RFC 9457 problem detail. ``type`` is stable and safe to branch on; ``detail`` is for humans."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    request_id: str | None = None
    errors: list[FieldError] | None = None
    rule: str | None = None
    """For ``invalid-transition``: the lifecycle rule that refused the change."""


class DomainError(Exception):
    """Base of the errors services raise; each subclass knows its status and stable problem type."""

    status: ClassVar[int] = 400
    slug: ClassVar[str] = "bad-request"
    title: ClassVar[str] = "Bad request"

    def __init__(
        self,
        detail: str,
        *,
        errors: list[FieldError] | None = None,
        rule: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors
        self.rule = rule
        self.headers = headers or {}


class Unauthorized(DomainError):
    status, slug, title = 401, "unauthorized", "Authentication required"


class Forbidden(DomainError):
    status, slug, title = 403, "forbidden", "Forbidden"


class NotFound(DomainError):
    status, slug, title = 404, "not-found", "Not found"


class Conflict(DomainError):
    status, slug, title = 409, "conflict", "Conflict"


class InvalidTransition(Conflict):
    slug, title = "invalid-transition", "Invalid status transition"


class PreconditionFailed(DomainError):
    status, slug, title = 412, "precondition-failed", "Precondition failed"


class UnsupportedMediaType(DomainError):
    status, slug, title = 415, "unsupported-media-type", "Unsupported media type"


class Unprocessable(DomainError):
    status, slug, title = 422, "validation-error", "Validation failed"


class ServiceUnavailable(DomainError):
    status, slug, title = 503, "unavailable", "Service unavailable"


# title and problem type for every status the API answers with, so the spec and the runtime agree.
PROBLEM_TYPES: dict[int, tuple[str, str]] = {
    400: ("malformed-request", "Malformed request"),
    401: (Unauthorized.slug, Unauthorized.title),
    403: (Forbidden.slug, Forbidden.title),
    404: (NotFound.slug, NotFound.title),
    405: ("method-not-allowed", "Method not allowed"),
    408: ("request-timeout", "Request timeout"),
    409: (Conflict.slug, Conflict.title),
    412: (PreconditionFailed.slug, PreconditionFailed.title),
    413: ("payload-too-large", "Payload too large"),
    415: (UnsupportedMediaType.slug, UnsupportedMediaType.title),
    422: (Unprocessable.slug, Unprocessable.title),
    428: ("precondition-required", "Precondition required"),
    429: ("too-many-requests", "Too many requests"),
    431: ("header-fields-too-large", "Request header fields too large"),
    500: ("internal-error", "Internal server error"),
    503: ("unavailable", "Service unavailable"),
}


def _request_id(request: Request[Any, Any, Any]) -> str | None:
    value = request.scope.get("request_id")
    return value if isinstance(value, str) else None


def problem_response(
    request: Request[Any, Any, Any],
    status: int,
    detail: str,
    *,
    slug: str | None = None,
    title: str | None = None,
    errors: list[FieldError] | None = None,
    rule: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response[Problem]:
    known = PROBLEM_TYPES.get(status)
    default_slug, default_title = known or ("error", title or HTTPStatus(status).phrase)
    problem = Problem(
        type=PROBLEM_TYPE_PREFIX + (slug or default_slug),
        title=title or default_title,
        status=status,
        detail=detail,
        instance=request.scope.get("path"),
        request_id=_request_id(request),
        errors=errors,
        rule=rule,
    )
    return Response(problem, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def _domain_error_handler(request: Request[Any, Any, Any], exc: DomainError) -> Response[Problem]:
    return problem_response(
        request,
        exc.status,
        exc.detail,
        slug=exc.slug,
        title=exc.title,
        errors=exc.errors,
        rule=exc.rule,
        headers=exc.headers,
    )


_MSGSPEC_PATH = re.compile(r" - at `(\$[^`]*)`$")


def _field_errors(exc: ValidationException) -> list[FieldError]:
    """Litestar reports ``{"message", "key", "source"}``; clients get a location and a JSON path."""
    out: list[FieldError] = []
    extra = exc.extra if isinstance(exc.extra, list) else []
    for item in extra:
        if not isinstance(item, dict):
            continue
        message = str(item.get("message", "invalid value"))
        raw_source = item.get("source") or "body"
        source = str(getattr(raw_source, "value", raw_source))
        key = str(item.get("key") or "")
        path = key
        if source == "body" and key == "data" and message == "'data'":
            message = "A JSON request body is required."  # Litestar reports the missing body as KeyError
        if source == "body":
            # msgspec says "… - at `$.data.subject`": the body is `data` to Litestar, `$` to clients.
            if match := _MSGSPEC_PATH.search(message):
                message = message[: match.start()]
                path = "$" + match.group(1)[1:].removeprefix(".data")
            else:
                path = "$" if key in ("", "data") else f"$.{key}"
        out.append(FieldError(location=source, path=path, message=message))
    return out


def _validation_handler(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Problem]:
    errors = _field_errors(exc)
    if not errors:
        return problem_response(request, 400, f"The request body could not be read: {_client_detail(exc)}.")
    return problem_response(request, 422, "The request has invalid fields; see errors.", errors=errors)


def _client_detail(exc: HTTPException) -> str:
    detail = exc.detail or HTTPStatus(exc.status_code).phrase
    return detail.removeprefix("400: ")


CLIENT_CLOSED_REQUEST = 499
"""What the access log and metrics record for a request whose client left before sending all of it (the
status nginx uses); nobody receives the answer."""
_DISCONNECTED = "client disconnected prematurely"
"""Litestar's detail when the ASGI server reports ``http.disconnect`` while the body is being read (it
raises a plain ``InternalServerException``; tests/test_client_disconnect.py holds us to it)."""


def _client_went_away(exc: HTTPException) -> bool:
    return isinstance(exc, InternalServerException) and exc.detail == _DISCONNECTED


def _http_exception_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Problem]:
    status = exc.status_code
    headers = dict(exc.headers or {})
    if isinstance(exc, NotFoundException) and not request.scope.get("route_handler"):
        detail = f"No route for {request.method} {request.url.path}."
    elif isinstance(exc, MethodNotAllowedException):
        detail = f"{request.method} is not allowed on {request.url.path}."
    elif isinstance(exc, NotAuthorizedException):
        headers.setdefault("WWW-Authenticate", 'Bearer realm="helpdesk"')
        detail = exc.detail
    elif isinstance(exc, PermissionDeniedException):
        detail = exc.detail
    elif status == 413:
        limit = request.route_handler.resolve_request_max_body_size()
        detail = f"The request body is larger than the limit of {limit} bytes."
    elif _client_went_away(exc):
        log.info(
            "client disconnected before sending its whole request", extra={"request_id": _request_id(request)}
        )
        detail = "The client closed the connection mid-request."
        return problem_response(
            request,
            CLIENT_CLOSED_REQUEST,
            detail,
            slug="client-closed-request",
            title="Client Closed Request",
        )
    elif status >= 500:
        return _internal_error_handler(request, exc)
    else:
        detail = _client_detail(exc)
    return problem_response(request, status, detail, headers=headers)


def _sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a database error, whether raised by asyncpg or wrapped by SQLAlchemy."""
    seen: BaseException | None = exc
    for _ in range(4):
        if seen is None:
            return None
        state = getattr(seen, "sqlstate", None) or getattr(seen, "pgcode", None)
        if isinstance(state, str):
            return state
        seen = getattr(seen, "orig", None) or seen.__cause__
    return None


def _database_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    """A safety net for input the database refuses that no validator caught (NUL characters, integers
    beyond 64 bits, duplicates raced past a check): a client error, not a 500. Anything else is internal.
    """
    away = unavailability(exc)
    if away is not None:
        return _unavailable_response(request, exc, away)
    state = _sqlstate(exc) or ""
    if state.startswith("22"):  # data exception: the value cannot be stored or compared
        log.warning("database refused a value", extra={"request_id": _request_id(request), "sqlstate": state})
        detail = "A value in the request cannot be stored (out of range, or it contains NUL characters)."
        return problem_response(request, 422, detail)
    if state == "23505":
        return problem_response(request, 409, "The request conflicts with an existing record.")
    if state == "23503":
        return problem_response(request, 422, "The request refers to a record that does not exist.")
    return _internal_error_handler(request, exc)


def _recursion_handler(request: Request[Any, Any, Any], exc: RecursionError) -> Response[Problem]:
    """msgspec refuses JSON nested deeper than the interpreter's recursion limit with a RecursionError
    while it decodes the body: that is the client's malformed input, not a server fault."""
    if "deserializing" in str(exc):
        return problem_response(request, 400, "The request body could not be read: JSON nested too deeply.")
    return _internal_error_handler(request, exc)


def _unavailable_response(
    request: Request[Any, Any, Any], exc: BaseException, away: Unavailable
) -> Response[Problem]:
    # A warning, not an error: the client is told to retry, but operators must see every occurrence.
    log.warning(
        "database unavailable: %s",
        away.reason,
        extra={
            "request_id": _request_id(request),
            "path": request.scope.get("path"),
            "reason": away.reason,
            "error": type(exc).__name__,
        },
    )
    return problem_response(
        request, 503, away.detail, slug=away.reason, headers={"Retry-After": str(away.retry_after)}
    )


def _internal_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    away = unavailability(exc)
    if away is not None:
        return _unavailable_response(request, exc, away)
    log.error(
        "unhandled error",
        exc_info=exc,
        extra={"request_id": request.scope.get("request_id"), "path": request.scope.get("path")},
    )
    detail = "The server could not complete the request. Quote the request id when reporting it."
    return problem_response(request, 500, detail)


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    DomainError: _domain_error_handler,
    ValidationException: _validation_handler,
    HTTPException: _http_exception_handler,
    DBAPIError: _database_error_handler,
    asyncpg.PostgresError: _database_error_handler,
    RecursionError: _recursion_handler,
    Exception: _internal_error_handler,
}
