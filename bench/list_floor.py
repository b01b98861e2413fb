"""The list-page floor of issue 10, item 7, stated relative to the machine it runs on.

With N tickets (default 1,000,000), for each of the three lists — status+assignee, status+tag, text
search (the pages of bench/wrk/list.lua) — measured in one run, list after list:

(a) **throughput**: the most pages/s of the bare endpoint (bench/list_ceiling.py ``/list``: exactly the
    API's SQL from ``api.tickets.queries.list_tickets`` on exactly the API's statement pool, no
    middleware) and of the API (``GET /v1/tickets``), both with wrk closed loop on the same connections
    (``-t2 -c64`` by default), ``--rounds`` rounds alternating which goes first. Floor: API / bare ≥ 0.80
    (mean of the per-round ratios; only 2xx pages count).
(b) **latency at a fixed rate**: the API offered ``--fraction`` (0.6) times the bare endpoint's max pages/s
    from (a), open loop (bench/open_loop.py, latency from the intended send time as wrk2 measures it),
    for ``--open-seconds``. Floor: p99 < 50 ms, with no errors and the generator never saturated. The
    bare endpoint at the same rate is measured too (a reference: when it misses 50 ms as well, the
    machine is the limit, not the API), and ``--extra-rates`` adds fixed absolute rates (e.g.
    ``200,300`` — the "slow-host day" of the issue).

Data: a database ``soak_list_<random>`` on the shared server (``--server``), migrated and loaded with
bench/load_data.py, dropped at the end. ``--reuse-db soak_NAME`` keeps it and, on the next run with the
same ``--tickets``/``--comments-per-ticket``/``--customers``, skips the load (1,000,000 tickets take
minutes). Nothing here writes to the data set, so a kept database stays comparable across runs.

The API (``helpdesk serve``, one worker, no background runner, no access log) and the bare endpoint
(uvicorn, one worker, uvloop + httptools) run on 127.0.0.1 with the same pool size and are stopped by PID
at the end. wrk, both servers and PostgreSQL share the machine's cores.

    .venv/bin/python bench/list_floor.py --reuse-db soak_list_1m             # 1,000,000 tickets, kept
    .venv/bin/python bench/list_floor.py --tickets 50000 --max-seconds 10 --open-seconds 10   # a trial

Prints a Markdown table and a JSON summary (also written to bench/out/list_floor.json).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import harness  # noqa: E402
from bench.open_loop import OpenLoop, build_request, human_line, list_paths  # noqa: E402

LISTS = ("status_assignee", "status_tag", "search")
LABELS = {"status_assignee": "status+assignee", "status_tag": "status+tag", "search": "text search"}
RATIO_FLOOR = 0.80
P99_FLOOR_MS = 50.0


def wrk(
    port: int, mode: str, list_path: str, args: argparse.Namespace, env: dict[str, str]
) -> dict[str, Any]:
    """Closed loop: the most pages/s wrk gets through (2xx only) and its latency."""
    result = harness.wrk(
        f"http://127.0.0.1:{port}",
        "list.lua",
        args.max_seconds,
        {**env, "MODE": mode, "LIST_PATH": list_path},
        threads=args.threads,
        conns=args.conns,
    )
    return {"pages_per_s": result.pop("ok_per_s"), **result}


async def open_loop(
    port: int, mode: str, list_path: str, rate: float, args: argparse.Namespace, token: str
) -> dict[str, Any]:
    paths = list_paths(mode, args.agents, list_path)
    host = f"127.0.0.1:{port}"
    headers = [("Authorization", f"Bearer {token}")]

    def factory() -> tuple[str, bytes]:
        return mode, build_request("GET", paths(), host, headers)

    gen = OpenLoop(
        f"http://{host}",
        factory,
        rate,
        args.open_seconds,
        warmup=args.open_warmup,
        max_conns=args.max_conns,
        window_seconds=1.0,
    )
    result = await gen.run()
    report = result.report
    report.pop("per_kind", None)
    # Per second of the run: where the tail comes from (a few stalled seconds, or every second alike).
    seconds = [result.recorder.summary(windows=[w])["latency_ms"] for w in result.recorder.window_indexes()]
    report["per_second_p99_ms"] = [s["p99"] for s in seconds]
    report["per_second_max_ms"] = [s["max"] for s in seconds]
    return report


def latency_verdict(report: dict[str, Any]) -> str:
    gen = report["generator"]
    if gen["saturated_requests"] or gen["cpu_pct"] > 90:
        return "INVALID (generator saturated)"
    errors = sum(report["transport_errors"].values()) + sum(
        v for k, v in report["status_counts"].items() if not k.startswith("2")
    )
    if errors:
        return f"FAIL ({errors} errors)"
    p99 = report["latency_ms"]["p99"]
    if p99 is None:
        return "FAIL (no responses)"
    return "PASS" if p99 < P99_FLOOR_MS else "FAIL"


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    facts = {**harness.machine(), **(await harness.server_facts(args.server))}
    name = args.reuse_db or harness.new_name("list")
    api = bare = None
    results: dict[str, Any] = {"machine": facts, "database": name, "tickets": args.tickets, "lists": {}}
    try:
        url, load_seconds = await harness.prepare_database(
            args.server,
            name,
            tickets=args.tickets,
            comments=args.comments_per_ticket,
            customers=args.customers,
            reuse=args.reuse_db is not None,
        )
        results["load_seconds"] = load_seconds
        args.agents = await harness.bench_agents(url)
        handle, agents_name = tempfile.mkstemp(prefix="soak-agents-", suffix=".txt")
        os.write(handle, ("\n".join(args.agents) + "\n").encode())
        os.close(handle)
        token = await asyncio.to_thread(harness.api_key, url, "agent", "list-floor")
        env = harness.service_env(
            url, args.pool, {"HELPDESK_RUN_WORKER": "false", "LIST_CEILING_LEGACY_POOL": "0"}
        )
        wrk_env = {**os.environ, "TOKEN": token, "AGENTS_FILE": agents_name}
        out = ROOT / "bench" / "out"
        out.mkdir(exist_ok=True)
        api = harness.start(harness.serve_cmd(args.api_port), env, out / "list_floor-api.log")
        bare = harness.start(
            [
                harness.VENV_BIN / "uvicorn",
                "bench.list_ceiling:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(args.bare_port),
                "--loop",
                "uvloop",
                "--http",
                "httptools",
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            env,
            out / "list_floor-bare.log",
        )
        await harness.wait_http(args.api_port, "/readyz", api)
        await harness.wait_http(args.bare_port, "/list?status=open&limit=1", bare)
        targets = {"bare": (args.bare_port, "/list"), "api": (args.api_port, "/v1/tickets")}
        print(f"{facts}\nwarming up ({args.warm_seconds} s per list and side) …", flush=True)
        warm = argparse.Namespace(**{**vars(args), "max_seconds": args.warm_seconds})
        for mode in args.lists:
            for port, path in targets.values():
                await asyncio.to_thread(wrk, port, mode, path, warm, wrk_env)

        for mode in args.lists:
            entry: dict[str, Any] = {"rounds": []}
            for r in range(args.rounds):
                order = ("bare", "api") if r % 2 == 0 else ("api", "bare")
                this_round = {}
                for side in order:
                    port, path = targets[side]
                    this_round[side] = await asyncio.to_thread(wrk, port, mode, path, args, wrk_env)
                    got = this_round[side]
                    print(
                        f"{LABELS[mode]} round {r + 1} {side}: {got['pages_per_s']:,.0f} pages/s, "
                        f"p99 {got.get('p99_ms')} ms, non-2xx {got['non_2xx']}",
                        flush=True,
                    )
                this_round["ratio"] = round(
                    this_round["api"]["pages_per_s"] / this_round["bare"]["pages_per_s"], 3
                )
                entry["rounds"].append(this_round)
            bare_max = statistics.mean(x["bare"]["pages_per_s"] for x in entry["rounds"])
            api_max = statistics.mean(x["api"]["pages_per_s"] for x in entry["rounds"])
            ratio = statistics.mean(x["ratio"] for x in entry["rounds"])
            entry.update(
                bare_max=round(bare_max, 1),
                api_max=round(api_max, 1),
                ratio=round(ratio, 3),
                ratio_verdict="PASS" if ratio >= RATIO_FLOOR else "FAIL",
            )
            rate = round(args.fraction * bare_max, 1)
            entry["open_loop_rate"] = rate
            entry["api_open_loop"] = await open_loop(args.api_port, mode, "/v1/tickets", rate, args, token)
            entry["latency_verdict"] = latency_verdict(entry["api_open_loop"])
            print(human_line(entry["api_open_loop"], f"{LABELS[mode]} API open loop: "), flush=True)
            print(f"  per-second max ms: {entry['api_open_loop']['per_second_max_ms']}", flush=True)
            if not args.no_bare_open_loop:
                entry["bare_open_loop"] = await open_loop(args.bare_port, mode, "/list", rate, args, token)
                print(human_line(entry["bare_open_loop"], f"{LABELS[mode]} bare open loop: "), flush=True)
                print(f"  per-second max ms: {entry['bare_open_loop']['per_second_max_ms']}", flush=True)
            entry["extra_rates"] = []
            for extra in args.extra_rates:
                report = await open_loop(args.api_port, mode, "/v1/tickets", extra, args, token)
                entry["extra_rates"].append(report)
                print(human_line(report, f"{LABELS[mode]} API open loop: "), flush=True)
            results["lists"][mode] = entry
        os.unlink(agents_name)
    finally:
        harness.stop(api)
        harness.stop(bare)
        if args.reuse_db is None:
            await harness.drop_database(args.server, name)
            print(f"database {name} dropped", flush=True)
        else:
            print(f"database {name} kept (--reuse-db)", flush=True)
    return results


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def table(results: dict[str, Any], args: argparse.Namespace) -> str:
    m = results["machine"]
    rows = [
        f"List-page floor, {results['tickets']:,} tickets, {results['machine']['date']}, "
        f"{results['machine']['cpus']} CPUs, load average {results['machine']['loadavg']}, "
        f"PostgreSQL {m['postgresql']} (shared_buffers {m['shared_buffers']}, "
        f"autovacuum {m.get('autovacuum', '?')}); "
        f"wrk -t{args.threads} -c{args.conns} -d{args.max_seconds}s, {args.rounds} rounds, "
        f"open loop {args.open_seconds:g} s at {args.fraction:.0%} of the bare max.",
        "",
        "| list | bare max pages/s (rounds) | API max pages/s (rounds) | API / bare | ≥ 0.80 "
        "| open loop rate | achieved | p50 ms | p99 ms | p99.9 ms | max ms | errors | p99 < 50 ms |",
        "| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]

    def row(
        label: str, bare: str, api: str, ratio: str, rv: str, report: dict[str, Any], verdict: str
    ) -> str:
        lat = report["latency_ms"]
        errors = sum(report["transport_errors"].values()) + sum(
            v for k, v in report["status_counts"].items() if not k.startswith("2")
        )
        return (
            f"| {label} | {bare} | {api} | {ratio} | {rv} | {report['rate']:,.0f} | "
            f"{report['achieved_rate']:,.1f} | {_fmt(lat['p50'])} | {_fmt(lat['p99'])} | "
            f"{_fmt(lat['p99.9'])} | {_fmt(lat['max'])} | {errors} | {verdict} |"
        )

    for mode, e in results["lists"].items():
        bare_rounds = ", ".join(f"{x['bare']['pages_per_s']:,.0f}" for x in e["rounds"])
        api_rounds = ", ".join(f"{x['api']['pages_per_s']:,.0f}" for x in e["rounds"])
        bare = f"{e['bare_max']:,.0f} ({bare_rounds})"
        api = f"{e['api_max']:,.0f} ({api_rounds})"
        rows.append(
            row(
                LABELS[mode],
                bare,
                api,
                f"{e['ratio']:.2f}",
                e["ratio_verdict"],
                e["api_open_loop"],
                e["latency_verdict"],
            )
        )
        if "bare_open_loop" in e:
            rows.append(
                row(
                    f"{LABELS[mode]}: bare endpoint, same rate (reference)",
                    "",
                    "",
                    "",
                    "",
                    e["bare_open_loop"],
                    latency_verdict(e["bare_open_loop"]),
                )
            )
        for report in e["extra_rates"]:
            rows.append(
                row(
                    f"{LABELS[mode]}: API at a fixed {report['rate']:,.0f}/s",
                    "",
                    "",
                    "",
                    "",
                    report,
                    latency_verdict(report),
                )
            )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--comments-per-ticket", type=int, default=5)
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument(
        "--server", default=harness.DEFAULT_SERVER, help="maintenance URL of the PostgreSQL server"
    )
    parser.add_argument(
        "--reuse-db", metavar="NAME", help="keep (and reuse) this database; must start with soak_"
    )
    parser.add_argument(
        "--lists", default=",".join(LISTS), help="comma-separated subset of " + ",".join(LISTS)
    )
    parser.add_argument(
        "--rounds", type=int, default=2, help="closed-loop rounds per list (alternating order)"
    )
    parser.add_argument("--max-seconds", type=int, default=20, help="wrk duration per closed-loop run")
    parser.add_argument("--warm-seconds", type=int, default=5, help="wrk warm-up per list and side")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--conns", type=int, default=64)
    parser.add_argument(
        "--fraction", type=float, default=0.6, help="open-loop rate as a fraction of bare max"
    )
    parser.add_argument("--open-seconds", type=float, default=30.0)
    parser.add_argument("--open-warmup", type=float, default=5.0)
    parser.add_argument("--max-conns", type=int, default=512, help="open-loop connection cap")
    parser.add_argument(
        "--extra-rates", default="", help="comma-separated fixed rates to offer the API as well"
    )
    parser.add_argument("--no-bare-open-loop", action="store_true", help="skip the bare endpoint's open loop")
    parser.add_argument(
        "--pool", type=int, default=20, help="statement pool size of the API and the bare endpoint"
    )
    parser.add_argument("--api-port", type=int, default=8721)
    parser.add_argument("--bare-port", type=int, default=8722)
    args = parser.parse_args()
    args.lists = [m for m in args.lists.split(",") if m]
    unknown = set(args.lists) - set(LISTS)
    if unknown:
        parser.error(f"unknown lists: {sorted(unknown)}")
    args.extra_rates = [float(x) for x in args.extra_rates.split(",") if x]
    if args.reuse_db is not None and not args.reuse_db.startswith("soak_"):
        parser.error("--reuse-db names must start with soak_")
    started = time.monotonic()
    try:
        import uvloop

        results = uvloop.run(measure(args))
    except ImportError:  # pragma: no cover
        results = asyncio.run(measure(args))
    results["run_seconds"] = round(time.monotonic() - started)
    out = ROOT / "bench" / "out" / "list_floor.json"
    out.write_text(json.dumps(results, indent=2))
    print()
    print(table(results, args))
    print()
    summary = {
        mode: {
            "bare_max": e["bare_max"],
            "api_max": e["api_max"],
            "ratio": e["ratio"],
            "ratio_floor": e["ratio_verdict"],
            "open_loop_rate": e["open_loop_rate"],
            "p99_ms": e["api_open_loop"]["latency_ms"]["p99"],
            "latency_floor": e["latency_verdict"],
        }
        for mode, e in results["lists"].items()
    }
    print(
        json.dumps(
            {"tickets": args.tickets, "load_seconds": results.get("load_seconds"), "lists": summary}, indent=2
        )
    )
    print(f"(full JSON: {out})")


if __name__ == "__main__":
    main()
