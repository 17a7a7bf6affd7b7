#!/usr/bin/env bash
# The benchmarks of docs/benchmarks.md, with BullMQ (Node) measured side by side on
# the same private Redis, in one run. Starts private Redis and PostgreSQL servers on
# free ports, installs BullMQ from npm into bench/peer, builds release binaries, runs
# `ai-video-bench`, and stops everything it started.
#
#   scripts/bench.sh [all | queue | latency | backlog | pipeline | api | stats | admin | slow | render | idle | sse] [--n N] [--repeat R]
#
# On a fresh Debian/Ubuntu machine with the Rust toolchain it installs what it lacks
# (redis-server, postgresql, ffmpeg, nodejs, npm, wrk) with apt when run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/common.sh

WORK=$(mktemp -d /tmp/ai-video-bench.XXXXXX)
chmod 755 "$WORK"
cleanup() {
  stop_redis
  stop_postgres
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

need redis-server redis-server
need ffmpeg ffmpeg
need espeak-ng espeak-ng
need node nodejs
need npm npm
need wrk wrk
pg_bin >/dev/null

log "installing the BullMQ peer (npm)"
(cd bench/peer && npm ci --no-audit --no-fund --silent)

PROFILE=${BENCH_PROFILE:-release}
log "building ($PROFILE)"
if [ "$PROFILE" = release ]; then
  cargo build --release --locked -p ai-video-bench -p ai-video-worker -p ai-video-api
else
  cargo build --locked -p ai-video-bench -p ai-video-worker -p ai-video-api
fi
# The SSE benchmark holds 10,000 streams: a socket each in the API and in the bench.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# pg_stat_statements lets the pipeline benchmark count the statements of a job.
PG_EXTRA_OPTS="-c shared_preload_libraries=pg_stat_statements" start_postgres "$WORK/pg"
start_redis "$WORK/redis"
export BENCH_REDIS_PORT="$REDIS_PORT"
export BENCH_DATABASE_URL="$PG_URL"
export RUST_LOG="${RUST_LOG:-error}"

log "benchmarking ($(nproc) cores, $(redis-server --version | grep -o 'v=[0-9.]*'), node $(node --version))"
"$CARGO_TARGET_DIR/$PROFILE/ai-video-bench" "$@"
