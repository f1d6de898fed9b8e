#!/usr/bin/env bash
# Quick start: build `minutes` and run the whole pipeline on a recording with the embedded
# default (SQLite + local files under ./minutes-data).
#
#   scripts/quickstart.sh [recording…]        (default: a bundled sample meeting)
#
# Until the embedded offline engines land, speech-to-text and the minutes writer are
# OpenAI-compatible servers you point it at (faster-whisper-server/speaches, whisper.cpp server,
# vLLM, Ollama, llama.cpp server, OpenAI, DeepSeek, Qwen/DashScope, …):
#   MINUTES__ASR__OPENAI__BASE_URL=http://host:8000/v1  [MINUTES__ASR__OPENAI__API_KEY=…]  [MINUTES__ASR__OPENAI__MODEL=…]
#   MINUTES__LLM__OPENAI__BASE_URL=http://host:11434/v1 [MINUTES__LLM__OPENAI__API_KEY=…]  [MINUTES__LLM__OPENAI__MODEL=…]
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
    echo "error: Rust is needed (https://rustup.rs), then run this again." >&2
    exit 1
fi
missing=()
[ -n "${MINUTES__ASR__OPENAI__BASE_URL:-}" ] || missing+=(MINUTES__ASR__OPENAI__BASE_URL)
[ -n "${MINUTES__LLM__OPENAI__BASE_URL:-}" ] || missing+=(MINUTES__LLM__OPENAI__BASE_URL)
if [ ${#missing[@]} -gt 0 ]; then
    echo "error: set ${missing[*]} to your OpenAI-compatible speech-to-text and chat servers" >&2
    echo "       (see the comment at the top of $0 and docs/CONFIG.md)." >&2
    exit 2
fi

echo "==> building minutes (release)"
cargo build --release --locked -p minutes
bin="${CARGO_TARGET_DIR:-target}/release/minutes"

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
