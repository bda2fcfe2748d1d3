#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests: listens on 127.0.0.1 only, trust authentication,
# data in a temporary folder. Needs the PostgreSQL server packages (Debian/Ubuntu:
# `apt-get install postgresql`); when run as root, the server runs as the `postgres` user.
#
#   scripts/test-postgres.sh start [PORT]   start it (default port 5432) and print the URL:
#                                          export REFTOKEN_TEST_POSTGRES=$(scripts/test-postgres.sh start)
#   scripts/test-postgres.sh stop [PORT]    stop it and delete its data
set -euo pipefail
cmd="${1:-start}"
port="${2:-5432}"
dir="${TMPDIR:-/tmp}/reftoken-test-postgres-$port"

bindir=""
for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
  [ -x "$d/initdb" ] && { bindir="$d"; break; }
done
[ -n "$bindir" ] || bindir="$(dirname "$(command -v initdb || echo /usr/bin/initdb)")"
[ -x "$bindir/initdb" ] || { echo "test-postgres: initdb not found (install the postgresql package)" >&2; exit 1; }

as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$cmd" in
  start)
    if [ ! -f "$dir/data/PG_VERSION" ]; then
      mkdir -p "$dir"
      [ "$(id -u)" = 0 ] && chown postgres: "$dir"
      as_pg "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust --encoding=UTF8 --locale=C >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    if ! as_pg "$bindir/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
      as_pg "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c max_connections=100" start >/dev/null \
        || { cat "$dir/server.log" >&2; exit 1; }
    fi
    echo "postgresql://postgres@127.0.0.1:$port/postgres"
    ;;
  stop)
    if [ -d "$dir/data" ]; then
      as_pg "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
      rm -rf "$dir"
    fi
    ;;
  *)
    echo "usage: $0 start|stop [PORT]" >&2
    exit 2
    ;;
esac
