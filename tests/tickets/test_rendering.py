"""Tickets rendered by PostgreSQL (reads) and by msgspec (writes) must be the same JSON, byte for byte."""

import asyncpg
import msgspec
import pytest

from api.db import asyncpg_dsn
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
        requester_name="Zoë \"Z\" O'Neil",
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
    _, headers = agent
    created = await create_ticket(client, headers, subject=SUBJECTS[3], tags=["x"])
    got = await client.get(f"/v1/tickets/{created['id']}", headers=headers)
    listed = await client.get("/v1/tickets", headers=headers)
    expected, _, _ = await _both(raw, created["id"])
    assert got.content == expected
    assert got.headers["content-type"] == "application/json"
    assert got.headers["etag"] == f'"{created["version"]}"'
    assert listed.json()["data"] == [msgspec.json.decode(expected)]
    assert created == got.json()
