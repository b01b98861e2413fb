"""Soak: a long fixed-rate mixed load (issue 10, item 7) — flat memory, no errors, stable p99, webhooks
delivered, with one healthy and one flaky webhook consumer.

    .venv/bin/python bench/soak.py                                 # 30 minutes, 150 req/s, 100,000 tickets
    .venv/bin/python bench/soak.py --duration 120 --tickets 20000  # a trial

What it does, on loopback, with processes it starts and stops by PID:

1. A database ``soak_soak_<random>`` on the shared server, migrated and loaded with bench/load_data.py
   (``--reuse-db soak_NAME`` keeps it; a reused one has its webhook endpoints and messages removed first,
   while tickets created or changed by earlier runs stay).
2. ``helpdesk serve`` (``--workers``; the background runner inside it, as deployed by default, or in a
   separate ``helpdesk worker`` with ``--worker-process``) and bench/receiver.py with two endpoints
   registered through the API: ``/e/healthy`` (answers 200 at once) and ``/flaky`` (``--flaky-fail`` of
   deliveries get 500, ``--flaky-hang`` are answered only after ``--flaky-hang-seconds``, past the
   sender's 15 s timeout).
3. One open-loop generator (bench/open_loop.py: fixed rate, latency from the intended send instant) at
   ``--rate`` requests/s, mixed by ``--mix`` (weights): ``create`` (POST /v1/tickets, half with an
   Idempotency-Key), ``update`` (PATCH priority, tags or status; 5 % with a stale ``If-Match``),
   ``comment`` (agent replies and customer replies), ``list`` (status+assignee and status+tag pages),
   ``search`` (full-text pages). Writes act as a bench agent through an agent-bound key.
4. Every ``--window`` seconds: RSS (VmRSS) of ``helpdesk serve`` and every descendant (uvicorn worker
   processes), and of the separate worker; the webhook backlog (pending deliveries per endpoint).
5. After the load, up to ``--drain-seconds`` for the healthy endpoint's backlog to empty, then the report:
   per-window requests, p99, errors, RSS and backlog; the memory trend (mean RSS over the first vs the
   last ``--memory-window`` seconds, least-squares slope in MB/hour); errors (every 5xx and transport
   error; 409 and 412 — lifecycle refusals of closed tickets, stale If-Match — counted apart as expected,
   other 4xx listed apart as unexpected); p99 stability (windows above ``--p99-factor`` x the median
   window p99 are listed — decided by the reader, nothing is hidden); deliveries per endpoint by state;
   whether every webhook message reached the healthy receiver (message ids in the database vs distinct
   verified ids the receiver saw).

Output: progress lines per window, a Markdown report for bench/RESULTS.md (also bench/out/soak.md) and
the raw JSON (bench/out/soak.json). Size ``--rate`` well below the capacity measured by bench/run.sh
(this is a soak, not a stress test): on the 2-vCPU bench VM 150 req/s of this mix uses about half of it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import harness  # noqa: E402
from bench.open_loop import OpenLoop, build_request, human_line, list_paths  # noqa: E402

KINDS = ("create", "update", "comment", "list", "search")
EXPECTED_4XX = {"409", "412"}
WORDS = ("printer", "refund", "password", "invoice", "vpn", "login", "outage", "wallet", "tax", "sync")
TAGS = ("vip", "bug", "billing", "tag3", "tag17", "soak")


class Mix:
    """The request factory: a weighted choice of kinds, each with random parameters."""

    def __init__(
        self, args: argparse.Namespace, host: str, token: str, agents: list[str], customer_token: str
    ) -> None:
        self.kinds = list(args.mix)
        self.weights = [args.mix[k] for k in self.kinds]
        self.host = host
        self.tickets = args.tickets
        self.customers = args.customers
        self.auth = ("Authorization", f"Bearer {token}")
        # Agents write as themselves; customer replies come through a key that speaks for customers.
        self.customer_auth = ("Authorization", f"Bearer {customer_token}")
        self.json = ("Content-Type", "application/json")
        self.lists = [list_paths("status_assignee", agents), list_paths("status_tag", agents)]
        self.search_page = list_paths("search", agents)

    def __call__(self) -> tuple[str, bytes]:
        kind = random.choices(self.kinds, self.weights)[0]
        return kind, getattr(self, kind)()

    def _post(self, method: str, path: str, body: dict[str, Any], *extra: tuple[str, str]) -> bytes:
        return build_request(
            method, path, self.host, [self.auth, self.json, *extra], json.dumps(body).encode()
        )

    def create(self) -> bytes:
        body = {
            "subject": f"Soak ticket {random.choice(WORDS)} {random.randrange(10**9)}",
            "message": f"The {random.choice(WORDS)} fails again since this morning.",
            "requester_email": f"customer{random.randint(1, self.customers)}@bench.example",
            "priority": random.choice(("low", "normal", "high", "urgent")),
            "tags": random.sample(TAGS, 2),
        }
        extra = [("Idempotency-Key", str(uuid.uuid4()))] if random.random() < 0.5 else []
        return self._post("POST", "/v1/tickets", body, *extra)

    def update(self) -> bytes:
        draw = random.random()
        if draw < 0.6:
            body: dict[str, Any] = {"priority": random.choice(("low", "normal", "high", "urgent"))}
        elif draw < 0.8:
            body = {"tags": random.sample(TAGS, random.randint(0, 3))}
        else:
            body = {"status": random.choice(("open", "pending", "on_hold", "resolved"))}
        extra = [("If-Match", '"1"')] if random.random() < 0.05 else []
        return self._post("PATCH", f"/v1/tickets/{random.randint(1, self.tickets)}", body, *extra)

    def comment(self) -> bytes:
        body: dict[str, Any] = {"body": f"About the {random.choice(WORDS)}: {random.randrange(10**6)}"}
        path = f"/v1/tickets/{random.randint(1, self.tickets)}/comments"
        if random.random() < 0.3:
            body["author_type"] = "customer"
            return build_request(
                "POST", path, self.host, [self.customer_auth, self.json], json.dumps(body).encode()
            )
        return self._post("POST", path, body)

    def list(self) -> bytes:
        return build_request("GET", random.choice(self.lists)(), self.host, [self.auth])

    def search(self) -> bytes:
        return build_request("GET", self.search_page(), self.host, [self.auth])


def rss_mb(pid: int) -> dict[str, float]:
    """VmRSS in MB of a process and each of its descendants (label: pid and short command)."""
    out: dict[str, float] = {}
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return out
    for proc in procs:
        try:
            status = Path(f"/proc/{proc.pid}/status").read_text()
            kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
            name = " ".join(proc.cmdline()[1:3])[-40:]
        except (OSError, StopIteration, psutil.Error):
            continue
        out[f"{proc.pid} {name}"] = round(kb / 1024, 1)
    return out


BACKLOG_SQL = """
SELECT e.url, d.status, count(*)::int AS n
FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
GROUP BY e.url, d.status
"""


async def backlog(conn: asyncpg.Connection, endpoints: dict[str, str]) -> dict[str, dict[str, int]]:
    by_url = {url: name for name, url in endpoints.items()}
    out: dict[str, dict[str, int]] = {name: {} for name in endpoints}
    for row in await conn.fetch(BACKLOG_SQL):
        name = by_url.get(row["url"])
        if name is not None:
            out[name][row["status"]] = row["n"]
    return out


def slope_mb_per_hour(points: list[tuple[float, float]]) -> float | None:
    if len(points) < 2:
        return None
    xs = [t for t, _ in points]
    ys = [v for _, v in points]
    mx, my = statistics.mean(xs), statistics.mean(ys)
    var = sum((x - mx) ** 2 for x in xs)
    if var == 0:
        return None
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var * 3600


async def http_json(port: int, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
    """One setup or control request on loopback (aiohttp: not on the measured path)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    timeout = aiohttp.ClientTimeout(total=60)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.request(method, f"http://127.0.0.1:{port}{path}", json=body, headers=headers) as response,
    ):
        payload = await response.read()
        if response.status >= 300:
            raise RuntimeError(f"{method} {path}: {response.status} {payload[:300]!r}")
        return json.loads(payload) if payload else None


async def soak(args: argparse.Namespace) -> dict[str, Any]:
    facts = {**harness.machine(), **(await harness.server_facts(args.server))}
    name = args.reuse_db or harness.new_name("soak")
    procs: dict[str, Any] = {}
    receiver = None
    result: dict[str, Any] = {
        "machine": facts,
        "database": name,
        "args": dict(vars(args)),
    }
    try:
        url, load_seconds = await harness.prepare_database(
            args.server,
            name,
            tickets=args.tickets,
            comments=args.comments_per_ticket,
            customers=args.customers,
            reuse=args.reuse_db is not None,
        )
        result["load_seconds"] = load_seconds
        db = await asyncpg.connect(url)
        if args.reuse_db is not None:  # a clean slate for the webhook checks
            await db.execute("DELETE FROM webhook_endpoints; DELETE FROM webhook_messages")
        agents = await harness.bench_agents(url)
        admin = await asyncio.to_thread(harness.api_key, url, "admin", "soak-admin")
        agent = await asyncio.to_thread(harness.api_key, url, "agent", "soak-agent", "agent1@bench.example")
        portal = await asyncio.to_thread(
            lambda: harness.api_key(url, "agent", "soak-portal", speaks_for_customers=True)
        )

        out = ROOT / "bench" / "out"
        out.mkdir(exist_ok=True)
        receiver = await asyncio.create_subprocess_exec(
            harness.python(),
            str(ROOT / "bench" / "receiver.py"),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert receiver.stdout is not None
        receiver_port = int(await asyncio.wait_for(receiver.stdout.readline(), 30))
        await http_json(
            receiver_port,
            "POST",
            "/_flaky",
            {"fail": args.flaky_fail, "hang": args.flaky_hang, "hang_seconds": args.flaky_hang_seconds},
        )

        env = harness.service_env(
            url,
            args.pool,
            {
                "HELPDESK_WEBHOOK_ALLOW_HTTP": "true",
                "HELPDESK_WEBHOOK_ALLOW_CIDRS": "127.0.0.0/8",
                "HELPDESK_RUN_WORKER": "false" if args.worker_process else "true",
            },
        )
        procs["serve"] = harness.start(
            harness.serve_cmd(args.api_port, args.workers), env, out / "soak-api.log"
        )
        if args.worker_process:
            procs["worker"] = harness.start(
                [harness.VENV_BIN / "helpdesk", "worker"],
                {**env, "HELPDESK_RUN_WORKER": "true"},
                out / "soak-worker.log",
            )
        await harness.wait_http(args.api_port, "/readyz", procs["serve"])

        endpoints = {
            "healthy": f"http://127.0.0.1:{receiver_port}/e/healthy",
            "flaky": f"http://127.0.0.1:{receiver_port}/flaky",
        }
        secrets = {}
        for label, endpoint_url in endpoints.items():
            created = await http_json(
                args.api_port, "POST", "/v1/webhooks/endpoints", {"url": endpoint_url}, token=admin
            )
            secrets[endpoint_url.split(str(receiver_port), 1)[1]] = created["secret"]
            print(f"webhook endpoint {label}: {endpoint_url}", flush=True)
        await http_json(receiver_port, "POST", "/_secrets", secrets)

        host = f"127.0.0.1:{args.api_port}"
        gen = OpenLoop(
            f"http://{host}",
            Mix(args, host, agent, agents, portal),
            args.rate,
            args.duration,
            warmup=args.warmup,
            max_conns=args.max_conns,
            window_seconds=args.window,
        )
        samples: list[dict[str, Any]] = []

        async def sample(at: float) -> None:
            rss = {label: rss_mb(proc.pid) for label, proc in procs.items()}
            total = round(sum(v for per in rss.values() for v in per.values()), 1)
            samples.append(
                {
                    "t": round(at, 1),
                    "rss_mb": rss,
                    "rss_total_mb": total,
                    "webhooks": await backlog(db, endpoints),
                }
            )

        async def sampler() -> None:
            await gen.scheduled.wait()
            k = 0
            while True:
                due = gen.measure_start + k * args.window
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                await sample(time.monotonic() - gen.measure_start)
                if k > 0:
                    w = gen.recorder.summary(windows=[k - 1])
                    s = samples[-1]
                    print(
                        f"[{s['t']:7.0f} s] window {k}: {w['requests']} requests, p99 "
                        f"{w['latency_ms']['p99']} ms, statuses {w['status_counts']}, transport "
                        f"{w['transport_errors']}; RSS {s['rss_total_mb']} MB; webhooks {s['webhooks']}",
                        flush=True,
                    )
                k += 1
                if k * args.window > args.duration:
                    return

        print(
            f"soak: {args.rate}/s for {args.duration} s (+{args.warmup} s warm-up), mix {args.mix}, "
            f"windows of {args.window} s",
            flush=True,
        )
        sampling = asyncio.create_task(sampler())
        run = await gen.run()
        await sampling
        print(human_line(run.report, "overall: "), flush=True)

        # Drain: the healthy endpoint's backlog must empty (its deliveries all succeed at once).
        drain_started = time.monotonic()
        while time.monotonic() - drain_started < args.drain_seconds:
            pending = (await backlog(db, endpoints))["healthy"].get("pending", 0)
            if pending == 0:
                break
            await asyncio.sleep(2)
        result["drain_seconds"] = round(time.monotonic() - drain_started, 1)
        await sample(time.monotonic() - gen.measure_start)  # final memory and backlog, after the drain
        healthy_url = endpoints["healthy"]
        expected_ids = {
            r["message_id"]
            for r in await db.fetch(
                "SELECT d.message_id FROM webhook_deliveries d JOIN webhook_endpoints e "
                "ON e.id = d.endpoint_id WHERE e.url = $1",
                healthy_url,
            )
        }
        messages = await db.fetchval("SELECT count(*) FROM webhook_messages")
        received = set(await http_json(receiver_port, "GET", "/_ids?path=/e/healthy"))
        result["receiver"] = await http_json(receiver_port, "GET", "/_summary")
        attempts = await db.fetch(
            "SELECT e.url, a.succeeded, a.error_class, count(*)::int AS n FROM webhook_attempts a "
            "JOIN webhook_endpoints e ON e.id = a.endpoint_id GROUP BY 1, 2, 3"
        )
        result["webhooks"] = {
            "messages": messages,
            "healthy_deliveries": len(expected_ids),
            "healthy_received_distinct": len(received),
            "healthy_missing": len(expected_ids - received),
            "final_backlog": samples[-1]["webhooks"],
            "attempts": [dict(r) for r in attempts],
        }
        result["samples"] = samples
        result["report"] = run.report
        result["windows"] = [
            {"window": w, **run.recorder.summary(windows=[w])} for w in run.recorder.window_indexes()
        ]
        await db.close()
    finally:
        for proc in procs.values():
            harness.stop(proc)
        if receiver is not None and receiver.returncode is None:
            assert receiver.stdin is not None
            receiver.stdin.close()
            try:
                await asyncio.wait_for(receiver.wait(), 10)
            except TimeoutError:
                receiver.kill()
        if args.reuse_db is None:
            await harness.drop_database(args.server, name)
            print(f"database {name} dropped", flush=True)
        else:
            print(f"database {name} kept (--reuse-db)", flush=True)
    return result


def _errors(summary: dict[str, Any]) -> tuple[int, int, int]:
    """(5xx + transport errors, expected 4xx, other 4xx) of a recorder summary."""
    statuses = summary["status_counts"]
    errors = sum(v for k, v in statuses.items() if k.startswith("5")) + sum(
        summary["transport_errors"].values()
    )
    expected = sum(v for k, v in statuses.items() if k in EXPECTED_4XX)
    other = sum(v for k, v in statuses.items() if k.startswith("4") and k not in EXPECTED_4XX)
    return errors, expected, other


def analyse(result: dict[str, Any], args: argparse.Namespace) -> str:
    report, samples, windows = result["report"], result["samples"], result["windows"]
    # Memory: samples during the load (the final one, after the drain, is shown apart).
    during = [s for s in samples[:-1] if s["t"] <= args.duration + 1]
    span = min(args.memory_window, args.duration / 4)
    first = [s["rss_total_mb"] for s in during if s["t"] <= span]
    last = [s["rss_total_mb"] for s in during if s["t"] >= args.duration - span]
    slope = slope_mb_per_hour([(s["t"], s["rss_total_mb"]) for s in during])
    p99s = [w["latency_ms"]["p99"] for w in windows if w["latency_ms"]["p99"] is not None]
    median_p99 = statistics.median(p99s) if p99s else None
    high = [
        (w["window"], w["latency_ms"]["p99"])
        for w in windows
        if median_p99 and w["latency_ms"]["p99"] and w["latency_ms"]["p99"] > args.p99_factor * median_p99
    ]
    errors, expected, other = _errors(report)
    lat = report["latency_ms"]
    hooks = result["webhooks"]
    backlog_end = hooks["final_backlog"]
    m = result["machine"]

    def fmt(v: float | None, unit: str = "") -> str:
        return "-" if v is None else f"{v:,.1f}{unit}"

    gen = report["generator"]
    healthy, flaky = backlog_end["healthy"], backlog_end["flaky"]
    complete = hooks["healthy_missing"] == 0 and hooks["healthy_deliveries"] == hooks["messages"]
    lowest, highest = min(p99s, default=None), max(p99s, default=None)
    above = ", ".join(f"#{w + 1} ({p:,.1f} ms)" for w, p in high) if high else "none"
    lines = [
        f"Soak, {m['date']}: {args.duration:,} s at {args.rate:g} req/s (mix "
        + ", ".join(f"{k} {v:g}" for k, v in args.mix.items())
        + f"), {args.tickets:,} tickets loaded, `helpdesk serve --workers {args.workers}`"
        + (" + `helpdesk worker`" if args.worker_process else " (runner in-process)")
        + f"; webhooks to one healthy and one flaky endpoint ({args.flaky_fail:.0%} answered 500, "
        f"{args.flaky_hang:.1%} answered after {args.flaky_hang_seconds:g} s); {m['cpus']} CPUs, "
        f"load average at start {m['loadavg']}, PostgreSQL {m['postgresql']} "
        f"(autovacuum {m.get('autovacuum', '?')}).",
        "",
        "| measure | result |",
        "| --- | --- |",
        f"| requests (measured) | {report['requests']:,}; achieved {report['achieved_rate']:,.1f}/s of "
        f"{args.rate:g}/s offered |",
        f"| errors (5xx + transport) | **{errors}** (statuses {report['status_counts']}, transport "
        f"{report['transport_errors'] or 'none'}) |",
        f"| expected 4xx (409 lifecycle / 412 stale If-Match) | {expected:,} |",
        f"| other 4xx | {other:,} |",
        f"| latency, whole run | p50 {fmt(lat['p50'])} / p90 {fmt(lat['p90'])} / p99 {fmt(lat['p99'])} / "
        f"p99.9 {fmt(lat['p99.9'])} / max {fmt(lat['max'])} ms |",
        f"| p99 per {args.window:g} s window | median {fmt(median_p99)} ms, min {fmt(lowest)}, "
        f"max {fmt(highest)}; windows above {args.p99_factor:g}x median: {above} |",
        f"| RSS (serve + children{' + worker' if args.worker_process else ''}) | first {span:.0f} s mean "
        f"{fmt(statistics.mean(first) if first else None)} MB, last {span:.0f} s mean "
        f"{fmt(statistics.mean(last) if last else None)} MB; slope {fmt(slope)} MB/hour; after drain "
        f"{samples[-1]['rss_total_mb']} MB |",
        f"| webhook deliveries, healthy (succeeded / failed / pending) | {healthy.get('succeeded', 0):,}"
        f" / {healthy.get('failed', 0):,} / {healthy.get('pending', 0):,} |",
        f"| webhook deliveries, flaky (succeeded / failed / pending) | {flaky.get('succeeded', 0):,}"
        f" / {flaky.get('failed', 0):,} / {flaky.get('pending', 0):,} "
        f"(pending ones wait for a later retry: 5 s, 5 min, 30 min, …) |",
        f"| every event delivered to the healthy receiver | {'**yes**' if complete else '**no**'}"
        f": {hooks['messages']:,} messages, {hooks['healthy_deliveries']:,} healthy deliveries, "
        f"{hooks['healthy_received_distinct']:,} distinct ids verified by the receiver, "
        f"{hooks['healthy_missing']} missing (drain took {result['drain_seconds']} s) |",
        f"| generator | cpu {gen['cpu_pct']} %, dispatch lag p99 {gen['dispatch_lag_ms']['p99']} ms, "
        f"peak connections {gen['peak_conns']}, saturated {gen['saturated_requests']} |",
        "",
        "Per kind:",
        "",
        "| kind | requests | p50 ms | p99 ms | max ms | 5xx + transport | 409/412 | other 4xx |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for kind, summary in report["per_kind"].items():
        e, x, o = _errors(summary)
        k_lat = summary["latency_ms"]
        lines.append(
            f"| {kind} | {summary['requests']:,} | {fmt(k_lat['p50'])} | {fmt(k_lat['p99'])} | "
            f"{fmt(k_lat['max'])} | {e} | {x} | {o} |"
        )
    lines += [
        "",
        "Per window (RSS and backlog sampled at the window's end):",
        "",
        "| window | end (s) | requests | p50 ms | p99 ms | max ms | 5xx + transport | 409/412 | other 4xx "
        "| RSS MB | healthy pending | flaky pending |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    by_t = {round(s["t"] / args.window): s for s in during}
    for w in windows:
        e, x, o = _errors(w)
        s = by_t.get(w["window"] + 1, {})
        hooks_w = s.get("webhooks", {})
        w_lat = w["latency_ms"]
        lines.append(
            f"| {w['window'] + 1} | {(w['window'] + 1) * args.window:g} | {w['requests']:,} | "
            f"{fmt(w_lat['p50'])} | {fmt(w_lat['p99'])} | {fmt(w_lat['max'])} | "
            f"{e} | {x} | {o} | {s.get('rss_total_mb', '-')} | "
            f"{hooks_w.get('healthy', {}).get('pending', 0) if hooks_w else '-'} | "
            f"{hooks_w.get('flaky', {}).get('pending', 0) if hooks_w else '-'} |"
        )
    return "\n".join(lines)


def _mix(text: str) -> dict[str, float]:
    mix = {}
    for part in text.split(","):
        kind, _, weight = part.partition("=")
        if kind not in KINDS:
            raise argparse.ArgumentTypeError(f"unknown kind {kind!r} (kinds: {', '.join(KINDS)})")
        mix[kind] = float(weight)
    return mix


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=1800, help="measured seconds")
    parser.add_argument(
        "--warmup", type=float, default=30.0, help="seconds of the same load before measuring"
    )
    parser.add_argument("--rate", type=float, default=150.0, help="requests per second, all kinds together")
    parser.add_argument(
        "--mix",
        type=_mix,
        default=_mix("create=15,update=20,comment=15,list=35,search=15"),
        help="kind=weight,…",
    )
    parser.add_argument("--window", type=float, default=30.0, help="sampling and p99 window, seconds")
    parser.add_argument("--memory-window", type=float, default=300.0, help="first/last span compared for RSS")
    parser.add_argument(
        "--p99-factor", type=float, default=2.0, help="flag windows whose p99 exceeds this x median"
    )
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--comments-per-ticket", type=int, default=2)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument(
        "--server", default=harness.DEFAULT_SERVER, help="maintenance URL of the PostgreSQL server"
    )
    parser.add_argument(
        "--reuse-db", metavar="NAME", help="keep (and reuse) this database; must start with soak_"
    )
    parser.add_argument("--workers", type=int, default=1, help="helpdesk serve --workers")
    parser.add_argument(
        "--worker-process", action="store_true", help="run the background runner as helpdesk worker"
    )
    parser.add_argument("--pool", type=int, default=20)
    parser.add_argument("--flaky-fail", type=float, default=0.3)
    parser.add_argument("--flaky-hang", type=float, default=0.005)
    parser.add_argument("--flaky-hang-seconds", type=float, default=20.0)
    parser.add_argument("--drain-seconds", type=float, default=120.0)
    parser.add_argument("--max-conns", type=int, default=512)
    parser.add_argument("--api-port", type=int, default=8731)
    args = parser.parse_args()
    if args.reuse_db is not None and not args.reuse_db.startswith("soak_"):
        parser.error("--reuse-db names must start with soak_")
    try:
        import uvloop

        result = uvloop.run(soak(args))
    except ImportError:  # pragma: no cover
        result = asyncio.run(soak(args))
    text = analyse(result, args)
    out = ROOT / "bench" / "out"
    result["args"]["mix"] = args.mix
    (out / "soak.json").write_text(json.dumps(result, indent=2, default=str))
    (out / "soak.md").write_text(text + "\n")
    print()
    print(text)
    print(f"\n(raw JSON: {out / 'soak.json'}; this report: {out / 'soak.md'})")


if __name__ == "__main__":
    main()
