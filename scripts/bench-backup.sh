#!/usr/bin/env bash
# Backup, restore and db copy at size (10,000 tasks and 1 GiB of objects by default) on SQLite
# and PostgreSQL, beside sqlite3 .backup / pg_dump -Fc plus cp -r measured in the same run
# (crates/minutes/benches/backup.rs). Needs sqlite3, pg_dump and psql on PATH.
#
#   scripts/bench-backup.sh [sqlite|postgres|all]    (default: all)
#
# MINUTES_BENCH_TASKS, MINUTES_BENCH_OBJECT_MB, MINUTES_BENCH_POSTGRES_URL change the defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
exec cargo bench --quiet -p minutes --no-default-features --bench backup -- "${1:-all}"
