"""GET /v1/tickets/{id} against its floor, and the ASGI server question (issue 19, item 3).

Sides, each one process on 127.0.0.1 with the same pool size, no access log, warnings only:

- ``api``: ``helpdesk serve`` (uvicorn, uvloop + httptools, what ships), no background runner;
- ``raw``: bench/raw_app.py under uvicorn with the same options: the same SELECT on a raw asyncpg pool set
  up as the API's statement pool (no per-request reset), no auth, request ids or metrics;
- ``api-granian``: the same app under granian (``--loop uvloop``, one worker), with ``--granian``;
- ``raw-granian``: the floor under granian too, with ``--granian``.

Rounds run every side once with wrk (closed loop, bench/wrk/get.lua, random ids), the order rotating
from round to round: compare the per-round ratios, not the absolute rates (the shared host drifts).
CPU per request is read from /proc for the server process and the PostgreSQL backends of its database.

    .venv/bin/python bench/get_floor.py --rounds 4 [--granian] [--reuse-db soak_get_20k]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import harness  # noqa: E402

PORTS = {"api": 8031, "raw": 8032, "api-granian": 8033, "raw-granian": 8034}
PATHS = {
    "api": "/v1/tickets/",
    "raw": "/raw/tickets/",
    "api-granian": "/v1/tickets/",
    "raw-granian": "/raw/tickets/",
}


def server_cmd(side: str, port: int) -> list[str]:
    bin_ = harness.VENV_BIN
    if side == "api":
        return harness.serve_cmd(port)
    if side == "raw":
        cmd = [str(bin_ / "uvicorn"), "bench.raw_app:app", "--port", str(port), "--loop", "uvloop"]
        return [*cmd, "--http", "httptools", "--no-access-log", "--log-level", "warning"]
    target = "api.app:create_app" if side == "api-granian" else "bench.raw_app:app"
    cmd = [str(bin_ / "granian"), "--interface", "asgi", "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--loop", "uvloop", "--workers", "1", "--no-ws", "--log-level", "warning"]
    return [*cmd, *(["--factory"] if side == "api-granian" else []), target]


def cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def tree(pid: int) -> list[int]:
    """The process and its children (uvicorn and granian may run the app in a child)."""
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [pid, *(p for c in out.split() for p in tree(int(c)))]


async def backends(url: str) -> list[int]:
    conn = await asyncpg.connect(url)
    try:
        db = urlsplit(url).path.lstrip("/")
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", db
        )
    finally:
        await conn.close()
    return [row["pid"] for row in rows]


async def one(side: str, procs: dict[str, subprocess.Popen[bytes]], url: str, args: Any, env: dict) -> dict:
    pids = tree(procs[side].pid)
    pg = await backends(url)
    before = cpu(pids), cpu(pg)
    out = harness.wrk(
        f"http://127.0.0.1:{PORTS[side]}",
        "get.lua",
        args.seconds,
        {**env, "PATH_PREFIX": PATHS[side]},
        conns=args.conns,
    )
    requests = max(out["requests"], 1)
    server_cpu = cpu(pids) - before[0]
    pg_cpu = cpu(pg) - before[1]
    return {
        "ok_per_s": out["ok_per_s"],
        "p99_ms": out.get("p99_ms"),
        "non_2xx": out["non_2xx"],
        "server_cpu_us": round(server_cpu / requests * 1e6, 1),
        "postgres_cpu_us": round(pg_cpu / requests * 1e6, 1),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    name = args.reuse_db or harness.new_name("get")
    url, _ = await harness.prepare_database(
        args.server, name, tickets=args.tickets, comments=2, customers=2000, reuse=bool(args.reuse_db)
    )
    token = harness.api_key(url, "agent", "get-floor")
    env = harness.service_env(url, args.pool, {"HELPDESK_RUN_WORKER": "false"})
    sides = ["api", "raw", *(["api-granian", "raw-granian"] if args.granian else [])]
    logs = Path(tempfile.gettempdir())
    procs: dict[str, subprocess.Popen[bytes]] = {}
    rounds: list[dict[str, dict]] = []
    spy = None
    try:
        for side in sides:
            procs[side] = harness.start(server_cmd(side, PORTS[side]), env, logs / f"get_floor-{side}.log")
        for side in sides:
            await harness.wait_http(
                PORTS[side], "/healthz" if "api" in side else PATHS[side] + "1", procs[side]
            )
        wrk_env = {"TOKEN": token, "TICKETS": str(args.tickets)}
        for side in sides:  # warm-up: caches, prepared statements, the first connections
            harness.wrk(
                f"http://127.0.0.1:{PORTS[side]}", "get.lua", 3, {**wrk_env, "PATH_PREFIX": PATHS[side]}
            )
        if args.profile:  # py-spy samples one side through one extra wrk run (pip install py-spy)
            out = ROOT / "bench" / "out" / f"profile-get-{args.profile}.txt"
            cmd = ["record", "--pid", str(procs[args.profile].pid), "--format", "raw", "-r", "200"]
            argv = [str(harness.VENV_BIN / "py-spy"), *cmd, "-o", str(out), "--subprocesses"]
            spy = subprocess.Popen(argv)  # noqa: ASYNC220 - returns at once
            env_side = {**wrk_env, "PATH_PREFIX": PATHS[args.profile]}
            harness.wrk(f"http://127.0.0.1:{PORTS[args.profile]}", "get.lua", 8, env_side)
            spy.send_signal(signal.SIGINT)
            spy.wait(timeout=30)
        for r in range(args.rounds):
            order = sides[r % len(sides) :] + sides[: r % len(sides)]
            row = {}
            for side in order:
                row[side] = await one(side, procs, url, args, wrk_env)
                print(json.dumps({"round": r + 1, "side": side, **row[side]}), flush=True)
            rounds.append(row)
    finally:
        for proc in procs.values():
            harness.stop(proc)
        if not args.reuse_db:
            await harness.drop_database(args.server, name)
    ratios = {}
    for a, b in (("api", "raw"), ("api-granian", "api"), ("raw-granian", "raw"), ("api-granian", "raw")):
        if a in sides and b in sides:
            per = [row[a]["ok_per_s"] / row[b]["ok_per_s"] for row in rounds]
            ratios[f"{a}/{b}"] = {
                "per_round": [round(x, 3) for x in per],
                "median": round(statistics.median(per), 3),
            }
    return {
        "machine": harness.machine(),
        "server": await harness.server_facts(args.server),
        "rounds": rounds,
        "ratios": ratios,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", default=os.environ.get("DATABASE_URL", harness.DEFAULT_SERVER))
    parser.add_argument("--reuse-db", help="keep and reuse this database (soak_…)")
    parser.add_argument("--tickets", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--conns", type=int, default=64)
    parser.add_argument("--pool", type=int, default=10)
    parser.add_argument("--profile", help="sample this side with py-spy before the rounds")
    parser.add_argument("--granian", action="store_true", help="also run both under granian")
    parser.add_argument(
        "--embedded", action="store_true", help="a private embedded PostgreSQL (spares a shared server)"
    )
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="bench-get-"))
    if args.embedded:
        from api.embedded import start_embedded

        args.server = start_embedded(data_dir, database="postgres")
    try:
        report = asyncio.run(run(args))
    finally:
        if args.embedded:
            from api.embedded import stop_embedded

            stop_embedded(data_dir)
    out = ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    (out / "get_floor.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report["ratios"], indent=2))


if __name__ == "__main__":
    main()
