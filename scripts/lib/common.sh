# Shared helpers for scripts/test.sh and scripts/demo.sh: installing what is
# missing, finding free ports, and starting private servers that are stopped again
# when the script exits. Sourced, not run.

log() { printf '\033[1m==>\033[0m %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# apt_install PKG... : installs Debian packages when running as root; otherwise
# says what to install and fails.
apt_install() {
  if [ "$(id -u)" -ne 0 ]; then
    die "missing packages: $*; install them with: sudo apt-get install -y $*"
  fi
  log "installing $* (apt)"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -q --no-install-recommends "$@" >/dev/null 2>&1; then
    apt-get update -q >/dev/null 2>&1 || true
    apt-get install -y -q --no-install-recommends "$@" >/dev/null || die "apt-get could not install $*"
  fi
}

# need CMD PACKAGE : makes sure CMD is on PATH, installing PACKAGE if not.
need() {
  command -v "$1" >/dev/null 2>&1 || apt_install "$2"
  command -v "$1" >/dev/null 2>&1 || die "$1 is still missing after installing $2"
}

# need_packages PACKAGE... : installs the Debian packages that are not installed yet
# (fonts and language data, which put no command on PATH).
need_packages() {
  local missing=() p
  for p in "$@"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"
}

# pg_bin : the directory of the newest installed PostgreSQL server binaries.
pg_bin() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [ -z "$dir" ] || [ ! -x "$dir/initdb" ]; then
    apt_install postgresql
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  fi
  [ -x "$dir/initdb" ] || die "PostgreSQL server binaries not found"
  echo "$dir"
}

# free_port : a TCP port on 127.0.0.1 that nothing listens on (never a default one).
free_port() {
  local port
  for _ in $(seq 1 200); do
    port=$(( (RANDOM << 15 | RANDOM) % 30000 + 20000 ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  die "no free port found"
}

# wait_for_port PORT SECONDS : waits until something accepts connections on PORT.
wait_for_port() {
  local port=$1 deadline=$(( SECONDS + $2 ))
  until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.1
  done
}

# as_postgres CMD... : runs a command as the postgres system user when root
# (initdb refuses to run as root), as the current user otherwise.
as_postgres() {
  if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# start_postgres DIR : a private cluster in DIR on a free port; sets PG_PORT and
# PG_URL (superuser, database "postgres"). PG_EXTRA_OPTS adds server options.
start_postgres() {
  local dir=$1 bin
  bin=$(pg_bin)
  mkdir -p "$dir"
  [ "$(id -u)" -eq 0 ] && chown postgres "$dir"
  as_postgres "$bin/initdb" -D "$dir/data" -A trust -U postgres --no-sync >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
  PG_PORT=$(free_port)
  as_postgres "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 start -o \
    "-p $PG_PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=$dir -c fsync=off \
     -c synchronous_commit=off -c full_page_writes=off -c max_connections=400 ${PG_EXTRA_OPTS:-}" >/dev/null \
    || { cat "$dir/postgres.log" >&2; die "postgres did not start"; }
  PG_DIR=$dir
  PG_BIN=$bin
  PG_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
  log "postgres on 127.0.0.1:$PG_PORT"
}

stop_postgres() {
  if [ -n "${PG_DIR:-}" ] && [ -d "$PG_DIR/data" ]; then
    as_postgres "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
  fi
}

# start_redis DIR : a private redis-server on a free port; sets REDIS_PORT.
start_redis() {
  local dir=$1
  need redis-server redis-server
  mkdir -p "$dir"
  REDIS_PORT=$(free_port)
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
    --dir "$dir" --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" \
    || die "redis-server did not start"
  wait_for_port "$REDIS_PORT" 10 || die "redis-server does not answer on $REDIS_PORT"
  REDIS_DIR=$dir
  log "redis on 127.0.0.1:$REDIS_PORT"
}

stop_redis() {
  if [ -n "${REDIS_DIR:-}" ] && [ -f "$REDIS_DIR/redis.pid" ]; then
    kill "$(cat "$REDIS_DIR/redis.pid")" 2>/dev/null || true
  fi
}

# moto_venv : a Python venv holding moto's S3 server, made on first use under
# ~/.cache/ai-video so later runs reuse it; prints its directory.
moto_venv() {
  local venv="$HOME/.cache/ai-video/venv"
  if [ ! -x "$venv/bin/moto_server" ]; then
    need python3 python3
    # Debian ships venv and ensurepip separately from python3.
    python3 -c 'import ensurepip, venv' 2>/dev/null || apt_install python3-venv
    mkdir -p "$(dirname "$venv")"
    (
      # Two runs installing at once would trample each other's venv.
      flock 9
      if [ ! -x "$venv/bin/moto_server" ]; then
        log "installing moto[server] (pip) into $venv"
        python3 -m venv "$venv" >&2 || die "python3 -m venv failed"
        "$venv/bin/pip" install -q --disable-pip-version-check 'moto[server]' >&2 \
          || die "pip could not install moto[server]"
      fi
    ) 9>"$venv.lock" || exit 1
  fi
  echo "$venv"
}

# tool_venv NAME PIP_SPEC... : a Python venv ~/.cache/ai-video/NAME holding the
# given pip requirements, made on first use and again when they change; prints
# its directory. (moto keeps its own venv, so the two never disturb each other.)
tool_venv() {
  local venv="$HOME/.cache/ai-video/$1"
  shift
  local specs="$*"
  if [ ! -x "$venv/bin/python" ] || [ "$(cat "$venv/.specs" 2>/dev/null)" != "$specs" ]; then
    need python3 python3
    python3 -c 'import ensurepip, venv' 2>/dev/null || apt_install python3-venv
    mkdir -p "$(dirname "$venv")"
    (
      flock 9
      if [ ! -x "$venv/bin/python" ] || [ "$(cat "$venv/.specs" 2>/dev/null)" != "$specs" ]; then
        log "installing $specs (pip) into $venv"
        python3 -m venv "$venv" >&2 || die "python3 -m venv failed"
        "$venv/bin/pip" install -q --disable-pip-version-check "$@" >&2 \
          || die "pip could not install $specs"
        echo "$specs" >"$venv/.specs"
      fi
    ) 9>"$venv.lock" || exit 1
  fi
  echo "$venv"
}

# start_s3 DIR : moto's S3-compatible server on a free port, in the background;
# sets S3_PORT. It accepts any access key and secret.
start_s3() {
  local dir=$1 venv
  venv=$(moto_venv)
  mkdir -p "$dir"
  S3_PORT=$(free_port)
  "$venv/bin/moto_server" -H 127.0.0.1 -p "$S3_PORT" >"$dir/moto.log" 2>&1 &
  S3_PID=$!
  echo "$S3_PID" >"$dir/moto.pid"
  if ! wait_for_port "$S3_PORT" 60; then
    cat "$dir/moto.log" >&2
    die "moto_server does not answer on $S3_PORT"
  fi
  log "s3 (moto) on 127.0.0.1:$S3_PORT"
}

stop_s3() {
  if [ -n "${S3_PID:-}" ]; then
    kill "$S3_PID" 2>/dev/null || true
    wait "$S3_PID" 2>/dev/null || true
  fi
}

# cargo_target : the shared build directory outside the clone, so a fresh clone
# reuses earlier builds.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ai-video/target}"
