"""Tickets rendered by PostgreSQL (reads) and by msgspec (writes) must be the same JSON, byte for byte."""

import asyncpg
import msgspec
import pytest

from api.context import Actor, Context
from api.db import asyncpg_dsn
from api.events.service import NewEvent
from api.events.webhooks import webhook_bodies
from api.tickets import store
from tests.tickets.helpers import create_ticket

SUBJECTS = [
    "Plain subject",
    'Quotes " and \\ backslashes / slashes',
    "Tabs\tnew\nlines\r and \x01 control \x1f characters",
    "Unicode: café ✓ 日本語 😀 \u2028 separators \u2029",
    "<script>alert('html')</script> & ampersands",
]


@pytest.fixture
async def raw(settings):
    conn = await asyncpg.connect(asyncpg_dsn(settings.database_url))
    yield conn
    await conn.close()


async def _both(raw, ticket_id):
    row = await raw.fetchrow(f"{store.SELECT} WHERE t.id = $1", ticket_id)
    rendered = await raw.fetchrow(store.GET_DOCUMENT, ticket_id)
    return msgspec.json.encode(store.to_read(row)), rendered["doc"].encode(), rendered["version"]


async def test_postgres_document_is_msgspec_json(client, agent, admin_headers, raw):
    me, headers = agent
    group = (await client.post("/v1/groups", json={"name": 'Ops "EU"'}, headers=admin_headers)).json()
    ids = [(await create_ticket(client, headers, subject=subject))["id"] for subject in SUBJECTS]
    full = await create_ticket(
        client,
        headers,
        assignee_id=str(me),
        group_id=group["id"],
        tags=["vip", "b\u00e4r"],
        external_ref="CRM-1",
        requester_email="Zoë.O'Neil@example.com",
        requester_name='Zoë "Z" O\'Neil',
    )
    resolved = await client.patch(f"/v1/tickets/{full['id']}", json={"status": "resolved"}, headers=headers)
    assert resolved.status_code == 200, resolved.text
    ids.append(full["id"])
    # msgspec leaves out the fraction of whole seconds; PostgreSQL must too.
    await raw.execute(
        "UPDATE tickets SET created_at = date_trunc('second', created_at), "
        "resolved_at = date_trunc('second', resolved_at) + interval '0.12 s' WHERE id = $1",
        full["id"],
    )

    for ticket_id in ids:
        expected, document, version = await _both(raw, ticket_id)
        assert document == expected
        assert msgspec.json.decode(document)["version"] == version


async def test_get_and_list_serve_the_postgres_document(client, agent, raw):
    me, headers = agent
    body = {"subject": SUBJECTS[3], "message": "m", "requester_email": "new@example.com", "tags": ["x"]}
    response = await client.post("/v1/tickets", json=body, headers=headers)
    assert response.status_code == 201, response.text
    created = response.json()
    got = await client.get(f"/v1/tickets/{created['id']}", headers=headers)
    assert response.content == got.content  # the create statement renders from joins, reads from subqueries
    listed = await client.get("/v1/tickets", headers=headers)
    expected, _, _ = await _both(raw, created["id"])
    assert got.content == expected
    assert got.headers["content-type"] == "application/json"
    assert got.headers["etag"] == f'"{created["version"]}"'
    assert listed.json()["data"] == [msgspec.json.decode(expected)]
    assert created == got.json()


async def test_created_ticket_with_assignee_and_group_renders_as_read(client, agent, admin_headers):
    me, headers = agent
    group = (await client.post("/v1/groups", json={"name": "Tier 2"}, headers=admin_headers)).json()
    body = {"subject": "s", "message": "m", "requester_email": "a@example.com", "assignee_id": str(me)}
    response = await client.post("/v1/tickets", json={**body, "group_id": group["id"]}, headers=headers)
    assert response.status_code == 201, response.text
    got = await client.get(f"/v1/tickets/{response.json()['id']}", headers=headers)
    assert response.content == got.content
    assert response.json()["assignee"]["id"] == str(me)
    assert response.json()["group"] == {"id": group["id"], "name": "Tier 2"}


async def test_created_event_and_webhook_are_what_python_renders(client, agent, admin_headers, raw):
    """Ticket creation records its event and webhook in its insert statement, rendered by PostgreSQL;
    they must be exactly what ``record_events`` would have written for the same ticket."""
    me, headers = agent
    await raw.execute(
        "INSERT INTO webhook_endpoints (url, secret, event_types) "
        "VALUES ('https://hooks.example.com/x', 'whsec_dGVzdA==', ARRAY['ticket.created'])"
    )
    group = (await client.post("/v1/groups", json={"name": "G"}, headers=admin_headers)).json()
    plain = await create_ticket(client, headers, subject=SUBJECTS[2])
    full = await create_ticket(
        client, headers, subject=SUBJECTS[3], assignee_id=str(me), group_id=group["id"], tags=["a", "b"]
    )
    for created in (plain, full):
        row = await raw.fetchrow(f"{store.SELECT} WHERE t.id = $1", created["id"])
        event = await raw.fetchrow(
            "SELECT id, actor_type, actor_id, actor_name, api_key_id, request_id, changes::text AS changes, "
            "data::text AS data FROM events WHERE ticket_id = $1 AND type = 'ticket.created'",
            created["id"],
        )
        comment_id = await raw.fetchval("SELECT min(id) FROM comments WHERE ticket_id = $1", created["id"])
        expected_data = {"ticket": store.summary(row), "comment_id": comment_id, "follow_up_of": None}
        assert msgspec.json.decode(event["data"]) == msgspec.json.decode(msgspec.json.encode(expected_data))
        assert event["changes"] == "[]"
        assert (event["actor_type"], event["actor_id"]) == ("agent", str(me))
        assert event["request_id"]

        message = await raw.fetchrow(
            "SELECT body, occurred_at FROM webhook_messages WHERE id = $1", f"evt_{event['id']}"
        )
        ctx = Context(
            actor=Actor(event["actor_type"], event["actor_id"], event["actor_name"], event["api_key_id"]),
            request_id=event["request_id"],
            agent_id=me,
        )
        new = NewEvent(type="ticket.created", ticket_id=created["id"], ctx=ctx, data=expected_data)
        assert message["body"] == webhook_bodies([new], message["occurred_at"])[0]
    deliveries = await raw.fetchval("SELECT count(*) FROM webhook_deliveries")
    assert deliveries == 2
