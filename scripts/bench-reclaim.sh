#!/usr/bin/env bash
# Crash recovery: a worker is killed with SIGKILL in the middle of a stage; how long until another
# worker has reclaimed the job (lease expiry + claim), and does the task still finish with exactly
# one minutes version? Runs on PostgreSQL. Goal: reclaim ≤ 60 s (lease 30 s by default).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
pg="${MINUTES_BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
cargo build --release -p minutes >/dev/null
bin="$CARGO_TARGET_DIR/release/minutes"
work=$(mktemp -d)
schema="reclaim_$(date +%s)"
cleanup() {
    kill "${stub:-0}" "${api:-0}" "${w2:-0}" 2>/dev/null || true
    psql "$pg" -qc "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
psql "$pg" -qc "CREATE SCHEMA $schema"
db="$pg?options=-csearch_path%3D$schema"
sql() { psql "$pg" -Atqc "SET search_path TO $schema; $1"; }

python3 scripts/dev/openai-stub.py --port 8019 --asr-delay 45 &
stub=$!
export MINUTES__DATA_DIR="$work/data" MINUTES__DATABASE__URL="$db" MINUTES__SERVER__BIND=127.0.0.1:8098 \
    MINUTES__AUTH__DEV_LOGIN=true MINUTES__AUTH__JWT_SECRET=bench-secret-bench-secret-bench-secret \
    MINUTES__ASR__OPENAI__BASE_URL=http://127.0.0.1:8019/v1 MINUTES__LLM__OPENAI__BASE_URL=http://127.0.0.1:8019/v1 \
    MINUTES__LOG__FILTER=warn MINUTES__DATABASE__MIGRATE_ON_START=true
"$bin" serve >"$work/api.log" 2>&1 &
api=$!
for _ in $(seq 1 50); do curl -sf localhost:8098/health >/dev/null && break; sleep 0.2; done
token=$(curl -sf -XPOST localhost:8098/api/v1/auth/dev/login -H 'content-type: application/json' -d '{"username":"b"}' \
    | python3 -c 'import sys,json; print(json.load(sys.stdin)["access_token"])')
key=$(curl -sf -H "Authorization: Bearer $token" -F file=@../shared/data/meetings/en01_sprint_planning.flac \
    localhost:8098/api/v1/upload | python3 -c 'import sys,json; print(json.load(sys.stdin)["file_path"])')
task=$(curl -sf -H "Authorization: Bearer $token" -H 'content-type: application/json' localhost:8098/api/v1/tasks \
    -d "{\"audio_files\":[\"$key\"],\"meeting_type\":\"bench\"}" | python3 -c 'import sys,json; print(json.load(sys.stdin)["task_id"])')

"$bin" worker >"$work/w1.log" 2>&1 &
w1=$!
until [ "$(sql "SELECT state FROM jobs WHERE kind='transcribe'")" = running ]; do sleep 0.2; done
sleep 2   # mid-stage: the ASR call is in flight
kill -9 "$w1"
killed=$(date +%s.%N)
"$bin" worker >"$work/w2.log" 2>&1 &
w2=$!
until [ "$(sql "SELECT lease_gen FROM jobs WHERE kind='transcribe'")" = 2 ]; do sleep 0.1; done
reclaimed=$(date +%s.%N)
until [ "$(sql "SELECT state FROM tasks WHERE id='$task'")" = success ]; do sleep 0.5; done
versions=$(sql "SELECT COUNT(*) FROM artifacts WHERE task_id='$task'")
printf 'reclaim bench (PostgreSQL, lease %s s)\n' "${MINUTES__QUEUE__LEASE_SECS:-30}"
printf '  kill -9 → reclaimed by another worker: %.1f s (goal ≤ 60 s)\n' "$(echo "$reclaimed - $killed" | bc -l)"
printf '  task finished: success, minutes versions: %s (must be 1)\n' "$versions"
