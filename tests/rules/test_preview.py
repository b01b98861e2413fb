"""Dry runs and explanations: which tickets a rule matches now and what it would do, changing nothing;
and, for one ticket, each condition's value and verdict."""

from __future__ import annotations

import uuid
from typing import Any

from api.rules import preview
from tests.conftest import make_agent_key
from tests.rules.helpers import create_calendar, create_rule
from tests.tickets.helpers import create_ticket


def leaf(field: str, operator: str, value: object = None) -> dict[str, object]:
    return {"field": field, "operator": operator, "value": value}


URGENT = {"all": [leaf("priority", "is", "urgent")], "any": []}


async def _tickets(client: Any, headers: dict[str, str], agent_id: uuid.UUID) -> dict[str, dict[str, Any]]:
    found = {
        "unassigned": await create_ticket(
            client, headers, subject="Card declined", priority="urgent", tags=["vip"]
        ),
        "assigned": await create_ticket(
            client, headers, subject="Refund", priority="urgent", assignee_id=str(agent_id)
        ),
        "normal": await create_ticket(client, headers, subject="Question", priority="normal"),
        "closed": await create_ticket(
            client, headers, subject="Old", priority="urgent", assignee_id=str(agent_id)
        ),
    }
    tid = found["closed"]["id"]
    for status in ("resolved", "closed"):
        r = await client.patch(f"/v1/tickets/{tid}", json={"status": status}, headers=headers)
        assert r.status_code == 200, r.text
    return found


async def test_dry_run_counts_and_shows_what_the_actions_would_do(client, admin_headers, agent):
    agent_id, headers = agent
    tickets = await _tickets(client, headers, agent_id)
    versions = {
        name: (await client.get(f"/v1/tickets/{t['id']}", headers=headers)).json()["version"]
        for name, t in tickets.items()
    }
    draft = {
        "trigger": "on_time",
        "conditions": {
            "all": [*URGENT["all"], leaf("since_created", "less_than", {"minutes": 60})],
            "any": [],
        },
        "actions": [
            {"type": "set_status", "status": "resolved"},
            {"type": "add_tags", "tags": ["escalated"]},
            {
                "type": "add_internal_note",
                "template": "{{requester.email}} waits on {{ticket.subject}} ({{assignee.name}})",
            },
            {"type": "emit_ticket_escalated", "level": 2, "reason": "urgent"},
        ],
    }
    r = await client.post("/v1/rules/dry-run", json=draft, headers=headers)
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["matched"] == 2  # the closed urgent ticket is left out
    assert result["unevaluated"] == []
    unassigned, assigned = result["tickets"]
    assert [unassigned["ticket"]["id"], assigned["ticket"]["id"]] == [
        tickets["unassigned"]["id"],
        tickets["assigned"]["id"],
    ]
    # Resolving needs an assignee: refused and reported, the rest still applies.
    assert unassigned["refused"] == [
        {
            "path": "$.actions[0]",
            "rule": "resolve-requires-assignee",
            "detail": unassigned["refused"][0]["detail"],
        }
    ]
    assert unassigned["changes"] == [{"field": "tags", "previous": ["vip"], "current": ["vip", "escalated"]}]
    assert unassigned["comments"] == [{"public": False, "body": "ada@example.com waits on Card declined ()"}]
    assert unassigned["events"] == [{"type": "ticket.escalated", "data": {"level": 2, "reason": "urgent"}}]
    assert {c["field"]: c["current"] for c in assigned["changes"]} == {
        "status": "resolved",
        "tags": ["escalated"],
    }
    assert assigned["refused"] == []
    assert assigned["comments"][0]["body"] == "ada@example.com waits on Refund (Agent Smith)"

    r = await client.post("/v1/rules/dry-run", params={"limit": 1}, json=draft, headers=headers)
    assert (r.json()["matched"], len(r.json()["tickets"])) == (2, 1)
    # Nothing changed.
    for name, ticket in tickets.items():
        assert (await client.get(f"/v1/tickets/{ticket['id']}", headers=headers)).json()[
            "version"
        ] == versions[name]

    # The same rule, saved (inactive), previews the same.
    rule = await create_rule(client, admin_headers, active=False, **draft)
    r = await client.post(f"/v1/rules/{rule['id']}/dry-run", headers=headers)
    assert r.status_code == 200
    assert {k: v for k, v in r.json().items() if k != "evaluated_at"} == {
        k: v for k, v in result.items() if k != "evaluated_at"
    }
    assert (await client.post(f"/v1/rules/{uuid.uuid4()}/dry-run", headers=headers)).status_code == 404


async def test_group_assignment_previews_hand_tickets_out(client, admin_headers, engine, agent):
    _, headers = agent
    busy_id, _ = await make_agent_key(engine, name="Busy Bee")
    idle_id, _ = await make_agent_key(engine, name="Idle Ida")
    r = await client.post(
        "/v1/groups",
        json={"name": "Escalations", "member_ids": [str(busy_id), str(idle_id)]},
        headers=admin_headers,
    )
    assert r.status_code == 201, r.text
    group = r.json()["id"]
    await create_ticket(client, headers, subject="Busy's own", assignee_id=str(busy_id))
    for subject in ("one", "two", "three"):
        await create_ticket(client, headers, subject=subject, priority="urgent")

    def draft(strategy: str) -> dict[str, Any]:
        action = {"type": "assign_group", "group_id": group, "strategy": strategy}
        return {"trigger": "on_change", "conditions": URGENT, "actions": [action]}

    def assignees(result: dict[str, Any]) -> list[str]:
        return [{c["field"]: c["current"] for c in t["changes"]}["assignee_id"] for t in result["tickets"]]

    r = await client.post("/v1/rules/dry-run", json=draft("least_open"), headers=headers)
    assert r.status_code == 200, r.text
    # Ida has none open, Busy one: Ida, then (one each, by name) Busy, then Ida.
    assert assignees(r.json()) == [str(idle_id), str(busy_id), str(idle_id)]
    assert {c["field"] for c in r.json()["tickets"][0]["changes"]} == {"assignee_id", "group_id", "status"}
    r = await client.post("/v1/rules/dry-run", json=draft("round_robin"), headers=headers)
    assert assignees(r.json()) == [str(busy_id), str(idle_id), str(busy_id)]


async def test_business_time_dry_runs_and_change_conditions(client, admin_headers, agent):
    agent_id, headers = agent
    await _tickets(client, headers, agent_id)
    calendar = await create_calendar(client, admin_headers)
    business = {"minutes": 600_000, "time": "business", "calendar_id": calendar}
    for operator, matched in (("at_least", 0), ("less_than", 3)):
        draft = {"trigger": "on_time", "conditions": {"all": [leaf("since_created", operator, business)]}}
        r = await client.post("/v1/rules/dry-run", json=draft, headers=headers)
        assert r.status_code == 200, r.text
        assert r.json()["matched"] == matched
    # Change conditions are decided only by a change: a preview counts them as holding, and says so.
    draft = {
        "trigger": "on_change",
        "conditions": {"all": [leaf("status", "changed_to", "open"), *URGENT["all"]]},
    }
    r = await client.post("/v1/rules/dry-run", json=draft, headers=headers)
    assert (r.json()["matched"], r.json()["unevaluated"]) == (2, ["$.conditions.all[0]"])
    # Refusals are the save's.
    draft = {"trigger": "on_change", "conditions": {"all": [leaf("since_created", "at_least", business)]}}
    r = await client.post("/v1/rules/dry-run", json=draft, headers=headers)
    assert r.status_code == 422
    assert r.json()["errors"][0]["path"] == "$.conditions.all[0].field"


async def test_explain_says_why_per_condition(client, admin_headers, agent):
    agent_id, headers = agent
    tickets = await _tickets(client, headers, agent_id)
    conditions = {
        "all": [leaf("priority", "is", "urgent"), leaf("since_created", "at_least", {"minutes": 60})],
        "any": [{"all": [leaf("tags", "includes", "vip")], "any": []}, leaf("assignee_id", "is_not", None)],
    }
    rule = await create_rule(client, admin_headers, trigger="on_time", conditions=conditions)
    tid = tickets["unassigned"]["id"]
    r = await client.get(f"/v1/rules/{rule['id']}/explain", params={"ticket_id": tid}, headers=headers)
    assert r.status_code == 200, r.text
    found = r.json()
    assert (found["rule_id"], found["rule_version"], found["ticket_id"], found["holds"]) == (
        rule["id"],
        1,
        tid,
        False,
    )
    results = {c["path"]: c for c in found["conditions"]}
    assert results["$.conditions.all[0]"] == {
        "path": "$.conditions.all[0]",
        "field": "priority",
        "operator": "is",
        "value": "urgent",
        "actual": "urgent",
        "holds": True,
    }
    since = results["$.conditions.all[1]"]
    assert since["holds"] is False
    assert 0 <= since["actual"] < 1
    assert (
        results["$.conditions.any[0].all[0]"]["actual"],
        results["$.conditions.any[0].all[0]"]["holds"],
    ) == (["vip"], True)
    assert (results["$.conditions.any[1]"]["actual"], results["$.conditions.any[1]"]["holds"]) == (
        None,
        False,
    )
    assert found["groups"] == [{"path": "$.conditions.any[0]", "holds": True}]

    draft = {
        "trigger": "on_change",
        "conditions": {"all": [leaf("status", "changed"), leaf("tags", "excludes", "vip")]},
    }
    r = await client.post("/v1/rules/explain", params={"ticket_id": tid}, json=draft, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["rule_id"] is None
    assert [(c["actual"], c["holds"]) for c in r.json()["conditions"]] == [(None, None), (["vip"], False)]
    assert r.json()["holds"] is False

    r = await client.get(f"/v1/rules/{rule['id']}/explain", params={"ticket_id": 10**9}, headers=headers)
    assert r.status_code == 404
    r = await client.get(f"/v1/rules/{uuid.uuid4()}/explain", params={"ticket_id": tid}, headers=headers)
    assert r.status_code == 404


async def test_the_page_is_the_first_matches_by_id_when_the_walk_falls_short(client, agent, monkeypatch):
    """The first page comes from a bounded walk in id order, else from sorting the matches: the same page."""
    _, headers = agent
    ids = [(await create_ticket(client, headers, priority=p))["id"] for p in ["low"] * 4 + ["urgent"] * 3]
    draft = {"trigger": "on_change", "conditions": URGENT}
    for budget in (1_000, 2):
        monkeypatch.setattr(preview, "_WALK_BUDGET", budget)
        r = await client.post("/v1/rules/dry-run", params={"limit": 2}, json=draft, headers=headers)
        assert r.status_code == 200, r.text
        assert r.json()["matched"] == 3
        assert [t["ticket"]["id"] for t in r.json()["tickets"]] == ids[4:6]
