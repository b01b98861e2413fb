"""API keys through HTTP: create (token once), list without secrets, revoke, roles."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from api.auth.tokens import hash_token


async def create_key(client, headers, **body) -> dict:
    response = await client.post("/v1/api-keys", json={"name": "k", "role": "agent", **body}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def test_created_key_shows_token_once_and_authenticates(client, admin_headers):
    created = await create_key(client, admin_headers, name="Zapier", role="admin")
    assert created["token"].startswith("hdk_")
    assert created["prefix"] == created["token"][: len(created["prefix"])]
    assert created["revoked_at"] is None

    fetched = await client.get(f"/v1/api-keys/{created['id']}", headers=admin_headers)
    assert fetched.status_code == 200
    assert "token" not in fetched.json()

    own = await client.get("/v1/api-keys", headers={"Authorization": f"Bearer {created['token']}"})
    assert own.status_code == 200


async def test_keys_are_stored_only_as_hashes(client, admin_headers, engine):
    created = await create_key(client, admin_headers)
    async with engine.connect() as conn:
        row = (
            (await conn.execute(text("SELECT * FROM api_keys WHERE id = :id"), {"id": created["id"]}))
            .mappings()
            .one()
        )
    assert row["token_hash"] == hash_token(created["token"])
    assert all(created["token"] not in str(value) for value in row.values())


async def test_list_never_shows_secrets_and_paginates(client, admin_headers):
    for i in range(4):
        await create_key(client, admin_headers, name=f"key {i}")
    seen, cursor = [], None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/v1/api-keys", params=params, headers=admin_headers)).json()
        assert len(page["data"]) <= 2
        assert all("token" not in item and "token_hash" not in item for item in page["data"])
        seen += [item["name"] for item in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    # The fixture's admin key plus the four created, oldest first, each exactly once.
    assert seen == ["test key", "key 0", "key 1", "key 2", "key 3"]


async def test_revoked_key_stops_working_at_once_and_is_hidden_by_default(client, admin_headers):
    created = await create_key(client, admin_headers, role="admin")
    headers = {"Authorization": f"Bearer {created['token']}"}
    assert (await client.get("/v1/api-keys", headers=headers)).status_code == 200  # now cached

    revoked = await client.post(f"/v1/api-keys/{created['id']}/revoke", headers=admin_headers)
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None

    refused = await client.get("/v1/api-keys", headers=headers)
    assert refused.status_code == 401
    assert "revoked" in refused.json()["detail"]

    listed = (await client.get("/v1/api-keys", headers=admin_headers)).json()["data"]
    assert created["id"] not in [k["id"] for k in listed]
    everything = (await client.get("/v1/api-keys?include_revoked=true", headers=admin_headers)).json()["data"]
    assert created["id"] in [k["id"] for k in everything]


async def test_revoking_twice_keeps_the_first_revocation_time(client, admin_headers):
    created = await create_key(client, admin_headers)
    first = (await client.post(f"/v1/api-keys/{created['id']}/revoke", headers=admin_headers)).json()
    second = (await client.post(f"/v1/api-keys/{created['id']}/revoke", headers=admin_headers)).json()
    assert first["revoked_at"] == second["revoked_at"]


async def test_unknown_key_is_404(client, admin_headers):
    missing = "7d1f3c2a-0000-4000-8000-000000000000"
    assert (await client.get(f"/v1/api-keys/{missing}", headers=admin_headers)).status_code == 404
    assert (await client.post(f"/v1/api-keys/{missing}/revoke", headers=admin_headers)).status_code == 404


async def test_key_for_unknown_agent_is_422(client, admin_headers):
    response = await client.post(
        "/v1/api-keys",
        json={"name": "x", "role": "agent", "agent_id": "7d1f3c2a-0000-4000-8000-000000000000"},
        headers=admin_headers,
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["path"] == "$.agent_id"


async def test_key_of_deactivated_agent_does_not_authenticate(client, admin_headers, engine):
    async with engine.begin() as conn:
        agent_id = await conn.scalar(
            text("INSERT INTO agents (name, email) VALUES ('Ada', 'ada@example.com') RETURNING id")
        )
    created = await create_key(client, admin_headers, agent_id=str(agent_id))
    assert created["agent_id"] == str(agent_id)
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE agents SET active = false WHERE id = :id"), {"id": agent_id})
    refused = await client.get("/v1/api-keys", headers={"Authorization": f"Bearer {created['token']}"})
    assert refused.status_code == 401


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/v1/api-keys"),
        ("post", "/v1/api-keys"),
        ("get", "/v1/api-keys/7d1f3c2a-0000-4000-8000-000000000000"),
        ("post", "/v1/api-keys/7d1f3c2a-0000-4000-8000-000000000000/revoke"),
    ],
)
async def test_api_key_routes_refuse_agents_and_anonymous(client, agent_headers, method, path):
    kwargs = {"json": {"name": "x", "role": "admin"}} if method == "post" else {}
    anonymous = await getattr(client, method)(path, **kwargs)
    assert anonymous.status_code == 401
    forbidden = await getattr(client, method)(path, headers=agent_headers, **kwargs)
    assert forbidden.status_code == 403
    assert forbidden.json()["type"] == "urn:helpdesk:problem:forbidden"


@pytest.mark.parametrize(
    "authorization",
    ["", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer hdk_not-a-real-key", "hdk_no_scheme"],
)
async def test_bad_credentials_are_401(client, authorization):
    response = await client.get("/v1/api-keys", headers={"Authorization": authorization})
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_an_agents_key_acts_as_that_agent_in_history(client, engine):
    import uuid

    from sqlalchemy import insert

    from api.auth.schemas import ApiKeyCreate
    from api.auth.service import create_api_key
    from api.people.models import Agent
    from tests.tickets.helpers import create_ticket, events_of

    async with engine.begin() as conn:
        agent_id = await conn.scalar(
            insert(Agent)
            .values(name="Grace Hopper", email="grace@agents.example", role="agent")
            .returning(Agent.id)
        )
        key = await create_api_key(conn, ApiKeyCreate(name="grace's laptop", role="agent", agent_id=agent_id))
    headers = {"Authorization": f"Bearer {key.token}"}
    ticket = await create_ticket(client, headers)
    [created] = await events_of(client, headers, ticket["id"])
    assert (created["actor"]["type"], created["actor"]["id"]) == ("agent", str(agent_id))
    assert created["actor"]["name"] == "Grace Hopper"  # the agent, not the key's name
    assert uuid.UUID(created["actor"]["api_key_id"])  # the key stays on record


async def test_a_key_never_has_more_rights_than_its_agent(client, admin_headers, engine):
    """Issue 16: an admin key could be bound to an agent whose role is agent. The rule: a key bound to an
    agent has no more rights than the agent. Refused at creation; demoting an admin agent revokes their
    admin keys (their agent keys keep working)."""
    from tests.conftest import make_agent_key

    plain_id, _ = await make_agent_key(engine, name="Plain", role="agent")
    r = await client.post(
        "/v1/api-keys", json={"name": "k", "role": "admin", "agent_id": str(plain_id)}, headers=admin_headers
    )
    assert r.status_code == 422, r.text
    assert [e["path"] for e in r.json()["errors"]] == ["$.role"]

    boss_id, boss_admin = await make_agent_key(engine, name="Boss", role="admin")
    r = await client.post(
        "/v1/api-keys", json={"name": "k", "role": "agent", "agent_id": str(boss_id)}, headers=admin_headers
    )
    boss_agent = {"Authorization": f"Bearer {r.json()['token']}"}
    assert (await client.get("/v1/api-keys", headers=boss_admin)).status_code == 200  # cached
    r = await client.patch(f"/v1/agents/{boss_id}", json={"role": "agent"}, headers=admin_headers)
    assert r.status_code == 200, r.text
    assert (await client.get("/v1/api-keys", headers=boss_admin)).status_code == 401
    assert (await client.get("/v1/tickets", headers=boss_agent)).status_code == 200
    # Promoted again: the revoked admin key stays revoked.
    await client.patch(f"/v1/agents/{boss_id}", json={"role": "admin"}, headers=admin_headers)
    assert (await client.get("/v1/api-keys", headers=boss_admin)).status_code == 401


async def test_only_integration_keys_speak_for_customers(client, admin_headers, engine):
    from tests.conftest import make_agent_key

    agent_id, _ = await make_agent_key(engine)
    r = await client.post(
        "/v1/api-keys",
        json={"name": "k", "role": "agent", "agent_id": str(agent_id), "speaks_for_customers": True},
        headers=admin_headers,
    )
    assert r.status_code == 422, r.text
    assert [e["path"] for e in r.json()["errors"]] == ["$.speaks_for_customers"]
    created = await create_key(client, admin_headers, name="portal", speaks_for_customers=True)
    assert created["speaks_for_customers"] is True
    fetched = await client.get(f"/v1/api-keys/{created['id']}", headers=admin_headers)
    assert fetched.json()["speaks_for_customers"] is True
