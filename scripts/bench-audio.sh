#!/usr/bin/env bash
# bench-audio.sh — minutes-audio vs ffmpeg: decode a 1-hour 128 kbps MP3 to 16 kHz mono s16le.
#
#   scripts/bench-audio.sh            # 60-minute English meeting
#   BENCH_MINUTES=10 scripts/bench-audio.sh
#
# Env: BENCH_DIR (generated input and outputs; default $TMPDIR/minutes-bench-audio, never the
# repo), BENCH_MINUTES (default 60), BENCH_RUNS (runs per tool, best wall time wins; default 3),
# CARGO_TARGET_DIR (as for cargo). Needs ffmpeg, sox, espeak-ng and GNU time (installed with apt
# when missing). Exits non-zero when the sample count is not exactly MINUTES * 60 * 16000.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MAKE_MEETINGS=${MAKE_MEETINGS:-$ROOT/../shared/data/make-meetings.sh}
WORK=${BENCH_DIR:-${TMPDIR:-/tmp}/minutes-bench-audio}
MINUTES=${BENCH_MINUTES:-60}
RUNS=${BENCH_RUNS:-3}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}

log() { echo "bench-audio: $*" >&2; }

# ---------------------------------------------------------------- tools
missing=()
for t in ffmpeg sox espeak-ng; do command -v "$t" >/dev/null 2>&1 || missing+=("$t"); done
[[ -x /usr/bin/time ]] || missing+=(time)
if ((${#missing[@]})); then
  log "installing ${missing[*]}"
  SUDO=""; [[ $(id -u) -eq 0 ]] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq ffmpeg sox espeak-ng time >/dev/null
fi

# ---------------------------------------------------------------- input
mkdir -p "$WORK"
base="$WORK/long_en_${MINUTES}min"
if [[ ! -s $base.wav ]]; then
  [[ -f $MAKE_MEETINGS ]] || { log "generator not found at $MAKE_MEETINGS"; exit 1; }
  log "generating a ${MINUTES}-minute meeting in $WORK (takes a minute or two)"
  bash "$MAKE_MEETINGS" --long "$WORK" "$MINUTES" en
fi
if [[ ! -s $base.mp3 ]]; then
  ffmpeg -hide_banner -loglevel error -nostdin -y -i "$base.wav" -ar 44100 -ac 2 -c:a libmp3lame -b:a 128k "$base.mp3"
fi
IN="$base.mp3"
EXPECT=$(awk -v m="$MINUTES" 'BEGIN{printf "%d", m * 60 * 16000 + 0.5}')

# ---------------------------------------------------------------- build
log "building the normalize example (release)"
(cd "$ROOT" && cargo build --quiet --release -p minutes-audio --example normalize)
OURS="$TARGET_DIR/release/examples/normalize"

# ---------------------------------------------------------------- run
# wall seconds from GNU time's "h:mm:ss" or "m:ss.ss"
wall_secs() {
  awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s}' "$1"
}
rss_mb() { awk -F': ' '/Maximum resident set size/ {printf "%.1f", $2 / 1024}' "$1"; }
cpu_secs() { awk -F': ' '/(User|System) time \(seconds\)/ {s += $2} END {printf "%.2f", s}' "$1"; }

# measure NAME OUT CMD... -> best wall time over RUNS, its CPU time and peak RSS, output samples
measure() {
  local name=$1 out=$2; shift 2
  local best="" best_rss="" best_cpu="" i t
  for ((i = 1; i <= RUNS; i++)); do
    rm -f "$out"
    /usr/bin/time -v -o "$WORK/$name.time" "$@" >/dev/null
    t=$(wall_secs "$WORK/$name.time")
    if [[ -z $best ]] || awk -v a="$t" -v b="$best" 'BEGIN{exit !(a < b)}'; then
      best=$t; best_rss=$(rss_mb "$WORK/$name.time"); best_cpu=$(cpu_secs "$WORK/$name.time")
    fi
  done
  local samples=$(($(stat -c %s "$out") / 2))
  printf '%s %s %s %s\n' "$best" "$best_cpu" "$best_rss" "$samples"
}

cat "$IN" >/dev/null # warm the page cache for both
log "input $IN ($(du -h "$IN" | cut -f1)), best of $RUNS runs each"
read -r ff_wall ff_cpu ff_rss ff_samples < <(measure ffmpeg "$WORK/ffmpeg.raw" \
  ffmpeg -hide_banner -loglevel error -nostdin -y -threads 1 -i "$IN" -ac 1 -ar 16000 -f s16le "$WORK/ffmpeg.raw")
read -r our_wall our_cpu our_rss our_samples < <(measure ours "$WORK/ours.raw" "$OURS" "$IN" "$WORK/ours.raw")
# Same audio, not just the same length: correlation of the two outputs over the first 10 minutes.
corr=$(python3 - "$WORK/ffmpeg.raw" "$WORK/ours.raw" 2>/dev/null <<'PY' || echo "n/a"
import array, math, sys
n = 16000 * 600
a, b = array.array("h"), array.array("h")
with open(sys.argv[1], "rb") as f: a.frombytes(f.read(2 * n))
with open(sys.argv[2], "rb") as f: b.frombytes(f.read(2 * n))
m = min(len(a), len(b))
ab = sum(x * y for x, y in zip(a[:m], b[:m])); aa = sum(x * x for x in a[:m]); bb = sum(y * y for y in b[:m])
print(f"{ab / math.sqrt(aa * bb):.4f}")
PY
)
rm -f "$WORK/ffmpeg.raw" "$WORK/ours.raw"

# Decoding and resampling run on two threads, so CPU time is shown beside wall time.
printf '\n%-18s %8s %8s %12s %12s\n' tool "wall s" "cpu s" "peak RSS MB" samples
printf '%-18s %8s %8s %12s %12s\n' "ffmpeg -threads 1" "$ff_wall" "$ff_cpu" "$ff_rss" "$ff_samples"
printf '%-18s %8s %8s %12s %12s\n' minutes-audio "$our_wall" "$our_cpu" "$our_rss" "$our_samples"
ratio=$(awk -v a="$our_wall" -v b="$ff_wall" 'BEGIN{printf "%.2f", (b > 0 ? a / b : 0)}')
echo
echo "time ratio ours/ffmpeg: $ratio (goal <= 1.0)"
echo "correlation with ffmpeg's output (first 10 min, lag 0): $corr"
status=0
if [[ $our_samples == "$EXPECT" ]]; then
  echo "samples: $our_samples == $EXPECT (exact)"
else
  echo "samples: $our_samples != $EXPECT (expected for $MINUTES min at 16 kHz)"; status=1
fi
awk -v r="$our_rss" 'BEGIN{exit !(r < 100)}' && echo "peak RSS: $our_rss MB < 100 MB" \
  || { echo "peak RSS: $our_rss MB >= 100 MB"; status=1; }
exit $status
