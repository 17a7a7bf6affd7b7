#!/usr/bin/env bash
# Every test of ai-video, against private PostgreSQL, Redis and S3 (moto) servers
# started here on free ports and stopped again when the script ends, however it ends.
#
#   scripts/test.sh [extra arguments for the test runner]
#
# Then the Helm chart's checks (scripts/lib/chart-check.sh) and the demo against the
# fake providers. A run with arguments for the test runner (a filter) stops after the
# tests.
#
# On a fresh Debian/Ubuntu machine with the Rust toolchain it installs what it lacks
# with apt when run as root (postgresql, redis-server, ffmpeg, espeak-ng, tesseract-ocr
# with its English and Korean data, fonts-noto-cjk, nodejs, npm,
# python3-venv, golang-go and sprig for the chart renderer, curl, jq,
# postgresql-client, chromium and chromium-driver for the admin panel's browser
# tests), Python tools with pip into venvs under ~/.cache/ai-video (moto,
# kubernetes-validate, standardwebhooks, httpx-sse), and Node BullMQ, bull-board and
# axe-core with npm into tests/node.
#
# Screenshots of the admin pages are kept in $TEST_ARTIFACTS/admin (default:
# test-artifacts/ under the cargo target directory).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/common.sh

WORK=$(mktemp -d /tmp/ai-video-test.XXXXXX)
chmod 755 "$WORK"
cleanup() {
  [ -n "${FAKES_PID:-}" ] && kill "$FAKES_PID" 2>/dev/null
  stop_s3
  stop_redis
  stop_postgres
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

need redis-server redis-server
need ffmpeg ffmpeg
need espeak-ng espeak-ng
# Captions are set in Noto Sans CJK; the tests read them back with tesseract.
need tesseract tesseract-ocr
need_packages fonts-noto-cjk tesseract-ocr-eng tesseract-ocr-kor
need ffprobe ffmpeg
need node nodejs
need npm npm
# The command-line client is tested in a pseudo-terminal made by `script`.
need script bsdutils
# The admin panel is tested in headless Chromium over WebDriver.
need chromium chromium
need chromedriver chromium-driver
pg_bin >/dev/null
moto_venv >/dev/null

log "installing the Node BullMQ clients the tests drive (npm)"
(cd tests/node && npm ci --no-audit --no-fund --silent)

log "checking formatting and lints"
cargo fmt --all --check
cargo clippy --quiet --workspace --all-targets --locked -- -D warnings

start_postgres "$WORK/pg"
start_redis "$WORK/redis"
start_s3 "$WORK/s3"
export TEST_DATABASE_URL="$PG_URL"
export TEST_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
export TEST_S3_ENDPOINT="http://127.0.0.1:$S3_PORT"
# The webhook receiver and the SSE client of the tests are third-party Python clients.
TEST_PYTHON="$(tool_venv events-venv standardwebhooks==1.1.0 httpx==0.29.0 httpx-sse==0.4.3)/bin/python"
export TEST_PYTHON
export RUST_LOG="${RUST_LOG:-warn}"
TEST_ARTIFACTS="${TEST_ARTIFACTS:-$CARGO_TARGET_DIR/test-artifacts}"
export TEST_ARTIFACTS

log "building"
# The tests start the worker binary as a child process, so build it first.
cargo build --workspace --bins --locked

log "running the tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast "$@"
else
  cargo test --workspace --locked --no-fail-fast "$@"
fi
log "screenshots of the admin pages: $TEST_ARTIFACTS/admin"

if [ $# -gt 0 ]; then
  exit 0 # a filtered run (arguments for the test runner) skips the chart and the demo
fi

# The Helm chart, without a cluster: renders, schemas, alert rules and the live
# /metrics of both services against the servers above (docs/operations.md).
scripts/lib/chart-check.sh
scripts/lib/schemathesis.sh

log "the demo, against the fake providers"
# The README's first command, with provider keys and base URLs set, as a
# deployment on real providers would run it.
FAKES_LOG="$WORK/fake-providers.env"
export STABILITY_AI_KEY=sk-ci-demo RUNWAY_ML_KEY=key_ci_demo REPLICATE_API_TOKEN=r8_ci_demo
"$CARGO_TARGET_DIR/debug/fake-providers" >"$FAKES_LOG" &
FAKES_PID=$!
for _ in $(seq 1 100); do
  [ "$(wc -l <"$FAKES_LOG")" -ge 3 ] && break
  sleep 0.1
done
# shellcheck disable=SC1090
source "$FAKES_LOG"
DEMO_IMAGE_PROVIDER=stability_ai DEMO_VIDEO_PROVIDER=runway_ml \
  DEMO_PROVIDER_SETTINGS='{"runway_ml": {"default_model": "gen4_turbo", "max_duration": 10, "max_concurrency": 8, "poll_interval_ms": 200}}' \
  scripts/demo.sh
kill "$FAKES_PID" 2>/dev/null || true
