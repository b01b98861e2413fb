"""Customers, agents and groups."""

import uuid


async def test_customer_crud_and_case_insensitive_email(client, agent):
    _, headers = agent
    body = {
        "name": "Ada",
        "email": "Ada@Example.com",
        "external_id": "crm-1",
        "locale": "en-GB",
        "time_zone": "Europe/London",
    }
    r = await client.post("/v1/customers", json=body, headers=headers)
    assert r.status_code == 201, r.text
    customer = r.json()
    assert customer["active"] is True
    r = await client.post("/v1/customers", json={"name": "B", "email": "ada@example.COM"}, headers=headers)
    assert r.status_code == 409
    r = await client.post(
        "/v1/customers", json={"name": "B", "email": "b@x.y", "external_id": "crm-1"}, headers=headers
    )
    assert r.status_code == 409
    r = await client.post(
        "/v1/customers", json={"name": "B", "email": "b@x.y", "time_zone": "Mars/Base"}, headers=headers
    )
    assert r.status_code == 422
    r = await client.post("/v1/customers", json={"name": "B", "email": "not-an-email"}, headers=headers)
    assert r.status_code == 422
    url = f"/v1/customers/{customer['id']}"
    assert (await client.get(url, headers=headers)).json() == customer
    r = await client.patch(url, json={"locale": None, "active": False}, headers=headers)
    assert r.status_code == 200
    assert (r.json()["locale"], r.json()["active"], r.json()["name"]) == (None, False, "Ada")
    assert (await client.get(f"/v1/customers/{uuid.uuid4()}", headers=headers)).status_code == 404
    assert (await client.patch(f"/v1/customers/{uuid.uuid4()}", json={}, headers=headers)).status_code == 404


async def test_customer_list_pages(client, agent):
    _, headers = agent
    for i in range(5):
        await client.post("/v1/customers", json={"name": f"c{i}", "email": f"c{i}@x.y"}, headers=headers)
    page = (await client.get("/v1/customers", params={"limit": 3}, headers=headers)).json()
    rest = (
        await client.get("/v1/customers", params={"limit": 3, "cursor": page["next_cursor"]}, headers=headers)
    ).json()
    assert [c["name"] for c in page["data"] + rest["data"]] == [f"c{i}" for i in range(5)]
    assert rest["next_cursor"] is None


async def test_agent_crud_and_deactivation_stops_keys(client, admin_headers, agent):
    agent_id, agent_headers = agent
    r = await client.post("/v1/agents", json={"name": "Grace", "email": "grace@x.y"}, headers=admin_headers)
    assert r.status_code == 201
    assert r.json()["role"] == "agent"
    r = await client.post("/v1/agents", json={"name": "Grace 2", "email": "GRACE@x.y"}, headers=admin_headers)
    assert r.status_code == 409
    listed = (await client.get("/v1/agents", headers=agent_headers)).json()["data"]
    assert {a["name"] for a in listed} >= {"Grace", "Agent Smith"}
    assert (
        await client.get("/v1/tickets", headers=agent_headers)
    ).status_code == 200  # key works (and is cached)
    r = await client.patch(f"/v1/agents/{agent_id}", json={"active": False}, headers=admin_headers)
    assert r.status_code == 200
    assert r.json()["active"] is False
    assert (await client.get("/v1/agents", params={"active": "false"}, headers=admin_headers)).json()["data"][
        0
    ]["id"] == str(agent_id)
    r = await client.get("/v1/tickets", headers=agent_headers)
    assert r.status_code == 401
    assert (
        await client.patch(f"/v1/agents/{uuid.uuid4()}", json={}, headers=admin_headers)
    ).status_code == 404


async def test_groups_with_members(client, admin_headers, agent, other_agent):
    a, _ = agent
    b, _ = other_agent
    r = await client.post(
        "/v1/groups", json={"name": "Billing", "member_ids": [str(a), str(a)]}, headers=admin_headers
    )
    assert r.status_code == 201, r.text
    group = r.json()
    assert group["member_ids"] == [str(a)]
    assert (
        await client.post("/v1/groups", json={"name": "billing"}, headers=admin_headers)
    ).status_code == 409
    r = await client.post(
        "/v1/groups", json={"name": "X", "member_ids": [str(uuid.uuid4())]}, headers=admin_headers
    )
    assert r.status_code == 422
    url = f"/v1/groups/{group['id']}"
    r = await client.patch(url, json={"member_ids": [str(b)], "description": "Money"}, headers=admin_headers)
    assert (r.json()["member_ids"], r.json()["description"]) == ([str(b)], "Money")
    assert (await client.get(url, headers=admin_headers)).json()["member_ids"] == [str(b)]
    assert len((await client.get("/v1/groups", headers=admin_headers)).json()["data"]) == 1
    r = await client.patch(url, json={"active": False}, headers=admin_headers)
    assert r.json()["active"] is False


async def test_reactivating_an_agent_does_not_revive_their_keys(client, admin_headers, agent):
    """Issue 16: keys stopped at deactivation worked again after reactivation. Revoked stays revoked."""
    agent_id, agent_headers = agent
    assert (await client.get("/v1/tickets", headers=agent_headers)).status_code == 200
    r = await client.patch(f"/v1/agents/{agent_id}", json={"active": False}, headers=admin_headers)
    assert r.status_code == 200
    assert (await client.get("/v1/tickets", headers=agent_headers)).status_code == 401
    r = await client.patch(f"/v1/agents/{agent_id}", json={"active": True}, headers=admin_headers)
    assert (r.status_code, r.json()["active"]) == (200, True)
    assert (await client.get("/v1/tickets", headers=agent_headers)).status_code == 401
    keys = (await client.get("/v1/api-keys?include_revoked=true", headers=admin_headers)).json()["data"]
    revoked = [k["revoked_at"] for k in keys if k["agent_id"] == str(agent_id)]
    assert revoked
    assert None not in revoked
    # A new key for the reactivated agent works.
    r = await client.post(
        "/v1/api-keys",
        json={"name": "again", "role": "agent", "agent_id": str(agent_id)},
        headers=admin_headers,
    )
    assert r.status_code == 201, r.text
    fresh = {"Authorization": f"Bearer {r.json()['token']}"}
    assert (await client.get("/v1/tickets", headers=fresh)).status_code == 200


async def test_the_hosts_localtime_is_no_time_zone(client, agent):
    # /usr/share/zoneinfo/localtime links to whatever zone the server is set to: not an IANA zone.
    _, headers = agent
    for name in ("localtime", "posixrules"):
        r = await client.post(
            "/v1/customers", json={"name": "B", "email": "b@x.y", "time_zone": name}, headers=headers
        )
        assert r.status_code == 422, r.text
        assert r.json()["errors"][0]["path"] == "$.time_zone"
