"""Past one machine, on one machine: network namespaces as hosts, and a worker host lost mid-delivery.

Hosts (one network namespace each, on a private bridge 10.77.0.0/24 with no route anywhere else):

    hd-db    10.77.0.10  PostgreSQL 15
    hd-api1  10.77.0.11  helpdesk serve (HELPDESK_RUN_WORKER=false)
    hd-api2  10.77.0.12  helpdesk serve (HELPDESK_RUN_WORKER=false)
    hd-w1    10.77.0.21  helpdesk worker
    hd-w2    10.77.0.22  helpdesk worker
    hd-hook  10.77.0.30  webhook receiver (answers after 100 ms, so deliveries are in flight)

The load generator (this process, outside the namespaces) creates tickets through both API hosts and
resolves them, which sends webhooks; resolved tickets auto-close after a few seconds (a timer). Once
deliveries are flowing, worker host 1 is lost: its process SIGKILLed and its namespace deleted. Then it
checks, with a deadline: every webhook message reached the receiver at least once, every delivery has
exactly one successful attempt recorded, every ticket was closed by exactly one timer firing, and no
timer or delivery is left behind. It also checks the SSRF guard: a receiver on a private address outside
``HELPDESK_WEBHOOK_ALLOW_CIDRS`` is refused.

Run as root: ``.venv/bin/python bench/multihost.py [--tickets 400]``. Everything it starts is stopped
by PID, and its namespaces and bridge deleted, in a ``finally``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
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

PG_BIN = Path("/usr/lib/postgresql/15/bin")
HELPDESK = Path(sys.executable).parent / "helpdesk"
BRIDGE = "hdbr0"
HOSTS = {
    "hd-db": "10.77.0.10",
    "hd-api1": "10.77.0.11",
    "hd-api2": "10.77.0.12",
    "hd-w1": "10.77.0.21",
    "hd-w2": "10.77.0.22",
    "hd-hook": "10.77.0.30",
}
DB_URL = "postgresql://postgres@10.77.0.10:5432/helpdesk"
HOOK_URL = "http://10.77.0.30:9000/hook"
AUTO_CLOSE_SECONDS = 5

RECEIVER = """
import asyncio, json, sys, time
from aiohttp import web
seen = []
async def hook(request):
    body = await request.read()
    event = {"id": request.headers.get("webhook-id"), "type": json.loads(body)["type"]}
    seen.append({**event, "at": time.time()})
    await asyncio.sleep(0.1)  # a receiver that takes a moment: deliveries are in flight when a host dies
    return web.Response(text="ok")
async def dump(_request):
    return web.json_response(seen)
app = web.Application()
app.add_routes([web.post("/hook", hook), web.get("/_dump", dump)])
web.run_app(app, host="10.77.0.30", port=9000, print=None)
"""


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), check=check, capture_output=True, text=True)


def in_ns(ns: str, *args: str) -> list[str]:
    return ["ip", "netns", "exec", ns, *args]


def make_network() -> None:
    sh("ip", "link", "add", BRIDGE, "type", "bridge")
    sh("ip", "addr", "add", "10.77.0.1/24", "dev", BRIDGE)
    sh("ip", "link", "set", BRIDGE, "up")
    for ns, address in HOSTS.items():
        veth = f"v-{ns[3:]}"
        sh("ip", "netns", "add", ns)
        sh("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
        sh("ip", "link", "set", veth, "master", BRIDGE, "up")
        sh(*in_ns(ns, "ip", "addr", "add", f"{address}/24", "dev", "eth0"))
        sh(*in_ns(ns, "ip", "link", "set", "eth0", "up"))
        sh(*in_ns(ns, "ip", "link", "set", "lo", "up"))


def remove_network() -> None:
    for ns in HOSTS:
        sh("ip", "netns", "del", ns, check=False)
    sh("ip", "link", "del", BRIDGE, check=False)


def start_postgres(data: Path) -> None:
    as_postgres = ["runuser", "-u", "postgres", "--"]
    sh(*as_postgres, str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust")
    with (data / "postgresql.conf").open("a") as conf:
        conf.write(
            "\nlisten_addresses = '10.77.0.10'\nunix_socket_directories = ''\nmax_connections = 200\n"
            "shared_buffers = 256MB\nsynchronous_commit = on\n"
        )
    with (data / "pg_hba.conf").open("a") as hba:
        hba.write("host all all 10.77.0.0/24 trust\n")
    pg_ctl = [str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(data / "log"), "-w", "start"]
    sh(*in_ns("hd-db", *as_postgres, *pg_ctl))
    sh(*in_ns("hd-db", *as_postgres, str(PG_BIN / "createdb"), "-h", "10.77.0.10", "helpdesk"))


def stop_postgres(data: Path) -> None:
    pid_file = data / "postmaster.pid"
    if pid_file.exists():  # the namespace may be gone already: signal the postmaster by its PID
        os.kill(int(pid_file.read_text().split()[0]), signal.SIGINT)
        deadline = time.monotonic() + 30
        while pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)


def env_for(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HELPDESK_", "DATABASE_URL"))}
    env.update(
        DATABASE_URL=DB_URL,
        HELPDESK_WEBHOOK_ALLOW_CIDRS="10.77.0.30/32",
        HELPDESK_WEBHOOK_ALLOW_HTTP="true",
        HELPDESK_WEBHOOK_TIMEOUT_SECONDS="2",
        HELPDESK_WEBHOOK_LEASE_SECONDS="4",
        HELPDESK_AUTO_CLOSE_AFTER_SECONDS=str(AUTO_CLOSE_SECONDS),
        HELPDESK_ACCESS_LOG="false",
        HELPDESK_LOG_LEVEL="WARNING",
        **extra,
    )
    return env


async def wait_for(check, within: float, what: str) -> float:  # type: ignore[no-untyped-def]
    """Poll ``check`` until it holds; the seconds it took. Fails after ``within`` seconds."""
    started = time.monotonic()
    while not await check():
        if time.monotonic() - started > within:
            raise SystemExit(f"FAILED: timed out after {within} s waiting for {what}")
        await asyncio.sleep(0.2)
    return time.monotonic() - started


def admin_token() -> str:
    env = env_for()
    subprocess.run([str(HELPDESK), "migrate"], env=env, check=True)
    return subprocess.run(
        [str(HELPDESK), "api-keys", "create", "--role", "admin", "--name", "multihost"],
        env=env, check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip


async def run(
    args: argparse.Namespace, procs: dict[str, subprocess.Popen[bytes]], logs: Path, token: str
) -> dict[str, object]:

    def spawn(name: str, ns: str, *cmd: str, **extra: str) -> None:
        log = (logs / f"{name}.log").open("wb")
        procs[name] = subprocess.Popen(in_ns(ns, *cmd), env=env_for(**extra), stdout=log, stderr=log)

    spawn("hook", "hd-hook", sys.executable, "-c", RECEIVER)
    for i in (1, 2):
        serve = [str(HELPDESK), "serve", "--host", HOSTS[f"hd-api{i}"], "--port", "8000"]
        spawn(f"api{i}", f"hd-api{i}", *serve, HELPDESK_RUN_WORKER="false")
        spawn(f"worker{i}", f"hd-w{i}", str(HELPDESK), "worker")
    apis = [f"http://{HOSTS['hd-api1']}:8000", f"http://{HOSTS['hd-api2']}:8000"]
    auth = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(headers=auth, timeout=30, trust_env=False) as http:

        async def up() -> bool:
            try:
                for api in apis:
                    if (await http.get(f"{api}/readyz")).status_code != 200:
                        return False
                return (await http.get(f"{HOOK_URL.rsplit('/', 1)[0]}/_dump")).status_code == 200
            except httpx.HTTPError:
                return False

        await wait_for(up, 60, "the API hosts and the receiver")

        # SSRF guard: another private address on the same network is refused, the allowed one accepted.
        refused = await http.post(
            f"{apis[0]}/v1/webhooks/endpoints", json={"url": "http://10.77.0.31:9000/hook"}
        )
        assert refused.status_code == 422, refused.text
        endpoint = await http.post(f"{apis[1]}/v1/webhooks/endpoints", json={"url": HOOK_URL})
        assert endpoint.status_code == 201, endpoint.text
        agent = await http.post(
            f"{apis[0]}/v1/agents", json={"name": "Multi Host", "email": "mh@example.com"}
        )
        agent_id = agent.json()["id"]

        latencies: list[float] = []
        gate = asyncio.Semaphore(args.concurrency)

        async def one(i: int) -> None:
            api = apis[i % 2]
            async with gate:
                t0 = time.monotonic()
                created = await http.post(f"{api}/v1/tickets", json={
                    "subject": f"multihost {i}", "message": "m", "requester_email": f"c{i}@example.com",
                    "assignee_id": agent_id})  # fmt: skip
                t1 = time.monotonic()
                assert created.status_code == 201, created.text
                resolved = await http.patch(f"{apis[(i + 1) % 2]}/v1/tickets/{created.json()['id']}",
                                            json={"status": "resolved"})  # fmt: skip
                assert resolved.status_code == 200, resolved.text
                latencies.extend([t1 - t0, time.monotonic() - t1])

        async def received() -> list[dict[str, object]]:
            dump: list[dict[str, object]] = (await http.get(f"{HOOK_URL.rsplit('/', 1)[0]}/_dump")).json()
            return dump

        load_started = time.monotonic()
        load = asyncio.gather(*(one(i) for i in range(args.tickets)))
        # Lose worker host 1 while deliveries are in flight: a third of the way through the load.
        killed_at: float | None = None
        while not load.done():
            if killed_at is None and len(await received()) >= args.tickets:
                procs["worker1"].send_signal(signal.SIGKILL)
                procs["worker1"].wait()
                sh("ip", "netns", "del", "hd-w1")
                killed_at = time.monotonic()
                print(f"worker host 1 lost after {killed_at - load_started:.1f} s", flush=True)
            await asyncio.sleep(0.05)
        await load
        load_seconds = time.monotonic() - load_started
        if killed_at is None:
            raise SystemExit("FAILED: the load finished before a worker host could be lost; raise --tickets")

        db = await asyncpg.connect(DB_URL)
        try:

            async def settled() -> bool:
                closed = await db.fetchval("SELECT count(*) FROM tickets WHERE status = 'closed'")
                pending = await db.fetchval(
                    "SELECT count(*) FROM webhook_deliveries WHERE status <> 'succeeded'"
                )
                messages = await db.fetchval("SELECT count(*) FROM webhook_messages")
                return bool(closed == args.tickets and pending == 0 and len(await received()) >= messages)

            settle_seconds = await wait_for(settled, 180, "every ticket closed and every webhook delivered")
            return await verify(db, await received(), args, load_seconds, latencies, settle_seconds, procs)
        finally:
            await db.close()


async def verify(
    db: asyncpg.Connection,
    received: list[dict[str, object]],
    args: argparse.Namespace,
    load_seconds: float,
    latencies: list[float],
    settle_seconds: float,
    procs: dict[str, subprocess.Popen[bytes]],
) -> dict[str, object]:
    message_ids = {r["id"] for r in await db.fetch("SELECT id FROM webhook_messages")}
    got_ids = [r["id"] for r in received]
    twice_recorded = await db.fetchval(
        "SELECT count(*) FROM (SELECT delivery_id FROM webhook_attempts WHERE succeeded "
        "GROUP BY delivery_id HAVING count(*) > 1) AS d"
    )
    no_success = await db.fetchval(
        "SELECT count(*) FROM webhook_deliveries d WHERE NOT EXISTS "
        "(SELECT 1 FROM webhook_attempts a WHERE a.delivery_id = d.id AND a.succeeded)"
    )
    closed_events = await db.fetchval("SELECT count(*) FROM events WHERE type = 'ticket.closed'")
    closed_tickets = await db.fetchval(
        "SELECT count(DISTINCT ticket_id) FROM events WHERE type = 'ticket.closed'"
    )
    timers_left = await db.fetchval("SELECT count(*) FROM timers WHERE kind = 'auto_close'")
    names = {str(proc.pid): name for name, proc in procs.items()}
    rows = await db.fetch(
        "SELECT split_part(worker, ':', 2) AS pid, count(*) AS n FROM webhook_attempts GROUP BY 1"
    )
    per_worker = {names.get(r["pid"], r["pid"]): r["n"] for r in rows}
    lat = sorted(latencies)
    result = {
        "tickets": args.tickets,
        "requests": len(lat),
        "requests_per_second": round(len(lat) / load_seconds, 1),
        "request_p50_ms": round(statistics.median(lat) * 1000, 1),
        "request_p99_ms": round(lat[int(len(lat) * 0.99) - 1] * 1000, 1),
        "webhook_messages": len(message_ids),
        "received": len(got_ids),
        "duplicates_received": len(got_ids) - len(set(got_ids)),
        "missing": len(message_ids - set(got_ids)),
        "deliveries_with_two_successful_attempts": twice_recorded,
        "deliveries_without_a_successful_attempt": no_success,
        "ticket_closed_events": closed_events,
        "tickets_closed_by_timer": closed_tickets,
        "auto_close_timers_left": timers_left,
        "attempts_per_worker": per_worker,
        "settled_after_load_seconds": round(settle_seconds, 1),
    }
    ok = (
        result["missing"] == 0
        and twice_recorded == 0
        and no_success == 0
        and closed_events == closed_tickets == args.tickets
        and timers_left == 0
    )
    result["ok"] = ok
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: it creates network namespaces")
    root = Path(tempfile.mkdtemp(prefix="helpdesk-multihost-"))
    shutil.chown(root, "postgres")
    logs = root / "logs"
    logs.mkdir()
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        remove_network()  # leftovers of an interrupted run
        make_network()
        start_postgres(root / "pg")
        result = asyncio.run(run(args, procs, logs, admin_token()))
        print(json.dumps(result, indent=2))
        if not result["ok"]:
            raise SystemExit(f"FAILED (logs in {logs})")
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        stop_postgres(root / "pg")
        remove_network()
        if os.environ.get("KEEP_LOGS") is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
