from tests.tickets.helpers import create_ticket, events_of


async def test_create_get_patch_comment(client, agent):
    agent_id, headers = agent
    t = await create_ticket(client, headers, tags=["a", "b"])
    assert t["status"] == "new"
    r = await client.get(f"/v1/tickets/{t['id']}", headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["etag"] == '"1"'
    r = await client.patch(f"/v1/tickets/{t['id']}", json={"assignee_id": str(agent_id)}, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "open"
    r = await client.post(f"/v1/tickets/{t['id']}/comments", json={"body": "hello"}, headers=headers)
    assert r.status_code == 201, r.text
    r = await client.get("/v1/tickets", params={"q": "fire"}, headers=headers)
    assert r.status_code == 200, r.text
    assert len(r.json()["data"]) == 1
    evs = await events_of(client, headers, t["id"])
    assert [e["type"] for e in evs] == [
        "ticket.created",
        "ticket.assigned",
        "ticket.status_changed",
        "ticket.commented",
    ]
    r = await client.get("/v1/events", headers=headers)
    assert r.status_code == 200, r.text
    assert len(r.json()["data"]) == 4
