"""Rules at /v1/rules: create, read, list, change with versions, and what a save refuses (422 at the
JSON path of the problem)."""

from __future__ import annotations

import uuid

from tests.rules.helpers import create_calendar, create_rule, rule_body


def leaf(field: str, operator: str, value: object = None) -> dict[str, object]:
    return {"field": field, "operator": operator, "value": value}


async def test_create_read_list_and_versions(client, admin_headers, agent):
    _, agent_headers = agent
    r = await client.post(
        "/v1/rules", json=rule_body(description="For the on-call team"), headers=admin_headers
    )
    assert r.status_code == 201, r.text
    rule = r.json()
    assert r.headers["etag"] == '"1"'
    assert r.headers["location"] == f"/v1/rules/{rule['id']}"
    assert rule["version"] == 1
    assert rule["active"] is True
    assert rule["conditions"] == {"all": [leaf("priority", "is", "urgent")], "any": []}
    assert rule["actions"] == [{"type": "add_tags", "tags": ["escalated"]}]

    # Agents read.
    r = await client.get(f"/v1/rules/{rule['id']}", headers=agent_headers)
    assert r.status_code == 200
    assert r.json() == rule

    # A change is a new version; the old one stays readable.
    changes = {"actions": [{"type": "set_priority", "priority": "high"}], "name": "Bump"}
    r = await client.patch(
        f"/v1/rules/{rule['id']}", json=changes, headers={**admin_headers, "If-Match": '"1"'}
    )
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 2
    assert r.headers["etag"] == '"2"'
    r = await client.patch(
        f"/v1/rules/{rule['id']}", json={"active": False}, headers={**admin_headers, "If-Match": '"1"'}
    )
    assert r.status_code == 412
    assert r.headers["etag"] == '"2"'
    r = await client.get(f"/v1/rules/{rule['id']}/versions/1", headers=agent_headers)
    assert r.status_code == 200
    assert r.json() == rule
    r = await client.get(f"/v1/rules/{rule['id']}/versions", params={"limit": 1}, headers=agent_headers)
    assert [v["version"] for v in r.json()["data"]] == [1]
    r = await client.get(
        f"/v1/rules/{rule['id']}/versions", params={"cursor": r.json()["next_cursor"]}, headers=agent_headers
    )
    assert [(v["version"], v["name"]) for v in r.json()["data"]] == [(2, "Bump")]
    assert r.json()["next_cursor"] is None
    assert (await client.get(f"/v1/rules/{rule['id']}/versions/3", headers=agent_headers)).status_code == 404

    # A change that changes nothing makes no version.
    r = await client.patch(f"/v1/rules/{rule['id']}", json={"name": "Bump"}, headers=admin_headers)
    assert r.json()["version"] == 2


async def test_list_in_position_order_with_cursors(client, admin_headers):
    ids = {}
    for position in (30, 10, 20):
        ids[position] = (await create_rule(client, admin_headers, name=f"at {position}", position=position))[
            "id"
        ]
    seen = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        r = await client.get("/v1/rules", params=params, headers=admin_headers)
        assert r.status_code == 200
        seen += [rule["id"] for rule in r.json()["data"]]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            break
    assert seen == [ids[10], ids[20], ids[30]]


async def test_conditions_are_stored_normalised(client, admin_headers):
    group = str(uuid.uuid4()).upper()
    rule = await create_rule(
        client,
        admin_headers,
        trigger="on_time",
        conditions={
            "any": [
                leaf("group_id", "in", [group, group.lower()]),
                leaf("since_updated", "at_least", {"minutes": 90}),
            ]
        },
    )
    assert rule["conditions"] == {
        "all": [],
        "any": [
            leaf("group_id", "in", [group.lower()]),
            leaf("since_updated", "at_least", {"minutes": 90, "time": "calendar"}),
        ],
    }


async def test_what_a_save_refuses_is_reported_at_its_path(client, admin_headers):
    calendar = await create_calendar(client, admin_headers)
    cases = [
        (
            rule_body(conditions={"all": [leaf("priority", "is", "urgent"), leaf("colour", "is", "red")]}),
            "$.conditions.all[1].field",
        ),
        (rule_body(conditions={"all": [leaf("priority", "is", 3)]}), "$.conditions.all[0].value"),
        (rule_body(conditions={"all": [leaf("tags", "is", "vip")]}), "$.conditions.all[0].operator"),
        (
            rule_body(conditions={"any": [leaf("since_created", "at_least", {"minutes": 60})]}),
            "$.conditions.any[0].field",
        ),
        (
            rule_body(
                trigger="on_time",
                conditions={
                    "all": [leaf("since_created", "at_least", {"minutes": 60}), leaf("status", "changed")]
                },
            ),
            "$.conditions.all[1].operator",
        ),
        (rule_body(trigger="on_time"), "$.conditions"),
        (
            rule_body(
                trigger="on_time",
                conditions={
                    "all": [
                        leaf(
                            "since_created",
                            "at_least",
                            {"minutes": 60, "time": "business", "calendar_id": calendar},
                        ),
                        leaf(
                            "since_updated",
                            "at_least",
                            {"minutes": 60, "time": "business", "calendar_id": str(uuid.uuid4())},
                        ),
                    ]
                },
            ),
            "$.conditions.all[1].value.calendar_id",
        ),
        (
            rule_body(actions=[{"type": "assign_agent", "agent_id": str(uuid.uuid4())}]),
            "$.actions[0].agent_id",
        ),
        (
            rule_body(
                actions=[
                    {"type": "add_tags", "tags": ["x"]},
                    {"type": "assign_group", "group_id": str(uuid.uuid4())},
                ]
            ),
            "$.actions[1].group_id",
        ),
        (
            rule_body(actions=[{"type": "add_internal_note", "template": "Dear {{requster.name}}"}]),
            "$.actions[0].template",
        ),
        (
            rule_body(actions=[{"type": "add_public_message", "template": "Hello {{ticket.subject"}]),
            "$.actions[0].template",
        ),
        (rule_body(actions=[{"type": "set_status", "status": "new"}]), "$.actions[0].status"),
        (rule_body(actions=[{"type": "explode"}]), "$.actions[0].type"),
        (rule_body(actions=[]), "$.actions"),
    ]
    for body, path in cases:
        r = await client.post("/v1/rules", json=body, headers=admin_headers)
        assert r.status_code == 422, (path, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        assert [e["path"] for e in r.json()["errors"]] == [path], r.json()
    r = await client.get("/v1/rules", headers=admin_headers)
    assert r.json()["data"] == []


async def test_an_update_is_checked_as_the_whole_rule(client, admin_headers):
    rule = await create_rule(
        client,
        admin_headers,
        trigger="on_time",
        conditions={"all": [leaf("since_created", "at_least", {"minutes": 5})]},
    )
    r = await client.patch(f"/v1/rules/{rule['id']}", json={"trigger": "on_change"}, headers=admin_headers)
    assert r.status_code == 422
    assert r.json()["errors"][0]["path"] == "$.conditions.all[0].field"
    assert (await client.get(f"/v1/rules/{rule['id']}", headers=admin_headers)).json()["version"] == 1
    # A body wrong by itself is a 422 whatever If-Match says.
    bad = {"conditions": {"all": [leaf("priority", "is", "urgent")], "any": {}}}
    r = await client.patch(f"/v1/rules/{rule['id']}", json=bad, headers={**admin_headers, "If-Match": "nope"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["path"] == "$.conditions.any"


async def test_create_honours_idempotency_keys(client, admin_headers):
    headers = {**admin_headers, "Idempotency-Key": "rule-1"}
    first = await client.post("/v1/rules", json=rule_body(), headers=headers)
    assert first.status_code == 201
    again = await client.post("/v1/rules", json=rule_body(), headers=headers)
    assert (again.status_code, again.json()) == (201, first.json())
    assert again.headers["idempotent-replayed"] == "true"
    other = await client.post("/v1/rules", json=rule_body(name="Other"), headers=headers)
    assert other.status_code == 422
    assert len((await client.get("/v1/rules", headers=admin_headers)).json()["data"]) == 1


async def test_the_catalog_lists_fields_operators_and_placeholders(client, agent):
    _, headers = agent
    r = await client.get("/v1/rules/fields", headers=headers)
    assert r.status_code == 200
    fields = {f["name"]: f for f in r.json()["fields"]}
    assert {op["name"]: op["kind"] for op in fields["status"]["operators"]}["changed_to"] == "change"
    assert {op["kind"] for op in fields["since_resolved"]["operators"]} == {"time"}
    assert fields["priority"]["values"] == ["low", "normal", "high", "urgent"]
    assert "requester.name" in r.json()["placeholders"]
