"""Interleaved comparison of webhook consumers on the same backlog (issue 19): ``helpdesk worker`` of this
checkout, the reference loop (bench/delivery_loop.py) and, optionally, ``helpdesk worker`` of other
checkouts (``--other NAME=DIR``, e.g. the build before a change).

Each run: empty webhook tables, one consumer process started and LISTENing, then EVENTS events
published to 10 healthy endpoints in one committed transaction (EVENTS x 10 deliveries); the run ends
when the receiver (bench/receiver.py, its own process) has verified every signature. Per run: deliveries
per second from the COMMIT to the last verified receipt, and CPU per delivery of the consumer process and
of the PostgreSQL backends serving it (/proc). Rounds run every side once, the order rotating from round
to round, so drift of the shared host's CPU speed hits all sides alike: compare per-round ratios.

    .venv/bin/python bench/worker_vs_loop.py --rounds 4 --events 4000 [--other base=/tmp/perf-base]
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
import time
import uuid
from pathlib import Path

import aiohttp
import asyncpg
from sqlalchemy.ext.asyncio import create_async_engine

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from api.db import asyncpg_dsn, sqlalchemy_url  # noqa: E402
from api.embedded import ensure_database, start_embedded, stop_embedded  # noqa: E402
from api.migrations import upgrade  # noqa: E402
from api.webhooks.publish import publish  # noqa: E402
from api.webhooks.schemas import EndpointCreate  # noqa: E402
from api.webhooks.service import create_endpoint  # noqa: E402
from api.webhooks.ssrf import SsrfPolicy, parse_cidrs  # noqa: E402
from bench.harness import database_url, machine, stop  # noqa: E402
from tests.webhooks.helpers import resolved_event  # noqa: E402

ENDPOINTS = 10
DRIVER = "bench-driver"


def consumer_cmd(side: str, sides: dict[str, Path]) -> tuple[list[str], dict[str, str], Path]:
    if side == "loop" or side.startswith("loop-"):
        client = side.partition("-")[2] or "aiohttp"
        return [sys.executable, str(ROOT / "bench" / "delivery_loop.py")], {"CLIENT": client}, ROOT
    where = sides[side]
    # PYTHONPATH first: another checkout's ``api`` package runs with this venv's libraries.
    return [sys.executable, "-m", "api.cli", "worker"], {"PYTHONPATH": str(where)}, where


def _profile(side: str, pid: int) -> subprocess.Popen[bytes] | None:
    """With PYSPY=<side>, sample that consumer with py-spy (pip install py-spy) into bench/out/."""
    if os.environ.get("PYSPY") != side:
        return None
    out = ROOT / "bench" / "out" / f"profile-{side}.txt"
    out.parent.mkdir(exist_ok=True)
    cmd = ["py-spy", "record", "--pid", str(pid), "--format", "raw", "-r", "200", "-o", str(out)]
    return subprocess.Popen([str(Path(sys.executable).with_name(cmd[0])), *cmd[1:]])


def cpu_seconds(*pids: int) -> float:
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


async def backends(admin: asyncpg.Connection, db: str) -> list[int]:
    rows = await admin.fetch(
        "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name <> $2 "
        "AND pid <> pg_backend_pid()",
        db,
        DRIVER,
    )
    return [row["pid"] for row in rows]


async def wait_listening(admin: asyncpg.Connection, db: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"consumer exited with {proc.returncode}")
        listening = await admin.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND query LIKE 'LISTEN%%'", db
        )
        if listening:
            return
        await asyncio.sleep(0.1)
    raise TimeoutError("consumer never started listening")


async def one_run(ctx: dict[str, object], side: str, sides: dict[str, Path], events: int) -> dict[str, float]:
    engine, admin, db, http, base, url = (ctx[k] for k in ("engine", "admin", "db", "http", "base", "url"))
    await admin.execute("TRUNCATE webhook_attempts, webhook_deliveries, webhook_messages")  # type: ignore[attr-defined]
    await http.post(f"{base}/_reset")  # type: ignore[attr-defined]
    cmd, extra, cwd = consumer_cmd(side, sides)
    env = {
        **os.environ,
        **extra,
        "DATABASE_URL": str(url),
        "HELPDESK_WEBHOOK_ALLOW_CIDRS": "127.0.0.0/8",
        "HELPDESK_WEBHOOK_ALLOW_HTTP": "true",
        "HELPDESK_LOG_LEVEL": "WARNING",
    }
    spy = None
    log = Path(tempfile.gettempdir()) / f"worker_vs_loop-{side}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(  # noqa: ASYNC220 - started once per run, returns at once
            cmd, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        await wait_listening(admin, db, proc)  # type: ignore[arg-type]
        await asyncio.sleep(0.5)  # let start-up work (first polls, pools) finish before counting CPU
        pg = await backends(admin, db)  # type: ignore[arg-type]
        spy = _profile(side, proc.pid)
        cpu0, pg0 = cpu_seconds(proc.pid), cpu_seconds(*pg)
        async with engine.begin() as conn:  # type: ignore[attr-defined]
            for start in range(0, events, 1000):
                await publish(conn, [resolved_event(i) for i in range(start, min(events, start + 1000))])
            committing = time.monotonic()
        expected = events * ENDPOINTS
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            async with http.get(f"{base}/_count") as response:  # type: ignore[attr-defined]
                if int(await response.read()) >= expected:
                    break
            await asyncio.sleep(0.05)
        cpu1 = cpu_seconds(proc.pid)
        pg_now = await backends(admin, db)  # type: ignore[arg-type]
        pg1 = cpu_seconds(*pg_now)  # backends opened during the run count whole
        new_backends = set(pg_now) - set(pg)
        async with http.get(f"{base}/_stats") as response:  # type: ignore[attr-defined]
            stats = json.loads(await response.read())
        if not side.startswith("loop"):
            row = await admin.fetchrow(  # type: ignore[attr-defined]
                "SELECT count(*) n, max(duration_ms) mx,"
                " percentile_disc(array[0.5, 0.9, 0.99]) WITHIN GROUP (ORDER BY duration_ms) p"
                " FROM webhook_attempts"
            )
            print("attempt durations", dict(row), flush=True)
            twice = await admin.fetch(  # type: ignore[attr-defined]
                "SELECT delivery_id, count(*) n, array_agg(succeeded ORDER BY id) ok,"
                " array_agg(coalesce(error, '') ORDER BY id) errors, array_agg(started_at ORDER BY id) at"
                " FROM webhook_attempts GROUP BY delivery_id HAVING count(*) > 1 LIMIT 5"
            )
            for item in twice:
                print("attempted more than once:", dict(item), flush=True)
    finally:
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(timeout=30)
        stop(proc)
    if stats["bad"]:
        raise RuntimeError(f"{len(stats['bad'])} webhooks failed verification")
    got = stats["received"]
    unique = len({(p, m) for p, m, _ in got})
    last = max(t for _, _, t in got)
    return {
        "deliveries": len(got),
        "unique": unique,
        "expected": expected,
        "seconds": round(last - committing, 3),
        "deliveries_per_s": round(len(got) / (last - committing)),
        "consumer_cpu_us": round((cpu1 - cpu0) / len(got) * 1e6, 1),
        "postgres_cpu_us": round((pg1 - pg0) / len(got) * 1e6, 1),
        "backends_opened_during_run": len(new_backends),
    }


async def run(url: str, db: str, sides: dict[str, Path], order: list[str], rounds: int, events: int) -> dict:
    receiver = subprocess.Popen(  # noqa: ASYNC220
        [sys.executable, str(ROOT / "bench" / "receiver.py")], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert receiver.stdout is not None
    base = f"http://127.0.0.1:{int(receiver.stdout.readline())}"
    engine = create_async_engine(
        sqlalchemy_url(url), connect_args={"server_settings": {"application_name": DRIVER}}
    )
    admin = await asyncpg.connect(asyncpg_dsn(url), server_settings={"application_name": DRIVER})
    http = aiohttp.ClientSession()
    results: list[dict[str, dict[str, float]]] = []
    try:
        policy = SsrfPolicy(parse_cidrs("127.0.0.0/8"), allow_http=True)
        secrets = {}
        async with engine.begin() as conn:
            await conn.exec_driver_sql("DELETE FROM webhook_endpoints")
            for i in range(ENDPOINTS):
                created = await create_endpoint(conn, EndpointCreate(url=f"{base}/e/{i}"), policy)
                secrets[f"/e/{i}"] = created.secret
        await http.post(f"{base}/_secrets", json=secrets)
        ctx = {"engine": engine, "admin": admin, "db": db, "http": http, "base": base, "url": url}
        await one_run(ctx, order[0], sides, max(events // 10, 100))  # warm-up: caches, disk, not counted
        for r in range(rounds):
            rotated = order[r % len(order) :] + order[: r % len(order)]
            row: dict[str, dict[str, float]] = {}
            for side in rotated:
                row[side] = await one_run(ctx, side, sides, events)
                print(json.dumps({"round": r + 1, "side": side, **row[side]}), flush=True)
            results.append(row)
    finally:
        await http.close()
        await admin.close()
        await engine.dispose()
        if receiver.stdin is not None:
            receiver.stdin.close()
        receiver.wait(timeout=10)
    summary: dict[str, object] = {}
    for side in order:
        if side == "loop":
            continue
        ratios = [row[side]["deliveries_per_s"] / row["loop"]["deliveries_per_s"] for row in results]
        summary[f"{side}/loop"] = {
            "per_round": [round(x, 3) for x in ratios],
            "median": round(statistics.median(ratios), 3),
        }
    for a in order:
        for b in order:
            if a < b and "loop" not in (a, b):
                ratios = [row[a]["deliveries_per_s"] / row[b]["deliveries_per_s"] for row in results]
                summary[f"{a}/{b}"] = {
                    "per_round": [round(x, 3) for x in ratios],
                    "median": round(statistics.median(ratios), 3),
                }
    return {"rounds": results, "ratios": summary}


async def _drop(admin_dsn: str, db: str) -> None:
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    finally:
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--events", type=int, default=4000, help="events per run (x 10 endpoints)")
    parser.add_argument(
        "--clients", default="", help="comma-separated: also run the loop with these clients (pyreqwest,…)"
    )
    parser.add_argument("--no-worker", action="store_true", help="compare loops only")
    parser.add_argument("--other", action="append", default=[], help="NAME=DIR: another checkout's worker")
    args = parser.parse_args()
    sides = {"worker": ROOT}
    for item in args.other:
        name, _, where = item.partition("=")
        sides[name] = Path(where).resolve()
    loops = [f"loop-{c}" for c in filter(None, args.clients.split(","))]
    order = ["worker", "loop", *loops, *[s for s in sides if s != "worker"]]
    if args.no_worker:
        order.remove("worker")
    external = os.environ.get("DATABASE_URL")
    data_dir = Path(tempfile.mkdtemp(prefix="bench-wvl-"))
    server = external or start_embedded(data_dir, database="postgres")
    db = f"bench_wvl_{uuid.uuid4().hex[:8]}"
    try:
        asyncio.run(ensure_database(asyncpg_dsn(server), db))
        url = database_url(server, db)
        upgrade(url)
        report = {"machine": machine(), "events": args.events, "endpoints": ENDPOINTS}
        report.update(asyncio.run(run(url, db, sides, order, args.rounds, args.events)))
    finally:
        if external:
            asyncio.run(_drop(asyncpg_dsn(server), db))
        else:
            stop_embedded(data_dir)
    report["finished"] = machine()["date"]
    out = ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    (out / "worker_vs_loop.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report["ratios"], indent=2))


if __name__ == "__main__":
    main()
