#!/usr/bin/env bash
# Interleaved A/B of two checkouts of the service on the same machine and data size (loopback only):
# creates/s, GET /v1/tickets/{id} (and the raw asyncpg endpoint, for the ratio) and updates/s.
#
#   A_DIR=/work/bench-a A_URL=postgresql://.../a B_DIR=. B_URL=postgresql://.../b bench/ab.sh
#
# Each directory needs its own .venv (pip install -e .) and each database a data set loaded with
# bench/load_data.py by that checkout (its own migrations). ROUNDS rounds, each running every measure
# on A then B back to back, so the host's drifting CPU speed hits both alike: compare per-round ratios.
# POLICIES=3 creates that many active SLA policies in B's database first (and removes them after).
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
    ADMIN=$(cd "$B_DIR" && DATABASE_URL=$B_URL .venv/bin/helpdesk api-keys create --role admin --name ab-admin)
    for i in $(seq "$POLICIES"); do
        curl -s -o /dev/null -w "policy $i: %{http_code}\n" -X POST http://127.0.0.1:8012/v1/sla-policies \
            -H "Authorization: Bearer $ADMIN" -H "Content-Type: application/json" -d "{\"name\": \"p$i\",
            \"position\": $i, \"conditions\": {\"any\": [{\"field\": \"tags\", \"operator\": \"excludes\",
            \"value\": \"never$i\"}]}, \"targets\": {\"low\": {\"first_response\": {\"minutes\": 60},
            \"resolution\": {\"minutes\": 2880, \"warning_minutes\": 60}}, \"normal\": {\"first_response\":
            {\"minutes\": 60}, \"resolution\": {\"minutes\": 2880}}, \"high\": {\"first_response\":
            {\"minutes\": 30}, \"resolution\": {\"minutes\": 1440}}, \"urgent\": {\"first_response\":
            {\"minutes\": 15}, \"resolution\": {\"minutes\": 480}}}}"
    done
fi

run() {  # label port token script [env...]
    local label=$1 port=$2 tok=$3 script=$4; shift 4
    printf "%-28s " "$label"
    env TOKEN="$tok" "$@" wrk -t2 -c"$CONNS" -d"$DURATION" --latency -s "bench/wrk/$script" \
        "http://127.0.0.1:$port" | awk '/Requests\/sec/ {r=$2} / 99%/ {p=$2} /non-2xx/ {e=$2}
        END {printf "%10s req/s  p99 %8s  non-2xx %s\n", r, p, e}'
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
for round in $(seq "$ROUNDS"); do
    echo "--- round $round"
    pair "POST /v1/tickets" create.lua
    pair "GET ticket" get.lua
    run "raw GET ticket (B data)" 8013 "" get.lua PATH_PREFIX=/raw/tickets/
    pair "PATCH ticket" update.lua
done
