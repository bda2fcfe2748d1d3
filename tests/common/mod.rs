//! Helpers shared by the integration tests: the Duende fixtures, the .NET oracles (real .NET
//! and ASP.NET Core run as the reference), safe wrappers over the raw C ABI, timing statistics
//! and one `#[test]` per named case.
//!
//! A test binary of one file takes it with `#[macro_use] mod common;`; a binary of several
//! (`tests/<name>/main.rs`) with `#[macro_use] #[path = "../common/mod.rs"] mod common;`, first
//! among its modules so that [`test_cases!`] reaches them all. Each binary uses a part of it.
#![allow(dead_code)]

use std::collections::HashMap;
use std::ffi::c_char;
use std::io::Write;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use reftoken::dataprotection::KeyRing;
use reftoken::validation::StoredGrant;
use reftoken_ffi::reftoken_status::{self, *};
use reftoken_ffi::{self as ffi, reftoken_keyring, reftoken_str};
use serde_json::Value;

// ---------------------------------------------------------------------------------------------
// Fixtures: tests/fixtures/duende

/// `tests/fixtures/duende`.
pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/duende")
}

/// A JSON file of the fixtures.
pub fn load(name: &str) -> Value {
    let text = std::fs::read_to_string(fixtures().join(name)).expect("fixture file");
    serde_json::from_str(&text).expect("fixture JSON")
}

/// A JSON string, or `None` (absent, null, another type).
pub fn s(v: &Value) -> Option<&str> {
    v.as_str()
}

/// A JSON string that must be there.
pub fn must_str(v: &Value) -> &str {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a string, got {v}"))
}

/// The application name the fixture host's Data Protection used.
pub const FIXTURE_APP: &str = "reftoken-fixtures";

/// The fixture host's one Data Protection key file (created 2026-11-25).
pub const FIXTURE_KEY: &str =
    include_str!("../fixtures/duende/keyring/key-3e8fa111-b37f-4806-a7d7-20ddc589534f.xml");

/// ASP.NET Core's default descriptor deserializer, as its key files name it.
pub const DEFAULT_DESERIALIZER: &str = "Microsoft.AspNetCore.DataProtection.AuthenticatedEncryption.ConfigurationModel.AuthenticatedEncryptorDescriptorDeserializer, Microsoft.AspNetCore.DataProtection, Version=10.0.0.0, Culture=neutral, PublicKeyToken=adb9793829ddae60";

/// The fixture key ring (tests/fixtures/duende/keyring) with the fixture host's application
/// name.
pub fn fixture_keyring() -> KeyRing {
    KeyRing::from_dir(&fixtures().join("keyring"))
        .expect("fixture key ring")
        .with_application_name(Some(FIXTURE_APP))
}

/// The stored rows of grants.json by (database, key): `protected` (persisted-grants.db) or
/// `unprotected`.
pub fn fixture_rows() -> HashMap<(String, String), StoredGrant> {
    let grants = load("grants.json");
    let mut rows = HashMap::new();
    for g in grants.as_array().unwrap() {
        let db = if s(&g["db"]) == Some("persisted-grants.db") {
            "protected"
        } else {
            "unprotected"
        };
        rows.insert(
            (db.to_owned(), must_str(&g["key"]).to_owned()),
            StoredGrant {
                grant_type: must_str(&g["type"]).to_owned(),
                data: must_str(&g["data"]).to_owned(),
            },
        );
    }
    rows
}

/// The scopes of each API resource of secrets.json.
pub fn api_scopes(secrets: &Value) -> HashMap<String, Vec<String>> {
    secrets["api_scopes"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            let scopes = v.as_array().unwrap().iter().map(|x| must_str(x).to_owned());
            (k.clone(), scopes.collect())
        })
        .collect()
}

/// Whether each client of secrets.json is enabled.
pub fn clients_enabled(secrets: &Value) -> HashMap<String, bool> {
    secrets["clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let id = must_str(&c["client_id"]).to_owned();
            (id, c["enabled"].as_bool().unwrap())
        })
        .collect()
}

/// The introspection of introspection.json named `name`.
pub fn fixture_case(cases: &Value, name: &str) -> Value {
    cases
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no introspection named {name} in introspection.json"))
        .clone()
}

// ---------------------------------------------------------------------------------------------
// The .NET oracles: tests/dotnet/<name>, built once per test process under target/dotnet/

/// A .NET program under tests/dotnet that reads a JSON array of operations on its stdin and
/// writes one JSON result per operation. The tests that use one are never skipped: without
/// `dotnet` (the .NET 10 SDK with the ASP.NET Core shared framework) they fail, saying so.
pub struct Oracle {
    /// The project's directory and name under tests/dotnet.
    pub name: &'static str,
    /// What it checks, for the message when `dotnet` is missing.
    pub checks: &'static str,
    dll: OnceLock<PathBuf>,
}

/// tests/dotnet/DataProtectionOracle: real ASP.NET Core Data Protection.
pub static DATA_PROTECTION_ORACLE: Oracle = Oracle::new(
    "DataProtectionOracle",
    "the ASP.NET Core Data Protection cross-implementation tests (tests/dataprotection)",
);

/// tests/dotnet/EndpointOracle: .NET's SHA-256/512, base64, UTF-8, `Uri.UnescapeDataString`,
/// ASP.NET Core's form reader and media-type parser, RSA/ECDsa signature verification.
pub static ENDPOINT_ORACLE: Oracle = Oracle::new(
    "EndpointOracle",
    "tests/endpoint, which checks RefToken against .NET itself,",
);

/// tests/dotnet/GrantOracle: System.Text.Json reading stored tokens into IdentityServer's
/// model, and .NET's parsing and writing of claim values as IdentityServer's introspection
/// applies them.
pub static GRANT_ORACLE: Oracle = Oracle::new(
    "GrantOracle",
    "tests/field_exactness.rs, which checks RefToken against .NET itself,",
);

/// The oracles run on a host whose local time is UTC, as RefToken reads dates without a time
/// zone.
const DOTNET_ENV: [(&str, &str); 4] = [
    ("DOTNET_CLI_TELEMETRY_OPTOUT", "1"),
    ("DOTNET_NOLOGO", "1"),
    ("DOTNET_SKIP_FIRST_TIME_EXPERIENCE", "1"),
    ("TZ", "UTC"),
];

impl Oracle {
    pub const fn new(name: &'static str, checks: &'static str) -> Oracle {
        Oracle {
            name,
            checks,
            dll: OnceLock::new(),
        }
    }

    /// Builds the project once per test process into target/dotnet/<name>/ and returns the
    /// path of its DLL. Panics with instructions when the .NET SDK is missing.
    pub fn dll(&self) -> &Path {
        self.dll.get_or_init(|| {
            let name = self.name;
            let project = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join(format!("tests/dotnet/{name}/{name}.csproj"));
            let base = Path::new(env!("CARGO_TARGET_TMPDIR"))
                .parent()
                .unwrap()
                .join("dotnet")
                .join(name);
            let out = base.join("out");
            let output = Command::new("dotnet")
                .arg("build")
                .arg(&project)
                .args(["-c", "Release", "-nologo", "-v", "q", "--artifacts-path"])
                .arg(base.join("artifacts"))
                .arg("-o")
                .arg(&out)
                .envs(DOTNET_ENV)
                .output()
                .unwrap_or_else(|e| {
                    panic!(
                        "cannot run `dotnet` ({e}). {} needs the .NET 10 SDK (with the ASP.NET \
                         Core shared framework) on PATH; these tests are never skipped. Install \
                         it from https://dot.net and run the tests again.",
                        self.checks
                    )
                });
            assert!(
                output.status.success(),
                "`dotnet build {}` failed:\n{}\n{}",
                project.display(),
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            let dll = out.join(format!("{name}.dll"));
            assert!(
                dll.is_file(),
                "the oracle build did not produce {}",
                dll.display()
            );
            dll
        })
    }

    /// Runs a batch of operations through .NET; one result per operation.
    pub fn run(&self, ops: &[Value]) -> Vec<Value> {
        let mut child = Command::new("dotnet")
            .arg(self.dll())
            .envs(DOTNET_ENV)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start `dotnet` to run {}: {e}", self.name));
        let input = serde_json::to_vec(ops).unwrap();
        child.stdin.take().unwrap().write_all(&input).unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "{} failed: {}",
            self.name,
            String::from_utf8_lossy(&output.stderr)
        );
        let results: Vec<Value> =
            serde_json::from_slice(&output.stdout).expect("oracle output is a JSON array");
        assert_eq!(results.len(), ops.len());
        results
    }

    /// Runs one operation; its result, which must be a success.
    pub fn run_ok(&self, op: &Value) -> Value {
        let r = self.run(std::slice::from_ref(op)).remove(0);
        ok(op, &r).clone()
    }
}

/// The result `r` of `op`, which must say `"ok": true`.
pub fn ok<'a>(op: &Value, r: &'a Value) -> &'a Value {
    assert_eq!(r["ok"], true, ".NET failed {op}: {r}");
    r
}

/// The operations `ops()` and .NET's results, computed once per test process: the tests of
/// the single cases of a batch share one run of the oracle.
pub fn oracle_batch<'a>(
    cell: &'a OnceLock<Vec<(Value, Value)>>,
    oracle: &Oracle,
    ops: impl FnOnce() -> Vec<Value>,
) -> &'a [(Value, Value)] {
    cell.get_or_init(|| {
        let ops = ops();
        let results = oracle.run(&ops);
        ops.into_iter().zip(results).collect()
    })
}

// ---------------------------------------------------------------------------------------------
// The C ABI

/// A `reftoken_str` over `s` (bytes or text), valid while `s` is.
pub fn rs<S: AsRef<[u8]> + ?Sized>(s: &S) -> reftoken_str {
    let b = s.as_ref();
    reftoken_str {
        ptr: b.as_ptr().cast(),
        len: b.len(),
    }
}

/// A `reftoken_str` over `s`, or NULL (absent) for `None`.
pub fn opt_rs(s: Option<&str>) -> reftoken_str {
    match s {
        Some(s) => rs(s),
        None => reftoken_str {
            ptr: std::ptr::null(),
            len: 0,
        },
    }
}

/// The text a `reftoken_str` from the library points to; `None` for NULL.
pub fn rs_text(s: reftoken_str) -> Option<String> {
    (!s.ptr.is_null()).then(|| {
        // SAFETY: the library hands out `len` bytes at `ptr`, valid while its object lives.
        let b = unsafe { std::slice::from_raw_parts(s.ptr.cast::<u8>(), s.len) };
        String::from_utf8(b.to_vec()).expect("UTF-8 from the library")
    })
}

/// `reftoken_last_error` of this thread.
pub fn last_error() -> String {
    let mut buf = vec![0u8; 1024];
    let mut len = 0usize;
    unsafe { ffi::reftoken_last_error(buf.as_mut_ptr().cast(), buf.len(), &mut len) };
    String::from_utf8_lossy(&buf[..len.min(buf.len())]).into_owned()
}

/// What a C function that writes into the caller's buffer gave back.
#[derive(Debug)]
pub struct Written {
    pub status: reftoken_status,
    /// `*out_len`: the length written, or the length needed.
    pub len: usize,
    /// The whole buffer (0xAA where nothing was written, so that a NUL shows).
    pub buf: Vec<u8>,
}

impl Written {
    /// What was written (the first `len` bytes of the buffer).
    pub fn bytes(&self) -> &[u8] {
        &self.buf[..self.len.min(self.buf.len())]
    }

    /// What was written, as text.
    pub fn text(&self) -> &str {
        std::str::from_utf8(self.bytes()).expect("UTF-8 from the library")
    }

    /// The bytes written on success; otherwise the status and `reftoken_last_error`.
    pub fn ok(self) -> Result<Vec<u8>, (reftoken_status, String)> {
        if self.status == REFTOKEN_OK {
            let len = self.len;
            let mut buf = self.buf;
            buf.truncate(len);
            Ok(buf)
        } else {
            Err((self.status, last_error()))
        }
    }

    /// The text written on success; otherwise the status and `reftoken_last_error`.
    pub fn string(self) -> Result<String, (reftoken_status, String)> {
        self.ok()
            .map(|b| String::from_utf8(b).expect("UTF-8 from the library"))
    }
}

/// Calls `f(out, out_cap, out_len)` with a buffer of `cap` bytes, or with a NULL buffer and a
/// capacity of 0 (the size query) when `cap` is `None`.
pub fn written(
    cap: Option<usize>,
    f: impl FnOnce(*mut u8, usize, &mut usize) -> reftoken_status,
) -> Written {
    let mut buf = vec![0xAAu8; cap.unwrap_or(0)];
    let mut len = 0usize;
    let out = if cap.is_some() {
        buf.as_mut_ptr()
    } else {
        std::ptr::null_mut()
    };
    let status = f(out, buf.len(), &mut len);
    Written { status, len, buf }
}

/// Calls `f(out, out_cap, out_len)` with a buffer as large as it asks for: the text written,
/// or the status and `reftoken_last_error`.
pub fn c_string(
    mut f: impl FnMut(*mut c_char, usize, &mut usize) -> reftoken_status,
) -> Result<String, (reftoken_status, String)> {
    let mut cap = 256;
    loop {
        let w = written(Some(cap), |out, cap, len| f(out.cast(), cap, len));
        match w.status {
            REFTOKEN_BUFFER_TOO_SMALL if w.len >= cap => cap = w.len + 1,
            _ => return w.string(),
        }
    }
}

/// A key ring made through the C ABI, freed when dropped (NULL when making it failed).
pub struct CKeyRing(pub *mut reftoken_keyring);

impl CKeyRing {
    pub fn ptr(&self) -> *const reftoken_keyring {
        self.0
    }

    pub fn is_null(&self) -> bool {
        self.0.is_null()
    }
}

impl Drop for CKeyRing {
    fn drop(&mut self) {
        unsafe { ffi::reftoken_keyring_free(self.0) }
    }
}

/// The pointer and length of an optional name: NULL for `None`.
fn opt_ptr(s: Option<&str>) -> (*const c_char, usize) {
    s.map_or((std::ptr::null(), 0), |s| (s.as_ptr().cast(), s.len()))
}

/// `reftoken_keyring_new_from_xml` over `elements`, with `app` as the application name.
pub fn c_keyring_from_xml<S: AsRef<[u8]>>(
    elements: &[S],
    app: Option<&str>,
) -> (CKeyRing, reftoken_status) {
    let strs: Vec<reftoken_str> = elements.iter().map(|e| rs(e.as_ref())).collect();
    let (app, app_len) = opt_ptr(app);
    let mut out = std::ptr::null_mut();
    let st = unsafe {
        ffi::reftoken_keyring_new_from_xml(strs.as_ptr(), strs.len(), app, app_len, &mut out)
    };
    (CKeyRing(out), st)
}

/// `reftoken_keyring_new_from_dir` over `dir`, with `app` as the application name.
pub fn c_keyring_from_dir(dir: &Path, app: Option<&str>) -> (CKeyRing, reftoken_status) {
    let path = dir.to_str().expect("a UTF-8 path");
    let (app, app_len) = opt_ptr(app);
    let mut out = std::ptr::null_mut();
    let st = unsafe {
        ffi::reftoken_keyring_new_from_dir(path.as_ptr().cast(), path.len(), app, app_len, &mut out)
    };
    (CKeyRing(out), st)
}

/// The key ring of [`FIXTURE_KEY`] with [`FIXTURE_APP`], through the C ABI.
pub fn c_fixture_keyring() -> CKeyRing {
    let (ring, st) = c_keyring_from_xml(&[FIXTURE_KEY], Some(FIXTURE_APP));
    assert_eq!(st, REFTOKEN_OK, "{}", last_error());
    ring
}

/// One of the four Data Protection entry points: the same arguments but for text or bytes
/// and, for protect, the time (Unix seconds).
#[derive(Debug, Clone, Copy)]
pub enum DpFn {
    Protect(i64),
    ProtectBytes(i64),
    Unprotect,
    UnprotectBytes,
}

/// `f` of `input` into a buffer of `cap` bytes (`None`: NULL).
pub fn c_dp(
    f: DpFn,
    ring: *const reftoken_keyring,
    purposes: &[reftoken_str],
    input: &[u8],
    cap: Option<usize>,
) -> Written {
    c_dp_raw(f, ring, purposes, input.as_ptr(), input.len(), cap)
}

/// [`c_dp`] of the `input_len` bytes at `input`: a pointer and a length rather than a slice,
/// so that a test can give a length the buffer does not have.
pub fn c_dp_raw(
    f: DpFn,
    ring: *const reftoken_keyring,
    purposes: &[reftoken_str],
    input: *const u8,
    input_len: usize,
    cap: Option<usize>,
) -> Written {
    let (ps, n) = (purposes.as_ptr(), purposes.len());
    let text = input.cast::<c_char>();
    written(cap, |out, cap, len| unsafe {
        match f {
            DpFn::Protect(now) => {
                ffi::reftoken_protect(ring, ps, n, text, input_len, now, out.cast(), cap, len)
            }
            DpFn::ProtectBytes(now) => {
                ffi::reftoken_protect_bytes(ring, ps, n, input, input_len, now, out, cap, len)
            }
            DpFn::Unprotect => {
                ffi::reftoken_unprotect(ring, ps, n, text, input_len, out.cast(), cap, len)
            }
            DpFn::UnprotectBytes => {
                ffi::reftoken_unprotect_bytes(ring, ps, n, input, input_len, out, cap, len)
            }
        }
    })
}

/// `reftoken_basic_parse` of the `len` bytes at `header` into buffers that hold any client id
/// and secret within the limits: the status, the two lengths and whether there was a secret
/// (true before the call, so that a test sees it cleared).
pub fn c_basic_parse_raw(
    header: *const c_char,
    len: usize,
) -> (reftoken_status, usize, usize, bool) {
    let (mut id, mut secret) = ([0 as c_char; 301], [0 as c_char; 301]);
    let (mut id_len, mut secret_len, mut has_secret) = (0, 0, true);
    let st = unsafe {
        ffi::reftoken_basic_parse(
            header,
            len,
            id.as_mut_ptr(),
            id.len(),
            &mut id_len,
            secret.as_mut_ptr(),
            secret.len(),
            &mut secret_len,
            &mut has_secret,
        )
    };
    (st, id_len, secret_len, has_secret)
}

// ---------------------------------------------------------------------------------------------
// Statistics

/// Welch's t statistic of two samples.
pub fn welch_t(a: &[f64], b: &[f64]) -> f64 {
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let var =
        |v: &[f64], m: f64| v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64;
    let (ma, mb) = (mean(a), mean(b));
    let se = (var(a, ma) / a.len() as f64 + var(b, mb) / b.len() as f64).sqrt();
    if se == 0.0 { 0.0 } else { (ma - mb) / se }
}

// ---------------------------------------------------------------------------------------------
// Named cases

/// One `#[test]` per named case, each calling `check` with its arguments, so that a failure
/// names its case and the other cases still run:
///
/// ```ignore
/// test_cases!(refused {
///     past_year_9999: ("9999-12-31T23:54-09:59"),
///     before_year_1: ("0001-01-01T00:00:00+00:01"),
/// });
/// ```
///
/// Put them in a module named after what they test, so that the old test's name still
/// selects them all (`cargo test -- that_name`).
#[allow(unused_macros)]
macro_rules! test_cases {
    ($check:ident { $($(#[$attr:meta])* $name:ident: ($($arg:expr),* $(,)?)),* $(,)? }) => {
        $(
            $(#[$attr])*
            #[test]
            fn $name() {
                $check($($arg),*)
            }
        )*
    };
}

/// Checks every case (`check` asserts), and fails at the end naming each case that failed,
/// with its message, instead of stopping at the first. For cases that come from data (the
/// fixtures, the oracle's batches) rather than from names in the code. Returns the number
/// of cases checked.
pub fn check_all<T>(
    cases: impl IntoIterator<Item = (String, T)>,
    mut check: impl FnMut(T),
) -> usize {
    let mut failed = Vec::new();
    let mut n = 0;
    for (name, case) in cases {
        n += 1;
        if let Err(e) = catch_unwind(AssertUnwindSafe(|| check(case))) {
            let msg = e
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| e.downcast_ref::<&str>().copied())
                .unwrap_or("(a panic without a message)");
            failed.push(format!("{name}: {msg}"));
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {n} cases failed:\n{}",
        failed.len(),
        failed.join("\n")
    );
    n
}
