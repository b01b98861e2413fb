"""The committed spec is the contract: generated from the app, complete, and in sync."""

from __future__ import annotations

import json
import uuid

import pytest

from api.app import create_litestar
from api.openapi import SPEC_PATH, render_spec

METHODS = ("get", "put", "post", "patch", "delete")


@pytest.fixture(scope="module")
def spec(settings) -> dict:
    return json.loads(render_spec(create_litestar(settings)))


def operations(spec: dict):
    for path, item in spec["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def test_committed_spec_matches_the_app(settings):
    committed = SPEC_PATH.read_text()
    generated = render_spec(create_litestar(settings))
    assert committed == generated, "openapi/openapi.json is stale: run `helpdesk openapi` and commit it"


def test_rendering_is_deterministic(settings):
    assert render_spec(create_litestar(settings)) == render_spec(create_litestar(settings))


def test_spec_is_openapi_31(spec):
    assert spec["openapi"].startswith("3.1")


def test_every_operation_has_id_summary_and_security(spec):
    ids = [op["operationId"] for _, _, op in operations(spec)]
    assert len(ids) == len(set(ids))
    for path, method, op in operations(spec):
        assert op.get("summary"), f"{method} {path} has no summary"
        assert op["operationId"][0].islower()
        public = op.get("security") == []
        if not public:
            assert "401" in op["responses"], f"{method} {path} does not document 401"


def test_every_error_response_uses_the_problem_schema(spec):
    assert "Problem" in spec["components"]["schemas"]
    for path, method, op in operations(spec):
        assert "500" in op["responses"], f"{method} {path} does not document 500"
        for status, response in op["responses"].items():
            if status.startswith(("4", "5")):
                content = response["content"]
                assert list(content) == ["application/problem+json"], f"{method} {path} {status}"
                assert content["application/problem+json"]["schema"] == {
                    "$ref": "#/components/schemas/Problem"
                }


def test_routes_with_bodies_document_bad_input(spec):
    for path, method, op in operations(spec):
        if "requestBody" not in op:
            continue
        if "application/json" in op["requestBody"]["content"]:
            assert {"400", "413", "422"} <= set(op["responses"]), f"{method} {path}"
        else:  # a raw upload: no JSON to be malformed, but its media type is checked
            assert {"413", "415", "422"} <= set(op["responses"]), f"{method} {path}"


def test_admin_routes_document_403(spec):
    assert "403" in spec["paths"]["/v1/api-keys"]["post"]["responses"]
    assert "404" in spec["paths"]["/v1/api-keys/{key_id}"]["get"]["responses"]


async def test_docs_and_served_spec(client):
    docs = await client.get("/docs")
    assert docs.status_code == 200
    assert "text/html" in docs.headers["content-type"]
    served = await client.get("/docs/openapi.json")
    assert served.status_code == 200
    assert served.json() == json.loads(SPEC_PATH.read_text())


def test_request_bodies_refuse_unknown_fields_in_the_spec_too(spec):
    """Inputs reject unknown fields at runtime; the spec must say so, or generated clients are misled."""
    for path, method, op in operations(spec):
        if "requestBody" not in op:
            continue
        content = op["requestBody"]["content"]
        if "application/json" not in content:  # a raw upload (a string): it has no fields
            assert [media["schema"]["type"] for media in content.values()] == ["string"], f"{method} {path}"
            continue
        schema = content["application/json"]["schema"]
        ref = schema["$ref"] if "$ref" in schema else schema["allOf"][0]["$ref"]
        component = spec["components"]["schemas"][ref.rsplit("/", 1)[-1]]
        assert component.get("additionalProperties") is False, f"{method} {path}"


# Replaying these would mean storing an API key's token (kept only as a hash); revoking is repeatable.
WITHOUT_IDEMPOTENCY_KEY = {"createApiKey", "revokeApiKey"}


def test_every_post_documents_idempotency_key(spec):
    for path, method, op in operations(spec):
        if method != "post" or op["operationId"] in WITHOUT_IDEMPOTENCY_KEY:
            continue
        headers = {p["name"] for p in op.get("parameters", []) if p["in"] == "header"}
        assert "Idempotency-Key" in headers, f"POST {path} does not take an Idempotency-Key"


def _concrete_path(path: str, op: dict) -> str:
    """The path with each parameter replaced by a value of its documented type."""
    for param in op.get("parameters", []):
        if param["in"] == "path":
            value = str(uuid.uuid4()) if param["schema"].get("format") == "uuid" else "1"
            path = path.replace("{" + param["name"] + "}", value)
    return path


async def test_options_allows_every_documented_method(client, spec):
    """Litestar 2 answered OPTIONS with only the methods of the first handler registered for a path
    (`Allow: GET, OPTIONS` on a path that also takes PATCH)."""
    for path, item in spec["paths"].items():
        documented = sorted(method.upper() for method in item if method in METHODS)
        response = await client.options(_concrete_path(path, item[documented[0].lower()]))
        assert response.status_code == 204, path
        assert response.headers["allow"] == ", ".join(sorted([*documented, "OPTIONS"])), path
