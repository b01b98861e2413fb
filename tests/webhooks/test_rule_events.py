"""The rule events (``ticket.escalated``, ``rule.triggered``, ``ticket.follow_up_due``) are in the catalog:
recorded with a change, they appear in the feed and as webhooks with their typed payload."""

from __future__ import annotations

import json
import uuid

from api.context import SYSTEM
from api.events.service import NewEvent, record_events
from tests.tickets.helpers import create_ticket
from tests.webhooks.helpers import create_endpoint, scalar

RULE = {"id": str(uuid.uuid4()), "name": "Escalate urgent tickets", "version": 3}


async def test_rule_events_are_published_with_their_payloads(wh_client, admin_headers, agent, engine):
    agent_id, headers = agent
    await create_endpoint(
        wh_client,
        admin_headers,
        url="https://hooks.example.com/rules",
        event_types=["ticket.escalated", "rule.triggered", "ticket.follow_up_due"],
    )
    ticket = await create_ticket(wh_client, headers, assignee_id=str(agent_id))
    r = await wh_client.patch(f"/v1/tickets/{ticket['id']}", json={"status": "resolved"}, headers=headers)
    resolved = r.json()
    agent_person = resolved["assignee"]
    datas = {
        "ticket.escalated": {"rule": RULE, "level": 2, "reason": "unanswered"},
        "rule.triggered": {"rule": RULE, "label": "send-survey"},
        "ticket.follow_up_due": {
            "rule": RULE,
            "resolved_by": agent_person,
            "resolved_at": resolved["resolved_at"],
        },
    }
    async with engine.begin() as conn:
        # The ticket as events carry it (``store.summary``): the REST document, plus ``group_id``.
        full = {**resolved, "group_id": None}
        events = [
            NewEvent(type=name, ticket_id=ticket["id"], ctx=SYSTEM, data={**data, "ticket": full})
            for name, data in datas.items()
        ]
        await record_events(conn, events)

    r = await wh_client.get("/v1/events", params={"types": list(datas)}, headers=headers)
    assert r.status_code == 200, r.text
    feed = {e["type"]: e["data"] for e in r.json()["data"]}
    assert set(feed) == set(datas)
    assert feed["ticket.escalated"]["level"] == 2
    assert feed["ticket.escalated"]["rule"] == RULE
    assert feed["rule.triggered"]["label"] == "send-survey"
    follow_up = feed["ticket.follow_up_due"]
    assert follow_up["resolved_by"] == agent_person
    assert follow_up["ticket"]["requester"] == resolved["requester"]
    assert follow_up["ticket"]["subject"] == resolved["subject"]

    for name in datas:
        body = await scalar(engine, "SELECT body FROM webhook_messages WHERE type = :t", t=name)
        assert json.loads(body)["data"] == feed[name]
