"""The README's "First ticket, step by step" runs as written: the commands are read from README.md, so
the test fails when the README drifts from what the service does.

Only the ports change (8000 and 9000 may be taken on a test machine) and the database: the serve command
gets ``DATABASE_URL`` of a throwaway database in its environment, as the README allows.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parent.parent
SECTION = "### First ticket, step by step"


def walkthrough_blocks() -> tuple[str, str, str]:
    """The section's three ``sh`` blocks: serve, the receiver, the walkthrough."""
    text = (REPO / "README.md").read_text()
    assert SECTION in text, f"README.md has no {SECTION!r} section"
    section = text.split(SECTION, 1)[1]
    section = re.split(r"\n#{2,3} ", section, maxsplit=1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL)
    assert len(blocks) == 3, blocks
    serve, receiver, steps = blocks
    assert "helpdesk serve" in serve
    assert "HELPDESK_WEBHOOK_ALLOW_HTTP=true" in serve
    assert "HELPDESK_WEBHOOK_ALLOW_CIDRS=127.0.0.0/8" in serve
    assert "HTTPServer" in receiver
    return serve, receiver, steps


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until(condition, within: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/readyz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.mark.slow
def test_the_readme_walkthrough_runs_as_written(fresh_database):
    for tool in ("curl", "jq"):
        if shutil.which(tool) is None:
            pytest.skip(f"the walkthrough needs {tool} (.ci/run installs it)")
    assert (REPO / ".venv" / "bin" / "helpdesk").exists(), "the README's commands run from a checkout's .venv"
    api_port, receiver_port = _free_port(), _free_port()
    serve, receiver, steps = (
        block.replace("8000", str(api_port)).replace("9000", str(receiver_port))
        for block in walkthrough_blocks()
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")},
        "DATABASE_URL": fresh_database(),
        "HELPDESK_ACCESS_LOG": "false",
    }
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as files:
        logs = Path(tmp)
        serve_out = files.enter_context((logs / "serve.out").open("w"))
        receiver_out = files.enter_context((logs / "receiver.out").open("w"))
        server = subprocess.Popen(
            ["bash", "-c", serve],
            cwd=REPO,
            env=env,
            stdout=serve_out,
            stderr=subprocess.STDOUT,
        )
        printer = subprocess.Popen(
            ["bash", "-c", receiver],
            cwd=REPO,
            env=env,
            stdout=receiver_out,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_until(
                lambda: _ready(f"http://127.0.0.1:{api_port}") or server.poll() is not None,
                90,
                "serve to be ready",
            )
            assert server.poll() is None, (logs / "serve.out").read_text()[-3000:]
            result = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", steps],
                cwd=REPO,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
            # What the walkthrough shows: the reply, the resolution, the history, the delivery.
            assert '"author_type": "agent"' in result.stdout
            assert '"status": "resolved"' in result.stdout
            assert '"assignee": "Grace Hopper"' in result.stdout
            for event in ("ticket.created", "ticket.commented", "ticket.resolved"):
                assert event in result.stdout
            assert re.search(r'"message_id": "evt_[0-9]+"', result.stdout), result.stdout
            # The receiver got the webhook.
            printed = logs / "receiver.out"
            _wait_until(lambda: "ticket.resolved" in printed.read_text(), 30, "the ticket.resolved webhook")
            line = next(x for x in printed.read_text().splitlines() if " ticket.resolved " in x)
            # webhook-id as the spec documents it: evt_ and the event's id in the change feed.
            assert re.match(r"^evt_[1-9][0-9]* ticket\.resolved \{", line), line
            assert '"status": "resolved"' in line
        finally:
            _stop(printer)
            _stop(server)
