"""Strict, predictable input, checked against the spec before a handler runs.

A typo in a filter (``?tga=billing``) must not quietly return unfiltered data, a repeated
single-valued parameter must not have one of its values silently win, and a form-encoded body must not
be read as if it were JSON. The allowed query parameters of each operation are read from the finished
OpenAPI document, so the spec and the check cannot disagree.
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar, Request

from api.errors import FieldError, Unprocessable, UnsupportedMediaType


class QueryRules:
    """Per operation: the query parameters it takes, and which of them may repeat (arrays)."""

    def __init__(self) -> None:
        self.allowed: dict[str, frozenset[str]] = {}
        self.repeatable: dict[str, frozenset[str]] = {}
        self.takes_body: set[str] = set()
        self.body_media: dict[str, frozenset[str]] = {}

    def load(self, app: Litestar) -> None:
        """Read the rules from the app's finished spec (the hook exists before the app, the spec after)."""
        for path_item in (app.openapi_schema.paths or {}).values():
            for method in ("get", "put", "post", "patch", "delete"):
                operation = getattr(path_item, method)
                if operation is None or not operation.operation_id:
                    continue
                query = [p for p in operation.parameters or () if getattr(p, "param_in", None) == "query"]
                self.allowed[operation.operation_id] = frozenset(p.name for p in query)
                self.repeatable[operation.operation_id] = frozenset(
                    p.name for p in query if _is_array(p.schema)
                )
                if operation.request_body is not None:
                    self.takes_body.add(operation.operation_id)
                    content = getattr(operation.request_body, "content", None) or {}
                    self.body_media[operation.operation_id] = frozenset(k.lower() for k in content)

    async def before_request(self, request: Request[Any, Any, Any]) -> None:
        operation_id = request.route_handler.operation_id
        if not isinstance(operation_id, str) or operation_id not in self.allowed:
            return  # not part of the API (docs pages, their assets)
        if request.scope.get("query_string"):
            self._check_query(request, operation_id)
        if operation_id in self.takes_body:
            _check_media_type(request, self.body_media.get(operation_id, frozenset()))

    def _check_query(self, request: Request[Any, Any, Any], operation_id: str) -> None:
        allowed, repeatable = self.allowed[operation_id], self.repeatable[operation_id]
        errors: list[FieldError] = []
        for name in dict.fromkeys(request.query_params.keys()):
            if name not in allowed:
                known = ", ".join(sorted(allowed)) or "none"
                errors.append(
                    FieldError("query", name, f"Unknown query parameter (this operation takes: {known}).")
                )
            elif name not in repeatable and len(request.query_params.getall(name)) > 1:
                errors.append(
                    FieldError("query", name, "Given more than once; this parameter takes one value.")
                )
        if errors:
            raise Unprocessable("The request has invalid query parameters; see errors.", errors=errors)


def _check_media_type(request: Request[Any, Any, Any], declared: frozenset[str]) -> None:
    """A body must be JSON, or of the media type the operation declares (an iCalendar upload). A missing
    ``Content-Type`` is read as JSON (what most clients mean)."""
    raw = request.headers.get("content-type")
    if raw is None:
        return
    media_type = raw.split(";", 1)[0].strip().lower()
    if media_type in declared and media_type != "application/json":
        return
    json_body = media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )
    if json_body and ("application/json" in declared or not declared):
        return
    expected = " or ".join(sorted(declared)) or "application/json"
    raise UnsupportedMediaType(f"The request body must be {expected}, not {media_type or 'empty'}.")


def _is_array(schema: Any) -> bool:
    if schema is None:
        return False
    if getattr(schema, "type", None) is not None and "array" in str(schema.type).lower():
        return True
    return any(
        _is_array(branch)
        for branch in (getattr(schema, "one_of", None) or getattr(schema, "any_of", None) or ())
    )
