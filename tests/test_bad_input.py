"""Bad input of every generated shape is a 4xx problem, never a 5xx: deeply nested JSON bodies, full-text
queries made of operators, webhook URLs with unusable host names, and tags with invisible or questionable
characters (refused alike on every path that takes a tag). Property-based: Hypothesis makes the inputs."""

from __future__ import annotations

import json
import unicodedata

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

# One client and key are shared by the examples of a test: what is checked does not depend on the data.
EXAMPLES = settings(
    max_examples=40,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

WRITES = [
    ("POST", "/v1/tickets"),
    ("PATCH", "/v1/tickets/1"),
    ("POST", "/v1/tickets/1/comments"),
    ("POST", "/v1/tickets/bulk-update"),
    ("POST", "/v1/customers"),
    ("POST", "/v1/webhooks/endpoints"),
    ("POST", "/v1/api-keys"),
]


def assert_client_error(response) -> dict:
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("application/problem+json"), response.text[:300]
    body: dict = response.json()
    assert body["status"] == response.status_code
    return body


def nested(depth: int, opener: str, leaf: str = "1") -> str:
    closer = "]" if opener == "[" else "}"
    return opener * depth + leaf + closer * depth


@EXAMPLES
@given(
    depth=st.integers(min_value=50, max_value=30_000),
    opener=st.sampled_from(["[", '{"a":']),
    route=st.sampled_from(WRITES),
    in_field=st.booleans(),
)
@example(depth=100_000, opener="[", route=WRITES[0], in_field=False)
async def test_deeply_nested_json_is_a_client_error(client, admin_headers, depth, opener, route, in_field):
    text = nested(depth, opener)
    body = '{"subject": ' + text + "}" if in_field else text
    method, path = route
    response = await client.request(
        method, path, content=body, headers={**admin_headers, "content-type": "application/json"}
    )
    assert_client_error(response)


# Full-text search: websearch_to_tsquery syntax (negation, OR, quotes, parentheses) and its neighbours.
SEARCH_TEXT = st.lists(st.sampled_from([*"-!&|<>():*'\" \t", "or", "and", "word", "a"]), max_size=500).map(
    "".join
)


@pytest.fixture
async def a_ticket(client, admin_headers):
    response = await client.post(
        "/v1/tickets",
        json={"subject": "Printer word", "message": "word", "requester_email": "ada@example.com"},
        headers=admin_headers,
    )
    assert response.status_code == 201, response.text


@EXAMPLES
@given(q=SEARCH_TEXT.filter(lambda q: len(q) <= 500))
@example(q="-" * 500)
@example(q="-" * 40 + "word")
@example(q="- " * 200 + "word")
@example(q="word " + "-" * 499)
async def test_search_of_any_operator_soup_answers_without_a_server_error(client, admin_headers, a_ticket, q):
    response = await client.get("/v1/tickets", params={"q": q}, headers=admin_headers)
    assert response.status_code in (200, 422), (response.status_code, response.text[:300])


async def test_an_even_run_of_negations_is_no_negation(client, admin_headers, a_ticket):
    for q, found in (("--word", 1), ("-" * 64 + "word", 1), ("-" * 63 + "word", 0), ("- - - word", 0)):
        response = await client.get("/v1/tickets", params={"q": q}, headers=admin_headers)
        assert response.status_code == 200, response.text
        assert len(response.json()["data"]) == found, q


# Webhook URLs: labels that are empty, too long, or not letters/digits/hyphens; the host never resolves.
LABEL = st.text(alphabet=st.sampled_from([*"abz09-_ .%", "ü", "\u200b", "\uff0e"]), max_size=80)


@EXAMPLES
@given(labels=st.lists(LABEL, min_size=1, max_size=6))
@example(labels=["a", "", "b"])
@example(labels=["x" * 64])
@example(labels=["a" * 63] * 5)
async def test_webhook_urls_with_unusable_hosts_are_refused(client, admin_headers, labels):
    host = ".".join([*labels, "invalid"])
    response = await client.post(
        "/v1/webhooks/endpoints", json={"url": f"https://{host}/hook"}, headers=admin_headers
    )
    body = assert_client_error(response)
    assert response.status_code == 422, body
    assert body["errors"][0]["path"] == "$.url"


# Tags: one rule for every path. Questionable characters: controls, format characters (bidi overrides,
# zero-width), noncharacters.
QUESTIONABLE = (
    [chr(c) for c in range(0x110000) if unicodedata.category(chr(c)) in ("Cc", "Cf")]
    + [chr(c) for c in range(0xFDD0, 0xFDF0)]
    + [chr(plane << 16 | low) for plane in range(17) for low in (0xFFFE, 0xFFFF)]
)
QUESTIONABLE_TAG = st.builds(
    lambda head, bad, tail: head + bad + tail,
    st.text(alphabet="abc", max_size=5),
    st.sampled_from(QUESTIONABLE),
    st.text(alphabet="abc", max_size=5),
)


@EXAMPLES
@given(tag=QUESTIONABLE_TAG)
@example(tag="vip\u202e")  # right-to-left override
@example(tag="v\u200bip")  # zero-width space
@example(tag="vip\ufffe")  # noncharacter
async def test_questionable_tags_are_refused_on_every_path(client, admin_headers, a_ticket, tag):
    paths = []
    create = await client.post(
        "/v1/tickets",
        json={"subject": "s", "message": "m", "requester_email": "ada@example.com", "tags": [tag]},
        headers=admin_headers,
    )
    paths.append(assert_client_error(create)["errors"][0]["path"])
    ticket_id = (await client.get("/v1/tickets", headers=admin_headers)).json()["data"][0]["id"]
    update = await client.patch(f"/v1/tickets/{ticket_id}", json={"tags": ["ok", tag]}, headers=admin_headers)
    paths.append(assert_client_error(update)["errors"][0]["path"])
    bulk = await client.post(
        "/v1/tickets/bulk-update",
        json={"ids": [ticket_id], "changes": {"add_tags": [tag]}},
        headers=admin_headers,
    )
    assert_client_error(bulk)
    listed = await client.get("/v1/tickets", params={"tag": tag}, headers=admin_headers)
    assert assert_client_error(listed)["errors"][0]["location"] == "query"
    assert paths == ["$.tags[0]", "$.tags[1]"]


@EXAMPLES
@given(tag=st.text(st.characters(categories=["L", "N", "Pd", "So"]), min_size=1, max_size=20))
async def test_ordinary_tags_are_kept_exactly(client, admin_headers, tag):
    response = await client.post(
        "/v1/tickets",
        json={"subject": "s", "message": "m", "requester_email": "ada@example.com", "tags": [tag]},
        headers=admin_headers,
    )
    assert response.status_code == 201, response.text
    assert response.json()["tags"] == [tag]
    assert json.loads(response.content)["tags"][0] == tag
