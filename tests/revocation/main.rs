//! Revocation that reaches every node (issue 8), with real servers on 127.0.0.1.
//!
//! Several validator *processes* (this test binary re-run as `node_process`, driven by
//! commands on its stdin) share one PostgreSQL database holding IdentityServer's
//! `PersistedGrants` table; each validates from its own cache and learns about revocations
//! from PostgreSQL NOTIFY (the trigger in `migrations/postgres/`) or from Redis. Some nodes
//! use the Rust API, one uses the C ABI.
//!
//! Servers: the tests that need them are named `servers_*` and ignored by a plain
//! `cargo test` (which lists them as ignored, with what they need). `eval "$(scripts/test-servers.sh
//! start)"` starts a private PostgreSQL and Redis and sets `REFTOKEN_TEST_POSTGRES_NOTIFY` and
//! `REFTOKEN_TEST_REDIS`; `scripts/test-rust.sh` then runs them as a second pass (`-- --ignored
//! servers_`), and fails under `CI=true` without the variables. Run on their own, without the
//! variables, they fail. The outage tests kill and restart the servers through the same script
//! (the set named by `REFTOKEN_TEST_SERVERS_DIR`), and fail when the variables name other servers.
//!
//! Benchmark: `cargo test --release --test revocation -- --ignored --nocapture bench_`.
//!
//! Here: the environment and `node_process`; the store, the validator process, its driver and
//! the tests are the modules below. `node_process` stays here, at the root, because validator
//! processes are started as `node_process --exact`.

#![cfg(feature = "revocation")]

#[macro_use]
#[path = "../common/mod.rs"]
mod common;

mod cross_process;
mod driver;
mod in_process;
mod latency;
mod node;
mod partition;
mod store;

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reftoken::Error;
use reftoken::instant::Instant as At;
use reftoken::revocation::{self, Options};
use reftoken::validation::StoredGrant;
use reftoken::validator::{CacheOptions, Validator};
use reftoken_ffi::reftoken_status::{self, *};
use reftoken_ffi::*;

use common::{last_error, rs};
use driver::*;
use node::*;
use store::*;

const NODE_ENV: &str = "REFTOKEN_REVOCATION_NODE";
/// Slack for the stale-positive check: the node stamps its reply just after deciding.
const SLACK: Duration = Duration::from_millis(20);

// ------------------------------------------------------------------------------------------
// Environment

struct Servers {
    pg: String,
    redis: String,
}

/// The servers from the environment, and the lock of [`serial`] (the tests share them); a
/// test that needs them runs only when selected (`--ignored servers_`), so without them it
/// fails.
fn servers(test: &str) -> (Servers, MutexGuard<'static, ()>) {
    let get = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let s = match (
        get("REFTOKEN_TEST_POSTGRES_NOTIFY"),
        get("REFTOKEN_TEST_REDIS"),
    ) {
        (Some(pg), Some(redis)) => Servers { pg, redis },
        _ => panic!(
            "{test}: needs PostgreSQL and Redis, but REFTOKEN_TEST_POSTGRES_NOTIFY and REFTOKEN_TEST_REDIS \
             are not set: eval \"$(scripts/test-servers.sh start)\", then scripts/test-rust.sh"
        ),
    };
    (s, serial())
}

fn script() -> String {
    format!("{}/scripts/test-servers.sh", env!("CARGO_MANIFEST_DIR"))
}

/// The servers for `test`, which kills and restarts them, and the lock of [`serial`]. Fails
/// unless they are the set `scripts/test-servers.sh` runs under `REFTOKEN_TEST_SERVERS_DIR`:
/// only those may be killed.
fn own_servers(test: &str) -> (Servers, MutexGuard<'static, ()>) {
    let (s, serial) = servers(test);
    let out = Command::new(script())
        .arg("env")
        .output()
        .expect("run scripts/test-servers.sh env");
    let env = String::from_utf8_lossy(&out.stdout);
    let ours = out.status.success()
        && env.contains(&format!("REFTOKEN_TEST_POSTGRES_NOTIFY={}\n", s.pg))
        && env.contains(&format!("REFTOKEN_TEST_REDIS={}\n", s.redis));
    assert!(
        ours,
        "{test}: kills and restarts the servers, so they must be the set scripts/test-servers.sh \
         started (named by REFTOKEN_TEST_SERVERS_DIR), which alone may be killed: \
         eval \"$(scripts/test-servers.sh start)\"; scripts/test-servers.sh env says: {}{}",
        env.trim(),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    (s, serial)
}

fn run_script(verb: &str) {
    let st = Command::new(script())
        .arg(verb)
        .stdout(Stdio::null())
        .status()
        .expect("run scripts/test-servers.sh");
    assert!(st.success(), "scripts/test-servers.sh {verb} failed");
}

/// Kills a server; brings it back when dropped, so that a failing test leaves it running.
struct Outage(&'static str);

impl Outage {
    fn begin(server: &'static str) -> Outage {
        run_script(&format!("kill-{server}"));
        Outage(server)
    }
    fn end(self) {}
}

impl Drop for Outage {
    fn drop(&mut self) {
        run_script(&format!("start-{}", self.0));
    }
}

/// The tests share (and some restart) the servers: one at a time.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn wall_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The entry point of validator processes; does nothing in a normal test run.
#[test]
fn node_process() {
    if let Ok(kind) = std::env::var(NODE_ENV) {
        node_main(&kind);
        std::process::exit(0);
    }
}
