#!/usr/bin/env bash
# Every test of ai-video, against private PostgreSQL and Redis servers started here
# on free ports and stopped again when the script ends, however it ends.
#
#   scripts/test.sh [extra arguments for the test runner]
#
# On a fresh Debian/Ubuntu machine with the Rust toolchain it installs what it
# lacks (postgresql, redis-server) with apt when run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/common.sh

WORK=$(mktemp -d /tmp/ai-video-test.XXXXXX)
chmod 755 "$WORK"
cleanup() {
  stop_redis
  stop_postgres
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

need redis-server redis-server
pg_bin >/dev/null

log "checking formatting and lints"
cargo fmt --all --check
cargo clippy --quiet --workspace --all-targets --locked -- -D warnings

start_postgres "$WORK/pg"
start_redis "$WORK/redis"
export TEST_DATABASE_URL="$PG_URL"
export TEST_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
export RUST_LOG="${RUST_LOG:-warn}"

log "running the tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast "$@"
else
  cargo test --workspace --locked --no-fail-fast "$@"
fi
