#!/usr/bin/env python3
"""Adds the seed inputs of every fuzz target to fuzz/corpus/TARGET/ from the real Duende
fixtures (tests/fixtures/duende) and a few hand-made edge cases (signing keys are generated
with openssl). The committed corpora are these seeds plus what fuzzing found, minimised with
`scripts/fuzz.sh --minimize`; rerun this only to seed a new target or a fresh corpus."""
import base64, hashlib, json, os, shutil, subprocess, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "..", "tests", "fixtures", "duende")
OUT = os.path.join(HERE, "corpus")
SEP = b"\xff"  # the part separator of split_parts / split inputs (never in UTF-8)


def load(name):
    with open(os.path.join(FIX, name), encoding="utf-8") as f:
        return json.load(f)


grants = load("grants.json")
cases = load("introspection.json")
secrets = load("secrets.json")["secrets"]
jwks = load("signing-jwks.json")["keys"]
with open(os.path.join(FIX, "keyring", "key-3e8fa111-b37f-4806-a7d7-20ddc589534f.xml"), "rb") as f:
    key_xml = f.read()

seeds = {}


def add(target, data):
    if isinstance(data, str):
        data = data.encode("utf-8")
    seeds.setdefault(target, []).append(data)


def pick(rows, per_kind=2):
    """A few rows of each (container, protection) kind: the fixtures repeat themselves."""
    seen, out = {}, []
    for g in rows:
        d = g["data"]
        kind = (d[:40], g.get("data_protected"), g["type"])
        if seen.get(kind, 0) < per_kind:
            seen[kind] = seen.get(kind, 0) + 1
            out.append(g)
    return out


for g in grants:
    if g["type"] == "refresh_token" and len(seeds.get("refresh_token", [])) < 6:
        add("refresh_token", b"\x00" + g["data"].encode())
        if g.get("payload"):
            add("refresh_token", b"\x01" + g["payload"].encode())
rows = pick(grants)
for g in rows:
    add("data_column", g["data"])
    if g.get("payload"):
        add("token_json", g["payload"])
    add("store_key", g["handle"].encode() + SEP + g["grant_type"].encode())
    add("ffi_entry_points", bytes([5, 16]) + g["handle"].encode() + SEP + g["type"].encode() + SEP + g["data"].encode())
    if g.get("data_protected"):
        payload = json.loads(g["data"])["Payload"]
        add("dp_unprotect_str", b"\x00" + payload.encode())
        add("base64url", payload)
        raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        add("dp_unprotect_bytes", b"\x00" + raw)
    for date in (g["creation_time"], g["expiration"]):
        if date:
            add("instant", date.replace(" ", "T") + "Z")
add("data_column", '{"PersistentGrantDataContainerVersion":2,"Payload":"{}"}')
add("data_column", '{"PersistentGrantDataContainerVersion":1,"DataProtected":true,"Payload":"CfDJ8"}')
add("token_json", '{"CreationTime":"2024-01-01T00:00:00+14:00","Lifetime":-1,"Claims":[{"Type":"x","Value":"1e400","ValueType":"http://www.w3.org/2001/XMLSchema#double"}]}')
add("store_key", b"ABC" + SEP + b"reference_token")
add("store_key", b"")
for s in ("2024-02-29T12:34:56.1234567Z", "2024-01-01T00:00:00+02:00", "0001-01-01T00:00:00Z",
          "9999-12-31T23:59:59.9999999Z", "2024-01-01T00:00", "2024-05-06T07:08:09.123456789Z"):
    add("instant", s)

# Introspection requests: the endpoint's inputs.
for c in cases[:60]:
    r = c["request"]
    auth = r.get("authorization")
    if auth:
        add("basic_header", b"\xff" + auth.encode())
    add("form_body", r["form"] or "")
    if c.get("body", "").startswith("{") and len(seeds.get("jwt", [])) < 10:
        add("jwt", b"https://idsvr.test" + SEP + c["caller"].get("name", "client1").encode() + SEP + c["body"].encode())
for h in ("Basic ", "basic Y2xpZW50MTpjbGllbnQxLXNlY3JldA==", "Basic Y2xpZW50JTIwMTpzJTNB+Kw==",
          "Basic OmFiYw==", "Basic  Y2xpZW50MTo= "):
    add("basic_header", b"\xff" + h.encode())
for f in ("token=a&token=b", "token=%00", "client_id=api1&client_secret=api1-secret&token=X&token_type_hint=refresh_token",
          "token=%E2%82%AC+%C3&%FF=1&"):
    add("form_body", f)
for c in cases:
    if c.get("body", "").startswith("{"):
        add("json", c["body"])
        break
for j in ('{"x5t#S256":"a<b","n":[1.50,-2e3,true,null],"u":"\\u00e9"}', '"\\ud83d\\ude00"', "[[[[1]]]]"):
    add("json", j)

# Secrets: presented, then stored values.
for s in secrets:
    add("secret_verify", b"\x00" + s["secret"].encode() + SEP + s["stored"].encode())
add("secret_verify", b"\x01x" + SEP + b"QQ==" + SEP + secrets[0]["stored"].encode())

# Key rings: the real key, and keys of the other algorithm families and a revocation.
add("keyring_xml", key_xml)
revocation = (b'<?xml version="1.0" encoding="utf-8"?>\n<revocation version="1">\n  <revocationDate>2026-11-26T00:00:00Z</revocationDate>\n'
              b'  <key id="3e8fa111-b37f-4806-a7d7-20ddc589534f" />\n  <reason>test</reason>\n</revocation>')
add("keyring_xml", key_xml + SEP + revocation)
add("keyring_xml", key_xml.replace(b"AES_256_CBC", b"AES_128_GCM").replace(b'<validation algorithm="HMACSHA256" />', b""))
add("keyring_xml", key_xml.replace(b'<masterKey p4:requiresEncryption="true" xmlns:p4="http://schemas.asp.net/2015/03/dataProtection">',
                                   b'<encryptedSecret decryptorType="Microsoft.AspNetCore.DataProtection.XmlEncryption.DpapiXmlDecryptor, Microsoft.AspNetCore.DataProtection" xmlns="http://schemas.asp.net/2015/03/dataProtection"><encryptedKey><value>AQ==</value></encryptedKey></encryptedSecret><masterKey>'))

# Key files: UTF-8 with its byte-order mark (as written), without, and UTF-16 both ways.
text = key_xml.decode("utf-8-sig")
for data in (key_xml, text.encode(), b"\xff\xfe" + text.encode("utf-16-le"), b"\xfe\xff" + text.encode("utf-16-be"),
             revocation):
    add("keyring_file", data)

# Protect / unprotect through the C ABI: purpose, then plaintext.
add("ffi_entry_points", bytes([6, 200]) + b"PersistentGrantSerializer" + SEP + rows[0].get("payload", "x").encode())
for sel, text in ((0, b"\x20\x00"), (1, b"\x40api1-secret"), (2, b"\x50D32C8F84DC52290EEAA3283728A4BD36C16B65D1B5466C372DA26B4CB4BB65B3-1"),
                  (3, b'\x40{"x5t#S256":"abc"}'), (7, b"\x10\x14\x00")):
    add("ffi_entry_points", bytes([sel]) + text)

# Signing keys, made with openssl: PKCS#8 and SEC1 P-256, PKCS#8 and PKCS#1 RSA 2048.
tmp = tempfile.mkdtemp()


def openssl(*args, data=None):
    return subprocess.run(["openssl", *args], input=data, capture_output=True, check=True).stdout


def der_ints(der):
    """The INTEGERs of a DER SEQUENCE (PKCS#1 RSAPrivateKey), as big-endian bytes."""
    def length(b, i):
        n = b[i]
        if n < 0x80:
            return n, i + 1
        k = n & 0x7F
        return int.from_bytes(b[i + 1:i + 1 + k], "big"), i + 1 + k
    assert der[0] == 0x30
    _, i = length(der, 1)
    out = []
    while i < len(der):
        assert der[i] == 0x02
        n, j = length(der, i + 1)
        out.append(der[j:j + n].lstrip(b"\x00") or b"\x00")
        i = j + n
    return out


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


ec = openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256")
rsa = openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048")
for sel, pem in ((0, ec), (3, openssl("ec", "-outform", "PEM", data=ec)), (0, rsa), (2, openssl("rsa", "-traditional", data=rsa)),
                 (0, openssl("pkey", "-pubout", data=rsa)), (0, openssl("pkey", "-pubout", data=ec))):
    add("signing_key_pem", bytes([sel]) + pem)
ints = der_ints(openssl("rsa", "-traditional", "-outform", "DER", data=rsa))
_, n, e, d, p, q = ints[:6]
add("signing_key_jwk", b"\x00" + json.dumps({"kty": "RSA", "n": b64u(n), "e": b64u(e), "d": b64u(d), "p": b64u(p), "q": b64u(q), "kid": "rsa"}).encode())
add("signing_key_jwk", b"\x02" + json.dumps({"kty": "RSA", "n": b64u(n), "e": b64u(e), "d": b64u(d), "alg": "PS256"}).encode())
d_ec = hashlib.sha256(b"reftoken-fixtures ES256 signing key").digest()
priv = dict(jwks[0], d=b64u(d_ec))
add("signing_key_jwk", b"\x00" + json.dumps(priv).encode())
add("signing_key_jwk", b"\x03" + json.dumps(jwks[0]).encode())
shutil.rmtree(tmp)

# Structured targets (arbitrary): a few byte strings to start from.
for t in ("grant_roundtrip", "introspect", "dp_roundtrip", "http_request"):
    add(t, b"")
    add(t, bytes(range(256)))
    add(t, (rows[0].get("payload") or "").encode())
add("http_request", b"\x01\x00" + cases[0]["request"]["form"].encode())

for target, items in sorted(seeds.items()):
    os.makedirs(os.path.join(OUT, target), exist_ok=True)
    for data in items:
        name = hashlib.sha1(data).hexdigest()
        with open(os.path.join(OUT, target, name), "wb") as f:
            f.write(data)
    print(f"{target}: {len(items)} seeds")
