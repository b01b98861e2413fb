"""Fuzz the committed OpenAPI spec against the app, in process: schemathesis generates valid and invalid
requests for every operation and checks each response.

What a run proves, for every generated request: no 5xx (``not_a_server_error``); the status code, the
``Content-Type``, the body and the documented headers are what the spec says (``status_code_conformance``,
``content_type_conformance``, ``response_schema_conformance``, ``response_headers_conformance``); invalid
input is refused (``negative_data_rejection``), valid input is not refused with a status the API does not
use for it (``positive_data_acceptance``), a request without a key gets 401 (``ignored_auth``,
``missing_required_header``), and undocumented methods get 405 with a truthful ``Allow``
(``unsupported_method``, ``allow_header_conformance``).

One pytest item per operation. Each gets fresh tables (the autouse truncation), an admin key with a fixed
token (so schemathesis can own authentication, including leaving it out on purpose), a small set of records
made through the API, and its own app instance, whose lifespan schemathesis starts with the first request
and stops when the item ends. Generation is derandomized, so a failure reproduces on every run.
"""

from __future__ import annotations

import json
import re
import uuid
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jsonschema_rs
import msgspec
import pytest
import schemathesis
from hypothesis import settings as hypothesis_settings
from litestar.types import Receive, Scope, Send
from schemathesis.failure_codes import AcceptedNegativeData
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from api.app import create_app
from api.auth.models import ApiKey
from api.auth.tokens import display_prefix, hash_token
from api.openapi import SPEC_PATH
from api.settings import Settings
from tests.conftest import app_client

# Fuzzed examples per operation; the coverage phase adds its boundary and wrong-type cases on top.
MAX_EXAMPLES = 25
ADMIN_TOKEN = "hdk_contract-fuzzer-admin"  # a test key: valid only while a test of this module runs

SPEC: dict[str, Any] = json.loads(SPEC_PATH.read_text())

CONFIG = schemathesis.Config.from_dict(
    {
        "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
        "auth": {"openapi": {"apiKey": {"bearer": ADMIN_TOKEN}}},
        "checks": {
            "positive_data_acceptance": {
                # Schema-valid input that breaks a rule the schema cannot express is refused on purpose:
                # 422 for references to records that do not exist, opaque cursors this list did not
                # issue, unknown time zones, webhook URLs the SSRF policy refuses, an Idempotency-Key
                # reused with another body; 412 for an If-Match that is not the current version. So a
                # 400, 405, 413 or 415 for valid input still fails (as would a redirect: the API makes
                # none; 5xx are `not_a_server_error`'s).
                "expected-statuses": ["2xx", "401", "403", "404", "409", "412", "422", "429"],
            },
        },
    }
)


class AppUnderTest:
    """The ASGI app schemathesis calls: the app the running test built (the schema is loaded at import,
    before the database exists, so it holds this stand-in rather than an app)."""

    def __init__(self) -> None:
        self.app: Callable[[Scope, Receive, Send], Awaitable[None]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.app is not None, "no app: the fuzz_app fixture builds one for each test"
        await self.app(scope, receive, send)


APP = AppUnderTest()
schema = schemathesis.openapi.from_path(SPEC_PATH, config=CONFIG)
schema.app = APP

# The records the running test made, by kind, and the parameters and body fields that name each kind.
SEEDED: dict[str, Any] = {}
REFERENCES = {
    "customer_id": "customer",
    "requester_id": "customer",
    "agent_id": "agent",
    "assignee_id": "agent",
    "assignee": "agent",
    "member_ids": "agent",
    "group_id": "group",
    "ticket_id": "ticket",
    "ids": "ticket",
    "key_id": "key",
    "endpoint_id": "endpoint",
    "delivery_id": "delivery",
    "message_id": "message",
    "calendar_id": "calendar",
}


async def _seed(settings: Settings) -> dict[str, Any]:
    """A customer, an agent in a group, a ticket with a comment, an agent key, a webhook endpoint with
    one pending delivery and a business calendar, made through the API like any client would."""
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with app_client(settings) as client:

        async def post(path: str, body: dict[str, Any] | None = None, status: int = 201) -> dict[str, Any]:
            response = await client.post(path, json=body, headers=headers)
            assert response.status_code == status, response.text
            created: dict[str, Any] = response.json()
            return created

        customer = await post("/v1/customers", {"name": "Ada Lovelace", "email": "ada@example.com"})
        agent = await post("/v1/agents", {"name": "Grace Hopper", "email": "grace@example.com"})
        group = await post("/v1/groups", {"name": "Billing", "member_ids": [agent["id"]]})
        ticket = await post(
            "/v1/tickets",
            {
                "subject": "Invoice 2231 is wrong",
                "message": "I was charged twice.",
                "requester_id": customer["id"],
                "assignee_id": agent["id"],
                "group_id": group["id"],
                "tags": ["billing"],
            },
        )
        key = await post("/v1/api-keys", {"name": "Grace's key", "role": "agent", "agent_id": agent["id"]})
        # Agents write comments as themselves, through their own key.
        response = await client.post(
            f"/v1/tickets/{ticket['id']}/comments",
            json={"body": "Refund issued.", "public": False},
            headers={"Authorization": f"Bearer {key['token']}"},
        )
        assert response.status_code == 201, response.text
        endpoint = await post("/v1/webhooks/endpoints", {"url": "https://hooks.example.com/helpdesk"})
        delivery = await post(f"/v1/webhooks/endpoints/{endpoint['id']}/test", status=202)
        calendar = await post(
            "/v1/business-calendars",
            {
                "name": "Office hours",
                "time_zone": "Europe/Berlin",
                "weekly": [{"day": "monday", "start": "09:00", "end": "17:00"}],
                "holidays": [{"date": "2025-12-25", "yearly": True}],
            },
        )
    return {
        "customer": customer["id"],
        "agent": agent["id"],
        "group": group["id"],
        "ticket": ticket["id"],
        "key": key["id"],
        "endpoint": endpoint["id"],
        "delivery": delivery["id"],
        "message": delivery["message_id"],
        "calendar": calendar["id"],
    }


@pytest.fixture(autouse=True)
async def fuzz_app(settings: Settings, engine: AsyncEngine) -> AsyncIterator[None]:
    """Autouse, so Hypothesis does not see a function-scoped fixture reused across its examples: the key,
    records and app are deliberately shared by every example of one operation."""
    async with engine.begin() as conn:
        await conn.execute(
            insert(ApiKey).values(
                name="contract fuzzer",
                role="admin",
                prefix=display_prefix(ADMIN_TOKEN),
                token_hash=hash_token(ADMIN_TOKEN),
            )
        )
    # No access log: thousands of lines would only bury a failure's report.
    quiet = msgspec.structs.replace(settings, access_log=False)
    SEEDED.update(await _seed(quiet))
    APP.app = create_app(quiet)
    yield
    APP.app = None
    SEEDED.clear()


def _names_a(kind: str, value: Any) -> bool:
    """Whether ``value`` is a well-formed id of a ``kind`` record, so replacing it keeps a valid request
    valid (invalid ones are left to be refused as generated)."""
    if kind in ("ticket", "delivery"):
        return isinstance(value, int) and not isinstance(value, bool) and value > 0
    if kind == "message":
        return isinstance(value, str) and bool(value)
    try:
        return isinstance(value, str) and str(uuid.UUID(value)) == value
    except ValueError:
        return False


def _heads(value: Any) -> bool:
    """A reproducible coin toss: the generated value decides (Python's own hash is salted per process)."""
    return zlib.crc32(repr(value).encode()) % 2 == 0


def _aim_at_seeded_records(case: schemathesis.Case) -> None:
    """Point about half of the well-formed ids at the records the test made, so operations on existing
    records (their 200s, bodies and headers) are checked too, not only the 404s that random ids get; and
    drop about half of the If-Match headers, which a generated value can only fail (412).
    """
    containers: list[MutableMapping[str, Any]] = [case.path_parameters, case.query]
    if isinstance(case.body, dict):
        containers.append(case.body)
    for container in containers:
        for name, value in list(container.items()):
            kind = REFERENCES.get(name)
            if kind is None or not _heads(value):
                continue
            if _names_a(kind, value):
                container[name] = SEEDED[kind]
            elif isinstance(value, list) and value and all(_names_a(kind, item) for item in value):
                container[name] = [SEEDED[kind]]
    if_match = case.headers.get("If-Match")
    if isinstance(if_match, str) and _heads(if_match):
        del case.headers["If-Match"]
    # Reading `meta` revalidates edited components, so the checks judge the request as sent (a replaced
    # value can turn an invalid request valid, say an overlong id list replaced by one id).
    assert case.meta is not None


# -- Reading a request the way Litestar does -----------------------------------------------------------
#
# Litestar converts input with msgspec in non-strict mode, deliberately: "1"/"0" and 1/0 are booleans, a
# number where a date-time is expected is a Unix timestamp, "3.0" is the integer 3, "null" is null unless
# the parameter takes free text; a single-valued query parameter sent several times takes its last value,
# and unknown query parameters are ignored. So some requests that violate the spec are accepted, and
# `negative_data_rejection` reports them. Exactly those reports are dropped: the request, read the way
# Litestar reads it, must conform to the spec, or the failure stands. (Query parameters are read from the
# URL as sent, JSON body fields at any depth; path and header parameters and raw bodies get no such
# allowance.)

_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}
_EPOCH = "1970-01-01T00:00:00Z"


def _component(ref: str) -> dict[str, Any]:
    component: dict[str, Any] = SPEC["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    return component


def _validator(schema: dict[str, Any]) -> jsonschema_rs.Validator:
    return jsonschema_rs.validator_for({**schema, "components": SPEC["components"]}, validate_formats=True)


def _accepts(schema: dict[str, Any], kind: str) -> bool:
    """Whether ``schema`` or one of its alternatives takes values of a JSON type, or date-time strings."""
    if "$ref" in schema:
        return _accepts(_component(schema["$ref"]), kind)
    types = schema.get("type", [])
    if kind in (types if isinstance(types, list) else [types]) or schema.get("format") == kind:
        return True
    return any(_accepts(option, kind) for option in schema.get("oneOf", []) + schema.get("anyOf", []))


def _takes_free_text(schema: dict[str, Any]) -> bool:
    """Whether ``schema`` or one of its alternatives is a string without a format (a ``str`` in Python)."""
    if schema.get("type") == "string" and "format" not in schema:
        return True
    return any(_takes_free_text(option) for option in schema.get("oneOf", []) + schema.get("anyOf", []))


def _items(schema: dict[str, Any]) -> dict[str, Any]:
    """The item schema of an array parameter."""
    if "items" in schema:
        items: dict[str, Any] = schema["items"]
        return items
    return next(_items(option) for option in schema.get("oneOf", []) if _accepts(option, "array"))


def _read_query_value(text: str, schema: dict[str, Any]) -> Any:
    if text == "null" and _accepts(schema, "null") and not _takes_free_text(schema):
        return None
    if _accepts(schema, "boolean") and text.lower() in _BOOLEANS:
        return _BOOLEANS[text.lower()]
    if _JSON_NUMBER.fullmatch(text):
        if _accepts(schema, "integer") and float(text).is_integer():
            return int(text) if text.lstrip("-").isdigit() else int(float(text))
        if _accepts(schema, "number"):
            return float(text)
        if _accepts(schema, "date-time"):
            return _EPOCH
    return text


def _alternatives(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """``schema`` (its ``$ref`` followed) and the alternatives it offers, to look for a shape in."""
    if "$ref" in schema:
        return _alternatives(_component(schema["$ref"]))
    options = [schema]
    for option in schema.get("oneOf", []) + schema.get("anyOf", []) + schema.get("allOf", []):
        options += _alternatives(option)
    return options


def _read_body_value(value: Any, schema: dict[str, Any]) -> Any:
    # msgspec's non-strict mode applies at every depth: read nested objects and arrays the same way.
    if isinstance(value, dict):
        properties = next((o["properties"] for o in _alternatives(schema) if "properties" in o), {})
        return {name: _read_body_value(item, properties.get(name, {})) for name, item in value.items()}
    if isinstance(value, list):
        items = next((o["items"] for o in _alternatives(schema) if "items" in o), {})
        return [_read_body_value(item, items) for item in value]
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    if value in (0, 1) and _accepts(schema, "boolean"):
        return bool(value)
    if _accepts(schema, "date-time"):
        return _EPOCH
    return value


def _conforms_as_litestar_reads_it(case: schemathesis.Case, response: schemathesis.Response) -> bool:
    meta = case.meta
    if meta is None or any(
        component.mode.is_negative and location.value not in ("query", "body")
        for location, component in meta.components.items()
    ):
        return False
    operation = case.operation.definition.raw
    query_params = {p["name"]: p["schema"] for p in operation.get("parameters", []) if p["in"] == "query"}
    sent = parse_qs(urlsplit(str(response.request.url)).query, keep_blank_values=True)
    for name, texts in sent.items():
        param_schema = query_params.get(name)
        if param_schema is None:
            continue
        if _accepts(param_schema, "array"):
            read: Any = [_read_query_value(text, _items(param_schema)) for text in texts]
        else:
            read = _read_query_value(texts[-1], param_schema)
        if not _validator(param_schema).is_valid(read):
            return False
    body = operation.get("requestBody")
    if body is not None:
        # Only JSON bodies go through msgspec; a raw body (an iCalendar upload) is read as sent.
        if not isinstance(case.body, dict) or "application/json" not in body["content"]:
            return not any(c.mode.is_negative for loc, c in meta.components.items() if loc.value == "body")
        body_schema = body["content"]["application/json"]["schema"]
        properties = _component(body_schema.get("$ref") or body_schema["allOf"][0]["$ref"])["properties"]
        read_body = {
            name: _read_body_value(value, properties.get(name, {})) for name, value in case.body.items()
        }
        if not _validator(body_schema).is_valid(read_body):
            return False
    return True


@schema.hook
def filter_failure(
    context: schemathesis.HookContext,
    failure: Any,
    case: schemathesis.Case,
    response: schemathesis.Response,
) -> bool:
    """Keep every failure except invalid input that Litestar reads as valid input (see above)."""
    return not (isinstance(failure, AcceptedNegativeData) and _conforms_as_litestar_reads_it(case, response))


@schema.parametrize()
@hypothesis_settings(deadline=None)  # a request can take a while on a loaded CI machine; that is no failure
def test_api_conforms_to_the_committed_spec(case: schemathesis.Case) -> None:
    _aim_at_seeded_records(case)
    case.call_and_validate()
