#!/usr/bin/env bash
# Interleaved A/B of two checkouts of the service on the same machine and data size (loopback only):
# creates/s, GET /v1/tickets/{id} (and the raw asyncpg endpoint, for the ratio) and updates/s.
#
#   A_DIR=/work/bench-a A_URL=postgresql://.../a B_DIR=. B_URL=postgresql://.../b bench/ab.sh
#
# Each directory needs its own .venv (pip install -e .) and each database a data set loaded with
# bench/load_data.py by that checkout (its own migrations). ROUNDS rounds, each running every measure
# on A then B back to back, so the host's drifting CPU speed hits both alike: compare per-round ratios.
# POLICIES=3 creates that many active SLA policies in B's database first and settles both sides; the policies
# stay, so a rerun on the same databases with POLICIES=0 measures them again without settling.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${A_DIR:?}" "${A_URL:?}" "${B_DIR:?}" "${B_URL:?}"
DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
ROUNDS=${ROUNDS:-3}
export TICKETS=${TICKETS:-100000}
export HELPDESK_ACCESS_LOG=false HELPDESK_LOG_LEVEL=WARNING HELPDESK_RUN_WORKER=false
export HELPDESK_DB_POOL_SIZE=${POOL:-20} HELPDESK_DB_MAX_OVERFLOW=0

serve() {  # dir url port; the server's pid is written to /tmp/ab-<port>.pid
    (cd "$1" && DATABASE_URL=$2 HELPDESK_DATA_DIR=/tmp/ab-unused exec .venv/bin/helpdesk serve --port "$3") \
        > "/tmp/ab-$3.log" 2>&1 &
    echo $! > "/tmp/ab-$3.pid"
}
token() { (cd "$1" && DATABASE_URL=$2 .venv/bin/helpdesk api-keys create --role agent --name ab); }

A_TOKEN=$(token "$A_DIR" "$A_URL")
B_TOKEN=$(token "$B_DIR" "$B_URL")
serve "$A_DIR" "$A_URL" 8011
serve "$B_DIR" "$B_URL" 8012
A_PID=$(cat /tmp/ab-8011.pid)
B_PID=$(cat /tmp/ab-8012.pid)
(cd "$B_DIR" && DATABASE_URL=$B_URL exec .venv/bin/uvicorn bench.raw_app:app --port 8013 --loop uvloop \
    --http httptools --no-access-log --log-level warning) > /tmp/ab-8013.log 2>&1 &
RAW_PID=$!
trap 'kill $A_PID $B_PID $RAW_PID 2>/dev/null || true' EXIT
for port in 8011 8012 8013; do
    for _ in $(seq 150); do curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.2; done
done

if [ "${POLICIES:-0}" -gt 0 ]; then
    # A business-hours calendar (Mon-Fri 09:00-17:00 Berlin, three yearly holidays) and POLICIES policies
    # counting business time against it; every policy but the last has a condition few tickets meet,
    # so a change evaluates them all before the last one matches.
    ADMIN=$(cd "$B_DIR" && DATABASE_URL=$B_URL .venv/bin/helpdesk api-keys create --role admin --name ab-admin)
    api() { curl -s -X POST "http://127.0.0.1:8012$1" -H "Authorization: Bearer $ADMIN" \
        -H "Content-Type: application/json" -d "$2"; }
    WEEK=$(for d in monday tuesday wednesday thursday friday; do
        printf '{"day": "%s", "start": "09:00", "end": "17:00"},' "$d"; done)
    CALENDAR=$(api /v1/business-calendars "{\"name\": \"office\", \"time_zone\": \"Europe/Berlin\",
        \"weekly\": [${WEEK%,}], \"holidays\": [{\"date\": \"2026-12-25\", \"yearly\": true},
        {\"date\": \"2026-12-26\", \"yearly\": true}, {\"date\": \"2027-01-01\", \"yearly\": true}]}" |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
    TARGETS='{"low": {"first_response": {"minutes": 60, "time": "business"}, "resolution": {"minutes": 2880,
        "time": "business", "warning_minutes": 60}}, "normal": {"first_response": {"minutes": 60, "time":
        "business"}, "resolution": {"minutes": 2880, "time": "business"}}, "high": {"first_response":
        {"minutes": 30, "time": "business"}, "resolution": {"minutes": 1440, "time": "business"}}, "urgent":
        {"first_response": {"minutes": 15, "time": "business"}, "resolution": {"minutes": 480, "time":
        "business"}}}'
    for i in $(seq "$POLICIES"); do
        if [ "$i" -lt "$POLICIES" ]; then
            COND="{\"all\": [{\"field\": \"tags\", \"operator\": \"includes\", \"value\": \"vip$i\"},
                {\"field\": \"channel\", \"operator\": \"is\", \"value\": \"phone\"}]}"
        else
            COND='{"any": []}'
        fi
        api /v1/sla-policies "{\"name\": \"p$i\", \"position\": $i, \"calendar_id\": \"$CALENDAR\",
            \"conditions\": $COND, \"targets\": $TARGETS}" |
            python3 -c "import json, sys; d = json.load(sys.stdin); print('policy $i:', d.get('id', d))"
    done
    # Both sides settle the same way before the runs: every ticket goes through the hooks (B: SLA state
    # under the policies; both: auto-close timers for the data set's resolved tickets) and a worker
    # fires what is already due (old tickets' breaches, auto-closes), then stops. The runs measure
    # requests over the same tickets, not that backlog.
    psql "$A_URL" -qc "INSERT INTO sla_reevaluations (reason) VALUES ('bench/ab.sh: settle like B')"
    settle() {  # dir url
        (cd "$1" && DATABASE_URL=$2 HELPDESK_RUN_WORKER=true exec .venv/bin/helpdesk worker) \
            > /tmp/ab-worker.log 2>&1 &
        local worker=$!
        for _ in $(seq 600); do
            # (a timer that fired and stays as its trace has fired_at set; older checkouts lack the column)
            [ "$(psql "$2" -Atc "SELECT bool_and(finished_at IS NOT NULL) AND NOT EXISTS (SELECT 1 FROM
                timers t WHERE due_at <= now() AND to_jsonb(t)->>'fired_at' IS NULL) FROM sla_reevaluations")" = t ] && break
            sleep 0.5
        done
        kill "$worker"
        psql "$2" -Atc "SELECT 'settled: ' || sum(tickets_changed) || ' tickets changed in ' ||
            round(extract(epoch FROM max(finished_at) - min(created_at))::numeric, 1) || ' s; open: ' ||
            (SELECT count(*) FROM tickets WHERE status <> 'closed') FROM sla_reevaluations"
        psql "$2" -qc "VACUUM ANALYZE"
    }
    settle "$A_DIR" "$A_URL"
    settle "$B_DIR" "$B_URL"
fi

# CPU seconds (user + system, from /proc) of a server process and of the PostgreSQL backends serving
# its database: read before and after a run, they give the CPU each request cost on both sides, split
# into the API process's share and PostgreSQL's.
cpu() {  # pid database -> "api postgres"
    local backends
    backends="$(psql -h 127.0.0.1 -U postgres -Atc "SELECT string_agg(pid::text, ' ') FROM pg_stat_activity
        WHERE datname = '$2' AND pid <> pg_backend_pid()" postgres)"
    printf "%s %s" "$(seconds "$1")" "$(seconds $backends)"
}
seconds() {  # pids -> their CPU seconds
    for p in "$@"; do cat "/proc/$p/stat" 2>/dev/null; done |
        awk -v hz="$(getconf CLK_TCK)" '{s += $14 + $15} END {printf "%.3f", s / hz}'
}
A_DB=${A_URL##*/}
B_DB=${B_URL##*/}
run() {  # label port token script [env...]
    local label=$1 port=$2 tok=$3 script=$4; shift 4
    local pid=$RAW_PID db=$B_DB before out
    [ "$port" = 8011 ] && pid=$A_PID db=$A_DB
    [ "$port" = 8012 ] && pid=$B_PID
    before=$(cpu "$pid" "$db")
    out=$(env TOKEN="$tok" "$@" wrk -t2 -c"$CONNS" -d"$DURATION" --latency -s "bench/wrk/$script" \
        "http://127.0.0.1:$port")
    printf "%-28s " "$label"
    echo "$out" | awk -v before="$before" -v after="$(cpu "$pid" "$db")" \
        '/Requests\/sec/ {r=$2} / 99%/ {p=$2} /non-2xx/ {e=$2} /requests in/ {n=$1}
        END {split(before, b, " "); split(after, a, " "); api = a[1] - b[1]; pg = a[2] - b[2]
             printf "%10s req/s  p99 %8s  non-2xx %-5s  CPU %.3f ms/req (API %.3f + PostgreSQL %.3f)\n",
                    r, p, e, 1000 * (api + pg) / n, 1000 * api / n, 1000 * pg / n}'
}

echo "machine: $(nproc) cores, $(uname -sr); $(date -u +%FT%TZ); conns=$CONNS duration=$DURATION"
echo "A=$A_DIR ($(git -C "$A_DIR" rev-parse --short HEAD))  B=$B_DIR ($(git -C "$B_DIR" rev-parse --short HEAD))"
pair() {  # label script: A then B in odd rounds, B then A in even ones (no side always goes first)
    if [ $((round % 2)) -eq 1 ]; then
        run "A $1" 8011 "$A_TOKEN" "$2"; run "B $1" 8012 "$B_TOKEN" "$2"
    else
        run "B $1" 8012 "$B_TOKEN" "$2"; run "A $1" 8011 "$A_TOKEN" "$2"
    fi
}
# Warm-up, not counted: the first seconds of a fresh process (caches, connections) favour neither side.
for script in create.lua get.lua update.lua; do
    for port in 8011 8012; do
        tok=$A_TOKEN; [ "$port" = 8012 ] && tok=$B_TOKEN
        TOKEN=$tok wrk -t2 -c"$CONNS" -d3s -s "bench/wrk/$script" "http://127.0.0.1:$port" > /dev/null
    done
done
for round in $(seq "$ROUNDS"); do
    echo "--- round $round"
    pair "POST /v1/tickets" create.lua
    pair "GET ticket" get.lua
    run "raw GET ticket (B data)" 8013 "" get.lua PATH_PREFIX=/raw/tickets/
    pair "PATCH ticket" update.lua
done
