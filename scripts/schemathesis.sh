#!/usr/bin/env bash
# Property-based API test: schemathesis (from PyPI, in a throwaway venv outside the checkout)
# generates requests from the served /openapi.json and checks every answer: no 5xx
# (not_a_server_error) and the documented status and body schema (response_schema_conformance).
# The server is `minutes serve` on a free loopback port with a temporary SQLite database, dev
# login on (the token of a dev user, who is the admin of their own tenant) and no worker.
#
#   scripts/schemathesis.sh [extra schemathesis run options…]
#
# Environment: SCHEMATHESIS_MAX_EXAMPLES (default 20 per operation), SCHEMATHESIS_SEED (default 1;
# `random` for a new one each run), MINUTES_SCHEMATHESIS_POSTGRES_URL (run on a fresh database
# created on that PostgreSQL server, and dropped after, instead of SQLite; needs psql),
# MINUTES_SCHEMATHESIS_VENV (default /var/tmp/minutes-schemathesis-venv), CARGO_TARGET_DIR.
# Exits non-zero on any failure; the server's log is printed when it does.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"

version=4.32.5
venv="${MINUTES_SCHEMATHESIS_VENV:-/var/tmp/minutes-schemathesis-venv}"
max_examples="${SCHEMATHESIS_MAX_EXAMPLES:-20}"
seed="${SCHEMATHESIS_SEED:-1}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/minutes-ci-target}"

if [ "$("$venv/bin/schemathesis" --version 2>/dev/null || true)" != "schemathesis, version $version" ]; then
    echo "==> installing schemathesis $version into $venv"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$version"
fi

echo "==> building minutes"
cargo build --quiet --locked -p minutes --bin minutes
bin="$CARGO_TARGET_DIR/debug/minutes"

work="$(mktemp -d)"
server=""
pg_url="${MINUTES_SCHEMATHESIS_POSTGRES_URL:-}"
pg_db=""
cleanup() {
    if [ -n "$server" ]; then
        kill "$server" 2>/dev/null || true
        wait "$server" 2>/dev/null || true
    fi
    if [ -n "$pg_db" ]; then
        psql "$pg_url" -q -c "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" >/dev/null 2>&1 || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

database_url="sqlite://$work/data/minutes.db"
if [ -n "$pg_url" ]; then
    pg_db="minutes_schemathesis_$(python3 -c 'import secrets; print(secrets.token_hex(6))')"
    psql "$pg_url" -v ON_ERROR_STOP=1 -q -c "CREATE DATABASE $pg_db" >/dev/null
    # The same server and credentials, the new database.
    database_url="$(python3 - "$pg_url" "$pg_db" <<'EOF'
import sys, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
print(urllib.parse.urlunsplit(u._replace(path="/" + sys.argv[2])))
EOF
)"
fi

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
mkdir -p "$work/data"
# Engines are set so startup needs no model files; the API never calls them (no worker).
MINUTES__DATA_DIR="$work/data" \
MINUTES__SERVER__BIND="127.0.0.1:$port" \
MINUTES__DATABASE__URL="$database_url" \
MINUTES__AUTH__DEV_LOGIN=true \
MINUTES__AUTH__JWT_SECRET="schemathesis-$(python3 -c 'import secrets; print(secrets.token_hex(24))')" \
MINUTES__ASR__PRIMARY=openai \
MINUTES__LLM__PROVIDER=local \
MINUTES__DIARIZATION__PROVIDER=none \
MINUTES__RATE_LIMIT__ENABLED=false \
MINUTES__LOG__FILTER=warn \
    "$bin" serve >"$work/server.log" 2>&1 &
server=$!

for _ in $(seq 1 150); do
    if python3 -c "import urllib.request; urllib.request.urlopen('$base/health', timeout=1)" 2>/dev/null; then
        break
    fi
    if ! kill -0 "$server" 2>/dev/null; then
        echo "error: minutes serve exited:" >&2
        cat "$work/server.log" >&2
        exit 1
    fi
    sleep 0.2
done

token="$(python3 - "$base" <<'EOF'
import json, sys, urllib.request
req = urllib.request.Request(sys.argv[1] + "/api/v1/auth/dev/login", method="POST",
                             data=json.dumps({"username": "schemathesis"}).encode(),
                             headers={"content-type": "application/json"})
print(json.load(urllib.request.urlopen(req, timeout=10))["access_token"])
EOF
)"

echo "==> schemathesis $version against $base/openapi.json on ${pg_db:-SQLite} (≤ $max_examples examples per operation, seed $seed)"
seed_args=()
[ "$seed" = random ] || seed_args=(--seed "$seed")
status=0
# Run from the scratch directory: schemathesis writes its example database and reports there.
# Security parameters are not generated: a made-up X-API-Key next to the bearer token would be
# tried first and answer 401, so those operations would never get past authentication.
(
    cd "$work"
    "$venv/bin/schemathesis" run "$base/openapi.json" \
        --url "$base" \
        --header "Authorization: Bearer $token" \
        --checks not_a_server_error,response_schema_conformance \
        --generation-with-security-parameters false \
        --max-examples "$max_examples" \
        "${seed_args[@]}" \
        --generation-database none \
        --request-timeout 30 \
        --no-color \
        "$@"
) || status=$?
if [ "$status" -ne 0 ]; then
    echo "==> schemathesis failed ($status); server log (warnings and errors):" >&2
    tail -n 200 "$work/server.log" >&2
fi
cd "$root"
exit "$status"
