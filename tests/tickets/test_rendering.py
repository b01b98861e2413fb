"""Ticket creation renders its event and webhook in SQL; they must be what the Python renderers make."""

import asyncpg
import msgspec
import pytest

from api.context import Actor, Context
from api.db import asyncpg_dsn
from api.events.service import NewEvent
from api.events.webhooks import event_documents, webhook_bodies
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


async def test_created_event_and_webhook_are_what_python_renders(client, agent, admin_headers, raw):
    """Ticket creation records its event and webhook in its insert statement, rendered by PostgreSQL from
    the ticket field list; the event's data and the webhook's data are one document, and it is what the
    Python rendering of the same list makes for the same ticket (``record_events``)."""
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
        ctx = Context(
            actor=Actor(event["actor_type"], event["actor_id"], event["actor_name"], event["api_key_id"]),
            request_id=event["request_id"],
            agent_id=me,
        )
        new = NewEvent(
            type="ticket.created", ticket_id=created["id"], ctx=ctx, data={"ticket": store.summary(row)}
        )
        [document] = event_documents([new])
        expected = msgspec.json.decode(msgspec.json.encode(document))
        assert msgspec.json.decode(event["data"]) == expected
        assert expected["ticket"]["id"] == created["id"]
        assert event["changes"] == "[]"
        assert (event["actor_type"], event["actor_id"]) == ("agent", str(me))
        assert event["request_id"]

        message = await raw.fetchrow(
            "SELECT body, occurred_at FROM webhook_messages WHERE id = $1", f"evt_{event['id']}"
        )
        body = msgspec.json.decode(message["body"])
        assert body["data"] == expected  # the feed's data and the webhook's data: one document
        python_body = webhook_bodies([new], [document], message["occurred_at"])[0]
        assert python_body is not None
        assert body == msgspec.json.decode(python_body)
    deliveries = await raw.fetchval("SELECT count(*) FROM webhook_deliveries")
    assert deliveries == 2


async def test_every_event_shows_the_same_data_in_the_feed_and_its_webhook(client, agent, raw):
    """The change feed's ``data`` and the webhook body's ``data`` are the same document for every event."""
    _, headers = agent
    await raw.execute(
        "INSERT INTO webhook_endpoints (url, secret) VALUES ('https://hooks.example.com/x', 'whsec_dGVzdA==')"
    )
    ticket = await create_ticket(client, headers)
    await client.patch(f"/v1/tickets/{ticket['id']}", json={"priority": "high"}, headers=headers)
    await client.post(f"/v1/tickets/{ticket['id']}/comments", json={"body": "On it"}, headers=headers)
    await client.patch(f"/v1/tickets/{ticket['id']}", json={"status": "resolved"}, headers=headers)
    rows = await raw.fetch(
        "SELECT e.type, e.data::text AS data, m.body FROM events e "
        "JOIN webhook_messages m ON m.id = 'evt_' || e.id WHERE e.ticket_id = $1 ORDER BY e.id",
        ticket["id"],
    )
    types = [row["type"] for row in rows]
    assert {"ticket.created", "ticket.updated", "ticket.commented", "ticket.resolved"} <= set(types)
    for row in rows:
        assert msgspec.json.decode(row["data"]) == msgspec.json.decode(row["body"])["data"], row["type"]
