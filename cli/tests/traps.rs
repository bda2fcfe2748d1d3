//! Traps a new user fell into: how `--scope` repeats, stdin (empty, endless, a terminal), a
//! missing or wrong application name, and `{"active":false}` without a reason.

mod common;

use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::stores::{sqlite_clients, sqlite_copy};
use common::{APP_NAME, Case, cases, db_file, fixture, introspect_args, load, reftoken, without};

const INACTIVE: &str = r#"{"active":false}"#;

fn case(name: &str) -> Case {
    cases()
        .into_iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no case {name}"))
}

/// The Data column of the row `name` in the protected database.
fn protected_data(name: &str) -> String {
    load("grants.json")
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == name && g["db"] == db_file("protected"))
        .unwrap_or_else(|| panic!("no row {name}"))["data"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The protected payload inside a Data column.
fn payload_of(data: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(data).unwrap();
    v["Payload"].as_str().unwrap().to_owned()
}

#[test]
fn scope_repeats_or_takes_one_space_separated_list() {
    let basic = case("basic/api1");
    let (ring, db) = (fixture("keyring"), fixture(db_file("protected")));
    let run = |scopes: &[&str]| {
        let mut args: Vec<&str> = vec!["introspect", "--api", "api1"];
        args.extend_from_slice(scopes);
        args.extend([
            "--now",
            "1740830400",
            "--keyring",
            &ring,
            "--app-name",
            APP_NAME,
            "--sqlite",
            &db,
            &basic.handle,
        ]);
        reftoken(&args, None)
    };
    // The forms the usage line and --help show: the flag repeated, or one quoted list.
    assert_eq!(
        run(&["--scope", "api1.read", "--scope", "api1.write"]).line(),
        basic.body
    );
    assert_eq!(run(&["--scope", "api1.read api1.write"]).line(), basic.body);
    // Unquoted, the second scope is no scope: a usage error showing the usage line, not an
    // answer for the wrong handle.
    let r = run(&["--scope", "api1.read", "api1.write"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stdout.is_empty());
    assert!(
        r.stderr.contains("--scope S [--scope S]..."),
        "{}",
        r.stderr
    );

    let usage = "Usage: reftoken introspect (--api NAME --scope S [--scope S]... | --client ID) \
                 [--now UNIX_SECONDS] [--keyring DIR --app-name NAME] [--explain] (--data DATA \
                 | (--sqlite FILE | --postgres URL) [HANDLE])";
    for flag in ["-h", "--help"] {
        let help = reftoken(&["introspect", flag], None).stdout;
        assert!(help.contains(usage), "{help}");
        assert!(help.contains("--scope 'a b'") && help.contains("--scope a --scope b"));
    }
    let page = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/reftoken.1"),
    )
    .unwrap();
    assert!(
        page.contains(".RB [ \\-\\-scope\n.IR S ]...") && page.contains("\\-\\-scope 'a b'"),
        "the man page shows how --scope repeats"
    );
}

/// A copy of the fixture key ring whose key may protect at any time now (its dates are not
/// authenticated).
fn lasting_keyring(dir: &Path) {
    for entry in std::fs::read_dir(fixture("keyring")).unwrap() {
        let path = entry.unwrap().path();
        let mut xml = std::fs::read_to_string(&path).unwrap();
        for (tag, value) in [
            ("activationDate", "2000-01-01T00:00:00Z"),
            ("expirationDate", "2999-01-01T00:00:00Z"),
        ] {
            let a = xml.find(&format!("<{tag}>")).unwrap() + tag.len() + 2;
            let b = xml.find(&format!("</{tag}>")).unwrap();
            xml.replace_range(a..b, value);
        }
        std::fs::write(dir.join(path.file_name().unwrap()), xml).unwrap();
    }
}

#[test]
fn empty_stdin_is_an_error_except_for_protect() {
    let ring = fixture("keyring");
    let db = fixture(db_file("unprotected"));
    let verbs: &[(&[&str], &str)] = &[
        (&["key"], "the handle"),
        (&["key", "-"], "the handle"),
        (&["secret-hash"], "the secret"),
        (&["secret-hash", "--sha512", "-"], "the secret"),
        (&["decode"], "the Data column"),
        (
            &["unprotect", "--keyring", &ring, "--app-name", APP_NAME],
            "the payload",
        ),
        (
            &["introspect", "--client", "c", "--sqlite", &db],
            "the handle",
        ),
        (
            &["introspect", "--client", "c", "--data", "-"],
            "the Data column",
        ),
    ];
    for (args, what) in verbs {
        for stdin in [&b""[..], b"\n", b"\r\n"] {
            let r = reftoken(args, Some(stdin));
            assert_eq!(r.code, 1, "{args:?} {stdin:?}: {r:?}");
            assert!(r.stdout.is_empty());
            assert_eq!(
                r.stderr,
                format!(
                    "reftoken: error: {what} read from stdin is empty: give it as an argument \
                     or pipe it in\n"
                ),
                "{args:?}"
            );
        }
    }
    // ASP.NET Core protects the empty string (only null is refused), and unprotects it back.
    let tmp = tempfile::tempdir().unwrap();
    lasting_keyring(tmp.path());
    let ring = tmp.path().to_str().unwrap();
    let p = reftoken(
        &["protect", "--keyring", ring, "--app-name", "app"],
        Some(b"\n"),
    );
    let payload = p.line().to_owned();
    assert!(payload.starts_with("CfDJ8"), "{p:?}");
    let u = reftoken(
        &[
            "unprotect",
            "--keyring",
            ring,
            "--app-name",
            "app",
            &payload,
        ],
        None,
    );
    assert_eq!(u.line(), "");
}

/// Runs `reftoken args...` with stdin from `path`; fails if it is not done within 20 s.
fn reftoken_stdin_from(args: &[&str], path: &str) -> (i32, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_reftoken"))
        .args(args)
        .stdin(File::open(path).unwrap())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("reftoken {args:?} < {path} still reads after 20 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn endless_stdin_stops_at_the_limit() {
    let ring = fixture("keyring");
    let db = fixture(db_file("unprotected"));
    let verbs: &[(&[&str], &str, usize)] = &[
        (&["secret-hash"], "the secret", 1 << 20),
        (&["key"], "the handle", 4096),
        (&["decode", "-"], "the Data column", 1 << 20),
        (
            &["unprotect", "--keyring", &ring, "--app-name", APP_NAME],
            "the payload",
            (1usize << 20).div_ceil(3) * 4,
        ),
        (
            &["protect", "--keyring", &ring, "--app-name", APP_NAME],
            "the text",
            1 << 20,
        ),
        (
            &["introspect", "--client", "c", "--sqlite", &db],
            "the handle",
            4096,
        ),
        (
            &["introspect", "--client", "c", "--data", "-"],
            "the Data column",
            1 << 20,
        ),
    ];
    for (args, what, max) in verbs {
        let (code, stderr) = reftoken_stdin_from(args, "/dev/zero");
        assert_eq!(code, 1, "{args:?}: {stderr}");
        assert_eq!(
            stderr,
            format!("reftoken: error: {what} on stdin is larger than the limit of {max} bytes\n")
        );
    }
    // The limit itself, with a line ending, is accepted; one byte more is not.
    let handle = "A".repeat(4096);
    let want = reftoken(&["key", &handle], None).line().to_owned();
    assert_eq!(
        reftoken(&["key"], Some(format!("{handle}\r\n").as_bytes())).line(),
        want
    );
    let r = reftoken(&["key"], Some(format!("{handle}A\n").as_bytes()));
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("larger than the limit of 4096"), "{r:?}");
}

#[test]
fn stdin_from_a_terminal_is_announced() {
    // Piped stdin: no announcement.
    let r = reftoken(&["key"], Some(b"ABC-1\n"));
    assert_eq!(r.line(), reftoken(&["key", "ABC-1"], None).line());
    assert!(r.stderr.is_empty(), "{}", r.stderr);

    // A pseudo-terminal from util-linux's `script`; its stdin is typed into the terminal
    // (0x04 is Ctrl-D). stderr goes to a file, stdout comes back with the echo. `script`
    // is in Debian's essential bsdutils, so its absence is a failure, not a skip.
    assert!(
        Command::new("script").arg("--version").output().is_ok(),
        "no `script` (util-linux, Debian's bsdutils) to make a pseudo-terminal"
    );
    let tmp = tempfile::tempdir().unwrap();
    let err = tmp.path().join("stderr");
    let through_terminal = |verb: &str, typed: &[u8]| {
        let cmd = format!(
            "'{}' {verb} 2>'{}'",
            env!("CARGO_BIN_EXE_reftoken"),
            err.display()
        );
        let mut child = Command::new("script")
            .args(["-q", "-e", "-c", &cmd, "/dev/null"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(typed).unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            std::fs::read_to_string(&err).unwrap(),
        )
    };
    let (code, stdout, stderr) = through_terminal("key", b"ABC-1\n\x04");
    assert_eq!(code, Some(0), "{stdout} {stderr}");
    assert_eq!(
        stderr,
        "reftoken: reading the handle from stdin (end with Ctrl-D)\n"
    );
    assert!(
        stdout.contains(reftoken(&["key", "ABC-1"], None).line()),
        "{stdout}"
    );
    let (code, _, stderr) = through_terminal("secret-hash", b"\x04");
    assert_eq!(code, Some(1));
    assert_eq!(
        stderr,
        "reftoken: reading the secret from stdin (end with Ctrl-D)\nreftoken: error: the secret \
         read from stdin is empty: give it as an argument or pipe it in\n"
    );
}

const APP_NAME_HINT: &str = "--app-name NAME sets it: what the host passes to \
                             SetApplicationName, else ASP.NET Core's default, the host's content \
                             root path)";

#[test]
fn a_missing_or_wrong_application_name_is_named() {
    let ring = fixture("keyring");
    let data = protected_data("basic");
    let payload = payload_of(&data);
    let fails_with = |args: &[&str], says: &str| {
        let r = reftoken(args, None);
        assert_eq!(r.code, 1, "{args:?}: {r:?}");
        assert!(r.stdout.is_empty());
        assert_eq!(
            r.stderr,
            format!(
                "reftoken: error: the payload could not be unprotected: the payload was invalid \
                 ({says}; {APP_NAME_HINT}\n"
            ),
            "{args:?}"
        );
    };
    fails_with(
        &["decode", "--keyring", &ring, &data],
        "the application name is probably missing",
    );
    fails_with(
        &[
            "decode",
            "--keyring",
            &ring,
            "--app-name",
            "another-app",
            &data,
        ],
        "the application name \"another-app\" is probably wrong",
    );
    fails_with(
        &[
            "unprotect",
            "--keyring",
            &ring,
            "--purpose",
            "PersistentGrantSerializer",
            &payload,
        ],
        "the application name is probably missing, or a --purpose is wrong",
    );
    fails_with(
        &[
            "unprotect",
            "--keyring",
            &ring,
            "--app-name",
            APP_NAME,
            &payload,
        ],
        &format!("the application name {APP_NAME:?} or the --purpose chain is probably wrong"),
    );
    // A row IdentityServer protected under another application name.
    let other = protected_data("data_protected_other_app_name");
    fails_with(
        &[
            "introspect",
            "--api",
            "api1",
            "--scope",
            "api1.read",
            "--keyring",
            &ring,
            "--app-name",
            APP_NAME,
            "--data",
            &other,
        ],
        &format!("the application name {APP_NAME:?} is probably wrong"),
    );
    // Payloads that are no Data Protection payload at all get no such hint.
    let r = reftoken(
        &[
            "unprotect",
            "--keyring",
            &ring,
            "--app-name",
            APP_NAME,
            "CfDJ8garbage",
        ],
        None,
    );
    assert_eq!(r.code, 1);
    assert!(!r.stderr.contains("--app-name"), "{}", r.stderr);

    // introspect needs the application name with the key ring, and says what it is.
    let basic = case("basic/api1");
    let mut args = without(introspect_args(&basic), "--app-name");
    args.extend([
        "--sqlite".into(),
        fixture(db_file("protected")),
        basic.handle.clone(),
    ]);
    let r = reftoken(&args, None);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stdout.is_empty());
    assert!(
        r.stderr.starts_with(&format!(
            "reftoken: error: --keyring needs --app-name NAME, the host's Data Protection \
             application name ({APP_NAME_HINT}\n"
        )),
        "{}",
        r.stderr
    );
}

#[test]
fn explain_says_why_a_token_is_inactive() {
    let tmp = tempfile::tempdir().unwrap();
    let db = sqlite_copy(tmp.path(), db_file("protected"), false);
    sqlite_clients(&db);
    let db = db.to_str().unwrap().to_owned();
    let key = |handle: &str, t: &str| {
        reftoken(&["key", handle, "--grant-type", t], None)
            .line()
            .to_owned()
    };
    // Runs `case` as Duende was asked (or with `caller` instead), with `flag`.
    let run = |c: &Case, caller: Option<&[&str]>, flag: Option<&str>| {
        let mut args = introspect_args(c);
        if let Some(caller) = caller {
            let at = args.iter().position(|a| a == "--now").unwrap();
            args.splice(1..at, caller.iter().map(|s| s.to_string()));
        }
        args.extend(flag.map(str::to_owned));
        args.extend(["--sqlite".to_owned(), db.clone(), c.handle.clone()]);
        reftoken(&args, None)
    };
    let explained = |c: &Case, caller: Option<&[&str]>| {
        let r = run(c, caller, Some("--explain"));
        // stdout stays exactly the response, with or without the explanation.
        assert_eq!(r.stdout, format!("{INACTIVE}\n"), "{}: {r:?}", c.name);
        assert_eq!(r.code, 0);
        let quiet = run(c, caller, None);
        assert_eq!(
            (quiet.stdout.as_str(), quiet.stderr.as_str()),
            (r.stdout.as_str(), "")
        );
        for synonym in ["-v", "--verbose"] {
            assert_eq!(run(c, caller, Some(synonym)).stderr, r.stderr, "{synonym}");
        }
        r.stderr
    };

    let expired = case("expired/api1");
    assert_eq!(
        explained(&expired, None),
        "reftoken: inactive: reference token: expired at 2025-03-01T11:00:00Z (exp 1740826800; \
         now is 2025-03-01T12:00:00Z)\n"
    );
    let unknown = case("unknown_handle/api1");
    assert_eq!(
        explained(&unknown, None),
        format!(
            "reftoken: inactive: reference token: unknown handle: no reference_token row with \
             Key {} (never issued here, revoked, or removed)\n",
            key(&unknown.handle, "reference_token")
        )
    );
    let basic = case("basic/api1");
    assert_eq!(
        explained(&basic, Some(&["--api", "api2", "--scope", "api2.read"])),
        "reftoken: inactive: reference token: none of its scopes [api1.read] is a scope of the \
         API \"api2\" (--scope: [api2.read])\n"
    );
    // A client caller: the reference token, then the refresh token IdentityServer also tries.
    assert_eq!(
        explained(&basic, Some(&["--client", "client2"])),
        format!(
            "reftoken: inactive: reference token: not this client's: issued to \"client1\", not \
             \"client2\"\nreftoken: inactive: refresh token: no refresh_token row with Key {}\n",
            key(&basic.handle, "refresh_token")
        )
    );
    let disabled = case("disabled_client_token/api1");
    assert_eq!(
        explained(&disabled, None),
        "reftoken: inactive: reference token: its client \"client3\" is unknown or disabled in \
         the Clients table\n"
    );
    let mismatch = case("row_type_mismatch/api1");
    assert_eq!(
        explained(&mismatch, None),
        format!(
            "reftoken: inactive: reference token: the row with Key {} has Type \
             \"refresh_token\", not reference_token\n",
            key(&mismatch.handle, "reference_token")
        )
    );
    let other_app = case("data_protected_other_app_name/api1");
    assert_eq!(
        explained(&other_app, None),
        format!(
            "reftoken: inactive: reference token: the Data of the row with Key {} cannot be \
             read, so IdentityServer treats the handle as unknown: the payload could not be \
             unprotected: the payload was invalid (the application name {APP_NAME:?} is \
             probably wrong; {APP_NAME_HINT}\n",
            key(&other_app.handle, "reference_token")
        )
    );
    let refresh = case("token_endpoint_refresh_token/client1");
    let why = explained(&refresh, None);
    assert!(
        why.ends_with(
            "\nreftoken: inactive: refresh token: not valid for \"client1\" (IdentityServer \
             refuses one that is expired, consumed or another client's, or whose client lacks \
             AllowOfflineAccess): issued to \"ropc.client\", expires at 2025-03-31T11:55:00Z, \
             not consumed\n"
        ),
        "{why}"
    );
    let r = run(&basic, Some(&["--client", "client1"]), Some("--explain"));
    assert!(r.stdout.contains(r#""active":true"#));
    assert!(r.stderr.is_empty(), "an active answer needs no explanation");

    // A Data column: the same reasons.
    let mut args = introspect_args(&expired);
    args.extend([
        "--explain".to_owned(),
        "--data".to_owned(),
        protected_data("expired"),
    ]);
    let r = reftoken(&args, None);
    assert_eq!(r.line(), INACTIVE);
    assert!(
        r.stderr
            .starts_with("reftoken: inactive: expired at 2025-03-01T11:00:00Z"),
        "{}",
        r.stderr
    );
}
