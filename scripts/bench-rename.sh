#!/usr/bin/env bash
# Speaker rename latency: PATCH /tasks/{id}/speakers then GET of the re-rendered minutes, against a
# plain GET of the same artifact in the same run (the baseline), and the model calls it caused
# (must be 0). Uses scripts/dev/openai-stub.py to produce a task to rename in.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
cargo build --release -p minutes >/dev/null
bin="$CARGO_TARGET_DIR/release/minutes"
work=$(mktemp -d); trap 'kill "${api:-0}" "${stub:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT
python3 scripts/dev/openai-stub.py --port 8021 > "$work/stub.log" 2>&1 &
stub=$!
export MINUTES__DATA_DIR="$work/data" MINUTES__SERVER__BIND=127.0.0.1:8099 MINUTES__AUTH__DEV_LOGIN=true \
    MINUTES__AUTH__JWT_SECRET=bench-secret-bench-secret-bench-secret MINUTES__LOG__FILTER=warn \
    MINUTES__ASR__OPENAI__BASE_URL=http://127.0.0.1:8021/v1 MINUTES__LLM__OPENAI__BASE_URL=http://127.0.0.1:8021/v1 \
    MINUTES__RATE_LIMIT__ENABLED=false
"$bin" serve --with-worker > "$work/api.log" 2>&1 &
api=$!
for _ in $(seq 1 50); do curl -sf localhost:8099/health >/dev/null && break; sleep 0.2; done
j() { python3 -c "import sys,json; print(json.load(sys.stdin)$1)"; }
token=$(curl -sf -XPOST localhost:8099/api/v1/auth/dev/login -H 'content-type: application/json' -d '{"username":"b"}' | j '["access_token"]')
auth=(-H "Authorization: Bearer $token")
key=$(curl -sf "${auth[@]}" -F file=@../shared/data/meetings/en01_sprint_planning.flac localhost:8099/api/v1/upload | j '["file_path"]')
task=$(curl -sf "${auth[@]}" -H 'content-type: application/json' localhost:8099/api/v1/tasks \
    -d "{\"audio_files\":[\"$key\"],\"meeting_type\":\"bench\",\"asr_language\":\"en-US\"}" | j '["task_id"]')
until [ "$(curl -sf "${auth[@]}" "localhost:8099/api/v1/tasks/$task/status?wait=10" | j '["state"]')" = success ]; do :; done
artifact=$(curl -sf "${auth[@]}" "localhost:8099/api/v1/tasks/$task/artifacts" | j '["artifacts_by_type"]["meeting_minutes"][0]["artifact_id"]')
chat_calls() { curl -sf localhost:8021/stats | j '["chat"]'; }
before=$(chat_calls)
t0=$(date +%s.%N)
for i in $(seq 1 20); do curl -sf -o /dev/null "${auth[@]}" "localhost:8099/api/v1/artifacts/$artifact"; done
t1=$(date +%s.%N)
for i in $(seq 1 20); do
    curl -sf -o /dev/null "${auth[@]}" -X PATCH -H 'content-type: application/json' "localhost:8099/api/v1/tasks/$task/speakers" \
        -d "{\"speaker_mapping\":{\"Speaker 1\":\"Name $i\"}}"
    curl -sf "${auth[@]}" "localhost:8099/api/v1/artifacts/$artifact" | grep -q "Name $i"
done
t2=$(date +%s.%N)
versions=$(curl -sf "${auth[@]}" "localhost:8099/api/v1/tasks/$task/artifacts" | j '["total_count"]')
printf 'rename bench (release build, SQLite, 20 renames)\n'
printf '  GET artifact (baseline):          %6.1f ms\n' "$(echo "($t1 - $t0) * 1000 / 20" | bc -l)"
printf '  rename + GET re-rendered minutes: %6.1f ms (goal <= 1000 ms)\n' "$(echo "($t2 - $t1) * 1000 / 20" | bc -l)"
printf '  minutes versions after renames: %s (no regeneration)\n' "$versions"
printf '  model calls during renames: %s\n' "$(( $(chat_calls) - before ))"
