"""SLA at scale: re-evaluating 100,000 open tickets after a policy change, and every `sla.breached` on time.

    python bench/sla_breach.py --tickets 100000 --window 3600 --measure 600

What it does, on loopback only, with processes it starts and stops itself:

1. A private PostgreSQL 15 cluster (``initdb`` in a temporary directory, its own port) with
   ``track_commit_timestamp = on``, so an event's *commit* instant can be read back
   (``pg_xact_commit_timestamp(xmin)``): the moment the breach exists for every reader and webhook.
2. The schema (migrations) and a data set from ``bench/load_data.py``; every ticket made open, normal
   priority, with ``created_at`` chosen so that a 60-business-minute resolution target falls due at an
   instant spread uniformly over ``--window`` seconds (an hour, as the issue asks) starting ``--lead``
   seconds from now. The first ``--measure`` seconds of the window are watched (same density: 100,000
   over an hour is ~28 due instants a second, whatever part of the hour is watched).
3. ``helpdesk serve`` (API only) and one ``helpdesk worker`` (timers, re-evaluation, webhooks).
4. GET p99 idle (wrk), then a business calendar and an SLA policy created through the API: the policy
   makes the worker re-evaluate every open ticket in the background; the time until that pass finishes
   is measured, with wrk measuring GET p99 meanwhile.
5. The highest PATCH rate the API sustains alone (wrk, closed loop), then PATCH at half of it, offered
   at a fixed rate by ``bench/open_loop.py`` (open loop), from before the window until its watched part
   ends (tags only, so due instants stay put) while the worker's timers fire.
6. Latency of each ``sla.breached`` due in the watched part: commit instant minus due instant (p50,
   p99, max), and whether every ticket due in it got exactly one.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import harness  # noqa: E402
from bench.open_loop import build_request, human_line, run_open_loop  # noqa: E402

PG_BIN = Path("/usr/lib/postgresql/15/bin")
VENV_BIN = ROOT / ".venv" / "bin"
API_PORT = 8031


def wrk(script: str, seconds: int, env: dict[str, str]) -> tuple[float, float]:
    """2xx responses per second and p99 (ms) of a closed-loop wrk run against the API."""
    result = harness.wrk(f"http://127.0.0.1:{API_PORT}", script, seconds, env)
    if result["non_2xx"]:
        print(
            f"  ({script}: {result['non_2xx']} of {result['requests']} not 2xx; counting the 2xx)", flush=True
        )
    return result["ok_per_s"], result["p99_ms"]


def start_cluster(data: Path, port: int) -> None:
    subprocess.run(
        [PG_BIN / "initdb", "-D", data, "-U", "postgres", "--auth=trust"],
        check=True,
        capture_output=True,
        user="postgres",
    )
    conf = data / "postgresql.conf"
    conf.write_text(
        conf.read_text() + f"\nport = {port}\nlisten_addresses = '127.0.0.1'\n"
        "unix_socket_directories = ''\ntrack_commit_timestamp = on\nmax_connections = 200\n"
        "shared_buffers = 512MB\n"
    )
    subprocess.run(
        [PG_BIN / "pg_ctl", "-D", data, "-l", data / "log", "-w", "start"],
        check=True,
        capture_output=True,
        user="postgres",
    )


def stop_cluster(data: Path) -> None:
    subprocess.run(
        [PG_BIN / "pg_ctl", "-D", data, "-m", "fast", "-w", "stop"],
        capture_output=True,
        user="postgres",
        check=False,
    )


def helpdesk(*args: str, env: dict[str, str], **kwargs: object) -> subprocess.Popen[bytes]:
    return subprocess.Popen([VENV_BIN / "helpdesk", *args], env=env, **kwargs)  # type: ignore[call-overload]


async def fixed_rate_updates(token: str, rate: float, seconds: float, tickets: int) -> str:
    """PATCH the tags of random tickets at ``rate`` per second, open loop; returns the generator's report."""
    host = f"127.0.0.1:{API_PORT}"
    headers = (("Authorization", f"Bearer {token}"), ("Content-Type", "application/json"))
    bodies = [b'{"tags":["a"]}', b'{"tags":["b"]}', b'{"tags":["a","b"]}']

    def factory() -> tuple[str, bytes]:
        path = f"/v1/tickets/{random.randint(1, tickets)}"
        return "patch", build_request("PATCH", path, host, headers, random.choice(bodies))

    result = await run_open_loop(f"http://{host}", factory, rate, seconds)
    return human_line(result.report, "PATCH (open loop): ")


async def run(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="sla-bench-"))
    shutil.chown(tmp, "postgres")
    data = tmp / "pg"
    server = f"postgresql://postgres@127.0.0.1:{args.pg_port}/postgres"
    procs: list[subprocess.Popen[bytes]] = []
    start_cluster(data, args.pg_port)
    try:
        url, _ = await harness.prepare_database(
            server, "soak_sla", tickets=args.tickets, comments=1, customers=20_000, reuse=False
        )
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "HELPDESK_ACCESS_LOG": "false",
            "HELPDESK_LOG_LEVEL": "WARNING",
            "HELPDESK_RUN_WORKER": "false",
            "HELPDESK_DB_POOL_SIZE": "20",
            "HELPDESK_DB_MAX_OVERFLOW": "0",
            "TICKETS": str(args.tickets),
        }
        token = await asyncio.to_thread(harness.api_key, url, "admin", "bench")
        env["TOKEN"] = token
        os.environ.update(TOKEN=token, TICKETS=str(args.tickets))  # for wrk's scripts
        conn = await asyncpg.connect(url)
        # Due instants: T0 + U(0, window); the resolution target is 60 business minutes in a calendar open
        # 00:00-24:00 every day, so due = created_at + 60 min.
        t0 = await conn.fetchval("SELECT now() + make_interval(secs => $1)", float(args.lead))
        await conn.execute(
            "UPDATE tickets SET status = 'open', resolved_at = NULL, closed_at = NULL, priority = 'normal', "
            "created_at = $1::timestamptz - interval '60 minutes' + make_interval(secs => random() * $2)",
            t0,
            float(args.window),
        )
        await conn.execute("VACUUM ANALYZE tickets")
        procs.append(helpdesk("serve", "--port", str(API_PORT), env=env, stdout=subprocess.DEVNULL))
        procs.append(
            helpdesk("worker", env={**env, "HELPDESK_RUN_WORKER": "true"}, stdout=subprocess.DEVNULL)
        )
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{API_PORT}", headers={"Authorization": f"Bearer {token}"}
        ) as api:
            for _ in range(300):
                try:
                    if (await api.get("/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.2)
            idle_rate, idle_p99 = wrk("get.lua", 10, {"PATH_PREFIX": "/v1/tickets/"})
            print(f"GET idle: {idle_rate:.0f} req/s, p99 {idle_p99:.1f} ms", flush=True)
            days = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
            calendar = (
                await api.post(
                    "/v1/business-calendars",
                    json={
                        "name": "all day",
                        "time_zone": "UTC",
                        "weekly": [{"day": d, "start": "00:00", "end": "24:00"} for d in days],
                    },
                )
            ).json()
            policy = await api.post(
                "/v1/sla-policies",
                json={
                    "name": "bench",
                    "calendar_id": calendar["id"],
                    "targets": {"normal": {"resolution": {"minutes": 60, "time": "business"}}},
                },
            )
            assert policy.status_code == 201, policy.text
            during = await asyncio.to_thread(wrk, "get.lua", 15, {"PATH_PREFIX": "/v1/tickets/"})
            print(f"GET during re-evaluation: {during[0]:.0f} req/s, p99 {during[1]:.1f} ms", flush=True)
            for _ in range(3000):  # bounded: 10 minutes
                if await conn.fetchval("SELECT bool_and(finished_at IS NOT NULL) FROM sla_reevaluations"):
                    break
                await asyncio.sleep(0.2)
            took = await conn.fetchval(
                "SELECT extract(epoch FROM max(finished_at) - min(created_at))::float8 FROM sla_reevaluations"
            )
            changed = await conn.fetchval("SELECT sum(tickets_changed) FROM sla_reevaluations")
            print(f"re-evaluation: {changed} tickets in {took:.1f} s ({changed / took:.0f}/s)", flush=True)
            max_rate, max_p99 = wrk("tags.lua", 10, {})
            print(f"PATCH alone: {max_rate:.0f} req/s, p99 {max_p99:.1f} ms", flush=True)
            remaining = (t0 - await conn.fetchval("SELECT now()")).total_seconds()
            print(f"window starts in {remaining:.0f} s; fixed-rate PATCH at {max_rate / 2:.0f}/s", flush=True)
            report = await fixed_rate_updates(token, max_rate / 2, remaining + args.measure + 5, args.tickets)
            print(report, flush=True)
        for _ in range(100):  # bounded: the last due instants' timers commit within seconds
            if not await conn.fetchval(_DUE_AND_LIVE, t0, float(args.measure)):
                break
            await asyncio.sleep(0.1)
        due = await conn.fetchval(_DUE_IN_WATCH, t0, float(args.measure))
        rows = await conn.fetch(_BREACHES_IN_WATCH, t0, float(args.measure))
        late = sorted(r["late"] for r in rows)
        tickets_breached = len({r["ticket_id"] for r in rows})
        q = statistics.quantiles(late, n=100) if len(late) > 1 else [late[0]] * 99
        print(
            f"sla.breached due in the watched {args.measure} s: {len(late)} events for {tickets_breached} "
            f"tickets (of {due} due then); "
            f"latency from due to commit p50 {q[49]:.3f} s, p99 {q[98]:.3f} s, max {late[-1]:.3f} s; "
            f"over 1 s: {sum(1 for v in late if v > 1)}",
            flush=True,
        )
        await conn.close()
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        stop_cluster(data)
        shutil.rmtree(tmp, ignore_errors=True)


# Due instants in the watched part of the window: [t0, t0 + measure).
_DUE_IN_WATCH = """
SELECT count(*) FROM tickets
WHERE created_at + interval '60 minutes' >= $1
  AND created_at + interval '60 minutes' < $1 + make_interval(secs => $2)
"""
# The policy has one metric and no warning lead time: a ticket's one SLA timer waits for its breach.
_DUE_AND_LIVE = """
SELECT count(*) FROM timers
WHERE kind = 'sla' AND due_at >= $1 AND due_at < $1 + make_interval(secs => $2)
"""
_BREACHES_IN_WATCH = """
SELECT ticket_id, extract(epoch FROM pg_xact_commit_timestamp(xmin) - breached_at)::float8 AS late
FROM (SELECT ticket_id, xmin, (data->'metric'->>'breached_at')::timestamptz AS breached_at FROM events
      WHERE type = 'sla.breached') e
WHERE breached_at >= $1 AND breached_at < $1 + make_interval(secs => $2)
"""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--window", type=int, default=3600, help="seconds the due instants spread over")
    parser.add_argument("--measure", type=int, default=600, help="seconds of the window watched")
    parser.add_argument("--lead", type=int, default=240, help="seconds before the first due instant")
    parser.add_argument("--pg-port", type=int, default=5499)
    args = parser.parse_args()
    print(
        f"machine: {os.cpu_count()} cores; {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}; "
        f"tickets={args.tickets} window={args.window}s measure={args.measure}s lead={args.lead}s",
        flush=True,
    )
    asyncio.run(run(args))
    sys.exit(0)


if __name__ == "__main__":
    main()
