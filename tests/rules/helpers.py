"""Small helpers for rule tests."""

from __future__ import annotations

from typing import Any


def rule_body(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Escalate urgent tickets",
        "trigger": "on_change",
        "conditions": {"all": [{"field": "priority", "operator": "is", "value": "urgent"}]},
        "actions": [{"type": "add_tags", "tags": ["escalated"]}],
    }
    body.update(fields)
    return body


async def create_rule(client: Any, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    r = await client.post("/v1/rules", json=rule_body(**fields), headers=headers)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def create_calendar(client: Any, headers: dict[str, str]) -> str:
    body = {
        "name": "Office",
        "time_zone": "Europe/Berlin",
        "weekly": [
            {"day": day, "start": "09:00", "end": "17:00"} for day in ("monday", "tuesday", "wednesday")
        ],
    }
    r = await client.post("/v1/business-calendars", json=body, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()["id"]  # type: ignore[no-any-return]
