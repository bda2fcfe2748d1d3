#!/usr/bin/env bash
# Validations per second: a real Duende IdentityServer host's introspection endpoint over
# loopback HTTP against RefToken's native validator, on the same tokens in the same SQLite
# store with the same Data Protection key ring. See README.md.
#
#   DUENDE_PACKAGES=<folder> benches/duende-introspection/run.sh
#
# Environment (all optional): SECONDS_PER_RUN (default 10), TOKENS (10000), THREADS (native and
# HTTP thread counts, "1 2"), HTTP_THREADS (more thread counts for HTTP only, "4 8"), REPEAT (each
# figure is the best of this many runs, 3), HTTP_WARMUP (seconds of HTTP load before measuring,
# so that the host's JIT has tiered up, 30), PORT (5170).
# Everything it builds and writes goes to target/duende-introspection/.
set -euo pipefail

if [ -z "${DUENDE_PACKAGES:-}" ]; then
  echo "run.sh: set DUENDE_PACKAGES to a folder holding the Duende IdentityServer 7.4.8 .nupkg files" >&2
  echo "        (the Duende.IdentityServer 7.4.x packages from NuGet; see bindings/dotnet/README.md)" >&2
  exit 2
fi

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
OUT="$ROOT/target/duende-introspection"
SECS="${SECONDS_PER_RUN:-10}"
TOKENS="${TOKENS:-10000}"
THREADS="${THREADS:-1 2}"
HTTP_THREADS="${HTTP_THREADS-4 8}"
REPEAT="${REPEAT:-3}"
HTTP_WARMUP="${HTTP_WARMUP:-30}"
PORT="${PORT:-5170}"
URL="http://127.0.0.1:$PORT"
APP_NAME=reftoken-bench   # the host's SetApplicationName

cd "$ROOT"
mkdir -p "$OUT"

echo "== build"
make -s lib   # libreftoken (cargo build --release) and its SONAME link
dotnet build -c Release -nologo -v q "$HERE/host" -o "$OUT/host" >"$OUT/host-build.log" 2>&1 ||
  { cat "$OUT/host-build.log" >&2; exit 1; }
cc -O2 -Wall -Wextra -I"$ROOT/include" -I"$ROOT/examples" "$HERE/bench_introspection.c" "$ROOT/examples/store_sqlite.c" \
  -L"$ROOT/target/release" -lreftoken -lcurl -lsqlite3 -lpthread -Wl,-rpath,"$ROOT/target/release" \
  -o "$OUT/bench_introspection"
BENCH="$OUT/bench_introspection"

WORK="$OUT/run"
rm -rf "$WORK"
mkdir -p "$WORK"
RESULTS="$WORK/results.txt"

if curl -s -o /dev/null "$URL/"; then
  echo "run.sh: something already listens on $URL; set PORT" >&2
  exit 1
fi

echo "== start the Duende IdentityServer host on $URL"
"$OUT/host/DuendeIntrospectionHost" "$WORK" "$PORT" >"$WORK/host.log" 2>&1 &
HOST_PID=$!
stop_host() {
  if [ -n "${HOST_PID:-}" ]; then
    kill "$HOST_PID" 2>/dev/null || true
    wait "$HOST_PID" 2>/dev/null || true
    HOST_PID=
  fi
}
trap stop_host EXIT
for _ in $(seq 1 120); do
  curl -sf -o /dev/null "$URL/.well-known/openid-configuration" && break
  kill -0 "$HOST_PID" 2>/dev/null || { cat "$WORK/host.log" >&2; exit 1; }
  sleep 0.5
done
curl -sf -o /dev/null "$URL/.well-known/openid-configuration" || { echo "run.sh: the host did not start" >&2; exit 1; }

echo "== issue $TOKENS reference tokens through the token endpoint"
"$BENCH" issue "$URL" "$TOKENS" "$WORK/handles.txt"
echo "   rows in PersistedGrants: $(sqlite3 -readonly "$WORK/grants.db" 'SELECT count(*) FROM PersistedGrants' 2>/dev/null || echo '?')"

echo "== check: the endpoint's answers and the native validator's agree"
"$BENCH" check "$URL" "$WORK/grants.db" "$WORK/keyring" "$APP_NAME" "$WORK/handles.txt" 200

echo "== HTTP: warm-up, ${HTTP_WARMUP} s of introspection requests (not counted)"
"$BENCH" http "$URL" "$WORK/handles.txt" "$HTTP_WARMUP" 2 >/dev/null

# The thread lists are split into words on purpose (SC2086) and given as arguments (SC2046).
repeat() { local out=() i; for ((i = 0; i < REPEAT; i++)); do out+=("$@"); done; echo "${out[@]}"; }
# shellcheck disable=SC2086
echo "== HTTP: POST /connect/introspect (threads: $(repeat $THREADS $HTTP_THREADS); ${SECS} s each)"
# shellcheck disable=SC2046,SC2086
HOST_PID="$HOST_PID" "$BENCH" http "$URL" "$WORK/handles.txt" "$SECS" $(repeat $THREADS $HTTP_THREADS) | tee -a "$RESULTS"
if grep -qiE "fail|exception" "$WORK/host.log"; then
  echo "run.sh: the host logged failures:" >&2
  grep -iE "fail|exception" "$WORK/host.log" | head -5 >&2
fi

echo "== busiest processes at the end of the HTTP runs (nice, %cpu over their lifetime, name):"
ps -eo ni=,pcpu=,comm= --sort=-pcpu | head -5 | sed 's/^/   /'

echo "== stop the host; native validation against the same store and key ring"
stop_host
# shellcheck disable=SC2046,SC2086
"$BENCH" native "$WORK/grants.db" "$WORK/keyring" "$APP_NAME" "$WORK/handles.txt" "$SECS" $(repeat $THREADS) | tee -a "$RESULTS"

echo
echo "== results ($(date -u +%Y-%m-%d), $(nproc) cores; load average before the native runs: $(cut -d' ' -f1-3 /proc/loadavg))"
awk -v threads="$THREADS $HTTP_THREADS" '
  # The best of the repeated runs (noise on a shared machine only slows), with the latency and CPU of that run.
  $1 == "result" && $6 > rate[$2, $3] { rate[$2, $3] = $6; p50[$2, $3] = $7; p99[$2, $3] = $8; cpu[$2, $3] = $9; seen[$2] = 1 }
  function x(r) { return r < 10 ? sprintf("%.2fx", r) : sprintf("%.0fx", r) }
  END {
    n = split(threads, t, " ")
    names["http-duende"] = "Duende /connect/introspect over HTTP"
    names["native-cache-verdict"] = "native, warm cache, verdict"
    names["native-cache-json"] = "native, warm cache, introspection JSON"
    names["native-store-verdict"] = "native, SQLite store (no cache), verdict"
    names["native-store-json"] = "native, SQLite store (no cache), introspection JSON"
    order[1] = "http-duende"; order[2] = "native-cache-verdict"; order[3] = "native-cache-json"
    order[4] = "native-store-verdict"; order[5] = "native-store-json"
    best = 0
    for (i = 1; i <= n; i++) if (rate["http-duende", t[i]] > best) best = rate["http-duende", t[i]]
    printf "| path | threads | validations/s | vs HTTP, same threads | vs HTTP, best | p50 | p99 | CPU per validation |\n"
    printf "|---|---:|---:|---:|---:|---:|---:|---:|\n"
    for (o = 1; o <= 5; o++) {
      s = order[o]
      if (!(s in seen)) continue
      for (i = 1; i <= n; i++) {
        k = t[i]
        if (!((s, k) in rate)) continue
        ratio = (("http-duende", k) in rate) ? x(rate[s, k] / rate["http-duende", k]) : ""
        printf "| %s | %d | %.0f | %s | %s | %.2f us | %.2f us | %.2f us |\n", names[s], k, rate[s, k], ratio, x(rate[s, k] / best), p50[s, k], p99[s, k], cpu[s, k]
      }
    }
  }' "$RESULTS"
echo
echo "Best of $REPEAT runs of ${SECS} s each. CPU per validation: for HTTP, the host's and the"
echo "client's CPU time together, divided by the validations; for native, the process's."
echo "p50/p99: per call (HTTP: the whole request, from the client)."
