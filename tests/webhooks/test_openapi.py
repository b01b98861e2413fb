"""The committed OpenAPI spec is current for the webhook routes (regenerate with `helpdesk openapi`)."""

from __future__ import annotations

import json

from api.app import create_litestar
from api.openapi import SPEC_PATH, render_spec


def test_committed_spec_matches_webhook_routes(settings):
    generated = json.loads(render_spec(create_litestar(settings)))
    committed = json.loads(SPEC_PATH.read_text())
    webhook_paths = {path for path in generated["paths"] if path.startswith("/v1/webhooks")}
    assert len(webhook_paths) == 13
    for path in webhook_paths:
        assert committed["paths"].get(path) == generated["paths"][path], f"{path}: run `helpdesk openapi`"
