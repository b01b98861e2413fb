"""Endpoint management through the HTTP API."""

from __future__ import annotations

import pytest

ENDPOINTS = "/v1/webhooks/endpoints"


async def create(client, headers, **body):
    body.setdefault("url", "https://hooks.example.com/helpdesk")
    r = await client.post(ENDPOINTS, json=body, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


async def test_create_shows_secret_once(wh_client, admin_headers):
    created = await create(wh_client, admin_headers, description="CRM", event_types=["ticket.resolved"])
    assert created["secret"].startswith("whsec_")
    import base64

    assert len(base64.b64decode(created["secret"].removeprefix("whsec_"))) >= 24
    assert created["event_types"] == ["ticket.resolved"]
    assert created["enabled"] is True
    got = await wh_client.get(f"{ENDPOINTS}/{created['id']}", headers=admin_headers)
    assert got.status_code == 200
    assert "secret" not in got.json()
    listed = await wh_client.get(ENDPOINTS, headers=admin_headers)
    assert [e["id"] for e in listed.json()["data"]] == [created["id"]]
    assert "secret" not in listed.json()["data"][0]


async def test_agents_cannot_manage_webhooks(wh_client, agent_headers):
    r = await wh_client.get(ENDPOINTS, headers=agent_headers)
    assert r.status_code == 403
    r = await wh_client.get("/v1/webhooks/event-types", headers=agent_headers)
    assert r.status_code == 403


async def test_unknown_event_type_and_fields_are_refused(wh_client, admin_headers):
    r = await wh_client.post(
        ENDPOINTS,
        json={"url": "https://a.example.com", "event_types": ["ticket.nope"]},
        headers=admin_headers,
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["path"] == "$.event_types[0]"
    r = await wh_client.post(ENDPOINTS, json={"url": "https://a.example.com", "x": 1}, headers=admin_headers)
    assert r.status_code == 422


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("http://hooks.example.com/x", "HELPDESK_WEBHOOK_ALLOW_HTTP=true"),
        ("https://user:pw@hooks.example.com/x", "credentials"),
        ("https://127.0.0.1/x", "loopback"),
        ("https://10.1.2.3/x", "private"),
        ("https://169.254.169.254/latest", "link-local"),
        ("https://[::1]/x", "loopback"),
        ("https://[::ffff:10.0.0.1]/x", "ipv4-mapped"),
        ("https://localhost/x", "loopback"),
        ("https://127.0.0.1/x", "HELPDESK_WEBHOOK_ALLOW_CIDRS"),
    ],
)
async def test_registration_refuses_unsafe_urls(client, admin_headers, url, fragment):
    r = await client.post(ENDPOINTS, json={"url": url}, headers=admin_headers)
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["path"] == "$.url"
    assert fragment in r.json()["errors"][0]["message"]


async def test_allow_list_admits_loopback(wh_client, admin_headers):
    created = await create(wh_client, admin_headers, url="http://127.0.0.1:9/hook")
    assert created["url"] == "http://127.0.0.1:9/hook"


async def test_update_enable_disable_delete(wh_client, admin_headers):
    created = await create(wh_client, admin_headers)
    url = f"{ENDPOINTS}/{created['id']}"
    r = await wh_client.patch(url, json={"description": "new", "event_types": None}, headers=admin_headers)
    assert r.status_code == 200
    assert r.json()["description"] == "new"
    assert r.json()["event_types"] is None
    r = await wh_client.post(f"{url}/disable", headers=admin_headers)
    assert r.json()["enabled"] is False
    assert r.json()["disabled_reason"] == "manual"
    r = await wh_client.post(f"{url}/test", headers=admin_headers)
    assert r.status_code == 409
    r = await wh_client.post(f"{url}/enable", headers=admin_headers)
    assert r.json()["enabled"] is True
    assert r.json()["disabled_reason"] is None
    r = await wh_client.delete(url, headers=admin_headers)
    assert r.status_code == 204
    r = await wh_client.get(url, headers=admin_headers)
    assert r.status_code == 404


async def test_rotate_secret(wh_client, admin_headers):
    created = await create(wh_client, admin_headers)
    r = await wh_client.post(f"{ENDPOINTS}/{created['id']}/rotate-secret", headers=admin_headers)
    assert r.status_code == 200
    assert r.json()["secret"].startswith("whsec_")
    assert r.json()["secret"] != created["secret"]
    got = (await wh_client.get(f"{ENDPOINTS}/{created['id']}", headers=admin_headers)).json()
    assert got["secret_rotated_until"] == r.json()["previous_valid_until"]
    r = await wh_client.post(
        f"{ENDPOINTS}/00000000-0000-0000-0000-000000000000/rotate-secret", headers=admin_headers
    )
    assert r.status_code == 404


async def test_event_types_catalog(wh_client, admin_headers):
    r = await wh_client.get("/v1/webhooks/event-types", headers=admin_headers)
    assert r.status_code == 200
    assert r.json()["next_cursor"] is None  # a page, like every other list (issue 16)
    types = {t["name"]: t for t in r.json()["data"]}
    for name in (
        "ticket.created",
        "ticket.updated",
        "ticket.assigned",
        "ticket.commented",
        "ticket.status_changed",
        "ticket.resolved",
        "ticket.reopened",
        "ticket.closed",
        "webhook.test",
        "endpoint.disabled",
    ):
        assert name in types
    resolved = types["ticket.resolved"]["schema"]
    props = resolved["$defs"]["TicketResolvedData"]["properties"]
    for field in ("ticket", "resolved_by", "resolved_at", "time_to_resolution_seconds", "previous_status"):
        assert field in props


async def test_test_event_creates_a_delivery(wh_client, admin_headers):
    created = await create(wh_client, admin_headers, event_types=["ticket.closed"])
    r = await wh_client.post(f"{ENDPOINTS}/{created['id']}/test", headers=admin_headers)
    assert r.status_code == 202, r.text
    delivery = r.json()
    assert delivery["event_type"] == "webhook.test"
    assert delivery["status"] == "pending"
    assert delivery["message_id"].startswith("msg_")
    r = await wh_client.get(
        "/v1/webhooks/deliveries", params={"endpoint_id": created["id"]}, headers=admin_headers
    )
    assert [d["id"] for d in r.json()["data"]] == [delivery["id"]]


@pytest.mark.parametrize(
    "name", ["Host", "content-type", "Webhook-Signature", "webhook-id", "Transfer-Encoding"]
)
async def test_reserved_custom_headers_are_refused(wh_client, admin_headers, name):
    r = await wh_client.post(
        ENDPOINTS, json={"url": "https://a.example.com", "headers": {name: "x"}}, headers=admin_headers
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["path"] == f"$.headers.{name}"


@pytest.mark.parametrize("value", ["ok\r\nX-Injected: 1", "nul\x00byte", "bell\x07"])
async def test_header_values_cannot_hold_control_characters(wh_client, admin_headers, value):
    r = await wh_client.post(
        ENDPOINTS, json={"url": "https://a.example.com", "headers": {"X-A": value}}, headers=admin_headers
    )
    assert r.status_code == 422
