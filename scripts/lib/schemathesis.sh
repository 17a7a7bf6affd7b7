#!/usr/bin/env bash
# schemathesis (from PyPI) over the OpenAPI document the API serves:
#
#   scripts/lib/schemathesis.sh
#
# Starts ai-video-api on a fresh database and lets schemathesis generate requests
# for every operation of /api/ai-video/openapi.json, valid and invalid ones, twice:
# with a normal user's token and with an admin's (`ai-video-api token`). Every check
# is on (`--checks all`: no 5xx, only documented status codes, media types,
# headers and body schemas, invalid data refused, valid data accepted, the bearer
# token enforced, ...), with a bounded number of examples per operation. Any
# finding fails the script: the fix belongs in the server or in the document.
#
# It runs against TEST_DATABASE_URL and TEST_REDIS_URL when scripts/test.sh
# exported them (and built the binaries); otherwise it builds them and starts
# private PostgreSQL and Redis servers. No worker runs: queued jobs stay queued.
# schemathesis is installed with pip into ~/.cache/ai-video/venv-schemathesis
# (python3-venv with apt when run as root).
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib/common.sh

SPEC=schemathesis==4.32.5
# Examples per operation and phase: the two runs take about a minute each.
MAX_EXAMPLES=${SCHEMATHESIS_MAX_EXAMPLES:-50}
# A fixed seed makes a finding reproducible; another seed explores other inputs.
SEED=${SCHEMATHESIS_SEED:-20251}

OUT=$(mktemp -d /tmp/ai-video-schemathesis.XXXXXX)
chmod 755 "$OUT" # initdb runs as the postgres user when root
API_PID=""
CREATED_DB=""
cleanup() {
  if [ -n "$API_PID" ]; then
    kill "$API_PID" 2>/dev/null || true
    wait "$API_PID" 2>/dev/null || true
  fi
  if [ -n "$CREATED_DB" ]; then
    psql "$ADMIN_DB_URL" -qc "DROP DATABASE IF EXISTS \"$CREATED_DB\" WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  stop_redis
  stop_postgres
  rm -rf "$OUT"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

need curl curl
need psql postgresql-client
VENV=$(tool_venv venv-schemathesis "$SPEC")

if [ -n "${TEST_DATABASE_URL:-}" ] && [ -n "${TEST_REDIS_URL:-}" ]; then
  ADMIN_DB_URL=$TEST_DATABASE_URL
  REDIS=$TEST_REDIS_URL
else
  cargo build --quiet --locked -p ai-video-api --bins
  start_postgres "$OUT/pg"
  start_redis "$OUT/redis"
  ADMIN_DB_URL=$PG_URL
  REDIS="redis://127.0.0.1:$REDIS_PORT/0"
fi
BIN="$CARGO_TARGET_DIR/debug/ai-video-api"

CREATED_DB="schemathesis_$$_$RANDOM"
psql "$ADMIN_DB_URL" -qc "CREATE DATABASE \"$CREATED_DB\"" >/dev/null
export DATABASE_URL="${ADMIN_DB_URL%/*}/$CREATED_DB" REDIS_URL=$REDIS
export QUEUE_NAME="schemathesis-$$" STORAGE_DIR="$OUT/media"
export JWT_SECRET="schemathesis-$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')"
# With a signing secret the webhook route exists, so it is exercised too.
export REPLICATE_WEBHOOK_SECRET="whsec_c2NoZW1hdGhlc2lzLXNlY3JldC1rZXk="
export BIND_ADDR="127.0.0.1:$(free_port)" LOG_FORMAT=json RUST_LOG=warn
# schemathesis sends thousands of requests a minute; the limits have their own tests
# (tests/tests/rate_limits.rs).
export RATE_LIMIT_USER_PER_MINUTE=0 RATE_LIMIT_CLIENT_PER_MINUTE=0
"$BIN" migrate >"$OUT/migrate.log" 2>&1 || { cat "$OUT/migrate.log" >&2; die "ai-video-api migrate failed"; }
"$BIN" >"$OUT/api.log" 2>&1 &
API_PID=$!
for _ in $(seq 1 100); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://$BIND_ADDR/readyz" || true)" = 200 ] && break
  sleep 0.1
done
kill -0 "$API_PID" 2>/dev/null || { cat "$OUT/api.log" >&2; die "ai-video-api did not start"; }

# run_schemathesis WHO TOKEN : every check over every operation as WHO. One worker:
# hypothesis parses lambda sources with `ast`, which CPython 3.11 can crash on when
# two threads do it at once ("AST constructor recursion depth mismatch").
CONFIG="$PWD/scripts/lib/schemathesis.toml"
run_schemathesis() {
  local who=$1 token=$2 started=$SECONDS status=0
  log "schemathesis as $who (--checks all, --max-examples $MAX_EXAMPLES)"
  # From $OUT, where it keeps its cache of crashes, not in the working tree.
  (cd "$OUT" && "$VENV/bin/schemathesis" --config-file "$CONFIG" run "http://$BIND_ADDR/api/ai-video/openapi.json" \
    --url "http://$BIND_ADDR" \
    --header "Authorization: Bearer $token" \
    --checks all \
    --max-examples "$MAX_EXAMPLES" \
    --workers 1 \
    --seed "$SEED" \
    --generation-database none \
    --request-timeout 10 \
    --no-color) || status=$?
  log "schemathesis as $who: exit $status after $(( SECONDS - started )) s"
  if ! kill -0 "$API_PID" 2>/dev/null; then
    tail -20 "$OUT/api.log" >&2
    die "ai-video-api died during the schemathesis run as $who"
  fi
  return "$status"
}

FAILED=()
run_schemathesis user "$("$BIN" token schemathesis-user)" || FAILED+=(user)
run_schemathesis admin "$("$BIN" token schemathesis-admin --admin)" || FAILED+=(admin)
# A server error is a finding even when schemathesis did not see it as one.
if grep -q '"level":"ERROR"' "$OUT/api.log"; then
  log "the API logged errors during the runs:"
  grep '"level":"ERROR"' "$OUT/api.log" | head -20 >&2
  FAILED+=(api-errors)
fi
if [ ${#FAILED[@]} -gt 0 ]; then
  die "schemathesis found problems (${FAILED[*]}); fix the server or the OpenAPI document"
fi
log "schemathesis: no findings as user or admin"
