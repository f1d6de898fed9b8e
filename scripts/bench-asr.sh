#!/usr/bin/env bash
# bench-asr.sh — local Whisper (minutes-whisper, CTranslate2 int8) on the synthetic meetings:
# WER (en) / CER (zh) with and without hotwords, and speed + peak RSS against faster-whisper on
# the same model, audio, beam size, compute type and thread count.
#
#   scripts/bench-asr.sh                     # whisper-base, every meeting in ../shared/data
#   BENCH_MODEL=whisper-tiny-en scripts/bench-asr.sh
#
# Env: MINUTES_BIN (an already-built `minutes` for `models install`), BENCH_MODEL (catalog name, default whisper-base), BENCH_THREADS (default 2), BENCH_BEAM
# (default 5), BENCH_DIR (outputs; default $TMPDIR/minutes-bench-asr), MINUTES_MODELS_DIR,
# BENCH_SKIP_BASELINE=1 to skip faster-whisper. faster-whisper is installed from PyPI into a
# throwaway venv under BENCH_DIR.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DATA=${MEETINGS_DIR:-$ROOT/../shared/data/meetings}
WORK=${BENCH_DIR:-${TMPDIR:-/tmp}/minutes-bench-asr}
MODEL=${BENCH_MODEL:-whisper-base}
THREADS=${BENCH_THREADS:-2}
BEAM=${BENCH_BEAM:-5}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
export MINUTES_MODELS_DIR=${MINUTES_MODELS_DIR:-$HOME/.cache/minutes/models}

log() { echo "bench-asr: $*" >&2; }
mkdir -p "$WORK"

log "building the transcribe example (release)"
(cd "$ROOT" && cargo build --quiet --release -p minutes-whisper --example transcribe)
MINUTES_BIN=${MINUTES_BIN:-}
if [[ -z $MINUTES_BIN ]]; then
  (cd "$ROOT" && cargo build --quiet --release -p minutes)
  MINUTES_BIN="$TARGET_DIR/release/minutes"
fi
"$MINUTES_BIN" models install "$MODEL" >&2
MODEL_DIR=$("$MINUTES_BIN" models path "$MODEL")
OURS="$TARGET_DIR/release/examples/transcribe"

if [[ -z ${BENCH_SKIP_BASELINE:-} && ! -x $WORK/venv/bin/python ]]; then
  log "installing faster-whisper into $WORK/venv"
  python3 -m venv "$WORK/venv"
  "$WORK/venv/bin/pip" install --quiet --disable-pip-version-check faster-whisper
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
field() { python3 -c "import json,sys; print(round(json.load(open(sys.argv[1]))[sys.argv[2]], 2))" "$1" "$2"; }

printf '\n%-26s %5s %7s %7s %7s | %7s %7s %6s | %7s %7s %6s\n' meeting lang "err" "err+hw" "hw" \
  "ours s" "fw s" ratio "ours MB" "fw MB" ratio
for truth in "$DATA"/*.json; do
  name=$(basename "$truth" .json)
  [[ $name == manifest ]] && continue
  lang=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['language'][:2])" "$truth")
  if [[ $MODEL == *-en && $lang != en ]]; then continue; fi
  hot=$(python3 -c "import json,sys; print(','.join(json.load(open(sys.argv[1]))['hotwords']))" "$truth")
  wav="$DATA/$name.wav"
  /usr/bin/time -v "$OURS" "$MODEL_DIR" "$wav" --language "$lang" --threads "$THREADS" --beam "$BEAM" \
      > "$WORK/$name.plain.json" 2> "$WORK/$name.plain.time"
  /usr/bin/time -v "$OURS" "$MODEL_DIR" "$wav" --language "$lang" --threads "$THREADS" --beam "$BEAM" \
      --hotwords "$hot" > "$WORK/$name.hot.json" 2> "$WORK/$name.hot.time"
  err=$(python3 "$ROOT/scripts/lib/asr_score.py" "$truth" "$WORK/$name.plain.json" | cut -d' ' -f1)
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
  ours_s=$(field "$WORK/$name.plain.json" transcribe_secs)
  ours_mb=$(rss_mb "$WORK/$name.plain.time")
  fw_s=-; fw_mb=-; ratio=-; mratio=-
  if [[ -z ${BENCH_SKIP_BASELINE:-} ]]; then
    /usr/bin/time -v "$WORK/venv/bin/python" "$WORK/fw.py" "$MODEL_DIR" "$wav" "$lang" "$THREADS" "$BEAM" "" \
        > "$WORK/$name.fw.json" 2> "$WORK/$name.fw.time"
    fw_s=$(field "$WORK/$name.fw.json" transcribe_secs)
    fw_mb=$(rss_mb "$WORK/$name.fw.time")
    ratio=$(awk -v a="$ours_s" -v b="$fw_s" 'BEGIN{printf "%.2f", a / b}')
    mratio=$(awk -v a="$ours_mb" -v b="$fw_mb" 'BEGIN{printf "%.2f", a / b}')
    fwerr=$(python3 "$ROOT/scripts/lib/asr_score.py" "$truth" "$WORK/$name.fw.json" | cut -d' ' -f1)
    echo "$name faster-whisper error rate: $fwerr" >> "$WORK/baseline-errors.txt"
  fi
  dur=$(field "$WORK/$name.plain.json" duration_secs)
  rtf=$(awk -v a="$ours_s" -v d="$dur" 'BEGIN{printf "%.3f", a / d}')
  printf '%-26s %5s %7s %7s %7s | %7s %7s %6s | %7s %7s %6s  rtf %s\n' "$name" "$lang" "$err" "$errh" "$hw" \
    "$ours_s" "$fw_s" "$ratio" "$ours_mb" "$fw_mb" "$mratio" "$rtf"
done
echo
echo "err = WER (en) / CER (zh) without hotwords; err+hw = with the meeting's hotwords;"
echo "hw = hotwords found verbatim without>with / total; s = transcription wall seconds (model"
echo "load excluded); ratio = ours / faster-whisper (≤ 1.0 is as fast or faster); rtf = ours / audio."
[[ -f $WORK/baseline-errors.txt ]] && { echo; cat "$WORK/baseline-errors.txt"; rm -f "$WORK/baseline-errors.txt"; }
