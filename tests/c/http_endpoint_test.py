#!/usr/bin/env python3
"""The example introspection endpoint (examples/introspection_server.c) against the answers a
real Duende IdentityServer 7.4.8 gave (tests/fixtures/duende/introspection.json): the same
HTTP requests, sent over 127.0.0.1 with a real HTTP client, must get the same status and body.
Usage: http_endpoint_test.py SERVER_BINARY FIXTURES_DIR"""
import base64, http.client, json, os, socket, subprocess, sys, tempfile


def served_cases(fixtures):
    """The fixture cases this server can answer: it has one fixed clock and reads the database
    as it was before Duende deleted the expired rows it was shown."""
    cases = json.load(open(os.path.join(fixtures, "introspection.json")))
    return [c for c in cases if c["db"] == "protected" and c["now_unix"] == 1740830400]


def start_server(server_bin, fixtures):
    """Starts the server on a free port with the fixtures' store, key ring and secrets; returns
    (process, port) once it listens."""
    secrets = json.load(open(os.path.join(fixtures, "secrets.json")))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    key = os.path.join(tempfile.mkdtemp(), "es256.pem")
    subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key],
                   check=True, capture_output=True)
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
    return server, port


def send(conn, case):
    """Sends a fixture case's request on an http.client connection."""
    r = case["request"]
    headers = {}
    if r.get("content_type"):
        headers["Content-Type"] = r["content_type"]
    if r.get("authorization"):
        headers["Authorization"] = r["authorization"]
    if r.get("accept"):
        headers["Accept"] = r["accept"]
    conn.request(r["method"], r["path"], body=(r.get("form") or "").encode(), headers=headers)


def b64d(part):
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def answered_as_duende(case, resp, body):
    """Whether a response is the one Duende gave (for a JWT: the same signed header and payload)."""
    if resp.status != case["status"]:
        return False
    if resp.getheader("Content-Type", "").startswith("application/token-introspection+jwt"):
        # ES256 signatures are random: compare the signed header and payload exactly.
        mine, theirs = body.split("."), case["body"].split(".")
        return mine[:2] == theirs[:2] and len(b64d(mine[2])) == 64
    return body == case["body"]


def main():
    server_bin, fixtures = sys.argv[1], sys.argv[2]
    server, port = start_server(server_bin, fixtures)
    passed = failed = 0
    try:
        for c in served_cases(fixtures):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            send(conn, c)
            resp = conn.getresponse()
            body = resp.read().decode()
            conn.close()
            if answered_as_duende(c, resp, body):
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


if __name__ == "__main__":
    main()
