"""Tickets through the HTTP API: create, get, update, lifecycle and history."""

import uuid

from tests.tickets.helpers import create_ticket, events_of


async def test_create_with_new_email_creates_the_customer_once(client, agent):
    _, headers = agent
    first = await create_ticket(
        client, headers, requester_email="New.Person@Example.com", requester_name="New"
    )
    second = await create_ticket(client, headers, requester_email="new.person@example.com")
    assert first["requester"]["id"] == second["requester"]["id"]
    assert first["requester"] == {
        "id": first["requester"]["id"],
        "name": "New",
        "email": "New.Person@Example.com",
    }
    r = await client.get("/v1/customers", params={"email": "NEW.person@example.com"}, headers=headers)
    assert len(r.json()["data"]) == 1


async def test_create_by_requester_id_with_everything(client, agent, admin_headers):
    agent_id, headers = agent
    customer = (
        await client.post("/v1/customers", json={"name": "Ada", "email": "ada@example.com"}, headers=headers)
    ).json()
    group = (await client.post("/v1/groups", json={"name": "Billing"}, headers=admin_headers)).json()
    t = await create_ticket(
        client,
        headers,
        requester_email=None,
        requester_id=customer["id"],
        priority="urgent",
        group_id=group["id"],
        assignee_id=str(agent_id),
        tags=["vip", "vip", "billing"],
        channel="email",
        external_ref="ZD-1",
    )
    assert t["status"] == "open"  # created with an assignee
    assert t["priority"] == "urgent"
    assert t["group"] == {"id": group["id"], "name": "Billing"}
    assert t["assignee"]["id"] == str(agent_id)
    assert t["tags"] == ["vip", "billing"]
    assert (t["channel"], t["external_ref"], t["version"]) == ("email", "ZD-1", 1)
    for field in ("created_at", "updated_at", "first_agent_reply_at", "resolved_at", "closed_at"):
        assert field in t
    comments = (await client.get(f"/v1/tickets/{t['id']}/comments", headers=headers)).json()["data"]
    assert [(c["author_type"], c["author_id"], c["body"]) for c in comments] == [
        ("customer", customer["id"], "It is on fire.")
    ]
    created = (await events_of(client, headers, t["id"]))[0]
    assert created["type"] == "ticket.created"
    assert created["actor"]["type"] == "agent"
    assert created["actor"]["id"] == str(agent_id)
    assert created["request_id"]


async def test_create_refuses_bad_references(client, agent, engine):
    _, headers = agent
    base = {"subject": "s", "message": "m"}
    cases = [
        ({}, "$.requester_id"),
        ({"requester_id": str(uuid.uuid4()), "requester_email": "a@b.c"}, "$.requester_id"),
        ({"requester_id": str(uuid.uuid4())}, "$.requester_id"),
        ({"requester_email": "a@b.c", "assignee_id": str(uuid.uuid4())}, "$.assignee_id"),
        ({"requester_email": "a@b.c", "group_id": str(uuid.uuid4())}, "$.group_id"),
        ({"requester_email": "a@b.c", "priority": "asap"}, "$.priority"),
        ({"requester_email": "a@b.c", "unknown": 1}, "$"),  # msgspec reports unknown fields at the object
    ]
    for extra, path in cases:
        r = await client.post("/v1/tickets", json={**base, **extra}, headers=headers)
        assert r.status_code == 422, (extra, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert path in [e["path"] for e in r.json()["errors"]], (extra, r.json())


async def test_create_refuses_deactivated_assignee(client, agent, other_agent, admin_headers):
    _, headers = agent
    other_id, _ = other_agent
    r = await client.patch(f"/v1/agents/{other_id}", json={"active": False}, headers=admin_headers)
    assert r.status_code == 200
    r = await client.post(
        "/v1/tickets",
        json={"subject": "s", "message": "m", "requester_email": "a@b.c", "assignee_id": str(other_id)},
        headers=headers,
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["path"] == "$.assignee_id"


async def test_get_unknown_ticket_is_404(client, agent):
    r = await client.get("/v1/tickets/999999", headers=agent[1])
    assert r.status_code == 404
    assert r.json()["type"] == "urn:helpdesk:problem:not-found"


async def test_patch_changes_only_sent_fields_and_records_changes(client, agent):
    _, headers = agent
    t = await create_ticket(client, headers, priority="low", tags=["x"])
    r = await client.patch(f"/v1/tickets/{t['id']}", json={"priority": "high"}, headers=headers)
    assert r.status_code == 200
    after = r.json()
    assert after["priority"] == "high"
    assert (after["subject"], after["tags"], after["version"]) == (t["subject"], ["x"], 2)
    assert r.headers["etag"] == '"2"'
    updated = (await events_of(client, headers, t["id"]))[-1]
    assert updated["type"] == "ticket.updated"
    assert updated["changes"] == [{"field": "priority", "previous": "low", "current": "high"}]


async def test_patch_without_changes_writes_nothing(client, agent):
    _, headers = agent
    t = await create_ticket(client, headers, priority="low")
    r = await client.patch(f"/v1/tickets/{t['id']}", json={"priority": "low"}, headers=headers)
    assert r.json()["version"] == 1
    assert len(await events_of(client, headers, t["id"])) == 1


async def test_illegal_transition_is_409_naming_the_rule(client, agent):
    agent_id, headers = agent
    t = await create_ticket(client, headers, assignee_id=str(agent_id))
    r = await client.patch(f"/v1/tickets/{t['id']}", json={"status": "new"}, headers=headers)
    assert r.status_code == 409
    body = r.json()
    assert body["type"] == "urn:helpdesk:problem:invalid-transition"
    assert body["rule"] == "never-back-to-new"
    r = await client.patch(f"/v1/tickets/{t['id']}", json={"status": "closed"}, headers=headers)
    assert r.json()["rule"] == "close-requires-resolved"


async def test_resolving_assigns_the_resolving_agent_and_carries_webhook_data(client, agent):
    agent_id, headers = agent
    t = await create_ticket(client, headers, requester_name="Ada", requester_email="ada@example.com")
    r = await client.patch(f"/v1/tickets/{t['id']}", json={"status": "resolved"}, headers=headers)
    assert r.status_code == 200, r.text
    resolved = r.json()
    assert resolved["assignee"]["id"] == str(agent_id)
    assert resolved["resolved_at"] is not None
    events = await events_of(client, headers, t["id"])
    types = [e["type"] for e in events]
    assert types[-3:] == ["ticket.assigned", "ticket.status_changed", "ticket.resolved"]
    data = events[-1]["data"]
    assert data["ticket"]["subject"] == "Printer on fire"
    assert data["ticket"]["requester"]["name"] == "Ada"
    assert data["ticket"]["requester"]["email"] == "ada@example.com"
    assert data["resolved_by"]["id"] == str(agent_id)
    assert data["previous_status"] == "new"
    assert data["resolved_at"]
    assert data["time_to_resolution_seconds"] >= 0


async def test_integration_key_cannot_resolve_unassigned(client, admin_headers):
    t = await create_ticket(client, admin_headers)
    r = await client.patch(f"/v1/tickets/{t['id']}", json={"status": "resolved"}, headers=admin_headers)
    assert r.status_code == 409
    assert r.json()["rule"] == "resolve-requires-assignee"


async def test_closed_ticket_only_changes_tags(client, agent, engine):
    agent_id, headers = agent
    t = await create_ticket(client, headers, assignee_id=str(agent_id))
    await client.patch(f"/v1/tickets/{t['id']}", json={"status": "resolved"}, headers=headers)
    r = await client.patch(f"/v1/tickets/{t['id']}", json={"status": "closed"}, headers=headers)
    assert r.status_code == 200
    assert r.json()["closed_at"] is not None
    r = await client.patch(f"/v1/tickets/{t['id']}", json={"tags": ["done"]}, headers=headers)
    assert r.status_code == 200
    assert r.json()["tags"] == ["done"]
    for change in ({"priority": "high"}, {"status": "open"}, {"assignee_id": None}, {"subject": "x"}):
        r = await client.patch(f"/v1/tickets/{t['id']}", json=change, headers=headers)
        assert r.status_code == 409, change
        assert r.json()["rule"] == "closed-is-terminal"


async def test_reopen_by_patch_fires_reopened(client, agent):
    agent_id, headers = agent
    t = await create_ticket(client, headers, assignee_id=str(agent_id))
    await client.patch(f"/v1/tickets/{t['id']}", json={"status": "resolved"}, headers=headers)
    r = await client.patch(f"/v1/tickets/{t['id']}", json={"status": "pending"}, headers=headers)
    assert r.status_code == 200
    assert r.json()["resolved_at"] is None
    assert (await events_of(client, headers, t["id"]))[-1]["type"] == "ticket.reopened"


async def test_subject_change_is_searchable(client, agent):
    _, headers = agent
    t = await create_ticket(client, headers)
    await client.post(f"/v1/tickets/{t['id']}/comments", json={"body": "kangaroo sighting"}, headers=headers)
    await client.patch(f"/v1/tickets/{t['id']}", json={"subject": "Wombat problem"}, headers=headers)
    for q in ("wombat", "kangaroo"):
        r = await client.get("/v1/tickets", params={"q": q}, headers=headers)
        assert [x["id"] for x in r.json()["data"]] == [t["id"]], q
    r = await client.get("/v1/tickets", params={"q": "printer"}, headers=headers)
    assert r.json()["data"] == []


async def test_ticket_events_of_unknown_ticket_is_404(client, agent):
    r = await client.get("/v1/tickets/424242/events", headers=agent[1])
    assert r.status_code == 404
