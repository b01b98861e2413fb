"""Shared plumbing for bench/list_floor.py, bench/soak.py and bench/sla_breach.py: a data set in a
database of its own on a PostgreSQL server (created, migrated, loaded with bench/load_data.py,
optionally kept for reuse), child processes (``helpdesk serve``, uvicorn, the webhook receiver) started
on loopback and stopped by PID, and closed-loop runs of wrk with its report parsed.

Databases are named ``soak_…``: the shared server is used by other engineers' runs too, and the prefix
says whose they are. A kept database (``--reuse-db NAME``) carries a comment recording what was loaded
into it; a later run with the same parameters skips the load (1,000,000 tickets take minutes).
"""

from __future__ import annotations

import asyncio
import os
import platform
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


def database_url(server: str, name: str) -> str:
    parts = urlsplit(server)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def new_name(kind: str) -> str:
    return f"soak_{kind}_{uuid.uuid4().hex[:8]}"


def load_marker(tickets: int, comments: int, customers: int) -> str:
    return f"bench/load_data.py tickets={tickets} comments_per_ticket={comments} customers={customers}"


async def prepare_database(
    server: str, name: str, *, tickets: int, comments: int, customers: int, reuse: bool
) -> tuple[str, float | None]:
    """Create (if needed), migrate and load the database; returns its URL and the load time (None when a
    kept database already held this data set)."""
    if not name.startswith("soak_"):
        raise SystemExit(f"database names must start with soak_ (got {name!r})")
    admin = await asyncpg.connect(server)
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await admin.execute(f'CREATE DATABASE "{name}"')
        marker = await admin.fetchval(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1", name
        )
    finally:
        await admin.close()
    url = database_url(server, name)
    env = {**os.environ, "DATABASE_URL": url, "HELPDESK_LOG_LEVEL": "WARNING"}
    await asyncio.to_thread(_run, [VENV_BIN / "helpdesk", "migrate"], env, quiet=True)
    wanted = load_marker(tickets, comments, customers)
    if reuse and marker == wanted:
        print(f"database {name}: reusing the loaded data set ({wanted})", flush=True)
        return url, None
    print(f"database {name}: loading {tickets:,} tickets ({comments} comments each) …", flush=True)
    started = time.perf_counter()
    await asyncio.to_thread(
        _run,
        [
            VENV_BIN / "python",
            ROOT / "bench/load_data.py",
            url,
            "--tickets",
            str(tickets),
            "--comments-per-ticket",
            str(comments),
            "--customers",
            str(customers),
        ],
        None,
    )
    took = time.perf_counter() - started
    admin = await asyncpg.connect(server)
    try:
        await admin.execute(f"COMMENT ON DATABASE \"{name}\" IS '{wanted}'")
    finally:
        await admin.close()
    print(f"database {name}: loaded in {took:.0f} s", flush=True)
    return url, took


def _run(cmd: Sequence[str | Path], env: Mapping[str, str] | None, *, quiet: bool = False) -> None:
    subprocess.run([str(c) for c in cmd], env=env, check=True, capture_output=quiet)


async def drop_database(server: str, name: str) -> None:
    if not name.startswith("soak_"):
        raise ValueError(name)
    admin = await asyncpg.connect(server)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def bench_agents(url: str) -> list[str]:
    """The ids of bench/load_data.py's agents."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT id FROM agents WHERE email LIKE '%@bench.example' ORDER BY email")
    finally:
        await conn.close()
    return [str(row["id"]) for row in rows]


async def server_facts(server: str) -> dict[str, str]:
    conn = await asyncpg.connect(server)
    try:
        return {
            "postgresql": await conn.fetchval("SHOW server_version"),
            "shared_buffers": await conn.fetchval("SHOW shared_buffers"),
            "max_connections": await conn.fetchval("SHOW max_connections"),
            # Off on this project's shared CI server: without it, updated tables keep their dead rows.
            "autovacuum": await conn.fetchval("SHOW autovacuum"),
        }
    finally:
        await conn.close()


def machine() -> dict[str, object]:
    return {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }


def api_key(
    url: str, role: str, name: str, agent_email: str | None = None, *, speaks_for_customers: bool = False
) -> str:
    cmd = [str(VENV_BIN / "helpdesk"), "api-keys", "create", "--role", role, "--name", name]
    if agent_email:
        cmd += ["--agent", agent_email]
    if speaks_for_customers:
        cmd += ["--speaks-for-customers"]
    env = {**os.environ, "DATABASE_URL": url, "HELPDESK_LOG_LEVEL": "WARNING"}
    return subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout.strip()


def service_env(url: str, pool: int, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment bench/run.sh gives the API: no access log, warnings only, a fixed pool."""
    return {
        **os.environ,
        "DATABASE_URL": url,
        "HELPDESK_ACCESS_LOG": "false",
        "HELPDESK_LOG_LEVEL": "WARNING",
        "HELPDESK_DB_POOL_SIZE": str(pool),
        "HELPDESK_DB_MAX_OVERFLOW": "0",
        **(extra or {}),
    }


def start(cmd: Sequence[str | Path], env: Mapping[str, str], log: Path) -> subprocess.Popen[bytes]:
    """A child process with its output in ``log`` (cwd: the repository, so ``bench.*`` imports)."""
    out = log.open("wb")
    try:
        return subprocess.Popen(
            [str(c) for c in cmd], env=dict(env), stdout=out, stderr=subprocess.STDOUT, cwd=ROOT
        )
    finally:
        out.close()


def stop(proc: subprocess.Popen[bytes] | None, timeout: float = 20) -> None:
    """SIGTERM the child we started (uvicorn stops its own worker processes), then SIGKILL if it hangs."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


async def wait_http(port: int, path: str, proc: subprocess.Popen[bytes], seconds: float = 60) -> None:
    """Poll ``GET path`` on 127.0.0.1:port until it answers 200 (bounded; fails if the child exits)."""
    deadline = time.monotonic() + seconds
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request)
            status = await reader.readline()
            writer.close()
            if b" 200 " in status:
                return
        except OSError:
            pass
        await asyncio.sleep(0.2)
    raise TimeoutError(f"127.0.0.1:{port}{path} not ready after {seconds:.0f} s")


def serve_cmd(port: int, workers: int = 1) -> list[str]:
    return [
        str(VENV_BIN / "helpdesk"),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]


def python() -> str:
    return str(VENV_BIN / "python") if (VENV_BIN / "python").exists() else sys.executable


def _ms(text: str) -> float:
    """wrk's latency text (``529.58us``, ``86.69ms``, ``1.02s``, ``2.00m``) in milliseconds."""
    for suffix, factor in (("us", 0.001), ("ms", 1.0), ("s", 1000.0), ("m", 60_000.0)):
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    return float(text)


def wrk(
    url: str, script: str, seconds: float, env: Mapping[str, str], *, threads: int = 2, conns: int = 64
) -> dict[str, Any]:
    """Closed loop with ``bench/wrk/<script>`` (whose ``done`` prints ``non-2xx/3xx: N``): the 2xx
    responses per second it got through, the raw rate and counts, and p50/p90/p99 in ms."""
    out = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{conns}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(ROOT / "bench/wrk" / script),
            url,
        ],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    lines = out.splitlines()
    rate = float(next(line.split()[1] for line in lines if line.startswith("Requests/sec")))
    total = int(next(line.split()[0] for line in lines if "requests in" in line))
    failed = int(next(line.split()[-1] for line in lines if line.startswith("non-2xx")))
    socket = next((line.strip() for line in lines if "Socket errors" in line), "")
    latency = {}
    for line in lines:
        parts = line.split()
        if len(parts) == 2 and parts[0] in ("50%", "90%", "99%"):
            latency[f"p{parts[0][:-1]}_ms"] = round(_ms(parts[1]), 2)
    return {
        "ok_per_s": round(rate * (total - failed) / total if total else 0.0, 1),
        "requests_per_s": rate,
        "requests": total,
        "non_2xx": failed,
        "socket_errors": socket,
        **latency,
    }
