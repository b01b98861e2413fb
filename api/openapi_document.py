"""The published contract: Litestar's rendering of the spec, finished into what client generators need.

Litestar describes each route well but leaves a few things a generated client pays for: list pages of
``Page[T]`` subclasses lose their row type (``items: {type: object}``), generic pages are named after
Python modules, ``Literal`` enums are repeated inline, ``msgspec.UNSET`` leaves one-branch ``oneOf``s,
and headers carry no schema. :func:`finish_document` fixes these on the rendered dict, adds what only
this service knows (problem types, the ``webhooks`` section, examples), and is applied both to the
committed file and to what ``/docs`` serves, so the two are the same document.
"""

from __future__ import annotations

import copy
import re
from typing import Any, get_args

import msgspec

from api.errors import PROBLEM_TYPE_PREFIX, PROBLEM_TYPES, DomainError
from api.openapi_examples import add_examples
from api.openapi_webhooks import add_webhooks
from api.pagination import Page

SCHEMAS = "#/components/schemas/"
HEADERS = "#/components/headers/"
METHODS = ("get", "put", "post", "patch", "delete")

# Rule names a lifecycle 409 (``invalid-transition``) reports; tests/test_openapi_document.py checks
# that every ``rule=`` raised in api/tickets is listed.
TRANSITION_RULES = (
    "never-back-to-new",
    "closed-is-terminal",
    "close-requires-resolved",
    "resolve-requires-assignee",
)

COMMON_HEADERS: dict[str, dict[str, Any]] = {
    "X-Request-ID": {
        "description": "This request's id (the client's own `X-Request-ID` when it sent a sane one); "
        "quote it when reporting a problem.",
        "schema": {"type": "string", "examples": ["5f0c6c1e9a1b4f0e8a3b2c1d0e9f8a7b"]},
    },
    "ETag": {
        "description": 'The resource\'s current version, e.g. `"3"`: send it as `If-Match` to change it, '
        "or as `If-None-Match` to re-read it cheaply. A ticket's carries, after its version, a revision "
        'of its SLA state once that changed without an edit (`"3.1"`: a breach recorded); `If-Match` '
        "compares the version only, so a clock ticking never makes a change fail.",
        "schema": {"type": "string", "examples": ['"3"']},
    },
    "Idempotent-Replayed": {
        "description": "`true` when this is the stored response of an earlier request with the same "
        "`Idempotency-Key` (nothing was done again).",
        "schema": {"type": "string", "enum": ["true"]},
    },
    "X-Consistency-Token": {
        "description": "Sent only when the service reads from a replica: where this write stands in the "
        "primary's history. Send it back as `X-Consistency-Token` on reads that must see this write.",
        "schema": {"type": "string", "examples": ["0/3000148"]},
    },
    "WWW-Authenticate": {
        "description": "How to authenticate: `Bearer` with an API key.",
        "schema": {"type": "string", "examples": ['Bearer realm="helpdesk"']},
    },
    "Location": {
        "description": "The URL of the created resource.",
        "schema": {"type": "string", "format": "uri-reference", "examples": ["/v1/tickets/1042"]},
    },
}


def named_enums() -> dict[str, tuple[tuple[Any, ...], str]]:
    """Enums published as components: name → (values, description). Imported late (feature modules)."""
    from api.auth.schemas import Role
    from api.context import ActorType
    from api.events.schemas import EventType
    from api.sla.schemas import MetricName
    from api.tickets.schemas import AuthorType, Channel, CommentAuthorType, Priority, Sort, Status
    from api.webhooks.catalog import SlaMetricResult, SlaResult
    from api.webhooks.schemas import DeliveryStatus

    return {
        "TicketStatus": (get_args(Status), "Where a ticket is in its lifecycle."),
        "Priority": (get_args(Priority), "A ticket's priority."),
        "Channel": (get_args(Channel), "How a ticket reached the helpdesk."),
        "Role": (get_args(Role), "What an API key or agent may do: `admin` also manages keys and webhooks."),
        "AuthorType": (get_args(AuthorType), "Who wrote a comment."),
        "CommentAuthorType": (
            get_args(CommentAuthorType),
            "Who a client writes a comment as (`system` comments are the service's own).",
        ),
        "ActorType": (get_args(ActorType), "Who made a change: an integration is an API key without agent."),
        "TicketEventType": (get_args(EventType), "The kind of a ticket event."),
        "TicketSort": (get_args(Sort), "List order; a leading `-` sorts descending."),
        "DeliveryStatus": (get_args(DeliveryStatus), "Where a webhook delivery stands."),
        "SlaMetricName": (get_args(MetricName), "An SLA metric."),
        "SlaResult": (get_args(SlaResult), "How a ticket fared against an SLA target: met or breached."),
        "SlaMetricResult": (
            get_args(SlaMetricResult),
            "How one metric's cycle ended: met, breached, or `cancelled` (resolving ended it unanswered: "
            "next response, periodic updates).",
        ),
    }


def problem_types() -> list[str]:
    """Every ``type`` a problem can carry: the per-status defaults plus every domain error's slug."""
    slugs = {slug for slug, _title in PROBLEM_TYPES.values()}
    pending: list[type[DomainError]] = [DomainError]
    while pending:
        cls = pending.pop()
        slugs.add(cls.slug)
        pending.extend(cls.__subclasses__())
    return sorted(PROBLEM_TYPE_PREFIX + slug for slug in slugs)


def publish_rule_schemas(spec: dict[str, Any]) -> None:
    """Rule condition trees and actions, described exactly (``api/rules/openapi.py``; imported late)."""
    from api.rules.openapi import publish

    publish(spec)


def finish_document(rendered: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = _unwrap_verbatim(rendered)
    schemas: dict[str, Any] = spec["components"]["schemas"]
    _rename_generic_pages(spec)
    _type_page_rows(schemas)
    _walk(spec, _collapse_single_branch)
    _state_constraints(schemas)
    publish_rule_schemas(spec)
    add_webhooks(spec)  # before naming enums: the ticket summary events carry uses the REST enums too
    _name_enums(spec)
    _describe_problem(schemas)
    _document_headers(spec)
    add_examples(spec)
    _walk(spec, _markdown_code)
    _walk(spec, _portable_pattern)
    return spec


_BMP_LONG_ESCAPE = re.compile(r"\\U0000([0-9a-fA-F]{4})")
_ASTRAL = re.compile(r"\\U[0-9a-fA-F]{8}(?:-\\U[0-9a-fA-F]{8})?")
_ASTRAL_NOTE = (
    "The server also refuses the invisible characters beyond U+FFFF (format characters such as language "
    "tags, and noncharacters), which a portable pattern cannot list."
)


def _portable_pattern(node: dict[str, Any]) -> dict[str, Any]:
    """A JSON Schema ``pattern`` is an ECMA-262 regular expression, read by the spec's JavaScript
    tools without the ``u`` flag: no escape (or literal) for code points beyond the BMP means the same
    there and in Python (``\\U0000ffff`` becomes ``\\uffff``). Code points beyond it are left out of the
    spec's class and said in words."""
    pattern = node.get("pattern")
    if isinstance(pattern, str):
        pattern = node["pattern"] = _BMP_LONG_ESCAPE.sub(r"\\u\1", pattern)
    if isinstance(pattern, str) and _ASTRAL.search(pattern):
        node["pattern"] = _ASTRAL.sub("", pattern)
        node["description"] = " ".join(filter(None, (node.get("description"), _ASTRAL_NOTE)))
    return node


_RST_LITERAL = re.compile(r"``(.+?)``")


def _markdown_code(node: dict[str, Any]) -> dict[str, Any]:
    """Docstrings mark code the reST way, between double backticks; Swagger UI shows summaries as plain
    text (the backticks would show) and descriptions as Markdown: one backtick on each side is the code."""
    for key in ("summary", "description"):
        if isinstance(node.get(key), str):
            node[key] = _RST_LITERAL.sub(r"`\1`", node[key])
    return node


# JSON Schema keywords of what the decoder enforces; Litestar leaves some out (inside array items and
# map values, a bound of 0, map key enums, minProperties from extra_json_schema).
_CONSTRAINTS = (
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
    "propertyNames",
    "format",
)


def _state_constraints(schemas: dict[str, Any]) -> None:
    """Add to each request and response component every constraint msgspec's schema of the Struct
    states and Litestar's rendering lost, so the spec says all the decoder checks (a tag's pattern in a
    list of tags, a year's range in ``years``, SLA target keys)."""
    from api.openapi import _struct_classes

    structs = _struct_classes()
    for name, component in schemas.items():
        cls = structs.get(name)
        if cls is None or not isinstance(component, dict):
            continue
        (_,), found = msgspec.json.schema_components([cls], ref_template=SCHEMAS + "{name}")
        _add_missing(component, found[name])


def _add_missing(target: Any, source: Any) -> None:
    if not isinstance(target, dict) or not isinstance(source, dict):
        return
    source = _not_null(source)
    branch = _not_null(target) if "oneOf" in target or "anyOf" in target else target
    for key in _CONSTRAINTS:
        if key in source and key not in target and key not in branch:
            target[key] = source[key]
    for key in ("items", "additionalProperties"):
        _add_missing(branch.get(key), source.get(key))
    for name, prop in source.get("properties", {}).items():
        _add_missing(branch.get("properties", {}).get(name), prop)


def _not_null(schema: dict[str, Any]) -> dict[str, Any]:
    """The one non-null branch of ``X | None``, or the schema itself."""
    branches = [b for b in schema.get("anyOf") or schema.get("oneOf") or () if b.get("type") != "null"]
    return branches[0] if len(branches) == 1 and isinstance(branches[0], dict) else schema


def _unwrap_verbatim(node: Any) -> Any:
    """A deep copy with each :class:`~api.openapi.Verbatim` example replaced by its value."""
    from api.openapi import Verbatim

    if isinstance(node, Verbatim):
        return copy.deepcopy(node.value)
    if isinstance(node, dict):
        return {key: _unwrap_verbatim(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_unwrap_verbatim(item) for item in node]
    return node


def _walk(node: Any, visit: Any) -> Any:
    """Post-order rewrite of every dict in the document (``visit`` returns the replacement)."""
    if isinstance(node, dict):
        for key, value in list(node.items()):
            node[key] = _walk(value, visit)
        return visit(node)
    if isinstance(node, list):
        return [_walk(item, visit) for item in node]
    return node


_GENERIC_PAGE = re.compile(r"^Page_(?:[\w]+\.)*(\w+)_$")


def _rename_generic_pages(spec: dict[str, Any]) -> None:
    """``Page_api.auth.schemas.ApiKeyRead_`` → ``ApiKeyPage`` (a route returning ``Page[ApiKeyRead]``)."""
    schemas = spec["components"]["schemas"]
    renames: dict[str, str] = {}
    for name in list(schemas):
        if match := _GENERIC_PAGE.match(name):
            new = match.group(1).removesuffix("Read") + "Page"
            if new in schemas:
                raise RuntimeError(f"both {name} and {new} exist; declare one page class")
            renames[SCHEMAS + name] = SCHEMAS + new
            schemas[new] = schemas.pop(name)
            schemas[new]["title"] = new

    def rewrite(node: dict[str, Any]) -> dict[str, Any]:
        ref = node.get("$ref")
        if isinstance(ref, str) and ref in renames:
            node["$ref"] = renames[ref]
        return node

    if renames:
        _walk(spec, rewrite)


def _page_classes(root: type[msgspec.Struct] = Page) -> dict[str, type[Any]]:
    """``TicketPage(Page[TicketRead])`` → ``{"TicketPage": TicketRead}`` for every declared page."""
    found: dict[str, type[Any]] = {}
    for cls in root.__subclasses__():
        for base in getattr(cls, "__orig_bases__", ()):
            args = get_args(base)
            if args and isinstance(args[0], type):
                found[cls.__name__] = args[0]
        found.update(_page_classes(cls))
    return found


def _type_page_rows(schemas: dict[str, Any]) -> None:
    for name, row in _page_classes().items():
        schema = schemas.get(name)
        if schema is None or row.__name__ not in schemas:
            continue
        schema["properties"]["data"] = {"type": "array", "items": {"$ref": SCHEMAS + row.__name__}}


def _collapse_single_branch(node: dict[str, Any]) -> dict[str, Any]:
    """``{oneOf: [X], description}`` (left by ``T | UnsetType``) is just ``{...X, description}``."""
    for key in ("oneOf", "anyOf"):
        branches = node.get(key)
        if isinstance(branches, list) and len(branches) == 1 and isinstance(branches[0], dict):
            rest = {k: v for k, v in node.items() if k != key}
            return {**branches[0], **rest}
    return node


def _name_enums(spec: dict[str, Any]) -> None:
    enums = named_enums()
    by_values = {frozenset(values): name for name, (values, _) in enums.items()}

    def replace(node: dict[str, Any]) -> dict[str, Any]:
        values = node.get("enum")
        if not isinstance(values, list):
            return node
        name = by_values.get(frozenset(v for v in values if v is not None))
        if name is None:
            return node
        kept: dict[str, Any] = {k: node[k] for k in ("description", "default") if k in node}
        if None in values:
            return {"oneOf": [{"$ref": SCHEMAS + name}, {"type": "null"}], **kept}
        return {"$ref": SCHEMAS + name, **kept}

    _walk(spec["paths"], replace)
    schemas = spec["components"]["schemas"]
    for key in list(schemas):
        schemas[key] = _walk(schemas[key], replace)
    for name, (values, description) in enums.items():
        schemas[name] = {"type": "string", "enum": list(values), "description": description, "title": name}


def _describe_problem(schemas: dict[str, Any]) -> None:
    props = schemas["Problem"]["properties"]
    props["type"] = {
        "type": "string",
        "enum": problem_types(),
        "description": "Stable identifier of the kind of problem; branch on it.",
    }
    props["rule"] = {
        "oneOf": [{"type": "string", "enum": list(TRANSITION_RULES)}, {"type": "null"}],
        "description": "For `invalid-transition` (409): the lifecycle rule that refused the change.",
    }


def _document_headers(spec: dict[str, Any]) -> None:
    """Headers get schemas (as shared components); every response names ``X-Request-ID``."""
    spec["components"]["headers"] = copy.deepcopy(COMMON_HEADERS)
    for path_item in spec["paths"].values():
        for method in METHODS:
            operation = path_item.get(method)
            if operation is None:
                continue
            idempotent = any(
                p.get("in") == "header" and p.get("name") == "Idempotency-Key"
                for p in operation.get("parameters", ())
            )
            for status, response in operation["responses"].items():
                headers = response.setdefault("headers", {})
                for name in list(headers):
                    if name in COMMON_HEADERS:
                        headers[name] = {"$ref": HEADERS + name}
                headers["X-Request-ID"] = {"$ref": HEADERS + "X-Request-ID"}
                if method != "get" and status.startswith("2"):
                    headers["X-Consistency-Token"] = {"$ref": HEADERS + "X-Consistency-Token"}
                if idempotent and status.startswith("2"):
                    headers["Idempotent-Replayed"] = {"$ref": HEADERS + "Idempotent-Replayed"}
