//! Helpers shared by the CLI tests: running the built binary, the Duende fixtures.
#![allow(dead_code)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

/// What a run of `reftoken` gave.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The single output line (the trailing newline checked and removed).
    pub fn line(&self) -> &str {
        assert_eq!(self.code, 0, "exit code; stderr: {}", self.stderr);
        self.stdout
            .strip_suffix('\n')
            .unwrap_or_else(|| panic!("output without its newline: {:?}", self.stdout))
    }
}

/// Starts `reftoken args...` with `stdin`, its stdout and stderr piped.
pub fn spawn<S: AsRef<std::ffi::OsStr>>(args: &[S], stdin: Stdio) -> Child {
    Command::new(env!("CARGO_BIN_EXE_reftoken"))
        .args(args)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the reftoken binary runs")
}

/// Runs `reftoken args...` with `stdin` (or an empty stdin).
pub fn reftoken<S: AsRef<std::ffi::OsStr>>(args: &[S], stdin: Option<&[u8]>) -> Run {
    let mut child = spawn(args, Stdio::piped());
    let mut pipe = child.stdin.take().unwrap();
    // The command may exit without reading its stdin (usage errors).
    if let Err(e) = pipe.write_all(stdin.unwrap_or_default()) {
        assert_eq!(
            e.kind(),
            std::io::ErrorKind::BrokenPipe,
            "writing stdin: {e}"
        );
    }
    drop(pipe);
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().expect("exited, not killed"),
        stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
    }
}

/// `tests/fixtures/duende`.
pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/duende")
}

pub fn fixture(name: &str) -> String {
    fixtures().join(name).to_str().unwrap().to_owned()
}

pub fn load(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixtures().join(name)).unwrap()).unwrap()
}

pub const APP_NAME: &str = "reftoken-fixtures";

/// One introspection Duende answered with JSON (or failed on with a 500), for a handle that
/// may lead to a `reference_token` row.
#[derive(Debug, Clone)]
pub struct Case {
    pub name: String,
    /// `protected` (persisted-grants.db) or `unprotected`.
    pub db: String,
    pub handle: String,
    /// `reference_token` or `refresh_token`.
    pub grant_type: String,
    /// `api` or `client`.
    pub kind: String,
    pub caller: String,
    /// The API's scopes, space-separated (empty for clients).
    pub scopes: String,
    pub now: i64,
    /// 200 or 500.
    pub status: i64,
    pub body: String,
    /// Whether a row was stored under the handle's key.
    pub has_row: bool,
}

/// Every introspection of `introspection.json` answered as JSON (200) or with a 500, for a
/// handle of a reference token or a refresh token: the cases a validator reading the store
/// must reproduce. Endpoint-level results (401, 400, 405, 415, JWT responses) are left out.
pub fn cases() -> Vec<Case> {
    let secrets = load("secrets.json");
    let mut out = Vec::new();
    for c in load("introspection.json").as_array().unwrap() {
        let s = |k: &str| c[k].as_str().map(str::to_owned);
        let status = c["status"].as_i64().unwrap();
        if !(status == 200 || status == 500)
            || c["request"]["accept"].is_string()
            || !matches!(
                s("grant_type").as_deref(),
                Some("reference_token" | "refresh_token")
            )
        {
            continue;
        }
        let Some(handle) = s("handle") else { continue };
        let kind = c["caller"]["kind"].as_str().unwrap().to_owned();
        let caller = c["caller"]["name"]
            .as_str()
            .or(c["caller"]["id"].as_str())
            .unwrap()
            .to_owned();
        let scopes = if kind == "api" {
            let v = secrets["api_scopes"][&caller].as_array().unwrap();
            v.iter()
                .map(|x| x.as_str().unwrap())
                .collect::<Vec<_>>()
                .join(" ")
        } else {
            String::new()
        };
        out.push(Case {
            name: s("name").unwrap(),
            db: s("db").unwrap(),
            handle,
            grant_type: s("grant_type").unwrap(),
            kind,
            caller,
            scopes,
            now: c["now_unix"].as_i64().unwrap(),
            status,
            body: s("body").unwrap_or_default(),
            has_row: !c["row_present_after"].is_null(),
        });
    }
    out
}

/// The clients of `secrets.json`: id, whether enabled, and whether it may use refresh
/// tokens (`AllowOfflineAccess`: the clients the fixtures' refresh tokens were issued to).
pub fn clients() -> Vec<(String, bool, bool)> {
    let grants = load("grants.json");
    let offline = |id: &str| {
        grants
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["type"] == "refresh_token" && g["client_id"] == id)
    };
    load("secrets.json")["clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let id = c["client_id"].as_str().unwrap();
            (id.to_owned(), c["enabled"].as_bool().unwrap(), offline(id))
        })
        .collect()
}

/// The `reftoken introspect` arguments for `case` (without the store).
pub fn introspect_args(case: &Case) -> Vec<String> {
    let mut a = vec!["introspect".to_owned()];
    if case.kind == "api" {
        a.extend(["--api".into(), case.caller.clone()]);
        for s in case.scopes.split(' ') {
            a.extend(["--scope".into(), s.to_owned()]);
        }
    } else {
        a.extend(["--client".into(), case.caller.clone()]);
    }
    a.extend([
        "--now".into(),
        case.now.to_string(),
        "--keyring".into(),
        fixture("keyring"),
        "--app-name".into(),
        APP_NAME.into(),
    ]);
    a
}

/// `args` (of `introspect_args`) without `flag` and its value.
pub fn without(mut args: Vec<String>, flag: &str) -> Vec<String> {
    let at = args
        .iter()
        .position(|a| a == flag)
        .unwrap_or_else(|| panic!("no {flag} in {args:?}"));
    args.drain(at..at + 2);
    args
}

/// The fixture database file of a case's `db`.
pub fn db_file(db: &str) -> &'static str {
    match db {
        "protected" => "persisted-grants.db",
        _ => "persisted-grants-unprotected.db",
    }
}

/// Cases whose answer depends on IdentityServer's client configuration (a disabled and an
/// unknown client): a store without a `Clients` table cannot know it.
pub fn needs_client_config(case: &Case) -> bool {
    let base = case.name.trim_start_matches("unprotected/");
    base.starts_with("disabled_client_token/") || base.starts_with("unknown_client_token/")
}

/// `url` with its database replaced by `db` (URL or key=value form).
pub fn with_dbname(url: &str, db: &str) -> String {
    for scheme in ["postgresql://", "postgres://"] {
        if let Some(rest) = url.strip_prefix(scheme) {
            let (main, query) = rest
                .split_once('?')
                .map_or((rest, None), |(m, q)| (m, Some(q)));
            let authority = main.split_once('/').map_or(main, |(a, _)| a);
            let mut out = format!("{scheme}{authority}/{db}");
            if let Some(q) = query {
                out.push('?');
                out.push_str(q);
            }
            return out;
        }
    }
    format!("{url} dbname={db}")
}

/// IdentityServer's `PersistedGrants` table as EF Core (Npgsql) creates it.
pub const PG_SCHEMA: &str = include_str!("../../../tests/fixtures/persisted-grants-postgres.sql");

pub mod stores;

/// The single output line of `r`, as JSON.
pub fn json(r: &Run) -> Value {
    serde_json::from_str(r.line()).unwrap_or_else(|e| panic!("{e}: {}", r.stdout))
}

/// The server URL in `var`; a test that needs it runs only when selected (`--ignored
/// servers_`), so without it it fails.
pub fn server(var: &str, test: &str) -> String {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => v,
        _ => panic!(
            "{test}: {var} is not set: eval \"$(scripts/test-servers.sh start)\", then scripts/test-rust.sh"
        ),
    }
}

/// A new reference token handle and its store key.
pub fn new_handle() -> (String, String) {
    let handle = reftoken::handle::new_handle().unwrap().to_string();
    let key = reftoken::key::store_key(&handle, "reference_token")
        .unwrap()
        .to_string();
    (handle, key)
}

/// Seconds since the Unix epoch, now.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Asserts that `reftoken args...` exits with `code`, prints nothing on stdout and explains
/// itself on stderr: 2, a usage error; 1, a failure, said as an error that names no password.
pub fn assert_exits(code: i32, args: &[&str]) -> Run {
    let r = reftoken(args, None);
    assert_eq!(r.code, code, "{args:?}: {}", r.stderr);
    assert!(r.stdout.is_empty(), "{args:?}: {}", r.stdout);
    assert!(!r.stderr.is_empty(), "{args:?} explains itself");
    if code == 1 {
        assert!(
            r.stderr.starts_with("reftoken: error: ") && !r.stderr.contains("hunter2"),
            "{args:?}: {}",
            r.stderr
        );
    }
    r
}

/// Asserts that `reftoken args...` fails (exit 1, see `assert_exits`) with one line of error
/// that says `says`.
pub fn assert_fails(args: &[&str], says: &str) {
    let r = assert_exits(1, args);
    assert!(
        r.stderr.contains(says),
        "reftoken {args:?} should say {says:?}: {}",
        r.stderr
    );
    assert_eq!(
        r.stderr.lines().count(),
        1,
        "one line of error: {}",
        r.stderr
    );
}

/// One test per command line, each `name: [args...];` asserting the exit code `code` (see
/// `assert_exits`), so that a failure names its case.
#[macro_export]
macro_rules! exits {
    ($code:literal => $($name:ident: [$($arg:expr),* $(,)?];)*) => {$(
        #[test]
        fn $name() {
            $crate::common::assert_exits($code, &[$($arg),*]);
        }
    )*};
}

/// One test per command line, each `name: [args...] => "what stderr says";` asserting a
/// failure that says so (see `assert_fails`).
#[macro_export]
macro_rules! fails {
    ($($name:ident: [$($arg:expr),* $(,)?] => $says:expr;)*) => {$(
        #[test]
        fn $name() {
            $crate::common::assert_fails(&[$($arg),*], $says);
        }
    )*};
}
