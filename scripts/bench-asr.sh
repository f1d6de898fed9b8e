#!/usr/bin/env bash
# bench-asr.sh — local Whisper (minutes-whisper, CTranslate2 int8) on the synthetic meetings:
# WER (en) / CER (zh) with and without hotwords, and speed (wall, user CPU, peak RSS) against
# faster-whisper on the same model, audio, beam size, compute type and thread count.
#
#   scripts/bench-asr.sh                     # whisper-base, every meeting in ../shared/data
#   BENCH_MODEL=whisper-tiny-en scripts/bench-asr.sh
#   BENCH_FEATURES=dnnl BENCH_MEETINGS='en0*' BENCH_SKIP_HOTWORDS=1 scripts/bench-asr.sh
#
# Env: MINUTES_BIN (an already-built `minutes` for `models install`), BENCH_MODEL (catalog name,
# default whisper-base), BENCH_MODEL_DIR (a model directory to use as is: skips `models install`
# and MINUTES_BIN), BENCH_THREADS (default 2), BENCH_BEAM (default 5), BENCH_FEATURES (cargo
# features of minutes-whisper for our binary, e.g. `dnnl`), BENCH_OURS (an already-built
# `transcribe` example to measure instead of building one), BENCH_MEETINGS (glob of meeting names,
# default `*`), BENCH_SKIP_HOTWORDS=1 (speed only: skip the second run with hotwords),
# BENCH_DIR (outputs; default $TMPDIR/minutes-bench-asr), MINUTES_MODELS_DIR,
# BENCH_SKIP_BASELINE=1 to skip faster-whisper. faster-whisper is installed from PyPI into a
# throwaway venv under BENCH_DIR. Other load on the machine skews wall times: the load average is
# printed before and after; user CPU seconds are the steadier figure.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DATA=${MEETINGS_DIR:-$ROOT/../shared/data/meetings}
WORK=${BENCH_DIR:-${TMPDIR:-/tmp}/minutes-bench-asr}
MODEL=${BENCH_MODEL:-whisper-base}
THREADS=${BENCH_THREADS:-2}
BEAM=${BENCH_BEAM:-5}
FEATURES=${BENCH_FEATURES:-}
MEETINGS=${BENCH_MEETINGS:-*}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
export MINUTES_MODELS_DIR=${MINUTES_MODELS_DIR:-$HOME/.cache/minutes/models}

log() { echo "bench-asr: $*" >&2; }
mkdir -p "$WORK"

OURS=${BENCH_OURS:-}
if [[ -z $OURS ]]; then
  log "building the transcribe example (release${FEATURES:+, features $FEATURES})"
  (cd "$ROOT" && cargo build --quiet --release -p minutes-whisper --example transcribe \
      ${FEATURES:+--features "$FEATURES"})
  OURS="$TARGET_DIR/release/examples/transcribe"
fi
MODEL_DIR=${BENCH_MODEL_DIR:-}
if [[ -z $MODEL_DIR ]]; then
  MINUTES_BIN=${MINUTES_BIN:-}
  if [[ -z $MINUTES_BIN ]]; then
    (cd "$ROOT" && cargo build --quiet --release -p minutes)
    MINUTES_BIN="$TARGET_DIR/release/minutes"
  fi
  "$MINUTES_BIN" models install "$MODEL" >&2
  MODEL_DIR=$("$MINUTES_BIN" models path "$MODEL")
fi

if [[ -z ${BENCH_SKIP_BASELINE:-} && ! -x $WORK/venv/bin/python ]]; then
  log "installing faster-whisper into $WORK/venv"
  python3 -m venv "$WORK/venv"
  "$WORK/venv/bin/pip" install --quiet --disable-pip-version-check faster-whisper==1.2.1
fi

cat > "$WORK/fw.py" <<'PY'
import json, sys, time
from faster_whisper import WhisperModel
model_dir, audio, lang, threads, beam, hot = sys.argv[1:7]
t0 = time.time()
m = WhisperModel(model_dir, device="cpu", compute_type="int8", cpu_threads=int(threads))
t1 = time.time()
segs, info = m.transcribe(audio, language=lang or None, beam_size=int(beam), vad_filter=True,
                          hotwords=hot or None)
out = [{"start": s.start, "end": s.end, "text": s.text} for s in segs]
t2 = time.time()
print(json.dumps({"segments": out, "load_secs": t1 - t0, "transcribe_secs": t2 - t1}))
PY

rss_mb() { awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2 / 1024}' "$1"; }
# User CPU seconds of the whole process (model load included: it is small next to decoding).
cpu_s() { awk -F': ' '/User time \(seconds\)/ {printf "%.1f", $2}' "$1"; }
div() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", a / b}'; }
field() { python3 -c "import json,sys; print(round(json.load(open(sys.argv[1]))[sys.argv[2]], 2))" "$1" "$2"; }

log "load average before: $(cut -d' ' -f1-3 /proc/loadavg); ours: $OURS"
printf '\n%-26s %5s %7s %7s %7s | %7s %7s %6s | %7s %7s %6s | %7s %7s %6s | %6s\n' meeting lang "err" \
  "err+hw" "hw" "ours s" "fw s" ratio "ours u" "fw u" ratio "ours MB" "fw MB" ratio rtf
for truth in "$DATA"/$MEETINGS.json; do
  name=$(basename "$truth" .json)
  [[ $name == manifest ]] && continue
  lang=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['language'][:2])" "$truth")
  if [[ $MODEL == *-en && $lang != en ]]; then continue; fi
  hot=$(python3 -c "import json,sys; print(','.join(json.load(open(sys.argv[1]))['hotwords']))" "$truth")
  wav="$DATA/$name.wav"
  # CT2_VERBOSE=1: CTranslate2 logs the GEMM backend it picked (to stderr, kept in the .time file).
  CT2_VERBOSE=1 /usr/bin/time -v "$OURS" "$MODEL_DIR" "$wav" --language "$lang" --threads "$THREADS" \
      --beam "$BEAM" > "$WORK/$name.plain.json" 2> "$WORK/$name.plain.time"
  err=$(python3 "$ROOT/scripts/lib/asr_score.py" "$truth" "$WORK/$name.plain.json" | cut -d' ' -f1)
  errh=-; hw=-
  if [[ -z ${BENCH_SKIP_HOTWORDS:-} ]]; then
    /usr/bin/time -v "$OURS" "$MODEL_DIR" "$wav" --language "$lang" --threads "$THREADS" --beam "$BEAM" \
        --hotwords "$hot" > "$WORK/$name.hot.json" 2> "$WORK/$name.hot.time"
    errh=$(python3 "$ROOT/scripts/lib/asr_score.py" "$truth" "$WORK/$name.hot.json" | cut -d' ' -f1)
    # Hotwords found verbatim in the output (case-insensitive) without / with the prompt.
    hw=$(python3 - "$truth" "$WORK/$name.plain.json" "$WORK/$name.hot.json" <<'PY'
import json, sys
words = json.load(open(sys.argv[1]))["hotwords"]
def found(p):
    text = " ".join(s["text"] for s in json.load(open(p))["segments"]).lower()
    return sum(w.lower() in text for w in words)
print(f"{found(sys.argv[2])}>{found(sys.argv[3])}/{len(words)}")
PY
)
  fi
  ours_s=$(field "$WORK/$name.plain.json" transcribe_secs)
  ours_u=$(cpu_s "$WORK/$name.plain.time")
  ours_mb=$(rss_mb "$WORK/$name.plain.time")
  fw_s=-; fw_u=-; fw_mb=-; ratio=-; uratio=-; mratio=-
  if [[ -z ${BENCH_SKIP_BASELINE:-} ]]; then
    CT2_VERBOSE=1 /usr/bin/time -v "$WORK/venv/bin/python" "$WORK/fw.py" "$MODEL_DIR" "$wav" "$lang" "$THREADS" "$BEAM" "" \
        > "$WORK/$name.fw.json" 2> "$WORK/$name.fw.time"
    fw_s=$(field "$WORK/$name.fw.json" transcribe_secs)
    fw_u=$(cpu_s "$WORK/$name.fw.time")
    fw_mb=$(rss_mb "$WORK/$name.fw.time")
    ratio=$(div "$ours_s" "$fw_s")
    uratio=$(div "$ours_u" "$fw_u")
    mratio=$(div "$ours_mb" "$fw_mb")
    fwerr=$(python3 "$ROOT/scripts/lib/asr_score.py" "$truth" "$WORK/$name.fw.json" | cut -d' ' -f1)
    echo "$name faster-whisper error rate: $fwerr" >> "$WORK/baseline-errors.txt"
  fi
  dur=$(field "$WORK/$name.plain.json" duration_secs)
  rtf=$(awk -v a="$ours_s" -v d="$dur" 'BEGIN{printf "%.3f", a / d}')
  printf '%-26s %5s %7s %7s %7s | %7s %7s %6s | %7s %7s %6s | %7s %7s %6s | %6s\n' "$name" "$lang" \
    "$err" "$errh" "$hw" "$ours_s" "$fw_s" "$ratio" "$ours_u" "$fw_u" "$uratio" "$ours_mb" "$fw_mb" \
    "$mratio" "$rtf"
done
log "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
backend() { grep -o 'GEMM_S8 backend: [A-Za-z]*' "$1" 2>/dev/null | head -1 | cut -d' ' -f3; }
log "int8 GEMM backend: ours $(backend "$WORK/$name.plain.time"), faster-whisper $(backend "$WORK/$name.fw.time")"
echo
echo "err = WER (en) / CER (zh) without hotwords; err+hw = with the meeting's hotwords;"
echo "hw = hotwords found verbatim without>with / total; s = transcription wall seconds (model"
echo "load excluded); u = user CPU seconds of the whole process; MB = peak RSS; ratio = ours /"
echo "faster-whisper (≤ 1.0 is as fast / as small or better); rtf = our wall seconds / audio seconds."
[[ -f $WORK/baseline-errors.txt ]] && { echo; cat "$WORK/baseline-errors.txt"; rm -f "$WORK/baseline-errors.txt"; }
