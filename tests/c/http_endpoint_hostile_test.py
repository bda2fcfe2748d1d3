#!/usr/bin/env python3
"""The example introspection endpoint (examples/introspection_server.c) under clients that
misbehave or crowd it, each case against a server of its own:
  reset       clients that reset (RST) the connection mid-request, or that reset or close it
              right after sending a whole request: the server survives and answers
  idle        connections that send half a request and go quiet: other clients are answered
              meanwhile, and the server closes the idle ones after its read timeout
  concurrent  1,000 clients connected at once, then each sending its request: every one gets
              the answer Duende gave
Usage: http_endpoint_hostile_test.py SERVER_BINARY FIXTURES_DIR CASE"""
import http.client, resource, socket, struct, subprocess, sys, time

from http_endpoint_test import answered_as_duende, send, served_cases, start_server

# examples/introspection_server.c's REQUEST_TIMEOUT_SECONDS.
SERVER_REQUEST_TIMEOUT = 5

server_bin, fixtures, which = sys.argv[1], sys.argv[2], sys.argv[3]
cases = served_cases(fixtures)
active = [c for c in cases if c["status"] == 200 and '"active":true' in c["body"]]
passed = failed = 0


def check(ok, what):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print(f"FAIL {what}")


def ask(port, case, timeout=5):
    """One fixture request with a real HTTP client; whether Duende's answer came back."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        send(conn, case)
        resp = conn.getresponse()
        return answered_as_duende(case, resp, resp.read().decode())
    except OSError as e:
        print(f"  {case['name']}: {e!r}")
        return False
    finally:
        conn.close()


def raw_request(case):
    r = case["request"]
    form = (r.get("form") or "").encode()
    head = f"{r['method']} {r['path']} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(form)}\r\n"
    for name, key in (("Content-Type", "content_type"), ("Authorization", "authorization"), ("Accept", "accept")):
        if r.get(key):
            head += f"{name}: {r[key]}\r\n"
    return head.encode() + b"\r\n" + form


def reset(sock):
    """Closes with an RST instead of a FIN (SO_LINGER on, timeout 0)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def connect(port, timeout=5):
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


def case_reset(server, port):
    whole = raw_request(active[0])
    errors = []
    try:
        for i in range(30):
            s = connect(port)
            s.sendall(whole[: len(whole) // 2])  # half the head, then a reset
            reset(s)
            s = connect(port)
            s.sendall(whole[:-3])  # all but the last bytes of the body, then a reset
            reset(s)
        # The whole request, then gone before the answer: a reset, or a close whose FIN the
        # server's first write turns into a reset. A server that writes again then gets
        # EPIPE, with SIGPIPE unless it asked not to (the race is lost within a few hundred).
        for i in range(300):
            s = connect(port)
            s.sendall(whole)
            reset(s)
            s = connect(port)
            s.sendall(whole)
            s.close()
    except OSError as e:
        errors.append(repr(e))
    time.sleep(0.3)
    check(not errors and server.poll() is None,
          f"server alive after 660 resets (exit status {server.poll()}): {errors}")
    check(all(ask(port, c) for c in active[:20]), "20 requests answered as Duende did after the resets")


def case_idle(server, port):
    whole = raw_request(active[0])
    idle = []
    for cut in (10, len(whole) // 2, len(whole) - 5, len(whole) - 1):
        s = connect(port)
        s.sendall(whole[:cut])
        idle.append(s)
    started = time.monotonic()
    slow = []
    for c in active[:20]:
        t = time.monotonic()
        if not ask(port, c, timeout=3):
            slow.append(c["name"])
        elif time.monotonic() - t > 1:
            slow.append(f"{c['name']} took {time.monotonic() - t:.2f} s")
        if slow:
            break
    check(not slow, f"20 clients answered within 1 s each beside 4 idle half-sent requests: {slow}")
    # The server closes each idle connection once its read timeout passes (EOF, or a reset).
    closed = []
    deadline = started + SERVER_REQUEST_TIMEOUT + 3
    for s in idle:
        try:
            s.settimeout(max(deadline - time.monotonic(), 0.01))
            closed.append(s.recv(1) == b"")
        except ConnectionResetError:
            closed.append(True)
        except socket.timeout:
            closed.append(False)
        s.close()
    waited = time.monotonic() - started
    check(all(closed), f"idle connections closed by the server within {SERVER_REQUEST_TIMEOUT + 3} s: {closed}")
    print(f"idle connections closed after {waited:.1f} s")
    check(ask(port, active[1]), "answered after the idle connections went")


def case_concurrent(server, port):
    n = 1000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n + 64:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 64), hard))
    started = time.monotonic()
    conns, wrong, errors = [], [], []
    try:
        # All connected before any request is sent: the server must take them all at once.
        for i in range(n):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
            conn.connect()
            conns.append((conn, cases[i % len(cases)]))
        for conn, c in conns:
            send(conn, c)
        for conn, c in conns:
            resp = conn.getresponse()
            if not answered_as_duende(c, resp, resp.read().decode()):
                wrong.append(c["name"])
    except OSError as e:
        errors.append(f"after {len(conns)} connections: {e!r}")
    finally:
        for conn, _ in conns:
            conn.close()
    took = time.monotonic() - started
    print(f"{n} concurrent clients: {took:.2f} s")
    check(not errors and len(conns) == n, f"{n} clients connected and answered: {errors}")
    check(not wrong, f"answers as Duende gave them: {len(wrong)} differ, e.g. {wrong[:3]}")
    check(server.poll() is None, "server alive")


server, port = start_server(server_bin, fixtures)
try:
    {"reset": case_reset, "idle": case_idle, "concurrent": case_concurrent}[which](server, port)
finally:
    if server.poll() is None:
        server.terminate()
    try:
        status = server.wait(timeout=SERVER_REQUEST_TIMEOUT + 5)
    except subprocess.TimeoutExpired:
        server.kill()
        status = "none: killed"
    check(status == 0, f"server stopped cleanly on SIGTERM (exit status {status})")
print(f"{which}: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
