//! The `reftoken` command line: every verb, `--help`, exit codes, stdin, and values checked
//! against what a real Duende IdentityServer 7.4.8 stored (tests/fixtures/duende).

mod common;

use common::{APP_NAME, fixture, load, reftoken};

const VERBS: [&str; 8] = [
    "handle",
    "key",
    "decode",
    "unprotect",
    "protect",
    "secret-hash",
    "introspect",
    "watch",
];

fn is_upper_hex(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
}

#[test]
fn help_for_the_tool_and_every_verb() {
    let top = reftoken(&["--help"], None);
    assert_eq!(top.code, 0);
    for verb in VERBS {
        assert!(
            top.stdout.contains(&format!("  {verb} ")),
            "{verb} listed in --help"
        );
        for flag in ["--help", "-h"] {
            let r = reftoken(&[verb, flag], None);
            assert_eq!(r.code, 0, "{verb} {flag}");
            assert!(
                r.stdout.contains(&format!("Usage: reftoken {verb}")),
                "{verb} {flag}: {}",
                r.stdout
            );
            assert!(r.stderr.is_empty());
        }
        let r = reftoken(&["help", verb], None);
        assert_eq!(r.code, 0);
        assert!(r.stdout.contains(&format!("Usage: reftoken {verb}")));
    }
    // The flags of the fixed interface are all documented.
    let documented: [(&str, &[&str]); 7] = [
        (
            "introspect",
            &[
                "--api",
                "--scope",
                "--client",
                "--now",
                "--keyring",
                "--app-name",
                "--data",
                "--sqlite",
                "--postgres",
                "HANDLE",
            ],
        ),
        (
            "watch",
            &["--postgres", "--redis", "--channel", "reftoken_revocations"],
        ),
        ("decode", &["--keyring"]),
        ("protect", &["--purpose"]),
        ("secret-hash", &["--sha512"]),
        ("key", &["--grant-type"]),
        ("handle", &["--length"]),
    ];
    for (verb, flags) in documented {
        let help = reftoken(&[verb, "--help"], None).stdout;
        for flag in flags {
            assert!(help.contains(flag), "{verb} --help names {flag}");
        }
    }
    let v = reftoken(&["--version"], None);
    assert_eq!(v.code, 0);
    assert!(v.stdout.starts_with("reftoken "));
}

mod usage_errors {
    use crate::common::fixture;

    crate::exits! { 2 =>
        no_arguments: [];
        unknown_verb: ["no-such-verb"];
        handle_length_0: ["handle", "--length", "0"];
        handle_length_over_65536: ["handle", "--length", "65537"];
        handle_length_not_a_number: ["handle", "--length", "x"];
        handle_extra_argument: ["handle", "extra"];
        key_two_handles: ["key", "A", "B"];
        key_unknown_flag: ["key", "--bogus", "A"];
        secret_hash_sha384: ["secret-hash", "--sha384", "x"];
        unprotect_without_keyring: ["unprotect", "CfDJ8"];
        unprotect_without_purposes: ["unprotect", "--keyring", &fixture("keyring"), "CfDJ8"];
        protect_without_purposes: ["protect", "--keyring", &fixture("keyring"), "text"];
        introspect_without_caller: ["introspect", "--sqlite", "x.db", "H"];
        introspect_api_without_scope: ["introspect", "--api", "api1", "--sqlite", "x.db", "H"];
        introspect_scope_without_api: ["introspect", "--scope", "s", "--sqlite", "x.db", "H"];
        introspect_api_and_client: [
            "introspect", "--api", "api1", "--scope", "s", "--client", "c", "--sqlite", "x.db", "H",
        ];
        introspect_without_store: ["introspect", "--client", "c", "H"];
        introspect_data_and_handle: ["introspect", "--client", "c", "--data", "{}", "H"];
        introspect_data_and_store: ["introspect", "--client", "c", "--data", "{}", "--sqlite", "x.db"];
        introspect_two_stores: [
            "introspect", "--client", "c", "--sqlite", "x.db", "--postgres", "u", "H",
        ];
        introspect_keyring_without_app_name: [
            "introspect", "--client", "c", "--keyring", &fixture("keyring"), "--sqlite", "x.db", "H",
        ];
        introspect_app_name_without_keyring: [
            "introspect", "--client", "c", "--app-name", "a", "--sqlite", "x.db", "H",
        ];
        introspect_now_not_a_number: [
            "introspect", "--client", "c", "--now", "soon", "--sqlite", "x.db", "H",
        ];
        introspect_now_out_of_range: [
            "introspect", "--client", "c", "--now", "999999999999", "--data", "{}",
        ];
    }
}

/// A Data column that says its payload is protected, with no real payload.
const PROTECTED_DATA: &str =
    r#"{"PersistentGrantDataContainerVersion":1,"DataProtected":true,"Payload":"CfDJ8x"}"#;

/// A payload Duende protected, tampered with.
fn tampered_payload() -> String {
    let data: serde_json::Value =
        serde_json::from_str(load("grants.json")[0]["data"].as_str().unwrap()).unwrap();
    let mut tampered = data["Payload"].as_str().unwrap().to_owned();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    tampered
}

mod failures {
    use super::{PROTECTED_DATA, tampered_payload};
    use crate::common::{APP_NAME, fixture};

    crate::fails! {
        key_of_a_handle_too_long: ["key", &"A".repeat(4097)] => "handle";
        decode_not_json: ["decode", "not json"] => "malformed";
        decode_container_version_2: [
            "decode", r#"{"PersistentGrantDataContainerVersion":2,"Payload":"{}"}"#,
        ] => "version 2";
        decode_payload_not_json: [
            "decode",
            r#"{"PersistentGrantDataContainerVersion":1,"DataProtected":false,"Payload":"nope"}"#,
        ] => "not JSON";
        decode_protected_without_keyring: ["decode", PROTECTED_DATA] => "--keyring";
        decode_with_a_missing_keyring: [
            "decode", "--keyring", "/nonexistent", PROTECTED_DATA,
        ] => "/nonexistent";
        unprotect_tampered: [
            "unprotect", "--keyring", &fixture("keyring"), "--app-name", APP_NAME,
            "--purpose", "PersistentGrantSerializer", &tampered_payload(),
        ] => "unprotected";
        unprotect_malformed: [
            "unprotect", "--keyring", &fixture("keyring"), "--app-name", APP_NAME, "***",
        ] => "malformed";
        introspect_missing_sqlite_file: [
            "introspect", "--client", "c", "--sqlite", "/nonexistent.db", "H-1",
        ] => "/nonexistent.db";
        introspect_malformed_data: ["introspect", "--client", "c", "--data", "{"] => "malformed";
        introspect_protected_data_without_keyring: [
            "introspect", "--client", "c", "--data", PROTECTED_DATA,
        ] => "--keyring";
        introspect_unreachable_postgres: [
            "introspect", "--client", "c",
            "--postgres", "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2", "H-1",
        ] => "PostgreSQL";
    }
}

#[test]
fn introspect_fails_on_a_database_without_the_grants_table() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty.db");
    rusqlite::Connection::open(&empty)
        .unwrap()
        .execute_batch("CREATE TABLE t (x);")
        .unwrap();
    let r = reftoken(
        &[
            "introspect",
            "--client",
            "c",
            "--sqlite",
            empty.to_str().unwrap(),
            &format!("{}-1", "A".repeat(64)),
        ],
        None,
    );
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("PersistedGrants"), "{}", r.stderr);
}

#[test]
fn handles() {
    let h = reftoken(&["handle"], None);
    let h = h.line();
    assert_eq!(h.len(), 66);
    assert!(h.ends_with("-1") && is_upper_hex(&h[..64]), "{h}");
    let again = reftoken(&["handle", "--length", "32"], None);
    assert_ne!(again.line(), h, "random");
    assert!(again.line().ends_with("-1"));
    for n in [1usize, 16, 31, 33, 64, 65536] {
        let r = reftoken(&["handle", "--length", &n.to_string()], None);
        let s = r.line();
        assert_eq!(s.len(), 2 * n, "--length {n}");
        assert!(
            is_upper_hex(s),
            "--length {n}: uppercase hex without a suffix"
        );
    }
}

#[test]
fn keys_match_duende() {
    let grants = load("grants.json");
    let mut n = 0;
    for g in grants.as_array().unwrap() {
        let (handle, grant_type, key) = (
            g["handle"].as_str().unwrap(),
            g["grant_type"].as_str().unwrap(),
            g["key"].as_str().unwrap(),
        );
        let r = reftoken(&["key", handle, "--grant-type", grant_type], None);
        assert_eq!(r.line(), key, "{}", g["name"]);
        if grant_type == "reference_token" {
            assert_eq!(
                reftoken(&["key", handle], None).line(),
                key,
                "default grant type"
            );
            // stdin, with and without `-`, with a trailing line ending or none.
            assert_eq!(
                reftoken(&["key"], Some(format!("{handle}\n").as_bytes())).line(),
                key
            );
            assert_eq!(
                reftoken(&["key", "-"], Some(format!("{handle}\r\n").as_bytes())).line(),
                key
            );
            assert_eq!(reftoken(&["key", "-"], Some(handle.as_bytes())).line(), key);
        }
        n += 1;
    }
    assert!(n >= 100, "{n} keys");
    // Only one line ending is removed: the rest is part of the handle.
    let r = reftoken(&["key"], Some(b"ABC-1\n\n"));
    assert_ne!(r.line(), reftoken(&["key", "ABC-1"], None).line());
    // Not UTF-8 on stdin.
    let r = reftoken(&["key"], Some(b"\xff\xfe"));
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("UTF-8"));
}

#[test]
fn secret_hashes_match_duende() {
    let secrets = load("secrets.json");
    let list = secrets["secrets"].as_array().unwrap();
    assert!(list.len() >= 6);
    for s in list {
        let (secret, stored) = (s["secret"].as_str().unwrap(), s["stored"].as_str().unwrap());
        let mut args = vec!["secret-hash"];
        if s["hash"] == "sha512" {
            args.push("--sha512");
        }
        args.push(secret);
        assert_eq!(reftoken(&args, None).line(), stored, "{}", s["name"]);
        args.pop();
        assert_eq!(
            reftoken(&args, Some(format!("{secret}\n").as_bytes())).line(),
            stored,
            "stdin"
        );
        args.push("-");
        assert_eq!(
            reftoken(&args, Some(secret.as_bytes())).line(),
            stored,
            "stdin with -"
        );
    }
    // Empty or white-space secrets hash to the empty string, as in IdentityServer; an empty
    // stdin is refused (tests/traps.rs), white space on it is not.
    assert_eq!(reftoken(&["secret-hash", ""], None).line(), "");
    assert_eq!(
        reftoken(&["secret-hash", "--sha512", " \t"], None).line(),
        ""
    );
    assert_eq!(reftoken(&["secret-hash"], Some(b" \n")).line(), "");
    // `secret` itself (IdentityServer's documentation example).
    assert_eq!(
        reftoken(&["secret-hash", "secret"], None).line(),
        "K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols="
    );
}

#[test]
fn decode_matches_duende_payloads() {
    let grants = load("grants.json");
    let ring = fixture("keyring");
    let (mut plain, mut protected, mut unreadable) = (0, 0, 0);
    for g in grants.as_array().unwrap() {
        let name = g["name"].as_str().unwrap();
        let data = g["data"].as_str().unwrap();
        let with_ring = ["decode", "--keyring", &ring, "--app-name", APP_NAME, data];
        match g["payload"].as_str() {
            Some(payload) => {
                assert_eq!(reftoken(&with_ring, None).line(), payload, "{name}");
                let via_stdin = reftoken(
                    &["decode", "--keyring", &ring, "--app-name", APP_NAME],
                    Some(data.as_bytes()),
                );
                assert_eq!(via_stdin.line(), payload, "{name} via stdin");
                if g["data_protected"] == true {
                    protected += 1;
                    let r = reftoken(&["decode", data], None);
                    assert_eq!(r.code, 1, "{name}: protected without a key ring");
                    assert!(r.stderr.contains("--keyring"));
                    // Another application name is another purpose chain.
                    let r = reftoken(
                        &[
                            "decode",
                            "--keyring",
                            &ring,
                            "--app-name",
                            "another-app",
                            data,
                        ],
                        None,
                    );
                    assert_eq!(r.code, 1, "{name}");
                } else {
                    plain += 1;
                    assert_eq!(
                        reftoken(&["decode", data], None).line(),
                        payload,
                        "{name} needs no key ring"
                    );
                    assert_eq!(
                        reftoken(&["decode", "-"], Some(format!("{data}\n").as_bytes())).line(),
                        payload
                    );
                }
            }
            None => {
                // IdentityServer could not read these rows either.
                let r = reftoken(&with_ring, None);
                assert_eq!(r.code, 1, "{name}: {r:?}");
                assert!(r.stdout.is_empty());
                unreadable += 1;
            }
        }
    }
    assert!(
        protected >= 40 && plain >= 50 && unreadable == 6,
        "{protected} protected, {plain} plain, {unreadable} unreadable"
    );
}

/// A copy of the fixture key ring whose key may protect for centuries (its dates are not
/// authenticated: only the master key matters).
fn lasting_keyring(dir: &std::path::Path) {
    for entry in std::fs::read_dir(fixture("keyring")).unwrap() {
        let path = entry.unwrap().path();
        let xml = std::fs::read_to_string(&path).unwrap();
        let mut out = String::new();
        let mut rest = xml.as_str();
        for (tag, value) in [
            ("creationDate", "2000-01-01T00:00:00Z"),
            ("activationDate", "2000-01-01T00:00:00Z"),
            ("expirationDate", "2999-01-01T00:00:00Z"),
        ] {
            let open = format!("<{tag}>");
            let close = format!("</{tag}>");
            let a = rest.find(&open).unwrap() + open.len();
            let b = rest.find(&close).unwrap();
            out.push_str(&rest[..a]);
            out.push_str(value);
            rest = &rest[b..];
        }
        out.push_str(rest);
        std::fs::write(dir.join(path.file_name().unwrap()), out).unwrap();
    }
}

#[test]
fn unprotect_reads_what_duende_protected() {
    let grants = load("grants.json");
    let ring = fixture("keyring");
    // `unprotect --keyring RING CHAIN... PAYLOAD`.
    let unprotect = |chain: &[&str], payload: &str, stdin: Option<&[u8]>| {
        let mut args = vec!["unprotect", "--keyring", ring.as_str()];
        args.extend_from_slice(chain);
        args.push(payload);
        reftoken(&args, stdin)
    };
    let mut n = 0;
    for g in grants.as_array().unwrap() {
        let (Some(payload), true) = (g["payload"].as_str(), g["data_protected"] == true) else {
            continue;
        };
        let data: serde_json::Value = serde_json::from_str(g["data"].as_str().unwrap()).unwrap();
        let protected = data["Payload"].as_str().unwrap();
        let r = unprotect(
            &[
                "--app-name",
                APP_NAME,
                "--purpose",
                "PersistentGrantSerializer",
            ],
            protected,
            None,
        );
        assert_eq!(r.line(), payload);
        // The same chain without the application name's special place.
        let r = unprotect(
            &[
                "--purpose",
                APP_NAME,
                "--purpose",
                "PersistentGrantSerializer",
            ],
            "-",
            Some(protected.as_bytes()),
        );
        assert_eq!(r.line(), payload);
        // Wrong purpose chains fail.
        for chain in [
            &["--app-name", APP_NAME][..],
            &["--purpose", "PersistentGrantSerializer"],
            &["--app-name", APP_NAME, "--purpose", "Other"],
        ] {
            let r = unprotect(chain, protected, None);
            assert_eq!(r.code, 1, "{chain:?}");
        }
        n += 1;
    }
    assert!(n >= 40);
}

#[test]
fn protect_round_trips() {
    let tmp = tempfile::tempdir().unwrap();
    lasting_keyring(tmp.path());
    let ring = tmp.path().to_str().unwrap();
    // `VERB --keyring RING --app-name app [--purpose P]... LAST...`.
    let chain = |verb: &str, purposes: &[&str], last: &[&str], stdin: Option<&[u8]>| {
        let mut args = vec![verb, "--keyring", ring, "--app-name", "app"];
        for p in purposes {
            args.extend(["--purpose", p]);
        }
        args.extend_from_slice(last);
        reftoken(&args, stdin)
    };
    for text in [
        "hello",
        "",
        "é 😀 <>&\"'",
        "line one\nline two",
        "-starts-with-a-dash",
    ] {
        let p = chain("protect", &["p1", "p2"], &["--", text], None);
        let payload = p.line().to_owned();
        assert!(payload.starts_with("CfDJ8"), "{payload}");
        assert!(
            payload
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "base64url"
        );
        let u = chain("unprotect", &["p1", "p2"], &[&payload], None);
        assert_eq!(u.line(), text);
        // Through a pipe: unprotect's output line is protect's stdin.
        let again = chain("protect", &[], &[], Some(format!("{text}\n").as_bytes()));
        let back = chain("unprotect", &[], &[], Some(again.stdout.as_bytes()));
        assert_eq!(back.line(), text);
        // Other purposes cannot read it.
        let r = chain("unprotect", &["p1"], &[&payload], None);
        assert_eq!(r.code, 1);
    }
    // Random: two protections of one text differ.
    let a = reftoken(&["protect", "--keyring", ring, "--purpose", "p", "x"], None);
    let b = reftoken(&["protect", "--keyring", ring, "--purpose", "p", "x"], None);
    assert_ne!(a.line(), b.line());
    // A row protected by the CLI reads back as IdentityServer's serializer would.
    let token = r#"{"Audiences":["api1"],"Issuer":"https://idsvr.test","CreationTime":"2025-03-01T11:59:00Z","Lifetime":3600,"Type":"access_token","ClientId":"client1","AccessTokenType":1,"Claims":[{"Type":"client_id","Value":"client1"},{"Type":"scope","Value":"api1.read"}],"Version":5}"#;
    let p = reftoken(
        &[
            "protect",
            "--keyring",
            ring,
            "--app-name",
            APP_NAME,
            "--purpose",
            "PersistentGrantSerializer",
            token,
        ],
        None,
    );
    let data = format!(
        r#"{{"PersistentGrantDataContainerVersion":1,"DataProtected":true,"Payload":"{}"}}"#,
        p.line()
    );
    assert_eq!(
        reftoken(
            &["decode", "--keyring", ring, "--app-name", APP_NAME, &data],
            None
        )
        .line(),
        token
    );
    // An expired key ring cannot protect.
    let old = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(tmp.path()).unwrap() {
        let path = entry.unwrap().path();
        let xml = std::fs::read_to_string(&path)
            .unwrap()
            .replace("2999-01-01T00:00:00Z", "2001-01-01T00:00:00Z");
        std::fs::write(old.path().join(path.file_name().unwrap()), xml).unwrap();
    }
    let r = reftoken(
        &[
            "protect",
            "--keyring",
            old.path().to_str().unwrap(),
            "--purpose",
            "p",
            "x",
        ],
        None,
    );
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("no key"), "{}", r.stderr);
}

#[test]
fn output_is_one_line_on_stdout() {
    // Every verb prints exactly its value and one newline, nothing on stderr.
    let ring = fixture("keyring");
    let grants = load("grants.json");
    let g = &grants[0];
    let runs = [
        reftoken(&["handle"], None),
        reftoken(&["key", g["handle"].as_str().unwrap()], None),
        reftoken(
            &[
                "decode",
                "--keyring",
                &ring,
                "--app-name",
                APP_NAME,
                g["data"].as_str().unwrap(),
            ],
            None,
        ),
        reftoken(&["secret-hash", "s"], None),
        reftoken(
            &[
                "introspect",
                "--client",
                "client1",
                "--now",
                "1740830400",
                "--keyring",
                &ring,
                "--app-name",
                APP_NAME,
                "--data",
                g["data"].as_str().unwrap(),
            ],
            None,
        ),
    ];
    for r in runs {
        assert_eq!(r.code, 0, "{r:?}");
        assert!(r.stderr.is_empty(), "{r:?}");
        assert_eq!(r.stdout.matches('\n').count(), 1, "{r:?}");
        assert!(r.stdout.ends_with('\n'));
    }
}
