#!/usr/bin/env bash
# Upload memory: peak RSS growth of `minutes serve` while it receives a 500 MB upload, against a
# 5 MB upload to the same server in the same run (the baseline). Goal: growth < 32 MB.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
cargo build --release -p minutes >/dev/null
bin="$CARGO_TARGET_DIR/release/minutes"
work=$(mktemp -d); trap 'kill "${pid:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT
port=${BENCH_PORT:-8097}

make_wav() { # make_wav FILE MB: a WAV header followed by noise (sniffs as audio; never decoded here)
    local bytes=$(( $2 * 1024 * 1024 ))
    python3 - "$1" "$bytes" <<'PY'
import struct, sys
path, size = sys.argv[1], int(sys.argv[2])
with open(path, "wb") as f:
    f.write(b"RIFF" + struct.pack("<I", size - 8) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, 16000, 32000, 2, 16))
    f.write(b"data" + struct.pack("<I", size - 44))
    block = bytes(range(256)) * 4096
    left = size - 44
    while left > 0:
        n = min(left, len(block)); f.write(block[:n]); left -= n
PY
}
make_wav "$work/small.wav" 5
make_wav "$work/big.wav" 500

MINUTES__DATA_DIR="$work/data" MINUTES__SERVER__BIND="127.0.0.1:$port" MINUTES__AUTH__DEV_LOGIN=true \
MINUTES__AUTH__JWT_SECRET=bench-secret-bench-secret-bench-secret MINUTES__LOG__FILTER=warn \
    "$bin" serve >"$work/serve.log" 2>&1 &
pid=$!
for _ in $(seq 1 50); do curl -sf "localhost:$port/health" >/dev/null && break; sleep 0.2; done
token=$(curl -sf -XPOST "localhost:$port/api/v1/auth/dev/login" -H 'content-type: application/json' \
    -d '{"username":"bench"}' | python3 -c 'import sys,json; print(json.load(sys.stdin)["access_token"])')

rss() { awk '/^VmRSS/ {print $2}' "/proc/$pid/status"; }
hwm() { awk '/^VmHWM/ {print $2}' "/proc/$pid/status"; }
upload() { curl -sf -o /dev/null -w '%{http_code} %{time_total}' -H "Authorization: Bearer $token" -F "file=@$1" "localhost:$port/api/v1/upload"; }

# Warm up (allocator, pools), then measure each upload's growth of the peak over the resident set.
upload "$work/small.wav" >/dev/null
base=$(rss); read -r code_s t_s <<<"$(upload "$work/small.wav")"; small=$(( $(hwm) - base ))
base=$(rss); read -r code_b t_b <<<"$(upload "$work/big.wav")"; big=$(( $(hwm) - base ))
[ "$code_s" = 201 ] && [ "$code_b" = 201 ] || { echo "upload failed: $code_s $code_b"; cat "$work/serve.log"; exit 1; }
printf 'upload bench (minutes serve, SQLite + local objects)\n'
printf '  5 MB upload:   peak RSS growth %6.1f MB  (%.2f s)\n' "$(echo "$small/1024" | bc -l)" "$t_s"
printf '  500 MB upload: peak RSS growth %6.1f MB  (%.2f s, %.0f MB/s)\n' "$(echo "$big/1024" | bc -l)" "$t_b" "$(echo "500/$t_b" | bc -l)"
printf '  growth per MB uploaded: %.4f MB (goal: total < 32 MB)\n' "$(echo "$big/1024/500" | bc -l)"
