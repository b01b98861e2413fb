"""The spec's OpenAPI 3.1 ``webhooks`` section: one entry per event type in the catalog.

Consumers generate receiver types from it the same way they generate the client: the envelope
(``type``, ``timestamp``, ``data``), the data schema of that event type, and the Standard Webhooks
signature headers they must verify. It is derived from :data:`api.webhooks.catalog.CATALOG`, so a
new event type is documented by registering it.
"""

from __future__ import annotations

from typing import Any, get_args

import msgspec

from api.webhooks.catalog import CATALOG

SCHEMAS = "#/components/schemas/"
# The webhook-id of a ticket or SLA event is ``evt_`` and its id in the change feed (/v1/events), so a
# consumer can match the two; other events (webhook.test, endpoint.disabled) get ``msg_`` and 128 random
# bits in 25 base-36 digits (api.webhooks.publish.new_message_id).
FEED_ID_PATTERN, FEED_ID_EXAMPLE = "^evt_[1-9][0-9]*$", "evt_1042"
MESSAGE_ID_PATTERN, MESSAGE_ID_EXAMPLE = "^msg_[0-9a-z]{25}$", "msg_bv78vxprt2lyq3j5pfsmb0fh4"


def _webhook_id(event_type: str) -> dict[str, Any]:
    from api.events.schemas import EventType

    in_feed = event_type in get_args(EventType)
    return {
        "name": "webhook-id",
        "in": "header",
        "required": True,
        "description": "The event's id; the same on every retry. Deduplicate on it (delivery is at least "
        "once)."
        + (
            " `evt_` and the event's `id` in the change feed (`/v1/events`, a ticket's history)."
            if in_feed
            else ""
        ),
        "schema": {
            "type": "string",
            "pattern": FEED_ID_PATTERN if in_feed else MESSAGE_ID_PATTERN,
            "examples": [FEED_ID_EXAMPLE if in_feed else MESSAGE_ID_EXAMPLE],
        },
    }


SIGNATURE_HEADERS: list[dict[str, Any]] = [
    {
        "name": "webhook-timestamp",
        "in": "header",
        "required": True,
        "description": "Unix seconds when this attempt was signed; refuse messages far from your clock.",
        "schema": {"type": "string", "pattern": "^[0-9]+$", "examples": ["1795941243"]},
    },
    {
        "name": "webhook-signature",
        "in": "header",
        "required": True,
        "description": 'Space-separated `v1,<base64 HMAC-SHA256 of "id.timestamp.body">` signatures, '
        "keyed with the endpoint's secret (two during a secret rotation); any Standard Webhooks "
        "library verifies them.",
        "schema": {"type": "string", "examples": ["v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4="]},
    },
]


def _envelope_name(event_type: str) -> str:
    """``ticket.status_changed`` → ``TicketStatusChangedEvent``."""
    words = event_type.replace(".", "_").split("_")
    return "".join(word.capitalize() for word in words) + "Event"


def _operation_id(event_type: str) -> str:
    return "on" + _envelope_name(event_type).removesuffix("Event")


def _struct_types() -> dict[str, msgspec.inspect.StructType]:
    found: dict[str, msgspec.inspect.StructType] = {}
    for info in msgspec.inspect.multi_type_info([event.data for event in CATALOG.values()]):
        pending: list[msgspec.inspect.Type] = [info]
        while pending:
            node = pending.pop()
            if isinstance(node, msgspec.inspect.StructType) and node.cls.__name__ not in found:
                found[node.cls.__name__] = node
                pending.extend(field.type for field in node.fields)
            elif isinstance(node, msgspec.inspect.UnionType):
                pending.extend(node.types)
            elif isinstance(node, msgspec.inspect.ListType):
                pending.append(node.item_type)
    return found


def _mark_date_times(components: dict[str, Any]) -> None:
    """msgspec leaves ``format`` off datetimes; the REST schemas have it, so generated types agree."""
    for name, struct in _struct_types().items():
        for field in struct.fields:
            kinds = field.type.types if isinstance(field.type, msgspec.inspect.UnionType) else (field.type,)
            if not any(isinstance(kind, msgspec.inspect.DateTimeType) for kind in kinds):
                continue
            prop = components[name]["properties"][field.encode_name]
            for branch in prop.get("anyOf", [prop]):
                if branch.get("type") == "string":
                    branch["format"] = "date-time"


def add_webhooks(spec: dict[str, Any]) -> None:
    schemas: dict[str, Any] = spec["components"]["schemas"]
    data_types = [event.data for event in CATALOG.values()]
    _, components = msgspec.json.schema_components(data_types, ref_template=SCHEMAS + "{name}")
    _mark_date_times(components)
    classes = {name: node.cls for name, node in _struct_types().items()}
    for name, schema in components.items():
        if name in schemas and schemas[name] != schema:
            if classes[name].__module__ != "api.webhooks.catalog":
                continue  # a REST type events carry too (``PersonSummary``): one schema, the API's
            raise RuntimeError(f"webhook schema {name!r} clashes with an API schema of the same name")
        schemas[name] = schema

    webhooks: dict[str, Any] = {}
    for event in sorted(CATALOG.values(), key=lambda e: e.name):
        envelope = _envelope_name(event.name)
        schemas[envelope] = {
            "title": envelope,
            "type": "object",
            "description": f"The body of a `{event.name}` webhook. {event.description}",
            "properties": {
                "type": {"type": "string", "const": event.name},
                "timestamp": {"type": "string", "format": "date-time"},
                "data": {"$ref": SCHEMAS + event.data.__name__},
            },
            "required": ["type", "timestamp", "data"],
        }
        webhooks[event.name] = {
            "post": {
                "operationId": _operation_id(event.name),
                "summary": event.description.rstrip("."),
                "description": "Sent to every enabled endpoint subscribed to this event type, signed the "
                "Standard Webhooks way. Answer 2xx quickly; anything else is retried with backoff for "
                "about three days, and 410 disables the endpoint.",
                "tags": ["Webhooks"],
                "security": [],
                "parameters": [_webhook_id(event.name), *SIGNATURE_HEADERS],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": SCHEMAS + envelope}}},
                },
                "responses": {
                    "200": {"description": "Received (any 2xx status counts)."},
                    "410": {"description": "Gone: the endpoint is disabled and receives nothing more."},
                },
            }
        }
    spec["webhooks"] = webhooks
