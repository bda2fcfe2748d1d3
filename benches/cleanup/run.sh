#!/usr/bin/env bash
# `reftoken cleanup` on a store of ROWS rows (default 1,000,000), a quarter of them expired,
# in IdentityServer's schema: PostgreSQL (Npgsql's table, RefToken's revocation migrations,
# a `reftoken watch` listening) and SQLite (EF Core's tables, copied from the Duende fixtures);
# next to it, on an identical copy of the same database, IdentityServer's own
# TokenCleanupService (identityserver/, EF Core) when the Duende packages restore. Prints one
# table: per run, the rows deleted per second and the longest single statement, as
# `reftoken cleanup --json` measures itself and as identityserver/ measures IdentityServer's.
# Not run in CI. See README.md.
#
#   benches/cleanup/run.sh
#   DUENDE_PACKAGES=<folder of the Duende .nupkg files> benches/cleanup/run.sh
#
# Settings (environment): ROWS (1000000), DATA_BYTES (800: about a protected reference
# token's Data column), BATCHES ("100 1000": IdentityServer's default TokenCleanupBatchSize
# and RefToken's PostgreSQL default), REFTOKEN_TEST_POSTGRES (a PostgreSQL server URL;
# default: a private one from scripts/test-servers.sh, stopped afterwards), DUENDE_PACKAGES
# (a local folder of the Duende IdentityServer 7.4.8 packages, added to the package sources),
# SKIP_SQLITE, SKIP_POSTGRES, SKIP_IDENTITYSERVER (1 to skip).
set -euo pipefail
cd "$(dirname "$0")/../.."
root="$PWD"
out="$root/target/bench-cleanup"
mkdir -p "$out"
ROWS="${ROWS:-1000000}"
DATA_BYTES="${DATA_BYTES:-800}"
BATCHES="${BATCHES:-100 1000}"
EXPIRED=$((ROWS / 4))
results="$out/results.tsv"
: >"$results"
log() { echo "run.sh: $*" >&2; }

${CARGO:-cargo} build --release --locked -p reftoken-cli >&2
bin="$root/target/release/reftoken"

# IdentityServer's cleanup: built when Duende.IdentityServer.EntityFramework restores (from the
# package sources, or from DUENDE_PACKAGES); otherwise one line says why it is not run.
# Without DUENDE_PACKAGES, a restore of Duende's package alone from the configured sources,
# into an empty packages folder (so that a cached copy proves nothing), decides.
duende_probe() {
  local dir
  dir="$(mktemp -d "${TMPDIR:-/tmp}/reftoken-duende-probe.XXXXXX")"
  echo '<Project />' >"$dir/Directory.Build.props"
  echo '<Project />' >"$dir/Directory.Build.targets"
  cat >"$dir/DuendeProbe.csproj" <<'PROJECT'
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup><TargetFramework>net10.0</TargetFramework></PropertyGroup>
  <ItemGroup><PackageReference Include="Duende.IdentityServer.EntityFramework" Version="7.4.8" /></ItemGroup>
</Project>
PROJECT
  NUGET_PACKAGES="$dir/packages" dotnet restore "$dir/DuendeProbe.csproj" >"$out/duende-probe.log" 2>&1
  local ok=$?
  rm -rf "$dir"
  return "$ok"
}
is_bin=""
if [ "${SKIP_IDENTITYSERVER:-0}" = 1 ]; then
  echo "IdentityServer's TokenCleanupService not run: SKIP_IDENTITYSERVER=1"
elif ! command -v dotnet >/dev/null; then
  echo "IdentityServer's TokenCleanupService not run: no dotnet on PATH (it needs the .NET 10 SDK)"
elif [ -z "${DUENDE_PACKAGES:-}" ] && ! duende_probe; then
  echo "IdentityServer's TokenCleanupService not run: Duende.IdentityServer.EntityFramework 7.4.8 does not restore from the configured package sources and DUENDE_PACKAGES (a local folder of its packages) is not set; see bindings/dotnet/README.md"
elif dotnet build -c Release -nologo -v q benches/cleanup/identityserver -o "$out/identityserver" \
    >"$out/identityserver-build.log" 2>&1; then
  is_bin="$out/identityserver/IdentityServerCleanup"
else
  cat "$out/identityserver-build.log" >&2
  log "benches/cleanup/identityserver does not build"
  exit 1
fi
impls="reftoken${is_bin:+ identityserver}"

# run IMPL STORE-ARGS... BATCH: one cleanup, its --json summary on stdout.
run() {
  local impl="$1" batch="${*: -1}"
  set -- "${@:2:$#-2}"
  if [ "$impl" = reftoken ]; then
    "$bin" cleanup "$@" --batch-size "$batch" --json
  else
    "$is_bin" cleanup "$@" --batch-size "$batch"
  fi
}

# record STORE BATCH IMPL KEYS: a --json summary (stdin) as a line of the results.
record() {
  python3 -c '
import json, sys
j = json.load(sys.stdin)
store, batch, impl, keys = sys.argv[1:]
print("\t".join([store, batch, impl, str(j["total"]), str(j["batches"]),
                 "%.2f" % j["seconds"], str(j["rows_per_second"]),
                 "%.1f" % j["longest_statement_ms"], keys]))' "$@" >>"$results"
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
  tpl=reftoken_bench_cleanup_template
  db=reftoken_bench_cleanup
  url="${admin%/*}/$db"
  tpl_url="${admin%/*}/$tpl"
  drop() { psql -qAt "$admin" -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" >/dev/null; }
  # fill MIGRATIONS...: the template database, with the table, the migrations and ROWS rows;
  # each run gets a copy of it (CREATE DATABASE ... TEMPLATE), identical to the page.
  fill() {
    drop "$tpl"
    psql -qAt "$admin" -c "CREATE DATABASE $tpl" >/dev/null
    psql -qAt -v ON_ERROR_STOP=1 "$tpl_url" -f tests/fixtures/persisted-grants-postgres.sql >/dev/null
    # The operational store's other tables, as EF Core creates them from IdentityServer's
    # model (TokenCleanupService also visits DeviceCodes and PushedAuthorizationRequests).
    if [ -n "$is_bin" ]; then
      "$is_bin" schema postgres | psql -qAt -v ON_ERROR_STOP=1 "$tpl_url" >/dev/null
    fi
    for m in "$@"; do psql -qAt -v ON_ERROR_STOP=1 "$tpl_url" -f "migrations/postgres/$m.sql" >/dev/null; done
    # One row in four expired (spread over the last 30 days), the rest live for a day; keys
    # as long as IdentityServer's, Ids in issue order (expired and live rows interleaved).
    psql -qAt -v ON_ERROR_STOP=1 "$tpl_url" >/dev/null <<SQL
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
  log "PostgreSQL $(psql -qAt "$admin" -c 'SHOW server_version'), $ROWS rows, $EXPIRED expired, Data $DATA_BYTES bytes"
  for variant in 0002 0001; do
    if [ "$variant" = 0002 ]; then
      log "filling the template (migrations 0001 and 0002)"
      fill 0001_reftoken_revocation_notify 0002_reftoken_revocation_skip_expired
      what="PostgreSQL, trigger with 0002"
      batches="$BATCHES"
    else
      log "filling the template (migration 0001 alone)"
      fill 0001_reftoken_revocation_notify
      what="PostgreSQL, trigger of 0001 alone"
      batches="${BATCHES##* }"    # 0001 alone: the largest batch only
    fi
    for batch in $batches; do
      for impl in $impls; do
        drop "$db"
        psql -qAt "$admin" -c "CREATE DATABASE $db TEMPLATE $tpl" >/dev/null
        "$bin" watch --postgres "$url" >"$out/watch.out" 2>/dev/null &
        watch=$!
        sleep 1
        log "$what, batch $batch: $impl"
        run "$impl" --postgres "$url" "$batch" >"$out/summary.json" 2>"$out/cleanup.err" ||
          { cat "$out/cleanup.err" >&2; exit 1; }
        sleep 1
        kill "$watch"; wait "$watch" 2>/dev/null || true
        record "$what" "$batch" "$impl" "$(wc -l <"$out/watch.out")" <"$out/summary.json"
      done
    done
  done
  drop "$db"
  drop "$tpl"
fi

if [ "${SKIP_SQLITE:-0}" != 1 ]; then
  log "SQLite $(sqlite3 --version | cut -d' ' -f1) (the CLI's bundled library and .NET's may differ), $ROWS rows, $EXPIRED expired, Data $DATA_BYTES bytes"
  tpl="$out/template.db"
  db="$out/grants.db"
  for mode in wal delete; do
    log "filling the template (journal_mode=$mode)"
    rm -f "$tpl" "$tpl-wal" "$tpl-shm"
    cp tests/fixtures/duende/persisted-grants-unprotected.db "$tpl"
    chmod u+w "$tpl"
    # Times as EF Core writes them (yyyy-MM-dd HH:mm:ss.FFFFFFF: no trailing zeros), which
    # IdentityServer's DELETE compares as text with the times it read back.
    sqlite3 "$tpl" >/dev/null <<SQL
PRAGMA journal_mode = $mode;
DELETE FROM "PersistedGrants";
WITH RECURSIVE i(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM i WHERE x < $ROWS)
INSERT INTO "PersistedGrants" ("Key", "Type", "SubjectId", "SessionId", "ClientId", "CreationTime",
    "Expiration", "ConsumedTime", "Data")
SELECT hex(randomblob(32)), 'reference_token', 'user' || (x % 50000), hex(randomblob(16)),
       'client' || (x % 20), rtrim(rtrim(strftime('%Y-%m-%d %H:%M:%f', 'now', '-31 days'), '0'), '.'),
       rtrim(rtrim(CASE WHEN x % 4 = 0 THEN strftime('%Y-%m-%d %H:%M:%f', 'now', '-' || (x % 2592000) || ' seconds')
            ELSE strftime('%Y-%m-%d %H:%M:%f', 'now', '+1 day') END, '0'), '.'),
       NULL, printf('%.*c', $DATA_BYTES, 'x')
FROM i;
ANALYZE;
PRAGMA wal_checkpoint(TRUNCATE);
SQL
    if [ "$mode" = wal ]; then what="SQLite, WAL"; else what="SQLite, rollback journal"; fi
    for batch in $BATCHES; do
      for impl in $impls; do
        rm -f "$db" "$db-wal" "$db-shm"
        cp "$tpl" "$db"    # the same file for each run
        # On disk before the run: otherwise the cleanup's first sync waits for the whole copy.
        sync "$db"
        log "$what, batch $batch: $impl"
        run "$impl" --sqlite "$db" "$batch" >"$out/summary.json" 2>"$out/cleanup.err" ||
          { cat "$out/cleanup.err" >&2; exit 1; }
        record "$what" "$batch" "$impl" "" <"$out/summary.json"
      done
    done
  done
  rm -f "$tpl" "$db" "$db-wal" "$db-shm"
fi

# One table; with both implementations, RefToken's rows per second as a multiple of
# IdentityServer's and IdentityServer's longest statement as a multiple of RefToken's.
python3 - "$results" "$ROWS" "$EXPIRED" <<'PY'
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
print(f"{int(sys.argv[2]):,} rows, {int(sys.argv[3]):,} expired")
print()
print("| store | batch | cleanup | rows deleted | statements | seconds | rows deleted per second | longest statement | keys notified |")
print("|---|---|---|---|---|---|---|---|---|")
names = {"reftoken": "reftoken cleanup", "identityserver": "IdentityServer TokenCleanupService"}
for store, batch, impl, total, batches, secs, rate, longest, keys in rows:
    print(f"| {store} | {batch} | {names[impl]} | {int(total):,} | {int(batches):,} | {secs} | {int(rate):,} | {longest} ms | {keys or '-'} |")
pairs = {}
for r in rows:
    pairs.setdefault((r[0], r[1]), {})[r[2]] = r
both = [(k, v) for k, v in pairs.items() if len(v) == 2]
if both:
    print()
    print("| store | batch | rows per second, RefToken / IdentityServer | longest statement, IdentityServer / RefToken |")
    print("|---|---|---|---|")
    for (store, batch), v in both:
        a, b = v["reftoken"], v["identityserver"]
        print(f"| {store} | {batch} | {int(a[6]) / max(int(b[6]), 1):.2f}x | {float(b[7]) / max(float(a[7]), 1e-9):.2f}x |")
PY
