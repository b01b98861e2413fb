#!/usr/bin/env bash
# Ticket benchmarks against a loaded database (bench/load_data.py). Loopback only.
#
#   DATABASE_URL=postgresql://... bench/run.sh            # DURATION=20s CONNS=64 WORKERS=1 by default
#
# Starts the API (helpdesk serve) on :8001 and the raw-asyncpg comparison app on :8002 with the same
# uvicorn settings and pool size, then runs wrk: GET ticket (raw vs API, twice, interleaved), the three
# filtered lists, and POST /v1/tickets.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${DATABASE_URL:?set DATABASE_URL to the loaded database}"
DURATION=${DURATION:-20s}
CONNS=${CONNS:-64}
WORKERS=${WORKERS:-1}
TICKETS=${TICKETS:-1000000}
export DATABASE_URL TICKETS HELPDESK_ACCESS_LOG=false HELPDESK_LOG_LEVEL=WARNING HELPDESK_RUN_WORKER=false
export HELPDESK_DB_POOL_SIZE=${POOL:-20} HELPDESK_DB_MAX_OVERFLOW=0
PY=.venv/bin/python

TOKEN=$(.venv/bin/helpdesk api-keys create --role agent --name bench)
export TOKEN
$PY - <<'PYEOF' > /tmp/bench-agents.txt
import asyncio, os, asyncpg
from api.db import asyncpg_dsn
async def main():
    conn = await asyncpg.connect(asyncpg_dsn(os.environ["DATABASE_URL"]))
    for row in await conn.fetch("SELECT id FROM agents WHERE email LIKE '%@bench.example'"):
        print(row["id"])
    await conn.close()
asyncio.run(main())
PYEOF
export AGENTS_FILE=/tmp/bench-agents.txt

.venv/bin/helpdesk serve --port 8001 --workers "$WORKERS" > /tmp/bench-api.log 2>&1 &
API_PID=$!
.venv/bin/uvicorn bench.raw_app:app --port 8002 --workers "$WORKERS" --loop uvloop --http httptools \
    --no-access-log --log-level warning > /tmp/bench-raw.log 2>&1 &
RAW_PID=$!
trap 'kill $API_PID $RAW_PID 2>/dev/null || true' EXIT
for port in 8001 8002; do
    for _ in $(seq 100); do
        curl -s -o /dev/null "http://127.0.0.1:$port/raw/tickets/1" && break
        sleep 0.2
    done
done

run() {  # label, then wrk arguments
    local label=$1; shift
    echo "=== $label"
    wrk -t2 -c"$CONNS" -d"$DURATION" --latency "$@" | grep -E "Requests/sec|Latency |50%|99%|non-2xx|requests in"
}

echo "machine: $(nproc) cores, $(uname -sr); date: $(date -u +%FT%TZ); conns=$CONNS duration=$DURATION workers=$WORKERS"
for round in 1 2; do
    PATH_PREFIX=/raw/tickets/ run "raw asyncpg GET ticket (round $round)" -s bench/wrk/get.lua http://127.0.0.1:8002
    PATH_PREFIX=/v1/tickets/ run "API GET /v1/tickets/{id} (round $round)" -s bench/wrk/get.lua http://127.0.0.1:8001
done
MODE=status_assignee run "list status+assignee" -s bench/wrk/list.lua http://127.0.0.1:8001
MODE=status_tag run "list status+tag" -s bench/wrk/list.lua http://127.0.0.1:8001
MODE=search run "list full-text search" -s bench/wrk/list.lua http://127.0.0.1:8001
run "POST /v1/tickets" -s bench/wrk/create.lua http://127.0.0.1:8001

# Tickets created by the POST run sort first in every list; remove them so the next run measures the
# same data set.
$PY - <<'PYEOF'
import asyncio, os, asyncpg
from api.db import asyncpg_dsn
async def main():
    conn = await asyncpg.connect(asyncpg_dsn(os.environ["DATABASE_URL"]), command_timeout=None)
    top = int(os.environ["TICKETS"])
    await conn.execute("DELETE FROM events WHERE ticket_id > $1", top)
    await conn.execute("DELETE FROM comments WHERE ticket_id > $1", top)
    await conn.execute("DELETE FROM tickets WHERE id > $1", top)
    await conn.execute("VACUUM ANALYZE tickets")
    await conn.close()
asyncio.run(main())
PYEOF
