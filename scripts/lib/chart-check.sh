#!/usr/bin/env bash
# Proof of the Helm chart charts/ai-video without a cluster and without helm:
#
#   scripts/lib/chart-check.sh [API_METRICS_FILE WORKER_METRICS_FILE]
#
# 1. renders the chart with charts/tools/render (a small `helm template` built from
#    Debian's Go packages: golang-go, sprig, ghodss/yaml), once per
#    charts/ai-video/ci/*.yaml, and checks that bad values are refused;
# 2. validates the coalesced values against values.schema.json, every built-in
#    object against the Kubernetes 1.30 schemas (kubernetes-validate, strict), the
#    ServiceMonitor, PrometheusRule and ScaledObject against models generated from
#    the prometheus-operator and KEDA CRDs (unknown fields forbidden), and what
#    docs/operations.md promises (probes, security, secrets, hook, PDBs, autoscaling);
# 3. runs `promtool check rules` on every PrometheusRule and `promtool test rules`
#    with charts/tools/alerts.test.yaml;
# 4. runs `promtool check metrics` on the /metrics text of both services and checks
#    that every metric the dashboard, the alerts, the adapter rules and KEDA query
#    is in it. The text comes from the two files given (or CHART_CHECK_API_METRICS
#    and CHART_CHECK_WORKER_METRICS); without them this script starts
#    ai-video-api and ai-video-worker itself with the chart's ConfigMap as their
#    environment, against TEST_DATABASE_URL, TEST_REDIS_URL and TEST_S3_ENDPOINT
#    when scripts/test.sh exported them (else private servers it starts, after
#    building the workspace's binaries), drives stories through planning and
#    previews until every kind of job and provider event happened once, and
#    scrapes both. It also checks probes, JSON logs with ids and the SIGTERM drain.
#
# It runs every check, prints what failed, and exits 1 if anything did. It
# installs what it lacks: golang-go, golang-github-masterminds-sprig-dev,
# golang-github-ghodss-yaml-dev, curl, jq and postgresql-client with apt when run
# as root; promtool unpacked from Debian's prometheus package (apt-get download)
# into ~/.cache/ai-video/chart-tools; kubernetes-validate and the CRD models with
# pip into ~/.cache/ai-video/venv-charts.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib/common.sh

CHART=charts/ai-video
TOOLS="$HOME/.cache/ai-video/chart-tools"
K8S_VERSION=1.30.0
PIP_SPECS=(kubernetes-validate==1.31.0 cloudcoil.models.prometheus_operator==0.80.1.0
  cloudcoil.models.keda==2.16.1.0 'pydantic>=2.12,<3')

# CHART_CHECK_OUT=DIR keeps the renders, rules and scraped /metrics there.
if [ -n "${CHART_CHECK_OUT:-}" ]; then
  OUT=$CHART_CHECK_OUT
  mkdir -p "$OUT"
else
  OUT=$(mktemp -d /tmp/ai-video-chart.XXXXXX)
  chmod 755 "$OUT" # initdb runs as the postgres user when root
fi
PIDS=()
CREATED_DB=""
cleanup() {
  local pid
  if [ -n "${CURRENT_CHECK:-}" ]; then # a helper died in the middle of a check
    printf '  FAIL  %s\n' "$CURRENT_CHECK" >&2
    sed 's/^/        /' "$OUT/check.log" >&2 || true
  fi
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ -n "$CREATED_DB" ]; then
    psql "$ADMIN_DB_URL" -qc "DROP DATABASE IF EXISTS \"$CREATED_DB\" WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  stop_s3
  stop_redis
  stop_postgres
  [ -n "${CHART_CHECK_OUT:-}" ] || rm -rf "$OUT"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

FAILED=()
# check DESCRIPTION CMD... : runs one check, shows its output, remembers a failure.
check() {
  local what=$1
  shift
  CURRENT_CHECK=$what
  if "$@" >"$OUT/check.log" 2>&1; then
    CURRENT_CHECK=
    printf '  ok    %s\n' "$what" >&2
    sed 's/^/        /' "$OUT/check.log" | grep -v '^ *$' >&2 || true
  else
    CURRENT_CHECK=
    printf '  FAIL  %s\n' "$what" >&2
    sed 's/^/        /' "$OUT/check.log" >&2
    FAILED+=("$what")
  fi
}

# --- tools -----------------------------------------------------------------------

need go golang-go
for pkg in Masterminds/sprig:golang-github-masterminds-sprig-dev ghodss/yaml:golang-github-ghodss-yaml-dev; do
  [ -d "/usr/share/gocode/src/github.com/${pkg%%:*}" ] || apt_install "${pkg#*:}"
done
need curl curl
need jq jq
need psql postgresql-client
# promtool comes from Debian's prometheus package, unpacked into $TOOLS rather than
# installed: installing it would also enable and start a Prometheus server.
if ! command -v promtool >/dev/null 2>&1; then
  if [ ! -x "$TOOLS/bin/promtool" ]; then
    log "unpacking promtool from Debian's prometheus package into $TOOLS"
    mkdir -p "$TOOLS/deb" "$TOOLS/bin"
    if ! (cd "$TOOLS/deb" && apt-get download prometheus >/dev/null 2>&1); then
      [ "$(id -u)" -eq 0 ] && apt-get update -q >/dev/null 2>&1
      (cd "$TOOLS/deb" && apt-get download prometheus >/dev/null) \
        || die "apt-get download prometheus failed (promtool); run apt-get update, or install prometheus"
    fi
    debs=("$TOOLS"/deb/prometheus_*.deb)
    dpkg-deb -x "${debs[-1]}" "$TOOLS/deb/root"
    cp "$TOOLS/deb/root/usr/bin/promtool" "$TOOLS/bin/promtool"
  fi
  PATH="$TOOLS/bin:$PATH"
fi
VENV=$(tool_venv venv-charts "${PIP_SPECS[@]}")
PY="$VENV/bin/python"

# The renderer is rebuilt when its source changes; Go reads the Debian packages'
# sources from /usr/share/gocode in GOPATH mode, so nothing is downloaded.
RENDER="$TOOLS/bin/render"
stamp=$(sha256sum charts/tools/render/main.go | cut -d' ' -f1)
if [ ! -x "$RENDER" ] || [ "$(cat "$TOOLS/render.sha256" 2>/dev/null)" != "$stamp" ]; then
  log "building the chart renderer (go)"
  mkdir -p "$TOOLS/bin"
  (cd charts/tools/render && GO111MODULE=off GOFLAGS='' GOPATH="$TOOLS/gopath:/usr/share/gocode" \
    GOCACHE="$TOOLS/gocache" go build -o "$RENDER" .) || die "could not build charts/tools/render"
  echo "$stamp" >"$TOOLS/render.sha256"
fi

render() { # NAME VALUES_FILE... : renders into $OUT/NAME.yaml and $OUT/NAME.values.json
  local name=$1 args=()
  shift
  for f in "$@"; do args+=(-f "$f"); done
  "$RENDER" --chart "$CHART" --name ai-video --namespace video "${args[@]}" \
    --values-out "$OUT/$name.values.json" >"$OUT/$name.yaml"
}

# refused WHY TEXT VALUES_FILE... : the values must be refused, naming TEXT.
refused() {
  local text=$1 args=()
  shift
  for f in "$@"; do args+=(-f "$f"); done
  if "$RENDER" --chart "$CHART" --name ai-video --namespace video "${args[@]}" \
    --values-out "$OUT/refused.json" >/dev/null 2>"$OUT/refused.log"; then
    # Rendered: then the schema must refuse it.
    if "$PY" charts/tools/chart_checks.py schema "$CHART/values.schema.json" "$OUT/refused.json" \
      >"$OUT/refused.log" 2>&1; then
      echo "accepted"
      return 1
    fi
  fi
  grep -q -- "$text" "$OUT/refused.log" || { cat "$OUT/refused.log"; return 1; }
  grep -m1 -o -- "$text.*" "$OUT/refused.log" | cut -c1-140
}

# --- 1-3: render, validate, rules ---------------------------------------------------

log "checking the Helm chart ($CHART) against Kubernetes $K8S_VERSION"
check "default values are refused until the database is named" refused "secrets.databaseUrl"
cat >"$OUT/both-jwt.yaml" <<'EOF'
secrets: {jwtPublicKey: "-----BEGIN PUBLIC KEY-----"}
EOF
check "both JWT settings are refused" refused "not both" "$CHART/ci/minimal-values.yaml" "$OUT/both-jwt.yaml"
cat >"$OUT/misspelt.yaml" <<'EOF'
worker: {concurency: 8}
EOF
check "a misspelt value is refused by values.schema.json" refused "concurency" \
  "$CHART/ci/minimal-values.yaml" "$OUT/misspelt.yaml"
cat >"$OUT/bad-engine.yaml" <<'EOF'
worker: {autoscaling: {engine: hpa-and-keda}}
EOF
check "an unknown autoscaling engine is refused by values.schema.json" refused "engine" \
  "$CHART/ci/minimal-values.yaml" "$OUT/bad-engine.yaml"
cat >"$OUT/keda-no-server.yaml" <<'EOF'
worker: {autoscaling: {engine: keda}}
EOF
check "KEDA without a Prometheus address is refused" refused "serverAddress" \
  "$CHART/ci/minimal-values.yaml" "$OUT/keda-no-server.yaml"

RENDERS=()
for values in "$CHART"/ci/*.yaml; do
  name=$(basename "$values" .yaml)
  if ! check "render with ci/$name.yaml" render "$name" "$values"; then
    continue
  fi
  RENDERS+=("$OUT/$name.yaml")
  check "$name: values match values.schema.json" \
    "$PY" charts/tools/chart_checks.py schema "$CHART/values.schema.json" "$OUT/$name.values.json"
  check "$name: objects match their schemas" \
    "$PY" charts/tools/chart_checks.py validate "$K8S_VERSION" "$OUT/$name.yaml"
  check "$name: chart keeps its promises" \
    "$PY" charts/tools/chart_checks.py assert "$OUT/$name.yaml" "$OUT/$name.values.json"
  if grep -q '^kind: PrometheusRule' "$OUT/$name.yaml"; then
    mkdir -p "$OUT/rules-$name"
    check "$name: promtool check rules" sh -c \
      "'$PY' charts/tools/chart_checks.py rules '$OUT/$name.yaml' '$OUT/rules-$name/rules.yaml' \
       && promtool check rules '$OUT/rules-$name/rules.yaml'"
  fi
done
# The alert unit tests are written for this render (namespace "video").
if [ -f "$OUT/rules-hpa-monitoring-values/rules.yaml" ]; then
  cp charts/tools/alerts.test.yaml "$OUT/rules-hpa-monitoring-values/"
  check "alerts fire (and stay quiet) as documented: promtool test rules" \
    promtool test rules "$OUT/rules-hpa-monitoring-values/alerts.test.yaml"
else
  check "alerts unit tests need the hpa-monitoring-values render" false
fi

# --- 4: live /metrics ------------------------------------------------------------------

# http_code URL : prints the HTTP status of GET URL (000 when nothing answers).
http_code() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$1" || true; }

# scrape_live_metrics DIR : starts api and worker with the environment of the
# chart's ConfigMap (addresses made local) on a fresh database, and the fake
# provider servers of the tests; drives stories through planning and previews so
# that every kind of event happens once (a provider call, a fleet rate limit, a
# retry, a failure for good), and writes DIR/api.metrics and DIR/worker.metrics.
# Also checks the health endpoints, JSON logs with ids and the SIGTERM drain.
scrape_live_metrics() {
  local dir=$1 bin="$CARGO_TARGET_DIR/debug" api_port metrics_port token admin story
  # Called from `check`, where errexit does not apply: every step says `|| return 1`.
  if [ -n "${TEST_DATABASE_URL:-}" ] && [ -n "${TEST_REDIS_URL:-}" ] && [ -n "${TEST_S3_ENDPOINT:-}" ]; then
    # scripts/test.sh built the binaries and runs these servers.
    ADMIN_DB_URL=$TEST_DATABASE_URL
    REDIS=$TEST_REDIS_URL
    S3=$TEST_S3_ENDPOINT
  else
    cargo build --quiet --locked --workspace --bins || return 1
    start_postgres "$dir/pg" || return 1
    start_redis "$dir/redis" || return 1
    start_s3 "$dir/s3" || return 1
    ADMIN_DB_URL=$PG_URL
    REDIS="redis://127.0.0.1:$REDIS_PORT/0"
    S3="http://127.0.0.1:$S3_PORT"
  fi
  CREATED_DB="chart_check_$$_$RANDOM"
  psql "$ADMIN_DB_URL" -qc "CREATE DATABASE \"$CREATED_DB\"" >/dev/null || return 1
  api_port=$(free_port)
  metrics_port=$(free_port)
  # The chart's own ConfigMap (default values), with the addresses made local.
  local name value
  while IFS='=' read -r name value; do
    export "$name=$value"
  done < <("$PY" charts/tools/chart_checks.py env "$OUT/minimal-values.yaml")
  [ "${LOG_FORMAT:-}" = json ] || { echo "the chart's ConfigMap did not load"; return 1; }
  export DATABASE_URL="${ADMIN_DB_URL%/*}/$CREATED_DB" REDIS_URL=$REDIS
  export QUEUE_NAME="chart-check-$$" MINIO_ENDPOINT=$S3 MINIO_BUCKET="chart-check-$$"
  export MINIO_ACCESS_KEY=chart-check MINIO_SECRET_KEY=chart-check
  export JWT_SECRET="chart-check-$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')" JOB_BACKOFF_MS=200
  export BIND_ADDR="127.0.0.1:$api_port" METRICS_ADDR="127.0.0.1:$metrics_port"
  export WORK_DIR="$dir/work" WORKER_SHUTDOWN_GRACE_SECS=10
  # The fake provider servers the tests use (ai-video-tests), for real provider
  # calls; they accept the key they are started with.
  export STABILITY_AI_KEY=sk-chart-check
  "$bin/fake-providers" >"$dir/fakes.env" 2>"$dir/fakes.log" &
  PIDS+=($!)
  for _ in $(seq 1 100); do
    [ "$(wc -l <"$dir/fakes.env")" -ge 3 ] && break
    sleep 0.1
  done
  # shellcheck disable=SC1091
  source "$dir/fakes.env" || return 1
  "$bin/ai-video-api" migrate >"$dir/migrate.log" 2>&1 || { cat "$dir/migrate.log"; return 1; }
  "$bin/ai-video-api" >"$dir/api.log" 2>&1 &
  PIDS+=($!)
  "$bin/ai-video-worker" >"$dir/worker.log" 2>&1 &
  PIDS+=($!)
  local worker_pid=$!
  for _ in $(seq 1 300); do
    [ "$(http_code "http://$BIND_ADDR/readyz")" = 200 ] && [ "$(http_code "http://$METRICS_ADDR/readyz")" = 200 ] && break
    sleep 0.2
  done
  for url in "http://$BIND_ADDR/healthz" "http://$BIND_ADDR/readyz" \
    "http://$METRICS_ADDR/healthz" "http://$METRICS_ADDR/readyz"; do
    [ "$(http_code "$url")" = 200 ] || { echo "GET $url does not answer 200"; tail -5 "$dir"/*.log; return 1; }
  done
  echo "/healthz and /readyz answer 200 on api and worker"

  token=$("$bin/ai-video-api" token chart-check) || return 1
  admin=$("$bin/ai-video-api" token chart-check-admin --admin) || return 1
  call() { # METHOD PATH [JSON]
    curl -sS --fail-with-body -X "$1" "http://$BIND_ADDR/api/ai-video/$2" \
      -H "Authorization: Bearer $token" -H 'content-type: application/json' ${3:+-d "$3"}
  }
  provider() { # PROVIDER JSON : patches a provider's configuration
    curl -sS --fail-with-body -X PATCH "http://$BIND_ADDR/api/ai-video/providers/$1/" \
      -H "Authorization: Bearer $admin" -H 'content-type: application/json' -d "$2" >/dev/null
  }
  wait_story() { # JQ_CONDITION SECONDS
    local deadline=$(( SECONDS + $2 )) s
    while [ "$SECONDS" -lt "$deadline" ]; do
      s=$(call GET "stories/$story/")
      jq -e "$1" <<<"$s" >/dev/null && return 0
      [ "$(jq -r .status <<<"$s")" = failed ] && { echo "story failed: $(jq -r .last_error <<<"$s")"; return 1; }
      sleep 0.3
    done
    echo "story did not reach $1: $(call GET "stories/$story/")"
    return 1
  }
  preview() { # IMAGE_PROVIDER SECONDS JQ_CONDITION : a story planned, then previewed
    story=$(call POST stories/ "{\"title\": \"Chart check\", \"synopsis\": \"A lamp. A storm.\",
      \"duration_seconds\": $2, \"image_provider\": \"$1\", \"video_provider\": \"local\"}" | jq -r .id) || return 1
    call POST "stories/$story/transition/" '{"to": "planning"}' >/dev/null || return 1
    wait_story '.status == "planned"' 60 || return 1
    call POST "stories/$story/generate_preview/" >/dev/null || return 1
    wait_story "$3" 180
  }
  # Two scenes on Stability with a fleet limit of one image a minute: one call goes
  # to the (fake) provider, the other scene is delayed by the limit.
  provider stability_ai '{"rate_limit_per_minute": 1}' || return 1
  preview stability_ai 14 '.status == "previewing"' || return 1
  # A preview on the local provider, a retried one, and one that fails for good.
  preview local 7 '.preview_url != null' || return 1
  provider local '{"settings": {"fail_attempts": 1}}' || return 1
  preview local 7 '.preview_url != null' || return 1
  provider local '{"settings": {"fail_permanently": true}}' || return 1
  preview local 7 '.status == "failed"' || return 1
  echo "stories previewed on local (one after a retry), one failed for good, one held by a rate limit"
  call GET "stories/nope/" >/dev/null 2>&1 || true # a 4xx for the request counters
  for _ in $(seq 1 100); do
    curl -sS --max-time 10 -o "$dir/worker.metrics" "http://$METRICS_ADDR/metrics" || true
    grep -q '^ai_video_jobs_delayed_total' "$dir/worker.metrics" && break
    sleep 0.2
  done
  curl -sS --max-time 10 -o "$dir/api.metrics" "http://$BIND_ADDR/metrics" || true
  echo "GET /metrics: api $(http_code "http://$BIND_ADDR/metrics"), worker $(http_code "http://$METRICS_ADDR/metrics")"

  # Graceful shutdown: SIGTERM drains and exits 0 within WORKER_SHUTDOWN_GRACE_SECS.
  local started=$SECONDS status=0
  kill -TERM "$worker_pid"
  wait "$worker_pid" || status=$?
  if [ "$status" -ne 0 ] || [ $(( SECONDS - started )) -gt "$WORKER_SHUTDOWN_GRACE_SECS" ]; then
    echo "worker exited $status after $(( SECONDS - started )) s on SIGTERM"
    return 1
  fi
  echo "worker stopped on SIGTERM (exit 0, $(( SECONDS - started )) s)"
  # `ai-video-api migrate` ends with one plain result line, "migrations applied".
  local logs=("$dir/api.log" "$dir/worker.log" "$dir/migrate.log") bad
  bad=$(cat "${logs[@]}" | grep -v '^migrations applied$' | grep -cv '^{.*}$' || true)
  if [ "$bad" -ne 0 ] || ! jq -e . "${logs[@]:0:2}" >/dev/null 2>&1; then
    echo "$bad log lines are not JSON objects with LOG_FORMAT=json:"
    cat "${logs[@]}" | grep -v '^{.*}$' | head -3
    return 1
  fi
  # Lines logged while serving a request carry its request id; lines of a job its ids.
  if ! jq -se 'any(.span["request.id"] != null)' "$dir/api.log" >/dev/null \
    || ! jq -se 'any(.span["job.id"] != null and .span["story.id"] != null)' "$dir/worker.log" >/dev/null; then
    echo "no api log line with span.request.id, or no worker log line with span.job.id and span.story.id"
    return 1
  fi
  echo "every log line is a JSON object; request lines carry request.id, job lines job.id and story.id"
}

API_METRICS=${1:-${CHART_CHECK_API_METRICS:-}}
WORKER_METRICS=${2:-${CHART_CHECK_WORKER_METRICS:-}}
if [ -z "$API_METRICS" ] || [ -z "$WORKER_METRICS" ]; then
  mkdir -p "$OUT/live"
  API_METRICS="$OUT/live/api.metrics"
  WORKER_METRICS="$OUT/live/worker.metrics"
  touch "$API_METRICS" "$WORKER_METRICS"
  check "api and worker run on the chart's ConfigMap, answer probes, log JSON, drain on SIGTERM" \
    scrape_live_metrics "$OUT/live"
fi
for role in api worker; do
  file=$([ "$role" = api ] && echo "$API_METRICS" || echo "$WORKER_METRICS")
  check "$role /metrics passes promtool check metrics" sh -c \
    "test -s '$file' || { echo 'no /metrics output'; exit 1; }; promtool check metrics <'$file'"
done
check "every metric the dashboard, alerts, adapter and KEDA use is exposed" \
  "$PY" charts/tools/chart_checks.py names "$API_METRICS" "$WORKER_METRICS" "${RENDERS[@]}"

if [ ${#FAILED[@]} -gt 0 ]; then
  log "chart check: ${#FAILED[@]} failed: $(printf '%s; ' "${FAILED[@]}")"
  exit 1
fi
log "chart check: all passed"
