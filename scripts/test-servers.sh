#!/usr/bin/env bash
# Private PostgreSQL 15 and Redis instances for the tests that need servers, on 127.0.0.1,
# with ports and a state folder of their own per run: two runs on one machine neither share
# nor stop each other's servers. Only the instances of the set named by
# REFTOKEN_TEST_SERVERS_DIR are ever touched.
#
#   scripts/test-servers.sh start            start a set and print the env vars (as `export` lines)
#   scripts/test-servers.sh stop             stop the set and delete its state folder
#   scripts/test-servers.sh env              print the env vars of the set
#   scripts/test-servers.sh kill-postgres    crash its PostgreSQL (pg_ctl stop -m immediate)
#   scripts/test-servers.sh start-postgres   start its PostgreSQL again (same port)
#   scripts/test-servers.sh kill-redis       SIGKILL its redis-server
#   scripts/test-servers.sh start-redis      start its redis-server again (same port)
#
# Use: eval "$(scripts/test-servers.sh start)"; scripts/test-rust.sh; scripts/test-servers.sh stop
#
# `start` exports, for the Rust, CLI, C and .NET tests:
#   REFTOKEN_TEST_POSTGRES          postgresql://postgres@127.0.0.1:PORT/postgres (store tests)
#   REFTOKEN_TEST_POSTGRES_NOTIFY   the same server (LISTEN/NOTIFY revocation tests)
#   REFTOKEN_TEST_REDIS             redis://127.0.0.1:PORT/
# and, for the later subcommands of this script in the same environment:
#   REFTOKEN_TEST_SERVERS_DIR       the set's state folder (a fresh mktemp -d folder unless given)
#   REFTOKEN_TEST_PG_PORT           PostgreSQL's port (a free one is picked unless given)
#   REFTOKEN_TEST_REDIS_PORT        Redis's port (likewise)
# With REFTOKEN_TEST_SERVERS_DIR naming a running set, `start` starts what is down and prints
# the same variables again (idempotent). Every other subcommand needs REFTOKEN_TEST_SERVERS_DIR
# and refuses without it. `start` prints `false` on stdout when it fails, so that
# `eval "$(scripts/test-servers.sh start)"` fails too (under `set -e` it stops the caller).
#
# Needs the Debian packages postgresql (15) and redis-server. Runs PostgreSQL as the
# `postgres` user when started as root.
set -euo pipefail

PG_BIN="${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)}"
MARKER=test-servers.env    # in the state folder: the set's ports; marks the folder as ours
STATE=""
PG_PORT=""
REDIS_PORT=""
PG_DATA=""
PG_SOCK=""
REDIS_DIR=""

log() { echo "test-servers: $*" >&2; }
die() { log "$*"; exit 1; }

as_pg() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

set_paths() {
  PG_DATA="$STATE/pg"
  PG_SOCK="$STATE/pgsock"
  REDIS_DIR="$STATE/redis"
}

# The set named by REFTOKEN_TEST_SERVERS_DIR, for every subcommand but start.
load_state() {
  STATE="${REFTOKEN_TEST_SERVERS_DIR:-}"
  [ -n "$STATE" ] || die "REFTOKEN_TEST_SERVERS_DIR is not set: it names the set of servers to act on (eval \"\$(scripts/test-servers.sh start)\" sets it)"
  set_paths
  [ -f "$STATE/$MARKER" ] || return 1
  # shellcheck disable=SC1090
  . "$STATE/$MARKER"
  [ -n "$PG_PORT" ] && [ -n "$REDIS_PORT" ] || die "$STATE/$MARKER names no ports"
}

# ------------------------------------------------------------------------------------------
# Ports

# Free ports are picked below the kernel's ephemeral range, so that no outgoing connection
# takes one while its server is down during an outage test.
port_range() {
  local lo=32768 hi=60999
  if [ -r /proc/sys/net/ipv4/ip_local_port_range ]; then
    read -r lo hi </proc/sys/net/ipv4/ip_local_port_range
  fi
  if [ "$lo" -gt 21024 ]; then
    echo "20000 $((lo - 1))"
  elif [ "$hi" -lt 64511 ]; then
    echo "$((hi + 1)) 65535"
  else
    echo "10000 65535"
  fi
}

port_in_use() {
  if command -v ss >/dev/null 2>&1 && [ -n "$(ss -Htan "( sport = :$1 )" 2>/dev/null)" ]; then
    return 0
  fi
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Sets PICKED to a port nothing uses now.
PICKED=""
pick_port() {
  local lo hi p
  read -r lo hi < <(port_range)
  for _ in $(seq 1 200); do
    p=$((lo + (RANDOM * 32768 + RANDOM) % (hi - lo + 1)))
    if ! port_in_use "$p"; then PICKED="$p"; return 0; fi
  done
  log "no free port found between $lo and $hi"
  return 1
}

# ------------------------------------------------------------------------------------------
# PostgreSQL

pg_running() { [ -f "$PG_DATA/PG_VERSION" ] && as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; }

# Starts PostgreSQL on PG_PORT; returns 2 when the port was taken, 1 on any other failure.
try_start_postgres() {
  [ -x "$PG_BIN/initdb" ] || { log "PostgreSQL binaries not found (apt-get install postgresql)"; return 1; }
  mkdir -p "$PG_SOCK"
  if [ "$(id -u)" = 0 ]; then chown postgres: "$STATE" "$PG_SOCK"; fi
  if [ ! -f "$PG_DATA/PG_VERSION" ]; then
    as_pg "$PG_BIN/initdb" -D "$PG_DATA" -A trust -U postgres -E UTF8 --no-sync >"$STATE/initdb.log" 2>&1 \
      || { cat "$STATE/initdb.log" >&2; return 1; }
  fi
  if pg_running; then return 0; fi
  local logf="$STATE/postgres.log" before=0
  [ -f "$logf" ] && before="$(stat -c %s "$logf")"
  if as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$logf" -w -t 30 \
    -o "-k $PG_SOCK -c listen_addresses=127.0.0.1 -p $PG_PORT -c fsync=off -c max_connections=100" \
    start >/dev/null 2>"$STATE/pg_ctl.err"; then
    return 0
  fi
  if tail -c +"$((before + 1))" "$logf" 2>/dev/null | grep -q "Address already in use"; then return 2; fi
  cat "$STATE/pg_ctl.err" >&2
  tail -n 20 "$logf" >&2 || true
  return 1
}

# start_or_exit NAME PORT TRY_START: runs TRY_START (a try_start_* function) and exits when
# it failed, saying so when the port was taken (status 2).
start_or_exit() {
  local name="$1" port="$2" st=0
  "$3" || st=$?
  [ "$st" = 0 ] || { [ "$st" = 2 ] && log "$name: port $port is taken"; exit 1; }
}

start_postgres() { start_or_exit PostgreSQL "$PG_PORT" try_start_postgres; }

kill_postgres() {
  if pg_running; then as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m immediate -w stop >/dev/null; fi
}

stop_postgres() {
  if pg_running; then as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null; fi
}

# ------------------------------------------------------------------------------------------
# Redis

redis_pid() { [ -f "$REDIS_DIR/redis.pid" ] && cat "$REDIS_DIR/redis.pid"; }

redis_running() {
  local pid
  pid="$(redis_pid 2>/dev/null)" || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && grep -q redis "/proc/$pid/cmdline" 2>/dev/null
}

# Whether the redis-server answering on REDIS_PORT is this set's (not another run's).
redis_answers() {
  local pid
  pid="$(redis_pid 2>/dev/null)" || return 1
  redis-cli -h 127.0.0.1 -p "$REDIS_PORT" info server 2>/dev/null | tr -d '\r' | grep -qx "process_id:$pid"
}

# Starts redis-server on REDIS_PORT; returns 2 when the port was taken, 1 on any other failure.
try_start_redis() {
  command -v redis-server >/dev/null || { log "redis-server not found (apt-get install redis-server)"; return 1; }
  mkdir -p "$REDIS_DIR"
  if redis_running; then return 0; fi
  rm -f "$REDIS_DIR/redis.pid" "$REDIS_DIR/redis.log"
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$REDIS_DIR" --pidfile "$REDIS_DIR/redis.pid" --logfile "$REDIS_DIR/redis.log" \
    --daemonize yes
  for _ in $(seq 1 200); do
    if redis_running && redis_answers; then return 0; fi
    if grep -q "Address already in use" "$REDIS_DIR/redis.log" 2>/dev/null; then
      for _ in $(seq 1 100); do redis_running || break; sleep 0.02; done
      return 2
    fi
    sleep 0.05
  done
  log "redis-server did not start"; tail -n 20 "$REDIS_DIR/redis.log" >&2 || true
  return 1
}

start_redis() { start_or_exit Redis "$REDIS_PORT" try_start_redis; }

kill_redis() {
  if redis_running; then
    local pid; pid="$(redis_pid)"
    kill -KILL "$pid"
    # Gone (or a zombie waiting for whoever reaps orphans here) and the port closed.
    for _ in $(seq 1 200); do
      st="$(ps -o stat= -p "$pid" 2>/dev/null || true)"
      if { [ -z "$st" ] || [ "${st#Z}" != "$st" ]; } && ! redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1; then
        break
      fi
      sleep 0.01
    done
    rm -f "$REDIS_DIR/redis.pid"
  fi
}

# ------------------------------------------------------------------------------------------
# Sets

print_env() {
  printf 'export REFTOKEN_TEST_SERVERS_DIR=%q\n' "$STATE"
  echo "export REFTOKEN_TEST_PG_PORT=$PG_PORT"
  echo "export REFTOKEN_TEST_REDIS_PORT=$REDIS_PORT"
  echo "export REFTOKEN_TEST_POSTGRES=postgresql://postgres@127.0.0.1:$PG_PORT/postgres"
  echo "export REFTOKEN_TEST_POSTGRES_NOTIFY=postgresql://postgres@127.0.0.1:$PG_PORT/postgres"
  echo "export REFTOKEN_TEST_REDIS=redis://127.0.0.1:$REDIS_PORT/"
}

save_state() {
  printf 'PG_PORT=%s\nREDIS_PORT=%s\n' "$PG_PORT" "$REDIS_PORT" >"$STATE/$MARKER"
}

# Starts a server on the given port, or on free ports until one is not taken meanwhile.
start_on_free_port() {
  local server="$1" given="$2" var="$3" st
  for _ in $(seq 1 20); do
    if [ -n "$given" ]; then
      PICKED="$given"
    else
      pick_port || return 1
    fi
    printf -v "$var" '%s' "$PICKED"
    st=0
    "try_start_$server" || st=$?
    case "$st" in
      0) return 0 ;;
      2) [ -z "$given" ] || { log "$server: port $given (given) is taken"; return 1; }
         log "$server: port ${!var} was taken meanwhile, trying another" ;;
      *) return 1 ;;
    esac
  done
  log "$server: no free port after 20 tries"
  return 1
}

created=""   # "dir" or "contents": what this `start` made, and removes again if it fails
start_failed() {
  local st=$?
  if [ "$st" != 0 ]; then
    if [ -n "$created" ] && [ -n "$STATE" ]; then
      stop_postgres >/dev/null 2>&1 || true
      kill_redis >/dev/null 2>&1 || true
      if [ "$created" = dir ]; then
        rm -rf "$STATE"
      else
        find "$STATE" -mindepth 1 -delete 2>/dev/null || true
      fi
    fi
    echo false   # for eval "$(... start)"
  fi
}

cmd_start() {
  trap start_failed EXIT
  STATE="${REFTOKEN_TEST_SERVERS_DIR:-}"
  if [ -n "$STATE" ] && [ -f "$STATE/$MARKER" ]; then
    # A set that exists: start what is down, on its ports.
    load_state
    if { [ -n "${REFTOKEN_TEST_PG_PORT:-}" ] && [ "$REFTOKEN_TEST_PG_PORT" != "$PG_PORT" ]; } ||
       { [ -n "${REFTOKEN_TEST_REDIS_PORT:-}" ] && [ "$REFTOKEN_TEST_REDIS_PORT" != "$REDIS_PORT" ]; }; then
      die "$STATE runs PostgreSQL on $PG_PORT and Redis on $REDIS_PORT, not the REFTOKEN_TEST_PG_PORT/REFTOKEN_TEST_REDIS_PORT given"
    fi
    start_postgres
    start_redis
  else
    if [ -n "$STATE" ]; then
      if [ -d "$STATE" ] && [ -n "$(ls -A "$STATE")" ]; then
        die "REFTOKEN_TEST_SERVERS_DIR=$STATE is not empty and holds no set of servers"
      fi
      if [ -d "$STATE" ]; then created=contents; else created=dir; fi
      mkdir -p "$STATE"
      chmod 700 "$STATE"
    else
      STATE="$(mktemp -d "${TMPDIR:-/tmp}/reftoken-test-servers.XXXXXX")"
      created=dir
    fi
    STATE="$(cd "$STATE" && pwd)"
    set_paths
    if [ "$(id -u)" = 0 ]; then
      chown postgres: "$STATE"
      runuser -u postgres -- test -w "$STATE" || die "the postgres user cannot write to $STATE (set TMPDIR or REFTOKEN_TEST_SERVERS_DIR to a folder it can reach)"
    fi
    start_on_free_port postgres "${REFTOKEN_TEST_PG_PORT:-}" PG_PORT || exit 1
    start_on_free_port redis "${REFTOKEN_TEST_REDIS_PORT:-}" REDIS_PORT || exit 1
    save_state
  fi
  print_env
  trap - EXIT
}

cmd_stop() {
  if ! load_state; then
    if [ ! -e "$STATE" ]; then return 0; fi    # stopped already
    if [ -d "$STATE" ] && [ -z "$(ls -A "$STATE")" ]; then rmdir "$STATE"; return 0; fi
    die "$STATE holds no set of servers started by this script: not deleting it"
  fi
  stop_postgres
  kill_redis
  rm -rf "$STATE"
}

need_state() {
  load_state || die "REFTOKEN_TEST_SERVERS_DIR=$STATE holds no set of servers (stopped already?)"
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  env) need_state; print_env ;;
  kill-postgres) need_state; kill_postgres ;;
  start-postgres) need_state; start_postgres ;;
  kill-redis) need_state; kill_redis ;;
  start-redis) need_state; start_redis ;;
  *) echo "usage: $0 start|stop|env|kill-postgres|start-postgres|kill-redis|start-redis" >&2; exit 2 ;;
esac
