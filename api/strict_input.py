"""Strict, predictable input, checked against the spec before a handler runs.

A typo in a filter (``?tga=billing``) must not quietly return unfiltered data, a repeated
single-valued parameter must not have one of its values silently win, and a form-encoded body must not
be read as if it were JSON. The allowed query parameters of each operation are read from the finished
OpenAPI document, so the spec and the check cannot disagree.

Values are decoded as strictly as the spec states them, here and only here. Litestar converts
parameters and bodies in msgspec's lax mode, which would take ``1``/``"true"`` for a boolean in a body,
``"120"`` for an integer and ``0.5`` (Unix seconds) for a date-time. So:

- a JSON body is decoded once, in strict mode, into the operation's body type, and Litestar is handed
  the result (it passes a decoded struct through unchanged);
- a query or path value must have the spelling its schema says: ``true``/``false``, decimal digits for
  an integer (within the stated bounds: path ids are positive 64-bit integers), an RFC 3339 date-time,
  one of the enum's values (the error lists them);
- an array parameter takes its values repeated (``?status=open&status=pending``) or comma-separated
  (``?status=open,pending``); no value of this API contains a comma.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import msgspec
from litestar import Litestar, Request
from litestar.handlers import HTTPRouteHandler
from litestar.utils.scope.state import ScopeState

from api.errors import FieldError, Unprocessable, UnsupportedMediaType

_INTEGER = re.compile(r"-?[0-9]+")


@dataclass(frozen=True, slots=True)
class ValueRule:
    """How one query or path value must be spelled (from its schema in the spec)."""

    kind: str | None = None
    """``boolean``, ``integer``, ``date-time``, or None (anything the schema's own checks accept)."""
    enum: tuple[str, ...] | None = None
    minimum: int | None = None
    maximum: int | None = None
    array: bool = False

    def check(self, value: str) -> str | None:
        """What is wrong with ``value``, or None."""
        if self.enum is not None and value not in self.enum:
            return f"Invalid value {value!r}; expected one of: {', '.join(self.enum)}."
        if self.kind == "boolean" and value not in ("true", "false"):
            return f"Expected `true` or `false`, got {value!r}."
        if self.kind == "integer":
            if not _INTEGER.fullmatch(value):
                return f"Expected an integer (decimal digits), got {value!r}."
            number = int(value)
            if self.minimum is not None and number < self.minimum:
                return f"Expected an integer >= {self.minimum}."
            if self.maximum is not None and number > self.maximum:
                return f"Expected an integer <= {self.maximum}."
        if self.kind == "date-time":
            try:
                msgspec.convert(value, dt.datetime, strict=True)
            except msgspec.ValidationError:
                return f"Expected an RFC 3339 date-time such as 2026-01-31T09:00:00Z, got {value!r}."
        return None


class QueryRules:
    """Per operation: the parameters it takes and how their values are spelled, and its body type."""

    def __init__(self) -> None:
        self.allowed: dict[str, frozenset[str]] = {}
        self.repeatable: dict[str, frozenset[str]] = {}
        self.values: dict[str, dict[str, ValueRule]] = {}
        self.path_values: dict[str, dict[str, ValueRule]] = {}
        self.takes_body: set[str] = set()
        self.body_media: dict[str, frozenset[str]] = {}
        self.body_decoders: dict[str, msgspec.json.Decoder[Any]] = {}

    def load(self, app: Litestar) -> None:
        """Read the rules from the app's finished spec (the hook exists before the app, the spec after)."""
        components = (app.openapi_schema.components.schemas or {}) if app.openapi_schema.components else {}
        for path_item in (app.openapi_schema.paths or {}).values():
            for method in ("get", "put", "post", "patch", "delete"):
                operation = getattr(path_item, method)
                if operation is None or not operation.operation_id:
                    continue
                op = operation.operation_id
                params = [p for p in operation.parameters or () if hasattr(p, "param_in")]
                query = [p for p in params if p.param_in == "query"]
                self.allowed[op] = frozenset(p.name for p in query)
                self.values[op] = {p.name: value_rule(p.schema, components) for p in query}
                self.repeatable[op] = frozenset(p.name for p in query if self.values[op][p.name].array)
                self.path_values[op] = {
                    p.name: rule
                    for p in params
                    if p.param_in == "path" and (rule := value_rule(p.schema, components)).kind == "integer"
                }
                if operation.request_body is not None:
                    self.takes_body.add(op)
                    content = getattr(operation.request_body, "content", None) or {}
                    self.body_media[op] = frozenset(k.lower() for k in content)
        for route in app.routes:
            for handler in getattr(route, "route_handlers", ()):
                if isinstance(handler, HTTPRouteHandler) and isinstance(handler.operation_id, str):
                    self._load_body_decoder(handler.operation_id, handler)

    def _load_body_decoder(self, operation_id: str, handler: HTTPRouteHandler) -> None:
        data = handler.parsed_fn_signature.parameters.get("data")
        if data is not None and "application/json" in self.body_media.get(operation_id, ()):
            self.body_decoders[operation_id] = msgspec.json.Decoder(data.annotation, strict=True)

    async def before_request(self, request: Request[Any, Any, Any]) -> None:
        operation_id = request.route_handler.operation_id
        if not isinstance(operation_id, str) or operation_id not in self.allowed:
            return  # not part of the API (docs pages, their assets)
        if self.path_values[operation_id]:
            self._check_path(request, operation_id)
        if request.scope.get("query_string"):
            self._check_query(request, operation_id)
        if operation_id in self.takes_body:
            json_body = _check_media_type(request, self.body_media.get(operation_id, frozenset()))
            decoder = self.body_decoders.get(operation_id)
            if json_body and decoder is not None:
                await _decode_body(request, decoder)

    def _check_path(self, request: Request[Any, Any, Any], operation_id: str) -> None:
        """The router read `/tickets/1_0` as ticket 10 (Python's `int`): the raw segment must be digits."""
        template = str(request.scope.get("path_template") or "").split("/")
        segments = str(request.scope.get("path", "")).split("/")
        errors = []
        for name, rule in self.path_values[operation_id].items():
            index = template.index("{" + name + "}") if "{" + name + "}" in template else -1
            if 0 <= index < len(segments) and (message := rule.check(segments[index])):
                errors.append(FieldError("path", name, message))
        if errors:
            raise Unprocessable("The request has invalid path parameters; see errors.", errors=errors)

    def _check_query(self, request: Request[Any, Any, Any], operation_id: str) -> None:
        allowed, rules = self.allowed[operation_id], self.values[operation_id]
        errors: list[FieldError] = []
        pairs: list[tuple[str, str]] = []
        split = False
        for name, value in request.query_params.multi_items():
            rule = rules.get(name)
            if rule is not None and rule.array and "," in value:
                values, split = [part.strip() for part in value.split(",")], True
            else:
                values = [value]
            pairs += [(name, item) for item in values]
            if rule is not None:
                errors += [FieldError("query", name, m) for item in values if (m := rule.check(item))]
        for name in dict.fromkeys(request.query_params.keys()):
            if name not in allowed:
                known = ", ".join(sorted(allowed)) or "none"
                errors.append(
                    FieldError("query", name, f"Unknown query parameter (this operation takes: {known}).")
                )
            elif not rules[name].array and len(request.query_params.getall(name)) > 1:
                errors.append(
                    FieldError("query", name, "Given more than once; this parameter takes one value.")
                )
        if errors:
            raise Unprocessable("The request has invalid query parameters; see errors.", errors=errors)
        if split:
            _replace_query(request, pairs)


def _replace_query(request: Request[Any, Any, Any], pairs: list[tuple[str, str]]) -> None:
    """Let Litestar read the comma form as repeated values: the query string it parses is replaced, and the
    parse it cached while this module read it is dropped (tests/test_strict_input.py holds us to it)."""
    parsed = tuple(pairs)
    request.scope["query_string"] = urlencode(parsed).encode()
    request._parsed_query = parsed
    ScopeState.from_scope(request.scope).parsed_query = parsed


async def _decode_body(request: Request[Any, Any, Any], decoder: msgspec.json.Decoder[Any]) -> None:
    """Decode the JSON body strictly into the operation's type; Litestar then takes the decoded value.

    A body that is empty or not JSON at all is left to Litestar, which answers it as before (400)."""
    body = await request.body()
    if not body.strip():
        return
    try:
        decoded = decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise Unprocessable(
            "The request has invalid fields; see errors.", errors=[body_field_error(str(exc), decoder.type)]
        ) from None
    except msgspec.DecodeError:
        return
    ScopeState.from_scope(request.scope).json = decoded


_AT = re.compile(r" - at `([^`]*)`(?: in `(\$[^`]*)`)?$")


def body_field_error(message: str, root: Any) -> FieldError:
    """msgspec's ``Invalid enum value 'x' - at `$.a.b``` as a field error, with the allowed values."""
    path = "$"
    if match := _AT.search(message):
        message, path = message[: match.start()], match.group(2) or match.group(1)
        if match.group(2):  # "at `key` in `$.versions`": a mapping key of the wrong type
            message += " (a key of this object)"
    if message.startswith("Invalid enum value"):
        allowed = _enum_at(msgspec.inspect.type_info(root), path)
        if allowed:
            message = f"{message}; expected one of: {', '.join(map(str, allowed))}"
    return FieldError("body", path, message)


_STEP = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[([^\]]*)\]")


def _enum_at(info: msgspec.inspect.Type, path: str) -> tuple[Any, ...] | None:
    """The allowed values of the enum at a JSON path of a type, when the path leads to one."""
    for step in _STEP.finditer(path[1:]):
        info = _unwrap(info)
        if isinstance(info, msgspec.inspect.StructType) and step.group(1):
            fields = {f.encode_name: f.type for f in info.fields}
            if step.group(1) not in fields:
                return None
            info = fields[step.group(1)]
        elif isinstance(info, (msgspec.inspect.ListType, msgspec.inspect.SetType)):
            info = info.item_type
        elif isinstance(info, msgspec.inspect.DictType):
            info = info.value_type
        else:
            return None
    info = _unwrap(info)
    if isinstance(info, msgspec.inspect.LiteralType):
        return tuple(info.values)
    if isinstance(info, msgspec.inspect.EnumType):
        return tuple(member.value for member in info.cls)
    return None


def _unwrap(info: msgspec.inspect.Type) -> msgspec.inspect.Type:
    """Through metadata and optional (``X | None``) wrappers to the type that matters."""
    while True:
        if isinstance(info, msgspec.inspect.Metadata):
            info = info.type
        elif isinstance(info, msgspec.inspect.UnionType):
            kept = [t for t in info.types if not isinstance(t, msgspec.inspect.NoneType)]
            if len(kept) != 1:
                return info
            info = kept[0]
        else:
            return info


def value_rule(schema: Any, components: dict[str, Any], array: bool = False) -> ValueRule:
    """How a parameter's values must look, from its schema (``X | None`` and arrays of X seen through)."""
    schema = _resolve(schema, components)
    if schema is None:
        return ValueRule(array=array)
    branches = [_resolve(b, components) for b in (schema.one_of or schema.any_of or ())]
    branches = [b for b in branches if b is not None and _type_name(b) != "null"]
    if len(branches) == 1:
        return value_rule(branches[0], components, array)
    if _type_name(schema) == "array":
        return value_rule(schema.items, components, array=True)
    enum = tuple(str(v) for v in schema.enum) if schema.enum else None
    kind = _type_name(schema)
    if kind == "string" and str(getattr(schema.format, "value", schema.format)) == "date-time":
        kind = "date-time"
    if kind not in ("boolean", "integer", "date-time"):
        kind = None
    minimum = int(schema.minimum) if kind == "integer" and schema.minimum is not None else None
    maximum = int(schema.maximum) if kind == "integer" and schema.maximum is not None else None
    return ValueRule(kind=kind, enum=enum, minimum=minimum, maximum=maximum, array=array)


def _resolve(schema: Any, components: dict[str, Any]) -> Any:
    ref = getattr(schema, "ref", None)
    if isinstance(ref, str):
        return components.get(ref.rsplit("/", 1)[-1])
    return schema


def _type_name(schema: Any) -> str | None:
    kind = getattr(schema, "type", None)
    return None if kind is None or isinstance(kind, list) else str(getattr(kind, "value", kind))


def _check_media_type(request: Request[Any, Any, Any], declared: frozenset[str]) -> bool:
    """A body must be JSON, or of the media type the operation declares (an iCalendar upload). A missing
    ``Content-Type`` is read as JSON (what most clients mean). Whether the body is JSON."""
    raw = request.headers.get("content-type")
    if raw is None:
        return True
    media_type = raw.split(";", 1)[0].strip().lower()
    if media_type in declared and media_type != "application/json":
        return False
    json_body = media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )
    if json_body and ("application/json" in declared or not declared):
        return True
    expected = " or ".join(sorted(declared)) or "application/json"
    raise UnsupportedMediaType(f"The request body must be {expected}, not {media_type or 'empty'}.")
