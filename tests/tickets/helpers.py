"""Small helpers for ticket tests."""

from __future__ import annotations

from typing import Any


async def create_ticket(client: Any, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    body = {"subject": "Printer on fire", "message": "It is on fire.", "requester_email": "ada@example.com"}
    body.update(fields)
    r = await client.post("/v1/tickets", json=body, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def events_of(client: Any, headers: dict[str, str], ticket_id: int) -> list[dict[str, Any]]:
    r = await client.get(f"/v1/tickets/{ticket_id}/events", params={"limit": 200}, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()["data"]  # type: ignore[no-any-return]
