#!/usr/bin/env bash
# Benchmark (not run by CI): requests per second and p99 latency with wrk through real nginx
# for (a) no authentication, (b) this module (SQLite store, warm cache; one token, and 1000
# tokens in rotation), (c) auth_request to RefToken's example introspection endpoint
# (examples/introspection_server.c), without and with proxy_cache on the subrequest; then
# revocation staleness: from a PostgreSQL DELETE's commit to the first 401 nginx answers.
#
#   bindings/nginx/bench.sh [SECONDS]        default 10 seconds per wrk run
#
# Needs wrk, plus what test.sh needs. Starts PostgreSQL and Redis of its own unless
# REFTOKEN_TEST_POSTGRES and REFTOKEN_TEST_SERVERS_DIR name a running set.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
secs="${1:-10}"
conns="${BENCH_CONNECTIONS:-64}"
command -v wrk >/dev/null || { echo "bench.sh: needs wrk" >&2; exit 1; }

work="$(mktemp -d "${TMPDIR:-/tmp}/reftoken-nginx-bench.XXXXXX")"
chmod 755 "$work"
pids=()
servers_ours=""
cleanup() {
  for p in "${pids[@]}"; do kill -QUIT "$p" 2>/dev/null || true; done
  sleep 0.5
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

# 1000 tokens in SQLite (all four paths read the same file) and in PostgreSQL.
db="$work/grants.db"
sqlite3 "$db" 'CREATE TABLE "PersistedGrants" ("Id" INTEGER PRIMARY KEY AUTOINCREMENT, "Key" TEXT NULL,
 "Type" TEXT NOT NULL, "SubjectId" TEXT NULL, "SessionId" TEXT NULL, "ClientId" TEXT NOT NULL, "Description" TEXT NULL,
 "CreationTime" TEXT NOT NULL, "Expiration" TEXT NULL, "ConsumedTime" TEXT NULL, "Data" TEXT NOT NULL);
 CREATE UNIQUE INDEX "IX_PersistedGrants_Key" ON "PersistedGrants" ("Key");'
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
sqlite3 "$db" <"$work/rows.sql"
chmod 644 "$db"
token="$(head -1 "$work/tokens")"

# The introspection endpoint, as API api1 with secret "secret".
ip_port="$(free_port)"
stored="$("$root/target/release/reftoken" secret-hash secret)"
"$work/introspection_server" --db "$db" --port "$ip_port" --api api1 "$stored" "api1.read api1.write" \
  >"$work/introspection.log" 2>&1 &
pids+=($!)

port="$(free_port)"
user=""; [ "$(id -u)" != 0 ] || user="user nobody nogroup;"
mkdir -p "$work/logs" "$work/cache" "$work/www"; chmod 777 "$work/logs" "$work/cache"
echo ok >"$work/www/x"; chmod -R a+rX "$work/www"
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
    reftoken_store sqlite:$db;
    reftoken_cache_size 10000;
    reftoken_cache_ttl 60s;
    reftoken_api api1;
    reftoken_api_scopes api1.read api1.write;
    map \$http_authorization \$bearer { "~^Bearer (?<t>[A-Za-z0-9._~+/=-]+)\$" \$t; default ""; }
    upstream introspection { server 127.0.0.1:$ip_port; }
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
            proxy_pass http://introspection/connect/introspect;
            proxy_method POST;
            proxy_pass_request_body off;
            proxy_set_header Content-Type application/x-www-form-urlencoded;
            proxy_set_header Authorization "Basic YXBpMTpzZWNyZXQ=";
            proxy_set_body "token=\$bearer";
        }
        location = /_introspect_cached {
            internal;
            proxy_pass http://introspection/connect/introspect;
            proxy_method POST;
            proxy_pass_request_body off;
            proxy_set_header Content-Type application/x-www-form-urlencoded;
            proxy_set_header Authorization "Basic YXBpMTpzZWNyZXQ=";
            proxy_set_body "token=\$bearer";
            proxy_cache auth;
            proxy_cache_methods POST;
            proxy_cache_key \$bearer;
            proxy_cache_valid 200 60s;
        }
    }
}
CONF
nginx -p "$work" -c "$work/nginx.conf" -e "$work/logs/error.log" &
pids+=($!)
sleep 1
curl -sf -H "Authorization: Bearer $token" "http://127.0.0.1:$port/b/x" >/dev/null || { echo "bench.sh: module path fails" >&2; cat "$work/logs/error.log" >&2; exit 1; }
curl -sf -H "Authorization: Bearer $token" "http://127.0.0.1:$port/c/x" >/dev/null || { echo "bench.sh: auth_request path fails" >&2; exit 1; }

# wrk script: rotate through the 1000 tokens.
cat >"$work/rotate.lua" <<'LUA'
local tokens = {}
for line in io.lines(os.getenv("TOKENS")) do tokens[#tokens + 1] = line end
local i = 0
request = function()
  i = i % #tokens + 1
  return wrk.format("GET", nil, { Authorization = "Bearer " .. tokens[i] })
end
LUA

run() { # run NAME PATH [wrk args]
  local name="$1" path="$2"; shift 2
  local out rps p99
  out="$(TOKENS="$work/tokens" wrk -t2 -c"$conns" -d"${secs}s" --latency "$@" "http://127.0.0.1:$port$path" 2>&1)"
  rps="$(printf '%s\n' "$out" | awk '/^Requests\/sec/ {print $2}')"
  p99="$(printf '%s\n' "$out" | awk '$1 == "99%" {print $2}')"
  local non2xx; non2xx="$(printf '%s\n' "$out" | awk '/Non-2xx/ {print $NF}')"
  printf '| %s | %s | %s | %s |\n' "$name" "$rps" "$p99" "${non2xx:-0}"
}
echo "wrk: 2 threads, $conns connections, ${secs}s per run, nginx with ${BENCH_WORKERS:-2} workers, $(nproc) CPUs"
echo
echo "| path | requests/s | p99 | non-2xx |"
echo "|---|---:|---:|---:|"
run "(a) no authentication" /a/x
run "(b) reftoken module, one token" /b/x -H "Authorization: Bearer $token"
run "(b) reftoken module, 1000 tokens" /b/x -s "$work/rotate.lua"
run "(c) auth_request to the introspection endpoint" /c/x -H "Authorization: Bearer $token"
run "(c) the same with proxy_cache" /d/x -H "Authorization: Bearer $token"

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
