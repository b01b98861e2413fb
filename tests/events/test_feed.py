"""The change feed never skips an event, even when transactions commit out of sequence order."""

from api.context import SYSTEM
from api.events.service import NewEvent, record_events
from tests.tickets.helpers import create_ticket


async def _read_all(client, headers, cursor):
    params = {"limit": 200}
    if cursor:
        params["after"] = cursor
    r = await client.get("/v1/events", params=params, headers=headers)
    assert r.status_code == 200, r.text
    body = r.json()
    return [e["id"] for e in body["data"]], body["next_cursor"]


async def test_out_of_order_commits_are_not_skipped(client, agent, engine):
    _, headers = agent
    await create_ticket(client, headers)
    seen, cursor = await _read_all(client, headers, None)
    assert len(seen) == 1

    async with engine.connect() as first, engine.connect() as second:
        await first.begin()
        await second.begin()
        [early] = await record_events(first, [NewEvent(type="ticket.updated", ticket_id=None, ctx=SYSTEM)])
        [late] = await record_events(second, [NewEvent(type="ticket.updated", ticket_id=None, ctx=SYSTEM)])
        assert early.id < late.id
        await second.commit()  # the later sequence number commits first

        ids, cursor = await _read_all(client, headers, cursor)
        # A reader at this moment must not move past the still-uncommitted earlier event.
        assert late.id not in ids
        assert ids == []

        await first.commit()

    ids, cursor = await _read_all(client, headers, cursor)
    assert sorted(ids) == [early.id, late.id]
    seen += ids
    ids, _ = await _read_all(client, headers, cursor)
    assert ids == []  # each event exactly once
    assert len(seen) == len(set(seen)) == 3


async def test_rolled_back_events_never_appear(client, agent, engine):
    _, headers = agent
    async with engine.connect() as conn:
        await conn.begin()
        await record_events(conn, [NewEvent(type="ticket.updated", ticket_id=None, ctx=SYSTEM)])
        await conn.rollback()
    ids, _ = await _read_all(client, headers, None)
    assert ids == []


async def test_feed_pages_and_filters_by_type(client, agent):
    agent_id, headers = agent
    for _ in range(3):
        t = await create_ticket(client, headers)
        await client.patch(f"/v1/tickets/{t['id']}", json={"assignee_id": str(agent_id)}, headers=headers)
    r = await client.get("/v1/events", params={"types": ["ticket.created"], "limit": 2}, headers=headers)
    page = r.json()
    assert [e["type"] for e in page["data"]] == ["ticket.created"] * 2
    r = await client.get(
        "/v1/events", params={"types": ["ticket.created"], "after": page["next_cursor"]}, headers=headers
    )
    assert [e["type"] for e in r.json()["data"]] == ["ticket.created"]
    every = (await client.get("/v1/events", params={"limit": 200}, headers=headers)).json()["data"]
    assert len(every) == 9  # created, assigned, status_changed per ticket
    assert [e["id"] for e in every] == sorted(e["id"] for e in every)
    r = await client.get("/v1/events", params={"types": ["nope"]}, headers=headers)
    assert r.status_code == 422
    r = await client.get("/v1/events", params={"after": "garbage!"}, headers=headers)
    assert r.status_code == 422


async def test_event_records_request_id_and_actor(client, agent, admin_headers):
    _, headers = agent
    r = await client.post(
        "/v1/tickets",
        json={"subject": "s", "message": "m", "requester_email": "a@b.c"},
        headers={**admin_headers, "X-Request-Id": "req-123"},
    )
    event = (await client.get("/v1/events", headers=headers)).json()["data"][0]
    assert event["ticket_id"] == r.json()["id"]
    assert event["request_id"] == "req-123"
    assert event["actor"]["type"] == "integration"
    assert event["actor"]["api_key_id"]
