"""Every create answers 201 with a `Location` a client can GET (issue 16: SLA policies, business calendars
and comments had none)."""

from __future__ import annotations

from tests.tickets.helpers import create_ticket


async def _follow(client, headers, response):
    assert response.status_code == 201, response.text
    location = response.headers.get("location")
    assert location, f"{response.request.url} has no Location"
    got = await client.get(location, headers=headers)
    assert got.status_code == 200, (location, got.text)
    assert got.json()["id"] == response.json()["id"]
    return location


async def test_every_create_has_a_location(client, admin_headers, agent, customer_voice_headers):
    agent_id, headers = agent
    posts = [
        ("/v1/customers", {"name": "Ada", "email": "ada@example.com"}),
        ("/v1/agents", {"name": "Grace", "email": "grace@example.com"}),
        ("/v1/groups", {"name": "Billing"}),
        ("/v1/api-keys", {"name": "CRM", "role": "agent"}),
        ("/v1/webhooks/endpoints", {"url": "https://hooks.example.com/helpdesk"}),
        ("/v1/business-calendars", {"name": "24/7", "time_zone": "UTC", "always_open": True}),
        ("/v1/sla-policies", {"name": "All", "targets": {"normal": {"first_response": {"minutes": 60}}}}),
    ]
    for path, body in posts:
        location = await _follow(
            client, admin_headers, await client.post(path, json=body, headers=admin_headers)
        )
        assert location.startswith(path + "/")
    ticket = await create_ticket(client, headers, assignee_id=str(agent_id))
    r = await client.post(f"/v1/tickets/{ticket['id']}/comments", json={"body": "On it"}, headers=headers)
    assert await _follow(client, headers, r) == f"/v1/tickets/{ticket['id']}/comments/{r.json()['id']}"
    # A customer writing on a closed ticket starts a follow-up ticket: the comment lives there.
    for status in ("resolved", "closed"):
        await client.patch(f"/v1/tickets/{ticket['id']}", json={"status": status}, headers=headers)
    r = await client.post(
        f"/v1/tickets/{ticket['id']}/comments",
        json={"body": "It is back", "author_type": "customer"},
        headers=customer_voice_headers,
    )
    follow_up = r.json()["ticket_id"]
    assert follow_up != ticket["id"]
    assert await _follow(client, headers, r) == f"/v1/tickets/{follow_up}/comments/{r.json()['id']}"
    missing = await client.get(f"/v1/tickets/{ticket['id']}/comments/{r.json()['id']}", headers=headers)
    assert missing.status_code == 404  # the follow-up's comment is not the closed ticket's
