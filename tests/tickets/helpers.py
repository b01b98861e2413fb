"""Small helpers for ticket tests."""

from __future__ import annotations

from typing import Any


async def create_ticket(client: Any, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    body = {"subject": "Printer on fire", "message": "It is on fire.", "requester_email": "ada@example.com"}
    body.update(fields)
    r = await client.post("/v1/tickets", json=body, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def all_pages(client: Any, headers: dict[str, str], limit: int, **params: Any) -> list[int]:
    """The ids of every page of ``GET /v1/tickets`` with these parameters, following the cursors."""
    ids: list[int] = []
    cursor = None
    while True:
        query = {"limit": limit, **params, **({"cursor": cursor} if cursor else {})}
        r = await client.get("/v1/tickets", params=query, headers=headers)
        assert r.status_code == 200, r.text
        ids += [t["id"] for t in r.json()["data"]]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return ids


async def events_of(client: Any, headers: dict[str, str], ticket_id: int) -> list[dict[str, Any]]:
    r = await client.get(f"/v1/tickets/{ticket_id}/events", params={"limit": 200}, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()["data"]  # type: ignore[no-any-return]
