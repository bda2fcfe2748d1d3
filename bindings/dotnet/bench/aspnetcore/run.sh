#!/usr/bin/env bash
# RefToken.AspNetCore against Duende's OAuth2 introspection handler, on one machine in one run: a
# minimal API on Kestrel at 127.0.0.1 protected three ways (and unprotected, for the ceiling), driven by wrk (requests per second, p50,
# p99), and the time from the DELETE of a token's row to the API's first 401. See README.md.
#
#   DUENDE_PACKAGES=<folder> bindings/dotnet/bench/aspnetcore/run.sh
#
# Environment (all optional): SECONDS_PER_RUN (wrk seconds per measurement, 10), WARMUP (wrk seconds
# before each, 5), CONNECTIONS (wrk connections, 16), WRK_THREADS (1), CACHE_SECONDS (the cached
# handler's CacheDuration, 10), TRIALS (revocation trials for RefToken and the uncached handler, 50),
# CACHED_TRIALS (for the cached handler, whose trials last up to CACHE_SECONDS each, 3),
# IDS_PORT (5181), API_PORT (5182). PostgreSQL: REFTOKEN_TEST_POSTGRES_NOTIFY (a postgresql:// URL of a
# server it may create a database on), else a private one from scripts/test-servers.sh.
# Everything it builds and writes goes to target/aspnetcore-bench/.
set -euo pipefail

if [ -z "${DUENDE_PACKAGES:-}" ]; then
  echo "run.sh: needs the Duende packages: set DUENDE_PACKAGES to a folder holding Duende.IdentityServer 7.4.8" >&2
  echo "        and Duende.AspNetCore.Authentication.OAuth2Introspection 7.0.1 .nupkg files (see bindings/dotnet/README.md)" >&2
  exit 2
fi
for tool in wrk psql curl; do
  command -v "$tool" >/dev/null || { echo "run.sh: needs $tool (Debian packages wrk, postgresql-client, curl)" >&2; exit 2; }
done

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../../../.." && pwd)"
OUT="$ROOT/target/aspnetcore-bench"
SECS="${SECONDS_PER_RUN:-10}"
WARMUP="${WARMUP:-5}"
CONNECTIONS="${CONNECTIONS:-16}"
WRK_THREADS="${WRK_THREADS:-1}"
CACHE_SECONDS="${CACHE_SECONDS:-10}"
TRIALS="${TRIALS:-50}"
CACHED_TRIALS="${CACHED_TRIALS:-3}"
IDS_PORT="${IDS_PORT:-5181}"
API_PORT="${API_PORT:-5182}"
IDS="http://127.0.0.1:$IDS_PORT"
API="http://127.0.0.1:$API_PORT"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

cd "$ROOT"
mkdir -p "$OUT"
for url in "$IDS" "$API"; do
  if curl -s -o /dev/null "$url/"; then
    echo "run.sh: something already listens on $url; set IDS_PORT / API_PORT" >&2
    exit 1
  fi
done

echo "== build"
cargo build --release --locked -q
for p in IdentityServer Api Probe; do
  dotnet build -c Release -nologo -v q "$HERE/$p" -o "$OUT/$p" >"$OUT/build-$p.log" 2>&1 ||
    { cat "$OUT/build-$p.log" >&2; exit 1; }
done

PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "${OWN_SERVERS:-}" ]; then "$ROOT/scripts/test-servers.sh" stop >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

if [ -z "${REFTOKEN_TEST_POSTGRES_NOTIFY:-}" ]; then
  eval "$("$ROOT/scripts/test-servers.sh" start)"
  OWN_SERVERS=1
fi
DB="reftoken_aspnetcore_bench"
ADMIN="$REFTOKEN_TEST_POSTGRES_NOTIFY"
PG_URL="${ADMIN%/*}/$DB"                                  # libpq URL, for psql and the listener
PG_HOST="$(sed -E 's#^postgres(ql)?://([^@/]*@)?([^:/]+).*#\3#' <<<"$ADMIN")"
PG_PORT="$(sed -nE 's#^postgres(ql)?://([^@/]*@)?[^:/]+:([0-9]+).*#\3#p' <<<"$ADMIN")"
PG_USER="$(sed -nE 's#^postgres(ql)?://([^:@/]+)(:[^@/]*)?@.*#\2#p' <<<"$ADMIN")"
NPGSQL="Host=$PG_HOST;Port=${PG_PORT:-5432};Username=${PG_USER:-postgres};Database=$DB"
psql -q "$ADMIN" -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"

WORK="$OUT/run"
rm -rf "$WORK"
mkdir -p "$WORK"
KEYRING="$WORK/keyring"

wait_up() { # URL LOG
  for _ in $(seq 1 300); do
    curl -s -o /dev/null "$1/" && return 0
    sleep 0.1
  done
  echo "run.sh: nothing answers on $1" >&2
  cat "$2" >&2
  exit 1
}

echo "== IdentityServer on $IDS (operational store on PostgreSQL, database $DB)"
"$OUT/IdentityServer/BenchIdentityServer" "$IDS_PORT" "$NPGSQL" "$KEYRING" >"$WORK/ids.log" 2>&1 &
PIDS+=($!)
wait_up "$IDS" "$WORK/ids.log"
# RefToken's revocation triggers on IdentityServer's table (DELETE -> NOTIFY with the row's key).
psql -q "$PG_URL" -v ON_ERROR_STOP=1 -f migrations/postgres/0001_reftoken_revocation_notify.sql \
  -f migrations/postgres/0002_reftoken_revocation_skip_expired.sql >/dev/null
TOKEN="$("$OUT/Probe/BenchProbe" token "$IDS")"

start_api() { # MODE ARGS...
  "$OUT/Api/BenchApi" "$API_PORT" "$@" >"$WORK/api-$1.log" 2>&1 &
  API_PID=$!
  PIDS+=("$API_PID")
  wait_up "$API" "$WORK/api-$1.log"
  [ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$API/")" = 200 ] ||
    { echo "run.sh: the $1 API does not accept the token" >&2; cat "$WORK/api-$1.log" >&2; exit 1; }
}
stop_api() { kill "$API_PID"; wait "$API_PID" 2>/dev/null || true; }

# wrk's figures in requests/s and milliseconds.
to_ms() { awk '{ v = $1; if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms$/, "", v) } else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 } printf "%.3f", v }' <<<"$1"; }
measure() { # MODE
  wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"${WARMUP}s" -H "Authorization: Bearer $TOKEN" "$API/" >/dev/null
  wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"${SECS}s" --latency -H "Authorization: Bearer $TOKEN" "$API/" >"$WORK/wrk-$1.txt"
  cat "$WORK/wrk-$1.txt"
  if grep -q 'Non-2xx' "$WORK/wrk-$1.txt"; then echo "run.sh: $1 answered non-2xx under load" >&2; exit 1; fi
  RPS[$1]="$(awk '/^Requests\/sec:/ { print $2 }' "$WORK/wrk-$1.txt")"
  P50[$1]="$(to_ms "$(awk '$1 == "50%" { print $2 }' "$WORK/wrk-$1.txt")")"
  P99[$1]="$(to_ms "$(awk '$1 == "99%" { print $2 }' "$WORK/wrk-$1.txt")")"
}
revocation() { # MODE TRIALS POLL_MS TIMEOUT_S
  "$OUT/Probe/BenchProbe" revocation "$API" "$IDS" "$NPGSQL" "$2" "$3" "$4" | tee "$WORK/revocation-$1.txt"
  REV[$1]="$(tail -n 1 "$WORK/revocation-$1.txt" | sed 's/^revocation: //')"
}
declare -A RPS P50 P99 REV

echo "== no authentication (the ceiling of this API, Kestrel and wrk on this machine)"
start_api anonymous -
measure anonymous
REV[anonymous]="-"
stop_api

echo "== RefToken.AspNetCore (PostgreSQL store, cache, NOTIFY revocation listener)"
start_api reftoken "$NPGSQL" "$PG_URL" "$KEYRING"
measure reftoken
revocation reftoken "$TRIALS" 0 5
stop_api

echo "== Duende OAuth2 introspection handler, no cache"
start_api introspection "$IDS"
measure introspection
revocation introspection "$TRIALS" 0 5
stop_api

echo "== Duende OAuth2 introspection handler, cache warm (CacheDuration ${CACHE_SECONDS} s)"
start_api introspection-cached "$IDS" "$CACHE_SECONDS"
measure introspection-cached
revocation introspection-cached "$CACHED_TRIALS" 20 $((CACHE_SECONDS + 10))
stop_api

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1fx", a / b }'; }
echo
echo "== results ($(nproc) cores; wrk -t$WRK_THREADS -c$CONNECTIONS -d${SECS}s after ${WARMUP}s warm-up; one token)"
# "added": the machine's time per request beyond the unauthenticated API's (1/rps - 1/rps of nothing),
# what the authentication costs when both cores are saturated.
added() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", 1e6 / a - 1e6 / b }'; }
printf '| %s | %s | %s | %s | %s | %s | %s |\n' "API protected by" "requests/s" "RefToken vs it" "added per request" "p50" "p99" "DELETE to first 401 (ms)"
printf '|---|---:|---:|---:|---:|---:|---|\n'
for mode in anonymous reftoken introspection introspection-cached; do
  case "$mode" in
    anonymous) label="nothing (no authentication)" ;;
    reftoken) label="RefToken.AspNetCore, cache warm" ;;
    introspection) label="Duende introspection handler, no cache" ;;
    introspection-cached) label="Duende introspection handler, cache warm" ;;
  esac
  printf '| %s | %s | %s | %s us | %s ms | %s ms | %s |\n' "$label" "${RPS[$mode]}" "$(ratio "${RPS[reftoken]}" "${RPS[$mode]}")" \
    "$(added "${RPS[$mode]}" "${RPS[anonymous]}")" "${P50[$mode]}" "${P99[$mode]}" "$(sed -E 's/ ms//g' <<<"${REV[$mode]}")"
done
