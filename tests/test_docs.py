"""/docs works with no internet: its assets ship with the service, and a real browser renders it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.test_cli import _free_port

# Anything that is not the page's own origin: the browser below cannot reach it anyway.
EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*['"](?:https?:)?//""")


async def test_docs_page_loads_only_its_own_assets(client):
    page = await client.get("/docs")
    assert page.status_code == 200
    assert not EXTERNAL.search(page.text), page.text
    assets = re.findall(r"""(?:src|href)=['"](/docs/assets/[^'"]+)['"]""", page.text)
    assert len(assets) >= 3, page.text  # bundle, preset, stylesheet (and the favicon)
    for asset in assets:
        response = await client.get(asset)
        assert response.status_code == 200, asset
        assert len(response.content) > 100, asset


@pytest.mark.parametrize(
    "path",
    ["/docs/nope", "/docs/openapi.jsonx", "/docs/assets/nope.js", "/docs/assets/x%00y", "/docs/assets/%00"],
)
async def test_unknown_docs_paths_are_problem_404s(client, path):
    response = await client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "urn:helpdesk:problem:not-found"


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if found := shutil.which(name):
            return found
    # .ci/run installs it; a developer machine without it fails loudly rather than skipping the check.
    raise AssertionError("headless Chromium is needed for this test: apt-get install -y chromium")


@pytest.fixture
def served(database_url: str) -> Iterator[str]:
    """The app under uvicorn on a loopback port (a browser needs a real socket)."""
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "HELPDESK_RUN_WORKER": "false"}
    env["HELPDESK_ACCESS_LOG"] = "false"
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, "uvicorn exited"
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.slow
def test_headless_chromium_renders_the_operations_offline(served):
    profile = tempfile.mkdtemp(prefix="helpdesk-chromium-")
    try:
        result = subprocess.run(
            [
                _chromium(),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                # Without these Chromium reaches for Google's services at start (this network refuses).
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-quic",
                f"--user-data-dir={profile}",
                # No internet: every name but the loopback server fails to resolve.
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                # Virtual time runs the page's scripts and fetches to completion, then dumps the DOM.
                "--virtual-time-budget=30000",
                "--dump-dom",
                f"{served}/docs",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    dom = result.stdout
    assert result.returncode == 0, result.stderr[-2000:]
    # Swagger UI rendered the spec: one block per operation, with paths and summaries from the spec.
    assert dom.count('class="opblock ') >= 20, dom[-2000:]
    assert "/v1/tickets/{ticket_id}" in dom
    assert "Create a ticket" in dom
