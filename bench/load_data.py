"""Load a benchmark data set: agents, groups, customers, tickets and comments, generated inside PostgreSQL.

    python bench/load_data.py DATABASE_URL --tickets 1000000 --comments-per-ticket 5

Rows come from ``generate_series`` with deterministic pseudo-random choices (``hashint8``), so runs are
repeatable. Secondary indexes and triggers are off during the load and rebuilt afterwards — the
same indexes the migrations define, read back from ``pg_indexes``; ``ticket_tags`` (which triggers keep)
is filled from the tickets in one statement. Each ticket's search vector covers its
subject and its comments' text (the generator is a pure function of ticket id and comment number).
"""

from __future__ import annotations

import argparse
import asyncio
import time

import asyncpg

WORDS = (  # noqa: SIM905 - a word list reads better as one string
    "account access admin alert android api app backup battery billing browser bug cache calendar card "
    "charge chat checkout cloud code config connection contract crash credit csv dashboard data database "
    "delay delete delivery device discount dns domain download email error export failure feature file "
    "firewall form invoice ios key laptop latency license limit link login logout mail mobile network "
    "notification order outage password payment permission phone plan printer privacy profile quota "
    "refund report reset router screen search security server session settings shipping signup slow "
    "sms spam storage subscription sync tax timeout token trial upgrade upload user vpn wallet webhook "
    "wifi window zip"
).split()
TAGS = [f"tag{i}" for i in range(30)] + ["vip", "urgent", "bug", "billing", "churn-risk"]
STATUSES = (
    ["new"] * 10 + ["open"] * 30 + ["pending"] * 15 + ["on_hold"] * 5 + ["resolved"] * 15 + ["closed"] * 25
)
PRIORITIES = ["low"] * 20 + ["normal"] * 55 + ["high"] * 20 + ["urgent"] * 5
CHANNELS = ["api", "email", "web", "chat", "phone"]

SETUP = """
CREATE OR REPLACE FUNCTION pg_temp.pick(seed bigint, n int) RETURNS int LANGUAGE sql IMMUTABLE AS
$$ SELECT (abs(hashint8(seed)) % n)::int + 1 $$;
CREATE OR REPLACE FUNCTION pg_temp.bench_text(seed bigint, n int, words text[]) RETURNS text
LANGUAGE sql IMMUTABLE AS
$$ SELECT string_agg(words[(abs(hashint8(seed * 1000 + j)) % array_length(words, 1))::int + 1], ' ')
   FROM generate_series(1, n) j $$;
"""


async def _step(conn: asyncpg.Connection, label: str, sql: str, *args: object) -> None:
    started = time.perf_counter()
    await conn.execute(sql, *args)
    print(f"{label}: {time.perf_counter() - started:.1f}s", flush=True)


async def load(url: str, tickets: int, per_ticket: int, customers: int, agents: int) -> None:
    conn = await asyncpg.connect(url, command_timeout=None)
    try:
        await conn.execute("SET maintenance_work_mem = '1GB'; SET synchronous_commit = off")
        await conn.execute("SET session_replication_role = replica")  # no FK triggers during the bulk load
        await conn.execute(SETUP)
        tag_index = await conn.fetchval("SELECT to_regclass('ticket_tags') IS NOT NULL")  # migration 0330
        if tag_index:
            await conn.execute("TRUNCATE ticket_tags")
        await conn.execute(
            "TRUNCATE events, timers, idempotency_keys, comments, tickets, "
            "group_members, groups, customers RESTART IDENTITY CASCADE"
        )
        await conn.execute("DELETE FROM agents WHERE email LIKE '%@bench.example'")
        indexes = await conn.fetch(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN ('tickets', 'comments') "
            "AND indexname NOT LIKE 'pk_%'"
        )
        for index in indexes:
            await conn.execute(f'DROP INDEX "{index["indexname"]}"')
        await _step(
            conn,
            "agents",
            "INSERT INTO agents (name, email) SELECT 'Agent ' || i, "
            "'agent' || i || '@bench.example' FROM generate_series(1, $1) i",
            agents,
        )
        await _step(
            conn, "groups", "INSERT INTO groups (name) SELECT 'Group ' || i FROM generate_series(1, 20) i"
        )
        await _step(
            conn,
            "customers",
            "INSERT INTO customers (name, email) SELECT 'Customer ' || i, "
            "'customer' || i || '@bench.example' FROM generate_series(1, $1) i",
            customers,
        )
        await _step(
            conn, "tickets", _TICKETS, tickets, WORDS, TAGS, STATUSES, PRIORITIES, CHANNELS, per_ticket
        )
        await _step(conn, "comments", _COMMENTS, per_ticket, WORDS)
        if tag_index:
            await _step(conn, "ticket_tags", _TICKET_TAGS)  # its triggers are off in replica mode
        for index in indexes:
            await _step(conn, f"index {index['indexname']}", index["indexdef"])
        await conn.execute(
            "SELECT setval(pg_get_serial_sequence('tickets', 'id'), (SELECT max(id) FROM tickets))"
        )
        await conn.execute(
            "SELECT setval(pg_get_serial_sequence('comments', 'id'), (SELECT max(id) FROM comments))"
        )
        await _step(conn, "vacuum analyze", "VACUUM ANALYZE")
    finally:
        await conn.close()


_TICKETS = """
WITH a AS (SELECT array_agg(id ORDER BY id) AS ids FROM agents WHERE email LIKE '%@bench.example'),
     g AS (SELECT array_agg(id ORDER BY id) AS ids FROM groups),
     c AS (SELECT array_agg(id ORDER BY id) AS ids FROM customers)
INSERT INTO tickets (id, subject, status, priority, channel, requester_id, assignee_id, group_id, tags,
                     search, created_at, updated_at, resolved_at, closed_at, status_changed_at,
                     last_customer_message_at, last_agent_reply_at, comment_count)
SELECT s.i, s.subject, s.status, ($5::text[])[pg_temp.pick(s.i * 7, 100)],
       ($6::text[])[pg_temp.pick(s.i * 11, 5)],
       c.ids[pg_temp.pick(s.i * 13, array_length(c.ids, 1))],
       CASE WHEN s.status = 'new' OR pg_temp.pick(s.i * 17, 10) = 1 AND s.status NOT IN ('resolved', 'closed')
            THEN NULL ELSE a.ids[pg_temp.pick(s.i * 19, array_length(a.ids, 1))] END,
       g.ids[pg_temp.pick(s.i * 23, 20)],
       ARRAY(SELECT DISTINCT ($3::text[])[pg_temp.pick(s.i * 29 + k, array_length($3::text[], 1))]
             FROM generate_series(1, pg_temp.pick(s.i * 31, 4) - 1) k),
       setweight(to_tsvector('english', s.subject), 'A') || to_tsvector('english',
           (SELECT string_agg(pg_temp.bench_text(s.i * 10 + k, 12, $2), ' ') FROM generate_series(1, $7) k)),
       s.created, s.created + interval '1 hour',
       CASE WHEN s.status IN ('resolved', 'closed') THEN s.created + interval '1 hour' END,
       CASE WHEN s.status = 'closed' THEN s.created + interval '1 hour' END,
       -- As _COMMENTS writes them: comment k at k minutes, the customer's when k is odd, public unless
       -- k % 4 = 0.
       CASE WHEN s.status = 'new' THEN s.created ELSE s.created + interval '1 hour' END,
       CASE WHEN $7 >= 1 THEN s.created + ((($7 - 1) / 2) * 2 + 1) * interval '1 minute' END,
       CASE WHEN $7 >= 2 THEN s.created + ((($7 - 2) / 4) * 4 + 2) * interval '1 minute' END,
       $7
FROM a, g, c,
     LATERAL (SELECT i, pg_temp.bench_text(i, 4, $2) AS subject,
                     ($4::text[])[pg_temp.pick(i * 3, 100)] AS status,
                     now() - interval '2 years' + (i * interval '63 seconds') AS created
              FROM generate_series(1, $1) i) s
"""

_TICKET_TAGS = """
INSERT INTO ticket_tags (tag, status, created_at, ticket_id)
SELECT DISTINCT u.tag, t.status, t.created_at, t.id FROM tickets t CROSS JOIN LATERAL unnest(t.tags) u(tag)
"""

_COMMENTS = """
INSERT INTO comments (ticket_id, author_type, author_agent_id, author_customer_id, public, body, created_at)
SELECT t.id, CASE WHEN k % 2 = 1 THEN 'customer' ELSE 'agent' END,
       CASE WHEN k % 2 = 0 THEN t.assignee_id END, CASE WHEN k % 2 = 1 THEN t.requester_id END,
       k % 4 <> 0, pg_temp.bench_text(t.id * 10 + k, 12, $2), t.created_at + k * interval '1 minute'
FROM tickets t, generate_series(1, $1) k
ORDER BY t.id, k
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url", help="PostgreSQL URL of a migrated helpdesk database")
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--comments-per-ticket", type=int, default=5)
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--agents", type=int, default=200)
    args = parser.parse_args()
    started = time.perf_counter()
    asyncio.run(load(args.url, args.tickets, args.comments_per_ticket, args.customers, args.agents))
    print(f"total: {time.perf_counter() - started:.1f}s")


if __name__ == "__main__":
    main()
