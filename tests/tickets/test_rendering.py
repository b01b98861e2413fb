"""Ticket creation renders its event and webhook in SQL; they must be what the Python renderers make."""

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
