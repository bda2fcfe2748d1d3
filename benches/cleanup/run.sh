#!/usr/bin/env bash
# `reftoken cleanup` on a store of ROWS rows (default 1,000,000), a quarter of them expired,
# in IdentityServer's schema: PostgreSQL (Npgsql's table, RefToken's revocation migrations,
# a `reftoken watch` listening) and SQLite (EF Core's table, copied from the Duende fixtures).
# Prints, per run, the rows deleted per second and the longest single DELETE statement, as
# the command itself measures them (`--json`). Not run in CI. See README.md.
#
#   benches/cleanup/run.sh
#
# Settings (environment): ROWS (1000000), DATA_BYTES (800: about a protected reference
# token's Data column), BATCHES ("100 1000"), REFTOKEN_TEST_POSTGRES (a PostgreSQL server
# URL; default: a private one from scripts/test-servers.sh, stopped afterwards), SKIP_SQLITE,
# SKIP_POSTGRES (1 to skip).
set -euo pipefail
cd "$(dirname "$0")/../.."
root="$PWD"
out="$root/target/bench-cleanup"
mkdir -p "$out"
ROWS="${ROWS:-1000000}"
DATA_BYTES="${DATA_BYTES:-800}"
BATCHES="${BATCHES:-100 1000}"
EXPIRED=$((ROWS / 4))

${CARGO:-cargo} build --release --locked -p reftoken-cli >&2
bin="$root/target/release/reftoken"

summary() { # the figures of one --json summary, on one line
  python3 -c '
import json, sys
j = json.load(sys.stdin)
print("%8d rows  %5d batches of %5d  %7.2f s  %7d rows/s  longest statement %7.1f ms" % (
    j["total"], j["batches"], j["batch_size"], j["seconds"], j["rows_per_second"],
    j["longest_statement_ms"]))'
}

if [ "${SKIP_POSTGRES:-0}" != 1 ]; then
  started=""
  if [ -z "${REFTOKEN_TEST_POSTGRES:-}" ]; then
    eval "$(scripts/test-servers.sh start)"
    started=1
  fi
  cleanup_servers() { if [ -n "$started" ]; then scripts/test-servers.sh stop; fi; }
  trap cleanup_servers EXIT
  admin="$REFTOKEN_TEST_POSTGRES"
  url="${admin%/*}/reftoken_bench_cleanup"
  # fill MIGRATIONS...: a fresh database with the table, the migrations and ROWS rows.
  fill() {
    psql -qAt "$admin" -c "DROP DATABASE IF EXISTS reftoken_bench_cleanup WITH (FORCE)" -c "CREATE DATABASE reftoken_bench_cleanup" >/dev/null
    psql -qAt -v ON_ERROR_STOP=1 "$url" -f tests/fixtures/persisted-grants-postgres.sql >/dev/null
    for m in "$@"; do psql -qAt -v ON_ERROR_STOP=1 "$url" -f "migrations/postgres/$m.sql" >/dev/null; done
    # One row in four expired (spread over the last 30 days), the rest live for a day; keys
    # as long as IdentityServer's, Ids in issue order (expired and live rows interleaved).
    psql -qAt -v ON_ERROR_STOP=1 "$url" >/dev/null <<SQL
INSERT INTO "PersistedGrants" ("Key", "Type", "SubjectId", "SessionId", "ClientId", "Description",
    "CreationTime", "Expiration", "ConsumedTime", "Data")
SELECT upper(encode(sha256(i::text::bytea), 'hex')), 'reference_token', 'user' || (i % 50000),
       md5(i::text), 'client' || (i % 20), NULL, now() - interval '31 days',
       CASE WHEN i % 4 = 0 THEN now() - (i % 2592000) * interval '1 second'
            ELSE now() + interval '1 day' END,
       NULL, repeat('x', $DATA_BYTES)
FROM generate_series(1, $ROWS) i;
VACUUM ANALYZE "PersistedGrants";
SQL
  }
  echo "PostgreSQL $(psql -qAt "$admin" -c 'SHOW server_version'), $ROWS rows, $EXPIRED expired, Data $DATA_BYTES bytes"
  for batch in $BATCHES; do
    for variant in 0002 0001; do
      if [ "$variant" = 0002 ]; then
        fill 0001_reftoken_revocation_notify 0002_reftoken_revocation_skip_expired
        what="trigger skips expired rows (0001+0002)"
      else
        [ "$batch" = "${BATCHES##* }" ] || continue    # 0001 alone: the largest batch only
        fill 0001_reftoken_revocation_notify
        what="trigger notifies every row (0001 only)"
      fi
      "$bin" watch --postgres "$url" >"$out/watch.out" 2>/dev/null &
      watch=$!
      sleep 1
      printf '  %-42s ' "$what:"
      "$bin" cleanup --postgres "$url" --batch-size "$batch" --json 2>/dev/null | summary
      sleep 1
      kill "$watch"; wait "$watch" 2>/dev/null || true
      echo "    keys the listener received: $(wc -l <"$out/watch.out")"
    done
  done
  psql -qAt "$admin" -c "DROP DATABASE IF EXISTS reftoken_bench_cleanup WITH (FORCE)" >/dev/null
fi

if [ "${SKIP_SQLITE:-0}" != 1 ]; then
  echo "SQLite $(sqlite3 --version | cut -d' ' -f1) (the CLI's bundled library may differ), $ROWS rows, $EXPIRED expired, Data $DATA_BYTES bytes"
  for batch in $BATCHES; do
    for mode in wal delete; do
      db="$out/grants.db"
      rm -f "$db" "$db-wal" "$db-shm"
      cp tests/fixtures/duende/persisted-grants-unprotected.db "$db"
      chmod u+w "$db"
      sqlite3 "$db" >/dev/null <<SQL
PRAGMA journal_mode = $mode;
DELETE FROM "PersistedGrants";
WITH RECURSIVE i(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM i WHERE x < $ROWS)
INSERT INTO "PersistedGrants" ("Key", "Type", "SubjectId", "SessionId", "ClientId", "CreationTime",
    "Expiration", "ConsumedTime", "Data")
SELECT hex(randomblob(32)), 'reference_token', 'user' || (x % 50000), hex(randomblob(16)),
       'client' || (x % 20), strftime('%Y-%m-%d %H:%M:%f', 'now', '-31 days'),
       CASE WHEN x % 4 = 0 THEN strftime('%Y-%m-%d %H:%M:%f', 'now', '-' || (x % 2592000) || ' seconds')
            ELSE strftime('%Y-%m-%d %H:%M:%f', 'now', '+1 day') END,
       NULL, printf('%.*c', $DATA_BYTES, 'x')
FROM i;
ANALYZE;
PRAGMA wal_checkpoint(TRUNCATE);
SQL
      if [ "$mode" = wal ]; then what="WAL (EF Core's default):"; else what="rollback journal (journal_mode=DELETE):"; fi
      printf '  %-42s ' "$what"
      "$bin" cleanup --sqlite "$db" --batch-size "$batch" --json 2>/dev/null | summary
    done
  done
  rm -f "$out/grants.db" "$out/grants.db-wal" "$out/grants.db-shm"
fi
