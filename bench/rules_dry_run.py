"""Rule dry runs over 1,000,000 tickets: how long ``POST /v1/rules/dry-run`` takes end to end (exact count,
first page of 50 with the actions' changes), for calendar-time and business-time conditions.

    .venv/bin/python bench/rules_dry_run.py --reuse-db soak_rules_1m --runs 7

Loads bench/load_data.py's data set (1,000,000 tickets, 5 comments each, 75 % not closed) into a database
of its own (kept with ``--reuse-db``), starts ``helpdesk serve`` on loopback, creates a business calendar
(Monday to Friday 09:00-17:00, Europe/Berlin) and runs each rule in turn, interleaved, ``--runs`` times.
Prints per rule the tickets matched and the median and maximum seconds, and the PostgreSQL plan of the
count for each rule (``--explain``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import harness  # noqa: E402


def _leaf(field: str, operator: str, value: Any) -> dict[str, Any]:
    return {"field": field, "operator": operator, "value": value}


def _minutes(minutes: int, calendar: str | None) -> dict[str, Any]:
    if calendar is None:
        return {"minutes": minutes, "time": "calendar"}
    return {"minutes": minutes, "time": "business", "calendar_id": calendar}


def rules(calendar: str, group: str) -> dict[str, dict[str, Any]]:
    actions = [
        {"type": "assign_group", "group_id": group, "strategy": "least_open"},
        {"type": "add_tags", "tags": ["escalated"]},
        {
            "type": "add_internal_note",
            "template": "Escalated: {{requester.name}} waits on {{ticket.subject}}",
        },
        {"type": "emit_ticket_escalated", "level": 1, "reason": "waiting too long"},
    ]
    found = {}
    for label, cal in (("calendar", None), ("business", calendar)):
        found[f"escalation ({label} time)"] = {
            "trigger": "on_time",
            "conditions": {
                "all": [
                    _leaf("priority", "in", ["high", "urgent"]),
                    _leaf("status", "in", ["new", "open"]),
                    _leaf("since_updated", "at_least", _minutes(24 * 60 if cal is None else 8 * 60, cal)),
                ],
                "any": [_leaf("assignee_id", "is", None), _leaf("tags", "includes", "vip")],
            },
            "actions": actions,
        }
        found[f"broad ({label} time)"] = {
            "trigger": "on_time",
            "conditions": {
                "all": [_leaf("since_last_customer_message", "at_least", _minutes(4 * 60, cal))],
                "any": [],
            },
            "actions": actions[1:],
        }
        # Matches all but the oldest tickets: the first page lies past the bounded walk in id order.
        found[f"late matches ({label} time)"] = {
            "trigger": "on_time",
            "conditions": {
                "all": [
                    _leaf("since_created", "less_than", _minutes(1_008_000 if cal is None else 240_000, cal))
                ],
                "any": [],
            },
            "actions": [{"type": "add_tags", "tags": ["recent"]}],
        }
        found[f"recent follow-up ({label} time)"] = {
            "trigger": "on_time",
            "conditions": {
                "all": [
                    _leaf("status", "is", "resolved"),
                    _leaf(
                        "since_resolved",
                        "less_than",
                        _minutes(30 * 24 * 60 if cal is None else 160 * 60, cal),
                    ),
                ],
                "any": [],
            },
            "actions": [{"type": "emit_rule_triggered", "label": "send-survey"}],
        }
    return found


async def _explain(url: str, body: dict[str, Any]) -> str:
    """The plan of the dry run's count, as PostgreSQL runs it (EXPLAIN ANALYZE on the same text)."""
    from api.conditions.compile import compile_tree
    from api.conditions.tree import parse
    from api.db import utcnow
    from api.rules.preview import _COUNT
    from api.tickets.store import Params

    conn = await asyncpg.connect(url)
    try:
        program = compile_tree(parse(body["conditions"], body["trigger"]))
        schedules = {}
        for calendar_id in program.calendar_ids:
            from api.calendars.store import load_schedule

            loaded = await load_schedule(conn, calendar_id)
            assert loaded is not None
            schedules[calendar_id] = loaded.schedule
        params = Params()
        sql = _COUNT.format(where=program.at(utcnow(), schedules).sql(params))
        rows = await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", *params.values)
        return "\n".join(row[0] for row in rows)
    finally:
        await conn.close()


async def main(args: argparse.Namespace) -> None:
    name = args.reuse_db or harness.new_name("rules")
    url, load_seconds = await harness.prepare_database(
        args.server, name, tickets=args.tickets, comments=5, customers=200_000, reuse=bool(args.reuse_db)
    )
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("VACUUM ANALYZE tickets")
        group = str(await conn.fetchval("SELECT id FROM groups ORDER BY name LIMIT 1"))
        await conn.execute(
            "INSERT INTO group_members (group_id, agent_id) SELECT $1::uuid, id FROM agents "
            "WHERE email LIKE '%@bench.example' ORDER BY email LIMIT 10 ON CONFLICT DO NOTHING",
            group,
        )
    finally:
        await conn.close()
    token = harness.api_key(url, "admin", "rules bench")
    log = Path(tempfile.mkdtemp(prefix="rules-bench-")) / "serve.log"
    proc = harness.start(harness.serve_cmd(args.port), harness.service_env(url, 4), log)
    results: dict[str, list[float]] = {}
    matched: dict[str, int] = {}
    try:
        await harness.wait_http(args.port, "/healthz", proc)
        base = f"http://127.0.0.1:{args.port}"
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=120) as client:
            weekdays = ("monday", "tuesday", "wednesday", "thursday", "friday")
            calendar = (
                await client.post(
                    "/v1/business-calendars",
                    json={
                        "name": "Bench office",
                        "time_zone": "Europe/Berlin",
                        "weekly": [{"day": d, "start": "09:00", "end": "17:00"} for d in weekdays],
                    },
                )
            ).json()["id"]
            bodies = rules(calendar, group)
            for run in range(args.runs + 1):  # the first round warms caches and is not counted
                order = list(bodies) if run % 2 == 0 else list(reversed(bodies))
                for label in order:
                    started = time.perf_counter()
                    r = await client.post("/v1/rules/dry-run", json=bodies[label])
                    took = time.perf_counter() - started
                    r.raise_for_status()
                    matched[label] = r.json()["matched"]
                    if run:
                        results.setdefault(label, []).append(took)
            if args.explain:
                for label, body in bodies.items():
                    print(f"--- {label}\n{await _explain(url, body)}")
    finally:
        harness.stop(proc)
        if not args.reuse_db:
            await harness.drop_database(args.server, name)
    facts = {**harness.machine(), **await harness.server_facts(args.server), "load_seconds": load_seconds}
    print(json.dumps(facts))
    print(f"{args.runs} interleaved runs; seconds per dry run (HTTP, count + first page of 50 + actions)")
    for label, times in results.items():
        print(
            f"{label:34} matched {matched[label]:>8,}  median {statistics.median(times):6.3f}  "
            f"max {max(times):6.3f}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--server", default=harness.DEFAULT_SERVER)
    parser.add_argument("--reuse-db", help="keep the data set in this database (soak_…) for later runs")
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--port", type=int, default=8391)
    parser.add_argument("--explain", action="store_true", help="print the count's plan for each rule")
    asyncio.run(main(parser.parse_args()))
