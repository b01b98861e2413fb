"""Every POST of the people and tickets features honours Idempotency-Key the same way."""

import pytest

from tests.tickets.helpers import create_ticket

TICKET = "{ticket}"


@pytest.mark.parametrize(
    ("path", "body", "other_body", "admin"),
    [
        ("/v1/customers", {"name": "A", "email": "a@b.c"}, {"name": "B", "email": "a@b.c"}, False),
        ("/v1/agents", {"name": "A", "email": "a@b.c"}, {"name": "B", "email": "a@b.c"}, True),
        ("/v1/groups", {"name": "G"}, {"name": "H"}, True),
        (
            "/v1/tickets",
            {"subject": "s", "message": "m", "requester_email": "a@b.c"},
            {"subject": "t", "message": "m", "requester_email": "a@b.c"},
            False,
        ),
        (f"/v1/tickets/{TICKET}/comments", {"body": "hello"}, {"body": "bye"}, False),
        (
            "/v1/tickets/bulk-update",
            {"ids": [TICKET], "changes": {"tags": ["x"]}},
            {"ids": [TICKET], "changes": {"tags": ["y"]}},
            False,
        ),
    ],
)
async def test_post_replays_and_refuses_other_bodies(
    client, agent, admin_headers, path, body, other_body, admin
):
    _, agent_headers = agent
    headers = {**(admin_headers if admin else agent_headers), "Idempotency-Key": "same"}
    ticket = (await create_ticket(client, agent_headers, requester_email="z@y.x"))["id"]
    path = path.format(ticket=ticket)
    for b in (body, other_body):
        if "ids" in b:
            b["ids"] = [ticket]

    first = await client.post(path, json=body, headers=headers)
    assert first.status_code in (200, 201), first.text
    again = await client.post(path, json=body, headers=headers)
    assert (again.status_code, again.json()) == (first.status_code, first.json())
    assert again.headers["idempotent-replayed"] == "true"
    r = await client.post(path, json=other_body, headers=headers)
    assert r.status_code == 422
    assert r.json()["errors"][0]["location"] == "header"
