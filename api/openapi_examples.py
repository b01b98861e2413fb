"""Examples for every request body and success response that has no hand-written one.

Frontend teams build mocks and read the reference from examples, so each body gets one. Hand-written
examples (``api/tickets/examples.py``) win; the rest are derived from the schema itself — its own
``examples``, enums and formats, and a readable value per well-known field name — so a new route is
never without one, and ``tests/test_openapi_document.py`` validates every example against its schema.
"""

from __future__ import annotations

import re
from typing import Any

SCHEMAS = "#/components/schemas/"

# Readable values for common field names (the schema's own examples take precedence).
BY_FIELD: dict[str, Any] = {
    "email": "ada@example.com",
    "requester_email": "ada@example.com",
    "name": "Ada Lovelace",
    "requester_name": "Ada Lovelace",
    "subject": "Cannot log in since Monday",
    "message": "Every login attempt says my password is wrong.",
    "body": "Thanks, that fixed it!",
    "description": "CRM sync",
    "url": "https://hooks.example.com/helpdesk",
    "next_cursor": "WzEwNDIsIjIwMjYtMTEtMjAifQ",
    "external_ref": "CRM-7781",
    "token": "hdk_3q2-7wQxV9yZ1aB4cD6eF8gH0iJ2kL4mN6oP8qR0sT2",
    "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "previous_secret": "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
    "prefix": "hdk_3q2-7w",
    "reason": "gone",
    "error": "connection refused",
    "error_class": "connect",
    "response_body": "ok",
    "request_id": "5f0c6c1e9a1b4f0e8a3b2c1d0e9f8a7b",
    "message_id": "evt_1042",
    "event_type": "ticket.resolved",
    "field": "status",
    "version": 3,
    "id": "5d2c1b0a-8e7f-4a6b-9c3d-2e1f0a9b8c7d",
    "status": "open",
    "priority": "normal",
    "previous_status": "pending",
    "sla_outcome": "met",
    "survey_url": "https://help.example.com/surveys/3f9a",
    "disabled_reason": "gone",
    "type": "ticket.updated",
    "tag": "billing",
    "time_zone": "Europe/Berlin",
    "locale": "en-GB",
    "external_id": "crm-4711",
    "last_error": "HTTP 503 from the endpoint",
    "worker": "worker-1.internal:4242",
    "path": "$.weekly[0].start",
    "database": "ok",
    "schema_revision": "0330",
    "expected_revision": "0330",
}
# A readable entry for maps, by the field holding the map: key, value.
BY_MAP_FIELD: dict[str, tuple[str, Any]] = {
    "headers": ("X-Tenant", "acme"),
    "request_headers": ("webhook-id", "evt_1042"),
}
# Objects that name an agent, by the field holding them (the requester is Ada, the agents are not).
BY_OBJECT_FIELD: dict[str, dict[str, Any]] = {
    "assignee": {"name": "Grace Hopper", "email": "grace@example.com"},
    "resolved_by": {"name": "Grace Hopper", "email": "grace@example.com"},
    "previous_assignee": {"name": "Alan Turing", "email": "alan@example.com"},
    "actor": {"name": "Grace Hopper"},
    "author": {"name": "Grace Hopper"},
}
# Components whose generated example would be incoherent (a metric both running and fulfilled and
# breached): these fields are set over the generated value, whatever fields the component gains later.
COMPONENT_OVERRIDES: dict[str, dict[str, Any]] = {
    "SlaMetric": {
        "metric": "resolution",
        "state": "running",
        "cycle": 1,
        "target_minutes": 480,
        "business": True,
        "warning_minutes": 60,
        "started_at": "2026-11-20T09:14:03Z",
        "running_since": "2026-11-20T10:02:44Z",
        "consumed_seconds": 1800.0,
        "due_at": "2026-11-20T17:32:44Z",
        "warned_at": None,
        "breached_at": None,
        "fulfilled_at": None,
        "pauses": [],
        "earlier_cycles": [],
        "remaining_seconds": 27000.0,
    },
    "SlaMetricExplanation": {
        "metric": "resolution",
        "state": "running",
        "cycle": 1,
        "target_minutes": 480,
        "business": True,
        "started_at": "2026-11-20T09:14:03Z",
        "due_at": "2026-11-20T17:32:44Z",
        "fulfilled_at": None,
        "breached_at": None,
        "consumed_seconds": 1800.0,
        "remaining_seconds": 27000.0,
        "earlier_cycles": [],
    },
    "SlaCycle": {
        "cycle": 1,
        "target_minutes": 60,
        "started_at": "2026-11-20T09:14:03Z",
        "fulfilled_at": "2026-11-20T09:31:12Z",
        "breached_at": None,
    },
    "SlaMetricOutcome": {
        "metric": "first_response",
        "result": "met",
        "target_minutes": 60,
        "breached_at": None,
        "fulfilled_at": "2026-11-20T09:31:12Z",
    },
    "SlaOutcome": {"result": "met"},
    # The SLA events carry the metric at its moment: warned, or breached.
    "SlaWarningEvent": {
        "data": {"metric": {"warned_at": "2026-11-20T16:32:44Z", "remaining_seconds": 3600.0}}
    },
    "SlaBreachedEvent": {
        "data": {
            "metric": {
                "state": "breached",
                "warned_at": "2026-11-20T16:32:44Z",
                "breached_at": "2026-11-20T17:32:44Z",
                "remaining_seconds": 0.0,
            }
        }
    },
    "SlaStretch": {
        "start": "2026-11-20T09:14:03Z",
        "end": "2026-11-20T09:44:03Z",
        "reason": "counted",
        "status": None,
    },
    "SlaPause": {"start": "2026-11-20T09:44:03Z", "end": "2026-11-20T10:02:44Z", "reason": "pending"},
    "Condition": {"field": "priority", "operator": "is", "value": "urgent"},
    # Not people (or not the customer): a generic "name" would read "Ada Lovelace".
    "AgentRead": {"name": "Grace Hopper", "email": "grace@example.com"},
    "ApiKeyRead": {"name": "Zapier integration"},
    "ApiKeyCreated": {"name": "Zapier integration"},
    "CalendarRead": {"name": "Berlin office"},
    "Holiday": {"date": "2025-12-25", "yearly": True, "name": "Christmas Day"},
    "SlaPolicyRead": {"name": "VIP customers"},
    "SlaPolicyUpdate": {"name": "VIP customers"},
    "GroupSummary": {"name": "Billing"},
    "GroupRead": {"name": "Billing", "description": "Invoices, refunds and payment questions."},
    "EventTypeRead": {
        "name": "ticket.resolved",
        "description": "A ticket was resolved: time to say thank you.",
        "schema": {"type": "object", "properties": {"ticket": {"type": "object"}}},
    },
    "CalendarWarning": {
        "path": "$.weekly[0].start",
        "message": "02:30 does not exist on 2027-03-28 (DST starts): the interval starts at 03:00.",
    },
}
UUID = "0b6f6c1e-3f55-4d0e-9a57-5b1f0c9c2f10"
DATE_TIME = "2026-11-20T09:14:03Z"
# Nested $refs followed before giving up (a recursive schema would otherwise never end).
MAX_DEPTH = 12


def add_examples(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    operations = [
        operation
        for section in ("paths", "webhooks")
        for item in spec.get(section, {}).values()
        for method, operation in item.items()
        if method in ("get", "put", "post", "patch", "delete")
    ]
    for operation in operations:
        bodies = [operation.get("requestBody", {})]
        bodies += [r for status, r in operation.get("responses", {}).items() if status.startswith("2")]
        for body in bodies:
            for media in body.get("content", {}).values():
                if "schema" in media and "example" not in media and "examples" not in media:
                    media["example"] = example_of(media["schema"], schemas)


def example_of(schema: dict[str, Any], schemas: dict[str, Any], field: str = "", depth: int = 0) -> Any:
    """A value valid against ``schema`` (``$ref`` resolved in ``schemas``)."""
    if depth > MAX_DEPTH:
        return None
    if "$ref" in schema:
        name = schema["$ref"].removeprefix(SCHEMAS)
        value = example_of(schemas[name], schemas, field, depth + 1)
        if name in COMPONENT_OVERRIDES:
            value = _override(value, COMPONENT_OVERRIDES[name])
        return value
    for key in ("const", "example"):
        if key in schema:
            return schema[key]
    if schema.get("examples"):
        return schema["examples"][0]
    if schema.get("enum"):
        return next((v for v in schema["enum"] if v is not None), None)
    branches = schema.get("oneOf") or schema.get("anyOf")
    if branches:
        real = [b for b in branches if b.get("type") != "null"] or branches
        return example_of(real[0], schemas, field, depth)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in schema:
        return _object(schema, schemas, depth, field)
    if kind == "array":
        item = example_of(schema.get("items", {}), schemas, field.removesuffix("s"), depth)
        return [item] * max(1, schema.get("minItems", 1))
    if kind in ("integer", "number"):
        return _number(schema, field, kind)
    if kind == "boolean":
        return True
    if kind == "string":
        return _string(schema, field)
    return None


def _override(value: Any, override: Any) -> Any:
    """``override`` set over ``value``, dicts merged key by key; keys ``value`` lacks are ignored."""
    if not isinstance(override, dict):
        return override
    if not isinstance(value, dict):
        return value
    return {key: _override(item, override[key]) if key in override else item for key, item in value.items()}


def _object(schema: dict[str, Any], schemas: dict[str, Any], depth: int, field: str = "") -> dict[str, Any]:
    value = {
        name: _override(example_of(prop, schemas, name, depth + 1), BY_OBJECT_FIELD[name])
        if name in BY_OBJECT_FIELD
        else example_of(prop, schemas, name, depth + 1)
        for name, prop in schema.get("properties", {}).items()
    }
    extra = schema.get("additionalProperties")
    if not value and isinstance(extra, dict) and extra:
        if field in BY_MAP_FIELD:
            return dict([BY_MAP_FIELD[field]])
        # A map whose keys are an enum (SLA targets by priority) takes one of them as its key.
        key = example_of(schema["propertyNames"], schemas, "", depth) if "propertyNames" in schema else None
        value = {key if isinstance(key, str) else "key": example_of(extra, schemas, "", depth)}
    return value


def _number(schema: dict[str, Any], field: str, kind: str) -> int | float:
    hinted = BY_FIELD.get(field)
    value = hinted if isinstance(hinted, int) else (1042 if field in ("id", "ticket_id") else 1)
    low, high = schema.get("minimum"), schema.get("maximum")
    if low is not None and value < low:
        value = int(low)
    if high is not None and value > high:
        value = int(high)
    return value if kind == "integer" else float(value)


def _string(schema: dict[str, Any], field: str) -> str:
    fmt = schema.get("format")
    if fmt == "uuid":
        return UUID
    if fmt == "date-time":
        return DATE_TIME
    if fmt == "date":
        return DATE_TIME[:10]
    if fmt == "email":
        return "ada@example.com"
    if fmt in ("uri", "uri-reference"):
        return "https://hooks.example.com/helpdesk"
    candidates = [BY_FIELD.get(field), field.replace("_", "-") or None, "example"]
    pattern = schema.get("pattern")
    for candidate in candidates:
        if not isinstance(candidate, str):
            continue
        if pattern and not re.search(pattern, candidate):
            continue
        if len(candidate) < schema.get("minLength", 0):
            candidate = candidate.ljust(schema["minLength"], "x")
        return candidate[: schema.get("maxLength", len(candidate))]
    return "example"
