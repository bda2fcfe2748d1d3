#!/usr/bin/env python3
"""The example introspection endpoint (examples/introspection_server.c) against the answers a
real Duende IdentityServer 7.4.8 gave (tests/fixtures/duende/introspection.json): the same
HTTP requests, sent over 127.0.0.1 with a real HTTP client, must get the same status and body.
Usage: http_endpoint_test.py SERVER_BINARY FIXTURES_DIR"""
import base64, http.client, json, os, socket, subprocess, sys, tempfile, time

server_bin, fixtures = sys.argv[1], sys.argv[2]
cases = json.load(open(os.path.join(fixtures, "introspection.json")))
secrets = json.load(open(os.path.join(fixtures, "secrets.json")))

with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]

key = os.path.join(tempfile.mkdtemp(), "es256.pem")
subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key], check=True,
               capture_output=True)
args = [server_bin, "--db", os.path.join(fixtures, "persisted-grants.db"), "--port", str(port),
        "--keyring", os.path.join(fixtures, "keyring"), "--app-name", "reftoken-fixtures", "--now", "1740830400",
        "--issuer", "https://idsvr.test", "--jwt-key", key, "--jwt-kid", "reftoken-fixtures-es256"]
enabled = {c["client_id"] for c in secrets["clients"] if c["enabled"]}
for s in secrets["secrets"]:
    if s["kind"] == "api":
        args += ["--api", s["name"], s["stored"], " ".join(secrets["api_scopes"][s["name"]])]
    elif s["name"] in enabled:
        args += ["--client", s["name"], s["stored"]]
server = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
server.stdout.readline()  # "listening on ..."

def b64d(part):
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))

passed = failed = 0
try:
    for c in cases:
        r = c["request"]
        # The server has one fixed clock and reads the database as it was before Duende
        # deleted the expired rows it was shown.
        if c["db"] != "protected" or c["now_unix"] != 1740830400:
            continue
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        headers = {}
        if r.get("content_type"):
            headers["Content-Type"] = r["content_type"]
        if r.get("authorization"):
            headers["Authorization"] = r["authorization"]
        if r.get("accept"):
            headers["Accept"] = r["accept"]
        conn.request(r["method"], r["path"], body=(r.get("form") or "").encode(), headers=headers)
        resp = conn.getresponse()
        body = resp.read().decode()
        conn.close()
        ok = resp.status == c["status"]
        if ok and resp.getheader("Content-Type", "").startswith("application/token-introspection+jwt"):
            # ES256 signatures are random: compare the signed header and payload exactly.
            mine, theirs = body.split("."), c["body"].split(".")
            ok = mine[:2] == theirs[:2] and len(b64d(mine[2])) == 64
        elif ok:
            ok = body == c["body"]
        if ok:
            passed += 1
        else:
            failed += 1
            print(f"FAIL {c['name']}: {resp.status} {body!r}\n  expected {c['status']} {c['body']!r}")
finally:
    server.terminate()
    server.wait(timeout=10)

if passed < 100:
    failed += 1
    print(f"FAIL only {passed} cases ran")
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
