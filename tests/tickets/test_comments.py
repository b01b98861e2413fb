"""Comments and what they do to a ticket's status."""

from tests.tickets.helpers import create_ticket, events_of


async def _status(client, headers, ticket_id):
    return (await client.get(f"/v1/tickets/{ticket_id}", headers=headers)).json()


async def test_first_public_agent_reply_opens_and_is_recorded(client, agent):
    _, headers = agent
    t = await create_ticket(client, headers)
    r = await client.post(
        f"/v1/tickets/{t['id']}/comments", json={"body": "note", "public": False}, headers=headers
    )
    assert r.status_code == 201
    ticket = await _status(client, headers, t["id"])
    assert (ticket["status"], ticket["first_agent_reply_at"]) == ("new", None)
    r = await client.post(f"/v1/tickets/{t['id']}/comments", json={"body": "On it"}, headers=headers)
    assert r.status_code == 201
    comment = r.json()
    assert (comment["author_type"], comment["public"], comment["ticket_id"]) == ("agent", True, t["id"])
    ticket = await _status(client, headers, t["id"])
    assert ticket["status"] == "open"
    first = ticket["first_agent_reply_at"]
    assert first is not None
    await client.post(f"/v1/tickets/{t['id']}/comments", json={"body": "again"}, headers=headers)
    assert (await _status(client, headers, t["id"]))["first_agent_reply_at"] == first


async def test_customer_reply_reopens_resolved_and_fires_reopened(client, agent, customer_voice_headers):
    agent_id, headers = agent
    t = await create_ticket(client, headers, assignee_id=str(agent_id))
    await client.patch(f"/v1/tickets/{t['id']}", json={"status": "resolved"}, headers=headers)
    r = await client.post(
        f"/v1/tickets/{t['id']}/comments",
        json={"body": "still broken", "author_type": "customer"},
        headers=customer_voice_headers,
    )
    assert r.status_code == 201, r.text
    assert r.json()["author_id"] == t["requester"]["id"]
    assert (await _status(client, headers, t["id"]))["status"] == "open"
    events = await events_of(client, headers, t["id"])
    assert [e["type"] for e in events[-3:]] == [
        "ticket.commented",
        "ticket.status_changed",
        "ticket.reopened",
    ]
    assert events[-1]["actor"]["type"] == "customer"
    commented = events[-3]["data"]["comment"]
    assert (commented["body"], commented["author"]["type"], commented["public"]) == (
        "still broken",
        "customer",
        True,
    )
    assert events[-1]["actor"]["id"] == t["requester"]["id"]


async def test_customer_reply_on_pending_and_on_hold_reopens(client, agent, customer_voice_headers):
    agent_id, headers = agent
    for status in ("pending", "on_hold"):
        t = await create_ticket(client, headers, assignee_id=str(agent_id))
        await client.patch(f"/v1/tickets/{t['id']}", json={"status": status}, headers=headers)
        body = {"body": "hi", "author_type": "customer"}
        r = await client.post(f"/v1/tickets/{t['id']}/comments", json=body, headers=customer_voice_headers)
        assert r.status_code == 201, r.text
        ticket = await _status(client, headers, t["id"])
        assert ticket["status"] == "open", status
        assert "ticket.reopened" not in [e["type"] for e in await events_of(client, headers, t["id"])]


async def test_customer_reply_on_closed_creates_linked_follow_up(client, agent, customer_voice_headers):
    agent_id, headers = agent
    t = await create_ticket(client, headers, assignee_id=str(agent_id), tags=["vip"], priority="high")
    await client.patch(f"/v1/tickets/{t['id']}", json={"status": "resolved"}, headers=headers)
    await client.patch(f"/v1/tickets/{t['id']}", json={"status": "closed"}, headers=headers)
    r = await client.post(
        f"/v1/tickets/{t['id']}/comments",
        json={"body": "it's back", "author_type": "customer"},
        headers=customer_voice_headers,
    )
    assert r.status_code == 201, r.text
    follow_up_id = r.json()["ticket_id"]
    assert follow_up_id != t["id"]
    follow_up = await _status(client, headers, follow_up_id)
    assert follow_up["follow_up_of"] == t["id"]
    assert (follow_up["status"], follow_up["tags"], follow_up["priority"]) == ("new", ["vip"], "high")
    assert follow_up["requester"]["id"] == t["requester"]["id"]
    assert (await _status(client, headers, t["id"]))["status"] == "closed"
    r = await client.post(f"/v1/tickets/{t['id']}/comments", json={"body": "agent"}, headers=headers)
    assert r.status_code == 409
    assert r.json()["rule"] == "closed-is-terminal"


async def test_comment_authors(client, agent, admin_headers, customer_voice_headers):
    _, headers = agent
    t = await create_ticket(client, headers)
    url = f"/v1/tickets/{t['id']}/comments"
    r = await client.post(url, json={"body": "x"}, headers=admin_headers)  # integration key, no author
    assert r.status_code == 422
    r = await client.post(url, json={"body": "x"}, headers=headers)
    assert (r.status_code, r.json()["author_type"]) == (201, "agent")
    r = await client.post(url, json={"body": "x", "author_type": "customer"}, headers=customer_voice_headers)
    assert (r.status_code, r.json()["author_id"]) == (201, t["requester"]["id"])


async def _comments(client, headers, ticket_id):
    r = await client.get(f"/v1/tickets/{ticket_id}/comments", headers=headers)
    return r.json()["data"]


async def test_nobody_writes_as_someone_else(client, engine, agent, other_agent, admin_headers):
    """Issue 16: an agent key could post as any customer or as `system`. Agents write as themselves;
    only a key that speaks for customers writes as one, and only as the ticket's requester; `system`
    is the service's alone."""
    from tests.conftest import make_key

    agent_id, headers = agent
    other_id, _ = other_agent
    voice = {
        "Authorization": f"Bearer {await make_key(engine, 'agent', 'portal', speaks_for_customers=True)}"
    }
    t = await create_ticket(client, headers)
    someone = await client.post(
        "/v1/customers", json={"name": "Eve", "email": "eve@example.com"}, headers=headers
    )
    url = f"/v1/tickets/{t['id']}/comments"
    before = await _comments(client, headers, t["id"])
    refused = [
        (headers, {"author_type": "customer"}, 403),  # an agent's key does not speak for customers
        (headers, {"author_type": "customer", "author_id": someone.json()["id"]}, 403),
        (headers, {"author_type": "agent", "author_id": str(other_id)}, 403),  # agents write as themselves
        (admin_headers, {"author_type": "agent", "author_id": str(agent_id)}, 403),  # a key of no agent
        (admin_headers, {"author_type": "customer"}, 403),
        (voice, {"author_type": "customer", "author_id": someone.json()["id"]}, 422),  # not the requester
        (voice, {"author_type": "agent", "author_id": str(agent_id)}, 403),
        (headers, {"author_type": "system"}, 422),  # the service's alone: not even in the schema
        (admin_headers, {"author_type": "system"}, 422),
        (voice, {"author_type": "system"}, 422),
    ]
    for key, author, status in refused:
        r = await client.post(url, json={"body": "x", **author}, headers=key)
        assert r.status_code == status, (author, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        if status == 422:
            assert [e["path"] for e in r.json()["errors"]] in (["$.author_id"], ["$.author_type"]), r.text
    assert await _comments(client, headers, t["id"]) == before
    r = await client.post(
        url, json={"body": "me", "author_type": "agent", "author_id": str(agent_id)}, headers=headers
    )
    assert (r.status_code, r.json()["author_id"]) == (201, str(agent_id))
    r = await client.post(
        url, json={"body": "me", "author_id": t["requester"]["id"], "author_type": "customer"}, headers=voice
    )
    assert (r.status_code, r.json()["author_id"]) == (201, t["requester"]["id"])


async def test_customer_internal_note_is_invalid_input(client, agent, customer_voice_headers):
    """Issue 16: a customer-authored internal note answered 409 "Invalid status transition"; it is input
    no ticket could take: a 422 naming `public`."""
    _, headers = agent
    t = await create_ticket(client, headers)
    r = await client.post(
        f"/v1/tickets/{t['id']}/comments",
        json={"body": "x", "author_type": "customer", "public": False},
        headers=customer_voice_headers,
    )
    assert r.status_code == 422, r.text
    problem = r.json()
    assert (problem["type"], problem["title"]) == (
        "urn:helpdesk:problem:validation-error",
        "Validation failed",
    )
    assert [e["path"] for e in problem["errors"]] == ["$.public"]
    assert "rule" not in problem


async def test_agent_comment_from_a_key_without_agent_is_refused(client, agent, admin_headers):
    """`author_type: agent` from an integration key and no `author_id` was a 500: the comment was written
    with the key as its author, which the table refuses. Found by tests/test_contract_fuzz.py. Such a key
    writes as no agent at all (issue 16: agents write as themselves)."""
    _, headers = agent
    t = await create_ticket(client, headers)
    url = f"/v1/tickets/{t['id']}/comments"
    before = (await client.get(url, headers=headers)).json()["data"]
    r = await client.post(url, json={"body": "x", "author_type": "agent"}, headers=admin_headers)
    assert r.status_code == 403, r.text
    assert (await client.get(url, headers=headers)).json()["data"] == before


async def test_list_comments_pages_and_filters(client, agent):
    _, headers = agent
    t = await create_ticket(client, headers)
    for i in range(4):
        body = {"body": f"c{i}", "public": i % 2 == 0}
        await client.post(f"/v1/tickets/{t['id']}/comments", json=body, headers=headers)
    url = f"/v1/tickets/{t['id']}/comments"
    page = (await client.get(url, params={"limit": 3}, headers=headers)).json()
    assert [c["body"] for c in page["data"]] == ["It is on fire.", "c0", "c1"]
    rest = (await client.get(url, params={"limit": 3, "cursor": page["next_cursor"]}, headers=headers)).json()
    assert [c["body"] for c in rest["data"]] == ["c2", "c3"]
    assert rest["next_cursor"] is None
    notes = (await client.get(url, params={"public": "false"}, headers=headers)).json()
    assert [c["body"] for c in notes["data"]] == ["c1", "c3"]
    assert (await client.get("/v1/tickets/987654/comments", headers=headers)).status_code == 404
    r = await client.post("/v1/tickets/987654/comments", json={"body": "x"}, headers=headers)
    assert r.status_code == 404
