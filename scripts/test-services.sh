#!/usr/bin/env bash
# Starts what the test suite talks to, installing it first if it is missing (Debian/Ubuntu):
# Redis on 127.0.0.1:6379 and RabbitMQ on 127.0.0.1:5672 (guest/guest). The queue backends and
# the shared rate limiter are tested against these real servers, and those tests fail — never
# skip — without them. Idempotent: running servers are left alone.
#
#   scripts/test-services.sh && cargo nextest run --workspace
set -euo pipefail

sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v rabbitmq-server >/dev/null 2>&1 || need+=(rabbitmq-server)
if [ ${#need[@]} -gt 0 ]; then
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "error: install ${need[*]} (the tests need Redis and RabbitMQ on loopback), then run this again." >&2
        exit 1
    fi
    echo "==> installing ${need[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi

wait_for() { # what, command…
    local what=$1; shift
    for _ in $(seq 1 60); do "$@" >/dev/null 2>&1 && return 0; sleep 1; done
    echo "error: $what did not come up" >&2
    exit 1
}

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    echo "==> starting Redis on 127.0.0.1:6379"
    $sudo mkdir -p /var/lib/redis /var/log/redis
    $sudo redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
        --dir /var/lib/redis --logfile /var/log/redis/ci.log
    wait_for Redis redis-cli -h 127.0.0.1 -p 6379 ping
fi

if ! $sudo rabbitmq-diagnostics -q ping >/dev/null 2>&1; then
    echo "==> starting RabbitMQ on 127.0.0.1:5672"
    $sudo rabbitmq-server -detached
    wait_for RabbitMQ $sudo rabbitmq-diagnostics -q ping
fi
# A chaos test stops and starts the broker's app; an interrupted run may have left it stopped.
$sudo rabbitmqctl -q start_app >/dev/null 2>&1 || true
wait_for RabbitMQ $sudo rabbitmq-diagnostics -q check_running
echo "Redis and RabbitMQ are up"
