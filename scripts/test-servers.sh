#!/usr/bin/env bash
# Private PostgreSQL 15 and Redis instances for the revocation tests, on 127.0.0.1 and
# non-default ports, with their state under one directory. Only the instances this script
# started are ever touched.
#
#   scripts/test-servers.sh start            start both (idempotent) and print the env vars
#   scripts/test-servers.sh stop             stop both (idempotent) and delete their state
#   scripts/test-servers.sh env              print the env vars
#   scripts/test-servers.sh kill-postgres    crash PostgreSQL (pg_ctl stop -m immediate)
#   scripts/test-servers.sh start-postgres   start PostgreSQL again
#   scripts/test-servers.sh kill-redis       SIGKILL redis-server
#   scripts/test-servers.sh start-redis      start redis-server again
#
# Use: eval "$(scripts/test-servers.sh start)"; cargo test; scripts/test-servers.sh stop
# Needs the Debian packages postgresql (15) and redis-server. Runs PostgreSQL as the
# `postgres` user when started as root.
set -euo pipefail

PG_PORT="${REFTOKEN_TEST_PG_PORT:-55432}"
REDIS_PORT="${REFTOKEN_TEST_REDIS_PORT:-56379}"
STATE="${REFTOKEN_TEST_SERVERS_DIR:-/tmp/reftoken-revocation-servers}"
PG_BIN="${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)}"
PG_DATA="$STATE/pg"
PG_SOCK="$STATE/pgsock"
REDIS_DIR="$STATE/redis"

log() { echo "test-servers: $*" >&2; }

as_pg() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

pg_running() { [ -f "$PG_DATA/PG_VERSION" ] && as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; }

start_postgres() {
  [ -x "$PG_BIN/initdb" ] || { log "PostgreSQL binaries not found (apt-get install postgresql)"; exit 1; }
  mkdir -p "$STATE" "$PG_SOCK"
  if [ "$(id -u)" = 0 ]; then chown postgres: "$STATE" "$PG_SOCK"; fi
  if [ ! -f "$PG_DATA/PG_VERSION" ]; then
    as_pg "$PG_BIN/initdb" -D "$PG_DATA" -A trust -U postgres -E UTF8 --no-sync >"$STATE/initdb.log" 2>&1 \
      || { cat "$STATE/initdb.log" >&2; exit 1; }
  fi
  if pg_running; then return 0; fi
  as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$STATE/postgres.log" -w -t 30 \
    -o "-k $PG_SOCK -c listen_addresses=127.0.0.1 -p $PG_PORT -c fsync=off -c max_connections=100" \
    start >/dev/null || { tail -n 20 "$STATE/postgres.log" >&2; exit 1; }
}

kill_postgres() {
  if pg_running; then as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m immediate -w stop >/dev/null; fi
}

stop_postgres() {
  if pg_running; then as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null; fi
}

redis_pid() { [ -f "$REDIS_DIR/redis.pid" ] && cat "$REDIS_DIR/redis.pid"; }

redis_running() {
  local pid
  pid="$(redis_pid 2>/dev/null)" || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && grep -q redis "/proc/$pid/cmdline" 2>/dev/null
}

start_redis() {
  command -v redis-server >/dev/null || { log "redis-server not found (apt-get install redis-server)"; exit 1; }
  mkdir -p "$REDIS_DIR"
  if redis_running; then return 0; fi
  rm -f "$REDIS_DIR/redis.pid"
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$REDIS_DIR" --pidfile "$REDIS_DIR/redis.pid" --logfile "$REDIS_DIR/redis.log" \
    --daemonize yes
  for _ in $(seq 1 100); do
    if redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG && redis_running; then return 0; fi
    sleep 0.05
  done
  log "redis-server did not start"; tail -n 20 "$REDIS_DIR/redis.log" >&2 || true; exit 1
}

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

print_env() {
  echo "export REFTOKEN_TEST_POSTGRES_NOTIFY=postgresql://postgres@127.0.0.1:$PG_PORT/postgres"
  echo "export REFTOKEN_TEST_REDIS=redis://127.0.0.1:$REDIS_PORT/"
}

case "${1:-}" in
  start) start_postgres; start_redis; print_env ;;
  stop) stop_postgres; kill_redis; rm -rf "$STATE" ;;
  env) print_env ;;
  kill-postgres) kill_postgres ;;
  start-postgres) start_postgres ;;
  kill-redis) kill_redis ;;
  start-redis) start_redis ;;
  *) echo "usage: $0 start|stop|env|kill-postgres|start-postgres|kill-redis|start-redis" >&2; exit 2 ;;
esac
