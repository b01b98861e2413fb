"""Bulk update: all or nothing, each ticket with its own events."""

from tests.tickets.helpers import create_ticket, events_of


async def test_bulk_update_changes_every_ticket_with_its_own_events(client, agent):
    agent_id, headers = agent
    ids = [(await create_ticket(client, headers, tags=["a"]))["id"] for _ in range(3)]
    body = {"ids": ids, "changes": {"priority": "high", "assignee_id": str(agent_id), "add_tags": ["b"]}}
    r = await client.post("/v1/tickets/bulk-update", json=body, headers=headers)
    assert r.status_code == 200, r.text
    tickets = r.json()["data"]
    assert [t["id"] for t in tickets] == ids
    for t in tickets:
        assert (t["priority"], t["status"], t["tags"]) == ("high", "open", ["a", "b"])
        types = [e["type"] for e in await events_of(client, headers, t["id"])]
        assert types == ["ticket.created", "ticket.updated", "ticket.assigned", "ticket.status_changed"]
    body = {"ids": ids, "changes": {"remove_tags": ["a"]}}
    tickets = (await client.post("/v1/tickets/bulk-update", json=body, headers=headers)).json()["data"]
    assert [t["tags"] for t in tickets] == [["b"]] * 3


async def test_bulk_update_is_all_or_nothing(client, agent):
    agent_id, headers = agent
    fresh = (await create_ticket(client, headers))["id"]
    opened = (await create_ticket(client, headers, assignee_id=str(agent_id)))["id"]
    # "new" is legal for the fresh ticket but not for the open one: nothing may change.
    body = {"ids": [fresh, opened], "changes": {"status": "new", "priority": "urgent"}}
    r = await client.post("/v1/tickets/bulk-update", json=body, headers=headers)
    assert r.status_code == 409
    assert r.json()["rule"] == "never-back-to-new"
    assert str(opened) in r.json()["detail"]
    for ticket_id in (fresh, opened):
        assert (await client.get(f"/v1/tickets/{ticket_id}", headers=headers)).json()["priority"] == "normal"
        assert len(await events_of(client, headers, ticket_id)) == 1
    r = await client.post(
        "/v1/tickets/bulk-update",
        json={"ids": [fresh, 99999], "changes": {"priority": "low"}},
        headers=headers,
    )
    assert r.status_code == 404
    assert (await client.get(f"/v1/tickets/{fresh}", headers=headers)).json()["priority"] == "normal"


async def test_bulk_update_checks_versions(client, agent):
    _, headers = agent
    a = (await create_ticket(client, headers))["id"]
    b = (await create_ticket(client, headers))["id"]
    await client.patch(f"/v1/tickets/{b}", json={"priority": "low"}, headers=headers)  # b is now version 2
    body = {"ids": [a, b], "changes": {"priority": "high"}, "versions": {str(a): 1, str(b): 1}}
    r = await client.post("/v1/tickets/bulk-update", json=body, headers=headers)
    assert r.status_code == 412
    assert str(b) in r.json()["detail"]
    assert (await client.get(f"/v1/tickets/{a}", headers=headers)).json()["priority"] == "normal"
    body["versions"] = {str(a): 1, str(b): 2}
    r = await client.post("/v1/tickets/bulk-update", json=body, headers=headers)
    assert r.status_code == 200
    assert [t["version"] for t in r.json()["data"]] == [2, 3]


async def test_bulk_update_limits(client, agent):
    _, headers = agent
    r = await client.post(
        "/v1/tickets/bulk-update",
        json={"ids": list(range(1, 102)), "changes": {"priority": "low"}},
        headers=headers,
    )
    assert r.status_code == 422
    r = await client.post("/v1/tickets/bulk-update", json={"ids": [1], "changes": {}}, headers=headers)
    assert r.status_code == 422
