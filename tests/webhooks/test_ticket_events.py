"""Ticket changes made through the API reach webhook consumers: signed, in order of the changes, and
only when the change committed."""

from __future__ import annotations

import json

from sqlalchemy import text
from standardwebhooks import Webhook

from tests.tickets.helpers import create_ticket
from tests.webhooks.helpers import create_endpoint, scalar
from tests.webhooks.receiver import Receiver


async def test_resolving_a_ticket_sends_a_verifiable_thank_you_payload(
    wh_client, admin_headers, agent, engine, worker
):
    agent_id, headers = agent
    async with Receiver() as receiver:
        endpoint = await create_endpoint(
            wh_client, admin_headers, url=receiver.url, event_types=["ticket.resolved"]
        )
        ticket = await create_ticket(
            wh_client, headers, requester_name="Ada", requester_email="ada@example.com"
        )
        resolved = await wh_client.patch(
            f"/v1/tickets/{ticket['id']}", json={"status": "resolved"}, headers=headers
        )
        assert resolved.status_code == 200, resolved.text

        (request,) = await receiver.wait_for(1)
        payload = Webhook(endpoint["secret"]).verify(request.body, request.headers)
        assert payload["type"] == "ticket.resolved"
        data = payload["data"]
        assert data["ticket"]["id"] == ticket["id"]
        assert data["ticket"]["subject"] == "Printer on fire"
        assert data["ticket"]["status"] == "resolved"
        assert data["ticket"]["requester"] == {
            "id": ticket["requester"]["id"],
            "name": "Ada",
            "email": "ada@example.com",
        }
        assert data["resolved_by"]["id"] == str(agent_id)
        assert data["ticket"]["assignee"]["id"] == str(agent_id)
        assert data["previous_status"] == "new"
        assert data["time_to_resolution_seconds"] >= 0
        assert data["resolved_at"] == resolved.json()["resolved_at"].replace("+00:00", "Z")

        # The webhook id names the event in the change feed, so consumers can reconcile the two.
        events = (await wh_client.get(f"/v1/tickets/{ticket['id']}/events", headers=headers)).json()["data"]
        resolved_event = next(e for e in events if e["type"] == "ticket.resolved")
        assert request.headers["webhook-id"] == f"evt_{resolved_event['id']}"


async def test_every_ticket_event_type_is_published(
    wh_client, admin_headers, agent, other_agent, engine, customer_voice_headers
):
    _, headers = agent
    other_id, _ = other_agent
    await create_endpoint(wh_client, admin_headers, url="https://hooks.example.com/all")
    ticket = await create_ticket(wh_client, headers)
    tid = ticket["id"]
    for change in (
        {"priority": "high"},
        {"assignee_id": str(other_id)},
        {"status": "pending"},
        {"status": "resolved"},
    ):
        assert (await wh_client.patch(f"/v1/tickets/{tid}", json=change, headers=headers)).status_code == 200
    comment = {"body": "Any news?", "public": True, "author_type": "customer"}
    assert (
        await wh_client.post(f"/v1/tickets/{tid}/comments", json=comment, headers=customer_voice_headers)
    ).status_code == 201
    assert (
        await wh_client.patch(f"/v1/tickets/{tid}", json={"status": "closed"}, headers=headers)
    ).status_code in (200, 409)

    async with engine.connect() as conn:
        published = set((await conn.execute(text("SELECT type FROM webhook_messages"))).scalars())
    assert {
        "ticket.created",
        "ticket.updated",
        "ticket.assigned",
        "ticket.status_changed",
        "ticket.resolved",
        "ticket.commented",
        "ticket.reopened",
    } <= published
    assert await scalar(engine, "SELECT count(*) FROM webhook_deliveries") == await scalar(
        engine, "SELECT count(*) FROM webhook_messages"
    )
    # Several events recorded by one change are paired with their own bodies, in order.
    async with engine.connect() as conn:
        pairs = (
            await conn.execute(
                text(
                    "SELECT m.type AS message_type, e.type AS event_type, m.body, e.ticket_id "
                    "FROM webhook_messages m JOIN events e ON m.id = 'evt_' || e.id"
                )
            )
        ).all()
    assert len(pairs) == await scalar(engine, "SELECT count(*) FROM webhook_messages")
    for pair in pairs:
        assert pair.message_type == pair.event_type
        body = json.loads(pair.body)
        assert body["type"] == pair.event_type
        assert body["data"]["ticket"]["id"] == pair.ticket_id


async def test_a_refused_change_publishes_nothing(wh_client, admin_headers, agent, engine):
    _, headers = agent
    await create_endpoint(wh_client, admin_headers, url="https://hooks.example.com/all")
    ticket = await create_ticket(wh_client, headers)
    opened = await wh_client.patch(f"/v1/tickets/{ticket['id']}", json={"status": "open"}, headers=headers)
    assert opened.status_code == 200
    before = await scalar(engine, "SELECT count(*) FROM webhook_messages")
    assert before > 0
    refused = await wh_client.patch(f"/v1/tickets/{ticket['id']}", json={"status": "new"}, headers=headers)
    assert refused.status_code == 409
    assert await scalar(engine, "SELECT count(*) FROM webhook_messages") == before


def test_ticket_event_types_agree_across_feed_bridge_and_catalog():
    """Three lists name the ticket event types (SLA moments and rule firings are ticket events); a type
    missing from one would silently send no webhook."""
    from typing import get_args

    from api.events.schemas import EventType
    from api.events.webhooks import _DATA
    from api.webhooks.catalog import CATALOG

    catalog = {name for name in CATALOG if name.startswith(("ticket.", "sla.", "rule."))}
    assert set(get_args(EventType)) == set(_DATA) == catalog
