"""The committed spec documents the ticket API as it runs."""

import json

from api.app import create_litestar
from api.openapi import SPEC_PATH, render_spec


def test_committed_spec_is_in_sync(settings):
    assert SPEC_PATH.read_text() == render_spec(create_litestar(settings)), "run `helpdesk openapi`"


def test_ticket_operations_have_examples_and_errors():
    spec = json.loads(SPEC_PATH.read_text())
    paths = spec["paths"]
    create = paths["/v1/tickets"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"]["examples"]
    assert create["responses"]["201"]["content"]["application/json"]["examples"]
    assert "ETag" in create["responses"]["201"]["headers"]
    assert paths["/v1/tickets"]["get"]["responses"]["200"]["content"]["application/json"]["examples"]
    update = paths["/v1/tickets/{ticket_id}"]["patch"]
    assert {"400", "401", "404", "409", "412", "413", "422", "500"} <= set(update["responses"])
    assert any(p["name"] == "If-Match" for p in update["parameters"])
    for path in paths.values():
        for operation in path.values():
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")):
                    media = response["content"]["application/problem+json"]
                    assert media.get("example") or media.get("examples"), status
