#!/usr/bin/env bash
# bench-diarization.sh — diarization error rate (DER) of the offline speaker separation
# (minutes-speaker, run exactly as the `local` diarization provider runs it: energy VAD →
# 1.5 s windows → embeddings → clustering) on the synthetic meetings, CAM++ against the degraded
# fbank-statistics engine.
#
#   scripts/bench-diarization.sh
#   MEETINGS_DIR=/tmp/meetings scripts/bench-diarization.sh     # a regenerated set
#
# DER = (missed + false alarm + confusion) / scored reference speech, 0.25 s no-score collar
# around every reference boundary, optimal one-to-one speaker mapping (scripts/lib/der.py).
# RTF = wall seconds of VAD + diarization / audio seconds, model loading excluded (wall time
# is inflated by other work on the machine; the logs in BENCH_DIR also have CPU seconds).
#
# Env: MEETINGS_DIR (<name>.wav + <name>.rttm; default ../shared/data/meetings beside the repo),
# MINUTES_MODELS_DIR (default ~/.cache/minutes/models; the CAM++ weights are
# campplus-zh-en/campplus_cn_en_common.pt there: `minutes models install campplus-zh-en`),
# BENCH_DIR (hypothesis RTTMs, logs and scores; default $TMPDIR/minutes-bench-diarization, never
# the repo), BENCH_COLLAR (seconds, default 0.25), CARGO_TARGET_DIR (as for cargo).
# Exits non-zero when a build, run or scoring step fails; there is no DER goal.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DATA=${MEETINGS_DIR:-$ROOT/../shared/data/meetings}
WORK=${BENCH_DIR:-${TMPDIR:-/tmp}/minutes-bench-diarization}
COLLAR=${BENCH_COLLAR:-0.25}
MODELS=${MINUTES_MODELS_DIR:-$HOME/.cache/minutes/models}
MODEL=$MODELS/campplus-zh-en/campplus_cn_en_common.pt
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
[[ $TARGET_DIR == /* ]] || TARGET_DIR=$ROOT/$TARGET_DIR # cargo runs from $ROOT below
DER_PY=$ROOT/scripts/lib/der.py

log() { echo "bench-diarization: $*" >&2; }

# ---------------------------------------------------------------- inputs
if [[ ! -f $MODEL ]]; then
  log "CAM++ model not found at $MODEL"
  log "install it with: minutes models install campplus-zh-en   (or set MINUTES_MODELS_DIR)"
  exit 1
fi
meetings=()
for rttm in "$DATA"/*.rttm; do
  [[ -f $rttm && -f ${rttm%.rttm}.wav ]] && meetings+=("$(basename "${rttm%.rttm}")")
done
if ((${#meetings[@]} == 0)); then
  log "no <name>.wav + <name>.rttm pairs in $DATA (set MEETINGS_DIR)"
  exit 1
fi
python3 "$DER_PY" --self-test >/dev/null || { log "der.py --self-test failed"; exit 1; }
mkdir -p "$WORK"

# ---------------------------------------------------------------- build
log "building the rttm example (release)"
(cd "$ROOT" && cargo build --quiet --release -p minutes-speaker --example rttm)
BIN="$TARGET_DIR/release/examples/rttm"

# ---------------------------------------------------------------- run + score
wavs=()
refs=()
for m in "${meetings[@]}"; do
  wavs+=("$DATA/$m.wav")
  refs+=(-r "$DATA/$m.rttm")
done

declare -A spk der miss fa conf rtf ref_spk pooled audio wall
for engine in campplus fbank; do
  arg=$MODEL
  [[ $engine == fbank ]] && arg=fbank
  log "diarizing ${#meetings[@]} meetings with $engine"
  if ! "$BIN" "$arg" "${wavs[@]}" >"$WORK/hyp.$engine.rttm" 2>"$WORK/$engine.log"; then
    cat "$WORK/$engine.log" >&2
    exit 1
  fi
  # timing file=<id> engine=... speakers=N turns=N audio_s=S wall_s=S cpu_s=S rtf=R
  while read -r -a fields; do
    [[ ${fields[0]} == timing ]] || continue
    declare -A kv=()
    for f in "${fields[@]:1}"; do kv[${f%%=*}]=${f#*=}; done
    rtf[$engine.${kv[file]}]=${kv[rtf]}
    audio[$engine]=$(awk -v a="${audio[$engine]:-0}" -v b="${kv[audio_s]}" 'BEGIN{print a + b}')
    wall[$engine]=$(awk -v a="${wall[$engine]:-0}" -v b="${kv[wall_s]}" 'BEGIN{print a + b}')
    unset kv
  done <"$WORK/$engine.log"
  python3 "$DER_PY" --collar "$COLLAR" --tsv "${refs[@]}" -s "$WORK/hyp.$engine.rttm" \
    >"$WORK/der.$engine.tsv"
  # file scored_s miss_s fa_s conf_s der miss fa conf ref_speakers hyp_speakers
  while IFS=$'\t' read -r id _ _ _ _ d mi f c rs hs; do
    if [[ $id == TOTAL ]]; then
      pooled[$engine]=$d
      continue
    fi
    der[$engine.$id]=$d; miss[$engine.$id]=$mi; fa[$engine.$id]=$f; conf[$engine.$id]=$c
    spk[$engine.$id]=$hs; ref_spk[$id]=$rs
  done <"$WORK/der.$engine.tsv"
done

# ---------------------------------------------------------------- table
pct() { awk -v x="$1" 'BEGIN{printf "%.1f", 100 * x}'; }
row() { printf '%-26s %4s %4s  %-24s %4s  %-24s %8s %8s\n' "$@" | sed 's/ *$//'; }
echo
echo "DER (%) with a ${COLLAR} s collar; cam = CAM++, fb = fbank statistics (degraded)"
echo
row meeting ref cam "DER cam (miss/fa/conf)" fb "DER fb (miss/fa/conf)" "RTF cam" "RTF fb"
sum_cam=0
sum_fb=0
for m in "${meetings[@]}"; do
  cells=()
  for e in campplus fbank; do
    cells+=("$(pct "${der[$e.$m]}") ($(pct "${miss[$e.$m]}")/$(pct "${fa[$e.$m]}")/$(pct "${conf[$e.$m]}"))")
  done
  row "$m" "${ref_spk[$m]}" "${spk[campplus.$m]}" "${cells[0]}" "${spk[fbank.$m]}" "${cells[1]}" \
    "${rtf[campplus.$m]}" "${rtf[fbank.$m]}"
  sum_cam=$(awk -v a="$sum_cam" -v b="${der[campplus.$m]}" 'BEGIN{print a + b}')
  sum_fb=$(awk -v a="$sum_fb" -v b="${der[fbank.$m]}" 'BEGIN{print a + b}')
done
n=${#meetings[@]}
mean_cam=$(awk -v s="$sum_cam" -v n="$n" 'BEGIN{print s / n}')
mean_fb=$(awk -v s="$sum_fb" -v n="$n" 'BEGIN{print s / n}')
rtf_cam=$(awk -v w="${wall[campplus]}" -v a="${audio[campplus]}" 'BEGIN{printf "%.4f", w / a}')
rtf_fb=$(awk -v w="${wall[fbank]}" -v a="${audio[fbank]}" 'BEGIN{printf "%.4f", w / a}')
row "mean of $n meetings" "" "" "$(pct "$mean_cam")" "" "$(pct "$mean_fb")" "$rtf_cam" "$rtf_fb"
row "pooled (all speech)" "" "" "$(pct "${pooled[campplus]}")" "" "$(pct "${pooled[fbank]}")" "" ""
echo
echo "hypotheses, logs and per-file scores: $WORK"
