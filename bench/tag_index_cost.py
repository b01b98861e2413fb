"""What ``ticket_tags`` (migration 0330) costs a write: ticket inserts and status changes with its triggers
on and off, interleaved, HTTP-free, in a scratch database.

    .venv/bin/python bench/tag_index_cost.py --server postgresql://postgres@/postgres?host=/tmp/pg

Each round inserts ``--rows`` tickets with two tags in one statement, then changes their status (the
update trigger fires) and their priority (its WHEN clause skips it), once with the triggers enabled and
once disabled; the order alternates between rounds. Prints microseconds per row, per round and median.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import harness  # noqa: E402

INSERT = """
INSERT INTO tickets (subject, requester_id, tags, search)
SELECT 'Ticket ' || i, $1, ARRAY['vip', 'tag' || (i % 30)], ''::tsvector FROM generate_series(1, $2) i
"""
STEPS = {
    "insert": INSERT,
    "status": "UPDATE tickets SET status = 'open' WHERE status = 'new'",
    "priority": "UPDATE tickets SET priority = 'high' WHERE priority = 'normal'",
}


async def _round(conn: asyncpg.Connection, customer: object, rows: int, on: bool) -> dict[str, float]:
    await conn.execute(f"ALTER TABLE tickets {'ENABLE' if on else 'DISABLE'} TRIGGER USER")
    out = {}
    for step, sql in STEPS.items():
        args = (customer, rows) if step == "insert" else ()
        started = time.perf_counter()
        await conn.execute(sql, *args)
        out[step] = (time.perf_counter() - started) / rows * 1e6
    await conn.execute("TRUNCATE tickets CASCADE")
    await conn.execute("VACUUM ANALYZE tickets, ticket_tags")
    return out


async def main(args: argparse.Namespace) -> None:
    name = harness.new_name("tagcost")
    url, _ = await harness.prepare_database(
        args.server, name, tickets=0, comments=0, customers=1, reuse=False
    )
    conn = await asyncpg.connect(url)
    try:
        customer = await conn.fetchval("SELECT id FROM customers LIMIT 1")
        results: dict[bool, list[dict[str, float]]] = {True: [], False: []}
        for r in range(args.rounds):
            for on in (True, False) if r % 2 == 0 else (False, True):
                results[on].append(await _round(conn, customer, args.rows, on))
        await conn.execute("ALTER TABLE tickets ENABLE TRIGGER USER")
    finally:
        await conn.close()
        await harness.drop_database(args.server, name)
    print(f"{args.rounds} rounds of {args.rows:,} rows; microseconds per row (median of rounds)")
    for step in STEPS:
        on = statistics.median(r[step] for r in results[True])
        off = statistics.median(r[step] for r in results[False])
        rounds = ", ".join(
            f"{a[step]:.1f}/{b[step]:.1f}" for a, b in zip(results[True], results[False], strict=True)
        )
        print(
            f"{step:9} triggers on {on:6.1f}  off {off:6.1f}  difference {on - off:+6.1f}  (on/off: {rounds})"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--server", default=harness.DEFAULT_SERVER)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=6)
    asyncio.run(main(parser.parse_args()))
