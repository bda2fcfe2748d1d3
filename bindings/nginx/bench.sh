#!/usr/bin/env bash
# Benchmark (not run by CI): requests per second and p99 latency with wrk through real nginx
# for (a) no authentication, (b) this module (SQLite store, warm cache; one token, and 1000
# tokens in rotation), (c) auth_request to an introspection endpoint, without and with
# proxy_cache on the subrequest; then revocation staleness: for (b), from a PostgreSQL
# DELETE's commit to the first 401 from every worker; for (c), from the revocation to the
# first inactive answer nginx gets from its subrequest.
#
#   bindings/nginx/bench.sh [SECONDS]        default 10 seconds per wrk run
#
# The introspection endpoint of (c) is Duende IdentityServer's own when DUENDE_PACKAGES names
# a folder of the Duende IdentityServer 7.4.8 packages (or they restore from the configured
# package sources): the host of benches/duende-introspection (its EF operational store on
# SQLite, Data Protection on), which issues the 1000 tokens through its token endpoint and
# revokes through its revocation endpoint; (b) reads the same store with the same key ring.
# Otherwise (c) calls RefToken's example endpoint (examples/introspection_server.c) over rows
# this script writes, and says so. Environment: BENCH_CONNECTIONS (64), BENCH_WORKERS (2),
# BENCH_CACHE_VALID (proxy_cache_valid of (c) cached, 30s), BENCH_REPEAT (each figure is the
# best of this many runs, interleaved, 3), BENCH_WARMUP (seconds of load on (c) before, 15).
#
# Needs wrk, plus what test.sh needs. Starts PostgreSQL and Redis of its own unless
# REFTOKEN_TEST_POSTGRES and REFTOKEN_TEST_SERVERS_DIR name a running set.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
secs="${1:-10}"
conns="${BENCH_CONNECTIONS:-64}"
cache_valid="${BENCH_CACHE_VALID:-30s}"
repeat="${BENCH_REPEAT:-3}"
command -v wrk >/dev/null || { echo "bench.sh: needs wrk" >&2; exit 1; }

work="$(mktemp -d "${TMPDIR:-/tmp}/reftoken-nginx-bench.XXXXXX")"
chmod 755 "$work"
pids=()
servers_ours=""
cleanup() {
  # TERM: nginx's fast shutdown, and what the .NET host stops on.
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 20); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  done
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  [ -z "$servers_ours" ] || "$root/scripts/test-servers.sh" stop >/dev/null 2>&1 || true
  [ "${BENCH_KEEP:-0}" = 1 ] || rm -rf "$work"
}
trap cleanup EXIT
if [ -z "${REFTOKEN_TEST_POSTGRES:-}" ] || [ -z "${REFTOKEN_TEST_SERVERS_DIR:-}" ]; then
  eval "$("$root/scripts/test-servers.sh" start)"
  servers_ours=1
fi
PG="$REFTOKEN_TEST_POSTGRES"

module="$(REFTOKEN_RPATH=1 "$here/build.sh" "$root/target/nginx")"
cc -std=c99 -O2 -I"$root/include" "$here/t/rt_tool.c" -L"$root/target/release" -lreftoken \
  -Wl,-rpath,"$root/target/release" -o "$work/rt_tool"
cc -std=c99 -O2 -I"$root/include" -I"$root/examples" "$root/examples/introspection_server.c" \
  "$root/examples/store_sqlite.c" -L"$root/target/release" -lreftoken -lsqlite3 -lpthread \
  -Wl,-rpath,"$root/target/release" -o "$work/introspection_server"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# 1000 tokens made here, for PostgreSQL (the revocation staleness of (b)) and, without
# IdentityServer, for the SQLite store that (b) and (c) read.
now="$(date +%s)"
: >"$work/tokens"; : >"$work/keys"
{
  echo "BEGIN;"
  for i in $(seq 1000); do
    IFS=$'\t' read -r h k d <<<"$("$work/rt_tool" issue "user$i" client1 api1.read "$now" 86400)"
    echo "$h" >>"$work/tokens"
    echo "$k" >>"$work/keys"
    echo "INSERT INTO \"PersistedGrants\" (\"Key\",\"Type\",\"ClientId\",\"CreationTime\",\"Data\") VALUES ('$k','reference_token','client1','2026-01-01','${d//\'/\'\'}');"
  done
  echo "COMMIT;"
} >"$work/rows.sql"

# Duende IdentityServer, when its packages restore.
duende=0
if [ -n "${DUENDE_PACKAGES:-}" ] || [ "${BENCH_DUENDE:-}" = 1 ]; then
  if DUENDE_PACKAGES="${DUENDE_PACKAGES:-}" dotnet build -c Release -nologo -v q "$root/benches/duende-introspection/host" \
      -o "$work/is-host" >"$work/is-build.log" 2>&1; then
    duende=1
  else
    tail -5 "$work/is-build.log" >&2
  fi
fi
ip_port="$(free_port)"
if [ "$duende" = 1 ]; then
  echo "(c): Duende IdentityServer 7.4.8's /connect/introspect (benches/duende-introspection/host; EF operational store on SQLite, Data Protection on)"
  mkdir -p "$work/is"
  "$work/is-host/DuendeIntrospectionHost" "$work/is" "$ip_port" >"$work/introspection.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 120); do
    curl -sf -o /dev/null "http://127.0.0.1:$ip_port/.well-known/openid-configuration" && break
    sleep 0.5
  done
  curl -sf -o /dev/null "http://127.0.0.1:$ip_port/.well-known/openid-configuration" ||
    { cat "$work/introspection.log" >&2; echo "bench.sh: the IdentityServer host did not start" >&2; exit 1; }
  # 1000 reference tokens from its token endpoint (client credentials), over one connection.
  python3 - "$ip_port" "$work/is-tokens" <<'PY2'
import base64, http.client, json, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=30)
auth = "Basic " + base64.b64encode(b"bench.client:bench-client-secret").decode()
with open(sys.argv[2], "w") as out:
    for _ in range(1000):
        c.request("POST", "/connect/token", "grant_type=client_credentials&scope=api1.read",
                  {"Content-Type": "application/x-www-form-urlencoded", "Authorization": auth})
        r = c.getresponse()
        body = json.loads(r.read())
        assert r.status == 200 and len(body["access_token"]) == 66, body
        out.write(body["access_token"] + "\n")
PY2
  db="$work/is/grants.db"
  chmod -R a+rX "$work/is"
  store_conf="reftoken_store sqlite:$db; reftoken_keyring $work/is/keyring; reftoken_app_name reftoken-bench;"
  sq_tokens="$work/is-tokens"
  ip_auth="Basic $(printf 'api1:api1-secret' | base64)"
else
  echo "(c): RefToken's example endpoint (examples/introspection_server.c), not IdentityServer's: DUENDE_PACKAGES is not set (the Duende IdentityServer packages; see bindings/dotnet/README.md)"
  db="$work/grants.db"
  sqlite3 "$db" 'CREATE TABLE "PersistedGrants" ("Id" INTEGER PRIMARY KEY AUTOINCREMENT, "Key" TEXT NULL,
   "Type" TEXT NOT NULL, "SubjectId" TEXT NULL, "SessionId" TEXT NULL, "ClientId" TEXT NOT NULL, "Description" TEXT NULL,
   "CreationTime" TEXT NOT NULL, "Expiration" TEXT NULL, "ConsumedTime" TEXT NULL, "Data" TEXT NOT NULL);
   CREATE UNIQUE INDEX "IX_PersistedGrants_Key" ON "PersistedGrants" ("Key");'
  sqlite3 "$db" <"$work/rows.sql"
  chmod 644 "$db"
  store_conf="reftoken_store sqlite:$db;"
  sq_tokens="$work/tokens"
  # The introspection endpoint, as API api1 with secret "secret".
  stored="$("$root/target/release/reftoken" secret-hash secret)"
  # The tokens' client must be known to it, or every answer is {"active":false}.
  "$work/introspection_server" --db "$db" --port "$ip_port" --api api1 "$stored" "api1.read api1.write" \
    --client client1 "$("$root/target/release/reftoken" secret-hash client1-secret)" \
    >"$work/introspection.log" 2>&1 &
  pids+=($!)
  ip_auth="Basic $(printf 'api1:secret' | base64)"
fi
token="$(head -1 "$sq_tokens")"

port="$(free_port)"
user=""; [ "$(id -u)" != 0 ] || user="user nobody nogroup;"
mkdir -p "$work/logs" "$work/cache" "$work/www"; chmod 777 "$work/logs" "$work/cache"
echo ok >"$work/www/x"; chmod -R a+rX "$work/www"
# The introspection call of the (c) locations and the cache of the cached ones, each written
# once and included where it is used.
cat >"$work/introspect.conf" <<CONF
proxy_pass http://introspection/connect/introspect;
proxy_method POST;
proxy_pass_request_body off;
proxy_http_version 1.1;
proxy_set_header Connection "";
proxy_set_header Content-Type application/x-www-form-urlencoded;
proxy_set_header Authorization "$ip_auth";
proxy_set_body "token=\$bearer";
CONF
cat >"$work/introspect-cache.conf" <<CONF
proxy_cache auth;
proxy_cache_methods POST;
# The endpoint answers Cache-Control: no-store; a gateway that caches ignores it.
proxy_ignore_headers Cache-Control Expires Set-Cookie Vary;
proxy_cache_key \$bearer;
proxy_cache_valid 200 $cache_valid;
CONF
cat >"$work/nginx.conf" <<CONF
load_module $module;
$user
worker_processes ${BENCH_WORKERS:-2};
master_process on;
daemon off;
pid $work/nginx.pid;
error_log $work/logs/error.log notice;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $work/cache/body;
    proxy_temp_path $work/cache/proxy;
    proxy_cache_path $work/cache/auth keys_zone=auth:10m;
    $store_conf
    reftoken_cache_size 10000;
    reftoken_cache_ttl 60s;
    reftoken_api api1;
    reftoken_api_scopes api1.read api1.write;
    map \$http_authorization \$bearer { "~^Bearer (?<t>[A-Za-z0-9._~+/=-]+)\$" \$t; default ""; }
    upstream introspection { server 127.0.0.1:$ip_port; keepalive 64; }
    server {
        listen 127.0.0.1:$port reuseport backlog=4096;
        # A static file as the content for every path: "return" would answer in the rewrite
        # phase, before the access phase that validates.
        location /a/ { alias $work/www/; }
        location /b/ { reftoken on; alias $work/www/; }
        location /c/ { auth_request /_introspect; alias $work/www/; }
        location /d/ { auth_request /_introspect_cached; alias $work/www/; }
        location = /_introspect {
            internal;
            include $work/introspect.conf;
        }
        location = /_introspect_cached {
            internal;
            include $work/introspect.conf;
            include $work/introspect-cache.conf;
        }
        # What the two subrequests get, for the revocation staleness of (c): the same
        # endpoint, the same cache zone and key.
        location = /ci {
            include $work/introspect.conf;
        }
        location = /di {
            include $work/introspect.conf;
            include $work/introspect-cache.conf;
        }
    }
}
CONF
nginx -p "$work" -c "$work/nginx.conf" -e "$work/logs/error.log" &
pids+=($!)
sleep 1
curl -sf -H "Authorization: Bearer $token" "http://127.0.0.1:$port/b/x" >/dev/null || { echo "bench.sh: module path fails" >&2; cat "$work/logs/error.log" >&2; exit 1; }
curl -sf -H "Authorization: Bearer $token" "http://127.0.0.1:$port/c/x" >/dev/null || { echo "bench.sh: auth_request path fails" >&2; exit 1; }
# auth_request looks only at the status: check that the endpoint does answer active.
curl -sf -H "Authorization: Bearer $token" "http://127.0.0.1:$port/ci" | grep -q '"active":true' ||
  { echo "bench.sh: the introspection endpoint does not answer active for the tokens" >&2; exit 1; }

# wrk script: rotate through the 1000 tokens, the requests formatted once (so that wrk, on the
# same cores, spends little per request); (a) is measured with it too, as the limit for the
# same requests.
cat >"$work/rotate.lua" <<'LUA'
local reqs = {}
init = function()
  for line in io.lines(os.getenv("TOKENS")) do
    reqs[#reqs + 1] = wrk.format("GET", nil, { Authorization = "Bearer " .. line })
  end
end
local i = 0
request = function()
  i = i % #reqs + 1
  return reqs[i]
end
LUA

# Not counted: load on (c) first, so that the endpoint's JIT (IdentityServer's) has tiered up.
wrk -t2 -c"$conns" -d"${BENCH_WARMUP:-15}s" -H "Authorization: Bearer $token" "http://127.0.0.1:$port/c/x" >/dev/null 2>&1

# Each figure is the best of $repeat runs (noise on shared cores only slows), the runs of all
# paths interleaved so that a busy moment does not fall on one path alone.
names=("(a) no authentication, one header" "(a) no authentication, 1000 tokens' headers"
       "(b) reftoken module, one token" "(b) reftoken module, 1000 tokens"
       "(c) auth_request to the introspection endpoint" "(c) the same with proxy_cache")
paths=(/a/x /a/x /b/x /b/x /c/x /d/x)
args=("-H Authorization: Bearer $token" "-s $work/rotate.lua" "-H Authorization: Bearer $token" "-s $work/rotate.lua"
      "-H Authorization: Bearer $token" "-H Authorization: Bearer $token")
declare -A best_rps best_p99 best_non2xx
for ((k = 0; k < repeat; k++)); do
  for i in "${!paths[@]}"; do
    read -r flag val <<<"${args[$i]%% *} ${args[$i]#* }"
    out="$(TOKENS="$sq_tokens" wrk -t2 -c"$conns" -d"${secs}s" --latency "$flag" "$val" "http://127.0.0.1:$port${paths[$i]}" 2>&1)"
    rps="$(printf '%s\n' "$out" | awk '/^Requests\/sec/ {print $2}')"
    if awk -v a="$rps" -v b="${best_rps[$i]:-0}" 'BEGIN { exit !(a > b) }'; then
      best_rps[$i]="$rps"
      best_p99[$i]="$(printf '%s\n' "$out" | awk '$1 == "99%" {print $2}')"
      best_non2xx[$i]="$(printf '%s\n' "$out" | awk '/Non-2xx/ {print $NF}')"
    fi
  done
done
echo "wrk: 2 threads, $conns connections, ${secs}s per run, best of $repeat interleaved runs; nginx with ${BENCH_WORKERS:-2} workers; $(nproc) CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| path | requests/s | p99 | non-2xx | vs (a), same requests | (b) 1000 tokens vs this |"
echo "|---|---:|---:|---:|---:|---:|"
for i in "${!paths[@]}"; do
  vs_a="" vs_c=""
  case "$i" in
    2) vs_a="$(awk -v x="${best_rps[2]}" -v y="${best_rps[0]}" 'BEGIN { printf "%.0f%%", 100 * x / y }')" ;;
    3) vs_a="$(awk -v x="${best_rps[3]}" -v y="${best_rps[1]}" 'BEGIN { printf "%.0f%%", 100 * x / y }')" ;;
    4|5) vs_c="$(awk -v x="${best_rps[3]}" -v y="${best_rps[$i]}" 'BEGIN { printf "%.1fx", x / y }')" ;;
  esac
  printf '| %s | %.0f | %s | %s | %s | %s |\n' "${names[$i]}" "${best_rps[$i]}" "${best_p99[$i]}" "${best_non2xx[$i]:-0}" "$vs_a" "$vs_c"
done
echo

# Revocation staleness of (c): 5 tokens answered active through both subrequest locations
# (the cached one now holds their answers), then revoked at once (IdentityServer: its
# revocation endpoint, which deletes the rows; the example endpoint: DELETE in SQLite); then
# each location asked again until it answers inactive. Plain auth_request looks only at the
# status, which is 200 for {"active":false} too: it never refuses a revoked token without
# extra scripting; the figure is when the answer it gets says inactive.
python3 - "$port" "$duende" "$ip_port" "$db" "$sq_tokens" "$work/keys" "$cache_valid" <<'PY2'
import base64, http.client, subprocess, sys, time
port, duende, ip_port, db = int(sys.argv[1]), sys.argv[2] == "1", int(sys.argv[3]), sys.argv[4]
tokens = open(sys.argv[5]).read().split()[900:905]
keys = open(sys.argv[6]).read().split()[900:905]
def answer(path, tok):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", path, headers={"Authorization": "Bearer " + tok})
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, b'"active":true' in body
for tok in tokens:
    for path in ("/ci", "/di"):
        st, active = answer(path, tok)
        assert st == 200 and active, (path, st)
t0 = time.monotonic()
if duende:
    c = http.client.HTTPConnection("127.0.0.1", ip_port, timeout=10)
    auth = "Basic " + base64.b64encode(b"bench.client:bench-client-secret").decode()
    for tok in tokens:
        c.request("POST", "/connect/revocation", "token=%s&token_type_hint=access_token" % tok,
                  {"Content-Type": "application/x-www-form-urlencoded", "Authorization": auth})
        r = c.getresponse(); r.read()
        assert r.status == 200, r.status
else:
    subprocess.run(["sqlite3", db, "DELETE FROM \"PersistedGrants\" WHERE \"Key\" IN (%s);" % ",".join("'%s'" % k for k in keys)], check=True)
t_revoked = time.monotonic()
pending = {(p, t): None for p in ("/ci", "/di") for t in tokens}
while any(v is None for v in pending.values()) and time.monotonic() - t_revoked < 600:
    for (p, t), v in pending.items():
        if v is None:
            st, active = answer(p, t)
            if st == 200 and not active:
                pending[(p, t)] = (time.monotonic() - t_revoked) * 1000
    time.sleep(0.01)
def row(name, path):
    xs = sorted(v for (p, _), v in pending.items() if p == path and v is not None)
    if len(xs) < len(tokens):
        print("| %s | not inactive within 600 s |" % name)
    else:
        print("| %s | %.0f ms | %.0f ms |" % (name, xs[len(xs) // 2], xs[-1]))
print("| revocation staleness of (c), %d tokens revoked %.0f ms apart | p50 | max |" % (len(tokens), (t_revoked - t0) * 1000))
print("|---|---:|---:|")
row("(c) uncached: revoked -> the subrequest's answer inactive", "/ci")
row("(c) proxy_cache_valid %s: revoked -> the subrequest's answer inactive" % sys.argv[7], "/di")
print()
PY2

# Revocation staleness over PostgreSQL NOTIFY: a second nginx on the PostgreSQL store.
psql -qAt "$PG" -c 'DROP TABLE IF EXISTS "PersistedGrants"; CREATE TABLE "PersistedGrants" ("Id" bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
 "Key" varchar(200), "Type" varchar(50) NOT NULL, "SubjectId" varchar(200), "SessionId" varchar(100), "ClientId" varchar(200) NOT NULL,
 "Description" varchar(200), "CreationTime" timestamptz NOT NULL, "Expiration" timestamptz, "ConsumedTime" timestamptz,
 "Data" varchar(50000) NOT NULL); CREATE UNIQUE INDEX ON "PersistedGrants" ("Key");' >/dev/null
psql -qAt "$PG" -f "$root/migrations/postgres/0001_reftoken_revocation_notify.sql" >/dev/null
psql -qAt "$PG" <"$work/rows.sql" >/dev/null
port2="$(free_port)"
mkdir -p "$work/pg/logs" "$work/pg/tmp"; chmod -R 777 "$work/pg"
sed -e "s#reftoken_store sqlite:$db;#reftoken_store $PG; reftoken_revocation $PG;#" \
    -e "s#127.0.0.1:$port #127.0.0.1:$port2 #" -e "s#$work/nginx.pid#$work/pg/nginx.pid#" \
    -e "s#proxy_cache_path $work/cache/auth#proxy_cache_path $work/pg/tmp/auth#" \
    -e "s#worker_processes [0-9]*;#worker_processes 4;#" "$work/nginx.conf" >"$work/pg/nginx.conf"
grep -q "reftoken_revocation postgres" "$work/pg/nginx.conf" || { echo "bench.sh: the PostgreSQL configuration was not made" >&2; exit 1; }
nginx -p "$work/pg" -c "$work/pg/nginx.conf" -e "$work/pg/logs/error.log" &
pids+=($!)
sleep 1.5
python3 - "$port2" "$PG" "$work/tokens" "$work/keys" <<'PY'
import http.client, statistics, subprocess, sys, time
port, pg = int(sys.argv[1]), sys.argv[2]
tokens, keys = open(sys.argv[3]).read().split(), open(sys.argv[4]).read().split()
def get(tok):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    c.request("GET", "/b/x", headers={"Authorization": "Bearer " + tok})
    s = c.getresponse().status
    c.close()
    return s
def sql(q):
    r = subprocess.run(["psql", "-qAt", "-v", "ON_ERROR_STOP=1", pg, "-c", q], check=True, capture_output=True, text=True)
    return r.stdout.strip()
after_commit, after_send = [], []
for tok, key in list(zip(tokens, keys))[500:540]:
    for _ in range(40):  # warm every worker's cache: new connections spread over the workers
        assert get(tok) == 200
    t_send = time.monotonic()
    if sql("DELETE FROM \"PersistedGrants\" WHERE \"Key\" = '%s' RETURNING 1;" % key) != "1":
        sys.exit("the DELETE found no row")
    t_commit = time.monotonic()
    # Refused on every worker: 8 consecutive fresh connections (spread over the 4 workers by
    # reuseport) answer 401; the time is when the first of those 8 was answered.
    run, t_first, seen = 0, None, {}
    while run < 8 and time.monotonic() - t_commit < 5:
        st = get(tok)
        seen[st] = seen.get(st, 0) + 1
        if st == 401:
            if run == 0:
                t_first = time.monotonic()
            run += 1
        else:
            run = 0
    if run < 8:
        print("not refused within 5 s: answers %s" % seen)
        continue
    after_commit.append((t_first - t_commit) * 1000)
    after_send.append((t_first - t_send) * 1000)
q = lambda xs, p: sorted(xs)[min(len(xs) - 1, int(p * len(xs)))]
if not after_commit:
    sys.exit("no revocation was seen")
print("| revocation staleness, PostgreSQL NOTIFY, 4 workers (%d tokens) | p50 | p99 | max |" % len(after_commit))
print("|---|---:|---:|---:|")
print("| DELETE commit returned -> refused (8 of 8) | %.2f ms | %.2f ms | %.2f ms |" % (statistics.median(after_commit), q(after_commit, .99), max(after_commit)))
print("| DELETE sent -> refused (8 of 8) | %.2f ms | %.2f ms | %.2f ms |" % (statistics.median(after_send), q(after_send, .99), max(after_send)))
PY
