"""The finished contract is exact: what client generators and frontend teams rely on, checked on the spec."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest

from api.app import create_litestar
from api.openapi import render_spec
from api.openapi_document import TRANSITION_RULES, named_enums, problem_types
from api.webhooks.catalog import CATALOG

METHODS = ("get", "put", "post", "patch", "delete")
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def spec(settings) -> dict[str, Any]:
    return json.loads(render_spec(create_litestar(settings)))


def operations(spec: dict[str, Any], section: str = "paths") -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec.get(section, {}).items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def nodes(node: Any, where: str = "$") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        yield where, node
        for key, value in node.items():
            yield from nodes(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from nodes(value, f"{where}/{i}")


def resolve(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = spec
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def test_every_list_page_types_its_rows(spec):
    schemas = spec["components"]["schemas"]
    pages = {name: s for name, s in schemas.items() if "next_cursor" in s.get("properties", {})}
    assert {"TicketPage", "CommentPage", "AgentPage", "CustomerPage", "GroupPage", "EventPage"} <= set(pages)
    for name, page in pages.items():
        items = page["properties"]["data"]["items"]
        assert "$ref" in items, f"{name} rows are untyped: {items}"
        assert resolve(spec, items).get("properties"), name


def test_schema_names_are_plain_identifiers(spec):
    for name in spec["components"]["schemas"]:
        assert re.fullmatch(r"[A-Z][A-Za-z0-9]*", name), f"schema name {name!r} is not a plain type name"


def test_no_single_branch_unions(spec):
    for where, node in nodes(spec):
        for key in ("oneOf", "anyOf"):
            assert len(node.get(key, [1, 2])) != 1, f"one-branch {key} at {where}"


def test_enums_are_named_components_not_repeated_inline(spec):
    schemas = spec["components"]["schemas"]
    named = named_enums()
    for name, (values, _) in named.items():
        assert schemas[name]["enum"] == list(values)
    named_sets = {frozenset(values) for values, _ in named.values()}
    for where, node in nodes(spec):
        if "enum" in node and not any(where == f"$/components/schemas/{name}" for name in named):
            values = frozenset(v for v in node["enum"] if v is not None)
            assert values not in named_sets, f"inline copy of a named enum at {where}"
    status = spec["components"]["schemas"]["TicketRead"]["properties"]["status"]
    assert status == {"$ref": "#/components/schemas/TicketStatus"}


def test_problem_type_is_an_enum_of_every_problem_type(spec):
    props = spec["components"]["schemas"]["Problem"]["properties"]
    types = props["type"]["enum"]
    assert types == problem_types()
    for slug in ("not-found", "validation-error", "invalid-transition", "precondition-failed", "conflict"):
        assert f"urn:helpdesk:problem:{slug}" in types
    rules = next(b for b in props["rule"]["oneOf"] if b.get("type") == "string")["enum"]
    assert rules == list(TRANSITION_RULES)


def test_every_lifecycle_rule_raised_is_documented():
    """A rule added to the lifecycle must be added to the spec's enum (which lists them by value)."""
    from api.tickets import lifecycle

    raised = set()
    for source in (REPO / "api" / "tickets").glob("*.py"):
        raised |= set(re.findall(r"rule=([A-Z_]+)", source.read_text()))
    assert raised, "no rules found: the pattern is stale"
    assert {getattr(lifecycle, name) for name in raised} <= set(TRANSITION_RULES)


def test_every_operation_documents_a_default_problem_and_a_description(spec):
    tags = {tag["name"]: tag.get("description") for tag in spec["tags"]}
    for path, method, op in operations(spec):
        assert op.get("description"), f"{method} {path} has no description"
        default = op["responses"]["default"]["content"]["application/problem+json"]["schema"]
        assert default == {"$ref": "#/components/schemas/Problem"}
        for tag in op["tags"]:
            assert tags.get(tag), f"tag {tag!r} has no description"


def test_admin_only_operations_say_so(spec):
    admin_only = {"createApiKey", "listApiKeys", "createAgent", "createWebhookEndpoint", "updateGroup"}
    for path, method, op in operations(spec):
        says = "Admin only" in op["description"]
        forbidden = op["responses"].get("403")
        if says:
            assert forbidden, f"{method} {path}"
        elif forbidden:  # a 403 that is not about the role says when it happens
            generic = "Forbidden (`urn:helpdesk:problem:forbidden`)"
            assert forbidden["description"] != generic, f"{method} {path}"
        if op["operationId"] in admin_only:
            assert says, op["operationId"]


def test_every_header_has_a_schema(spec):
    headers = spec["components"]["headers"]
    for path, method, op in operations(spec):
        for status, response in op["responses"].items():
            assert "X-Request-ID" in response.get("headers", {}), f"{method} {path} {status}"
            for name, header in response.get("headers", {}).items():
                assert "schema" in resolve(spec, header), f"{method} {path} {status} {name}"
    assert headers["ETag"]["schema"] == {"type": "string", "examples": ['"3"']}


def test_write_headers_are_documented(spec):
    paths = spec["paths"]
    creates = {
        ("/v1/tickets", "post"),
        ("/v1/customers", "post"),
        ("/v1/agents", "post"),
        ("/v1/groups", "post"),
        ("/v1/api-keys", "post"),
        ("/v1/webhooks/endpoints", "post"),
    }
    for path, method in creates:
        assert "Location" in paths[path][method]["responses"]["201"]["headers"], path
    for path, method, op in operations(spec):  # issue 16: every create says where the new thing is
        if "201" in op["responses"]:
            assert "Location" in op["responses"]["201"].get("headers", {}), f"{method} {path}"
    for path, method, op in operations(spec):
        takes_key = any(p["name"] == "Idempotency-Key" for p in op.get("parameters", []))
        for status, response in op["responses"].items():
            replayed = "Idempotent-Replayed" in response.get("headers", {})
            assert replayed == (takes_key and status.startswith("2")), f"{method} {path} {status}"
    ticket = paths["/v1/tickets/{ticket_id}"]
    assert "ETag" in ticket["patch"]["responses"]["412"]["headers"]
    assert "WWW-Authenticate" in ticket["patch"]["responses"]["401"]["headers"]
    refused = ticket["patch"]["responses"]["409"]["content"]["application/problem+json"]["examples"]
    assert refused["invalid-transition"]["value"]["rule"] in TRANSITION_RULES
    assert "ETag" in ticket["get"]["responses"]["304"]["headers"]


def _validator(spec: dict[str, Any], schema: dict[str, Any]) -> Any:
    return jsonschema_rs.Draft202012Validator(
        {**schema, "components": spec["components"]}, validate_formats=True
    )


def _examples(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], Any]]:
    """Every example in the spec with the schema it illustrates."""
    for where, node in nodes(spec):
        schema = node.get("schema")
        if not isinstance(schema, dict):
            continue
        if "example" in node:
            yield where, schema, node["example"]
        for name, example in (node.get("examples") or {}).items():
            yield f"{where}/examples/{name}", schema, example["value"]
        for i, example in enumerate(resolve(spec, schema).get("examples") or ()):
            yield f"{where}/schema/examples/{i}", schema, example


def test_examples_are_valid_against_their_schemas(spec):
    invalid, checked = [], 0
    for where, schema, example in _examples(spec):
        errors = [e.message for e in _validator(spec, schema).iter_errors(example)]
        if errors:
            invalid.append(f"{where}: {errors}")
        checked += 1
    assert not invalid, "\n".join(invalid)
    assert checked > 100


def test_every_request_body_and_success_response_has_an_example(spec):
    for section in ("paths", "webhooks"):
        for path, method, op in operations(spec, section):
            bodies = [("request", op.get("requestBody", {}))]
            bodies += [(s, r) for s, r in op["responses"].items() if s.startswith("2")]
            for label, body in bodies:
                for media_type, media in body.get("content", {}).items():
                    if media_type == "application/json":
                        assert "example" in media or "examples" in media, f"{method} {path} {label}"


def test_webhooks_section_has_every_event_type_with_signature_headers(spec):
    webhooks = spec["webhooks"]
    assert set(webhooks) == set(CATALOG)
    for name, item in webhooks.items():
        operation = item["post"]
        headers = {p["name"] for p in operation["parameters"] if p["in"] == "header"}
        assert headers == {"webhook-id", "webhook-timestamp", "webhook-signature"}, name
        envelope = resolve(spec, operation["requestBody"]["content"]["application/json"]["schema"])
        assert envelope["properties"]["type"] == {"type": "string", "const": name}
        assert set(envelope["required"]) == {"type", "timestamp", "data"}
        assert resolve(spec, envelope["properties"]["data"]).get("properties"), name


# Issue 16: constraints the server enforces are in the spec (JSON Schema where it can say them).
def _props(spec, name):
    return spec["components"]["schemas"][name]["properties"]


def _param(spec, path, method, name):
    return next(p for p in spec["paths"][path][method]["parameters"] if p["name"] == name)


def test_the_spec_states_what_the_server_enforces(spec):
    years = _props(spec, "HolidayImport")["years"]["items"]
    assert (years["minimum"], years["maximum"]) == (1900, 2200)
    targets = _props(spec, "SlaPolicyCreate")["targets"]
    assert targets["propertyNames"] == {"$ref": "#/components/schemas/Priority"}
    assert _props(spec, "SlaPolicyUpdate")["targets"]["propertyNames"] == targets["propertyNames"]
    assert _props(spec, "SlaPolicyUpdate")["position"]["minimum"] == 0
    tag = _param(spec, "/v1/tickets", "get", "tag")["schema"]
    items = next(b["items"] for b in tag["oneOf"] if b.get("type") == "array")
    assert items["minLength"] == 1
    assert items["maxLength"] == 64
    assert "pattern" in items
    assert _props(spec, "TicketCreate")["tags"]["items"]["minLength"] == 1
    assert _props(spec, "TicketBulkUpdate")["changes"]["minProperties"] == 1
    ids = _props(spec, "TicketBulkUpdate")["ids"]["items"]
    assert (ids["format"], ids["minimum"], ids["maximum"]) == ("int64", 1, 2**63 - 1)
    for path, _method, op in operations(spec):
        for parameter in op.get("parameters", []):
            if parameter["in"] == "path" and parameter["schema"].get("type") == "integer":
                schema = parameter["schema"]
                assert (schema["format"], schema["minimum"], schema["maximum"]) == ("int64", 1, 2**63 - 1), (
                    path
                )
    endpoint = _props(spec, "EndpointCreate")
    event_types = next(b for b in endpoint["event_types"]["oneOf"] if b.get("type") == "array")
    assert event_types["items"]["minLength"] == 1
    assert "pattern" in endpoint["headers"]["additionalProperties"]


def test_cross_field_rules_are_described(spec):
    create = _props(spec, "TicketCreate")
    assert "requester_email" in create["requester_id"]["description"]
    assert "requester_id" in create["requester_email"]["description"]
    for name in ("CalendarCreate", "CalendarUpdate"):
        assert "always_open" in _props(spec, name)["weekly"]["description"]
        assert "weekly" in _props(spec, name)["always_open"]["description"]
    for name in ("SlaPolicyCreate", "SlaPolicyUpdate"):
        assert "business" in _props(spec, name)["calendar_id"]["description"]
    assert "calendar_id" in _props(spec, "Target")["time"]["description"]


def test_payload_enums_are_named(spec):
    schemas = spec["components"]["schemas"]
    assert _props(spec, "Actor")["type"] == {"$ref": "#/components/schemas/ActorType"}
    assert _props(spec, "SlaOutcome")["result"]["$ref"] == "#/components/schemas/SlaResult"
    assert _props(spec, "SlaMetricOutcome")["result"] == {"$ref": "#/components/schemas/SlaMetricResult"}
    assert _props(spec, "SlaMetricOutcome")["metric"] == {"$ref": "#/components/schemas/SlaMetricName"}
    assert set(schemas["SlaResult"]["enum"]) == {"met", "breached"}
    assert set(schemas["SlaMetricResult"]["enum"]) == {"met", "breached", "cancelled"}


def test_every_constraint_msgspec_states_is_in_the_spec(spec):
    """Generic: for each component that is one of our Structs, every bound, length, pattern and key rule
    of msgspec's own schema (what the decoder checks) is somewhere on the same node of the spec."""
    import msgspec

    from api.openapi import _struct_classes

    keys = {
        "minimum",
        "maximum",
        "minLength",
        "maxLength",
        "pattern",
        "minItems",
        "maxItems",
        "minProperties",
    }

    def not_null(node):
        branches = [b for b in node.get("anyOf") or node.get("oneOf") or () if b.get("type") != "null"]
        return branches[0] if len(branches) == 1 else node

    def check(ours, theirs, where):
        theirs = not_null(theirs)
        ours_branch = not_null(ours)
        for key in keys & set(theirs):
            assert key in ours or key in ours_branch, f"{where}: {key} missing"
        for sub in ("items", "additionalProperties"):
            if isinstance(theirs.get(sub), dict) and "$ref" not in theirs[sub]:
                check(ours_branch.get(sub, {}), theirs[sub], f"{where}/{sub}")
        for name, prop in theirs.get("properties", {}).items():
            check(ours_branch.get("properties", {}).get(name, {}), prop, f"{where}.{name}")

    checked = 0
    for name, cls in _struct_classes().items():
        component = spec["components"]["schemas"].get(name)
        if component is None:
            continue
        (_,), found = msgspec.json.schema_components([cls])
        check(component, found[name], name)
        checked += 1
    assert checked > 40


def test_examples_look_like_real_data(spec):
    """Issue 16: `"time_zone": "time-zone"`, an actor of type `ticket.updated`, a metric both fulfilled
    and breached. Examples carry no value made from a field's own name, and what they say holds together."""
    import zoneinfo

    actor_types = set(spec["components"]["schemas"]["ActorType"]["enum"])
    problems = []

    def check(value, where, field=""):
        if isinstance(value, dict):
            if "key" in value or "example" in value.values():
                problems.append(f"{where}: placeholder map entry")
            for key, item in value.items():
                check(item, f"{where}/{key}", key)
            requester, assignee = value.get("requester"), value.get("assignee")
            if isinstance(requester, dict) and isinstance(assignee, dict) and requester == assignee:
                problems.append(f"{where}: the requester is their own assignee")
            if field in ("actor", "author") and value.get("type") not in actor_types:
                problems.append(f"{where}: actor type {value.get('type')!r}")
            if {"state", "fulfilled_at", "breached_at"} <= set(value):
                state, fulfilled, breached = value["state"], value["fulfilled_at"], value["breached_at"]
                coherent = {
                    "running": fulfilled is None and breached is None,
                    "paused": fulfilled is None and breached is None,
                    "fulfilled": fulfilled is not None,
                    "breached": breached is not None and fulfilled is None,
                }.get(state, True)
                if not coherent:
                    problems.append(
                        f"{where}: a {state} metric fulfilled {fulfilled} and breached {breached}"
                    )
            if {"result", "breached_at"} <= set(value) and (value["result"] == "met") != (
                value["breached_at"] is None
            ):
                problems.append(f"{where}: result {value['result']} with breached_at {value['breached_at']}")
        elif isinstance(value, list):
            for i, item in enumerate(value):
                check(item, f"{where}/{i}", field)
        elif isinstance(value, str) and field:
            if value in (field, field.replace("_", "-"), "example"):
                problems.append(f"{where}: {value!r} is a placeholder")
            if field == "time_zone":
                try:
                    zoneinfo.ZoneInfo(value)
                except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                    problems.append(f"{where}: {value!r} is not a time zone")

    for where, _schema, example in _examples(spec):
        check(example, where)
    assert not problems, "\n".join(problems[:30])


def _webhook_id(spec, event_type):
    parameters = spec["webhooks"][event_type]["post"]["parameters"]
    schema = next(p for p in parameters if p["name"] == "webhook-id")["schema"]
    for example in schema["examples"]:
        assert re.fullmatch(schema["pattern"], example), (event_type, example)
    return re.compile(schema["pattern"])


def test_the_webhook_id_example_is_shaped_like_what_is_sent(spec):
    """Ticket events are checked end to end in tests/test_readme_walkthrough.py; the others are made by
    new_message_id."""
    from api.webhooks.publish import new_message_id

    assert _webhook_id(spec, "ticket.resolved").fullmatch("evt_6")
    assert _webhook_id(spec, "sla.breached").fullmatch("evt_17")
    test_event = _webhook_id(spec, "webhook.test")
    assert all(test_event.fullmatch(new_message_id()) for _ in range(200))


def test_summaries_and_descriptions_use_markdown_code_not_rst(spec):
    """Issue 16: Swagger showed the docstrings' reST double back-ticks literally."""
    for where, node in nodes(spec):
        for key in ("summary", "description"):
            if isinstance(node.get(key), str):
                assert "``" not in node[key], f"{where}/{key}: {node[key][:80]}"


def test_the_key_list_promises_only_fields_it_has(spec):
    """Issue 16: listApiKeys promised a "last use" that no field carried."""
    operation = spec["paths"]["/v1/api-keys"]["get"]
    text = f"{operation['summary']} {operation.get('description', '')}".lower()
    fields = set(spec["components"]["schemas"]["ApiKeyRead"]["properties"])
    assert "last use" not in text or "last_used_at" in fields
    for field in ("name", "role", "prefix", "created", "revoked"):
        assert field in text


def test_patterns_read_the_same_in_javascript_and_python(spec):
    """A pattern is an ECMA-262 regular expression (the spec's JS tools read it without the `u` flag):
    no `\\U…` escapes. The tag rule, stated for every BMP character, is exactly the server's there."""
    from api.tickets.schemas import _TAG_REFUSED

    for where, node in nodes(spec):
        if isinstance(node.get("pattern"), str):
            assert "\\U" not in node["pattern"], where
            re.compile(node["pattern"])
    stated = re.compile(_props(spec, "TicketCreate")["tags"]["items"]["pattern"])
    server = re.compile(rf"^[^{_TAG_REFUSED}]+$")
    tags = (f"a{chr(c)}" for c in range(0x10000))
    assert [t for t in tags if bool(stated.fullmatch(t)) != bool(server.fullmatch(t))] == []
