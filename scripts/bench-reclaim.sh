#!/usr/bin/env bash
# Crash recovery: a worker is killed with SIGKILL in the middle of a stage; how long until another
# worker has reclaimed the job (lease expiry + announcement or poll + claim), and does the task
# still finish with exactly one minutes version? Per delivery backend, on PostgreSQL, with the
# default lease (30 s) and heartbeat (10 s). Goal: reclaim ≤ 30 s.
#
#   scripts/bench-reclaim.sh [database|redis|rabbitmq|all]    (default: all)
#
# MINUTES_BENCH_POSTGRES_URL, MINUTES_BENCH_REDIS_URL, MINUTES_BENCH_AMQP_URL pick the servers
# (defaults: the local ones the tests use). MINUTES__QUEUE__LEASE_SECS etc. are passed through.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
pg="${MINUTES_BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
redis_url="${MINUTES_BENCH_REDIS_URL:-redis://127.0.0.1:6379}"
amqp_url="${MINUTES_BENCH_AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/%2f}"
which="${1:-all}"
case "$which" in
    all) backends="database redis rabbitmq" ;;
    database|redis|rabbitmq) backends="$which" ;;
    *) echo "usage: $0 [database|redis|rabbitmq|all]" >&2; exit 2 ;;
esac
# The ASR is the protocol stub, so the embedded Whisper is not needed (and not built).
cargo build --release -p minutes --no-default-features >/dev/null
bin="$CARGO_TARGET_DIR/release/minutes"
meeting=../shared/data/meetings/en01_sprint_planning.flac

# What the current measurement started; cleaned up after it and on any exit.
pids=() work="" schema="" prefix="" backend=""
cleanup() {
    [ ${#pids[@]} -eq 0 ] || kill "${pids[@]}" 2>/dev/null || true
    wait 2>/dev/null || true
    pids=()
    [ -z "$schema" ] || psql "$pg" -qc "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
    case "$backend" in
        redis) redis-cli -u "$redis_url" --scan --pattern "{$prefix}*" | xargs -r redis-cli -u "$redis_url" DEL >/dev/null ;;
        # rabbitmqctl has no exchange deletion; `eval` reaches the broker's own (3.10).
        rabbitmq) for q in audio asr voiceprint llm maintenance dead; do
                      rabbitmqctl -q delete_queue "$prefix.$q" >/dev/null 2>&1 || true
                  done
                  for x in jobs dlx; do
                      rabbitmqctl -q eval "rabbit_exchange:delete(rabbit_misc:r(<<\"/\">>, exchange, <<\"$prefix.$x\">>), false, <<\"bench\">>)." >/dev/null 2>&1 || true
                  done ;;
    esac
    [ -z "$work" ] || rm -rf "$work"
    work="" schema="" backend=""
}
trap cleanup EXIT

reclaim() { # reclaim BACKEND: one measurement, printed as one line
    backend=$1
    work=$(mktemp -d)
    schema="reclaim_${backend}_$(date +%s)"
    prefix="bench-reclaim-$backend-$(date +%s)"
    local db stub api w1 w2
    psql "$pg" -qc "CREATE SCHEMA $schema"
    db="$pg?options=-csearch_path%3D$schema"
    sql() { psql "$pg" -Atqc "SET search_path TO $schema; $1"; }

    python3 scripts/dev/openai-stub.py --port 8019 --asr-delay 45 &
    stub=$!; pids+=("$stub")
    local env=(MINUTES__DATA_DIR="$work/data" MINUTES__DATABASE__URL="$db" MINUTES__SERVER__BIND=127.0.0.1:8098
        MINUTES__AUTH__DEV_LOGIN=true MINUTES__AUTH__JWT_SECRET=bench-secret-bench-secret-bench-secret
        MINUTES__ASR__PRIMARY=openai MINUTES__ASR__OPENAI__BASE_URL=http://127.0.0.1:8019/v1
        MINUTES__DIARIZATION__PROVIDER=none MINUTES__LLM__PROVIDER=local MINUTES__RATE_LIMIT__ENABLED=false
        MINUTES__LOG__FILTER=warn MINUTES__DATABASE__MIGRATE_ON_START=true
        MINUTES__QUEUE__BACKEND="$backend" MINUTES__QUEUE__BROKER_PREFIX="$prefix"
        MINUTES__QUEUE__REDIS_URL="$redis_url" MINUTES__QUEUE__AMQP_URL="$amqp_url")
    env "${env[@]}" "$bin" serve >"$work/api.log" 2>&1 &
    api=$!; pids+=("$api")
    for _ in $(seq 1 100); do curl -sf localhost:8098/health >/dev/null && break; sleep 0.2; done
    local token key task
    token=$(curl -sf -XPOST localhost:8098/api/v1/auth/dev/login -H 'content-type: application/json' -d '{"username":"b"}' \
        | python3 -c 'import sys,json; print(json.load(sys.stdin)["access_token"])')
    key=$(curl -sf -H "Authorization: Bearer $token" -F "file=@$meeting" localhost:8098/api/v1/upload \
        | python3 -c 'import sys,json; print(json.load(sys.stdin)["file_path"])')
    task=$(curl -sf -H "Authorization: Bearer $token" -H 'content-type: application/json' localhost:8098/api/v1/tasks \
        -d "{\"audio_files\":[\"$key\"],\"meeting_type\":\"bench\"}" | python3 -c 'import sys,json; print(json.load(sys.stdin)["task_id"])')

    env "${env[@]}" "$bin" worker >"$work/w1.log" 2>&1 &
    w1=$!; pids+=("$w1")
    until [ "$(sql "SELECT state FROM jobs WHERE kind='transcribe'")" = running ]; do sleep 0.2; done
    sleep 2   # mid-stage: the ASR call is in flight
    { kill -9 "$w1"; wait "$w1"; } 2>/dev/null || true
    local killed reclaimed
    killed=$(date +%s.%N)
    env "${env[@]}" "$bin" worker >"$work/w2.log" 2>&1 &
    w2=$!; pids+=("$w2")
    until [ "$(sql "SELECT lease_gen FROM jobs WHERE kind='transcribe'")" = 2 ]; do sleep 0.1; done
    reclaimed=$(date +%s.%N)
    until [ "$(sql "SELECT state FROM tasks WHERE id='$task'")" = success ]; do sleep 0.5; done
    local versions
    versions=$(sql "SELECT COUNT(*) FROM artifacts WHERE task_id='$task'")
    printf '  %-8s kill -9 → reclaimed by another worker: %5.1f s (goal ≤ 30 s); task success, minutes versions: %s (must be 1)\n' \
        "$backend" "$(echo "$reclaimed - $killed" | bc -l)" "$versions"
    cleanup
}

printf 'reclaim bench (PostgreSQL, lease %s s, heartbeat %s s)\n' \
    "${MINUTES__QUEUE__LEASE_SECS:-30}" "${MINUTES__QUEUE__HEARTBEAT_SECS:-10}"
for b in $backends; do reclaim "$b"; done
