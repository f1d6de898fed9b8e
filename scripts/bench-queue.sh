#!/usr/bin/env bash
# Queue throughput and pickup latency per delivery backend, through the real code path
# (enqueue → relay/announce → receive → claim by id → complete → ack) with 8 claimers, beside
# each backend's raw-client baseline measured in the same run (crates/minutes/benches/queue.rs).
# Goals: ≥ 1,000 jobs/s on every backend, pickup p99 < 100 ms, ratio ≥ 0.3 of the raw baseline.
#
#   scripts/bench-queue.sh [database|redis|rabbitmq|all]    (default: all)
#
# Servers: MINUTES_BENCH_POSTGRES_URL, MINUTES_BENCH_REDIS_URL, MINUTES_BENCH_AMQP_URL (defaults:
# the local PostgreSQL, Redis and RabbitMQ the tests use; scripts/test-services.sh starts them).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
# No-op jobs never reach an engine: the embedded Whisper is not built.
exec cargo bench --quiet -p minutes --no-default-features --bench queue -- "${1:-all}"
