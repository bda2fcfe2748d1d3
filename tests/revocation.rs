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

#![cfg(feature = "revocation")]

use std::collections::HashMap;
use std::ffi::{c_char, c_void};
use std::io::{BufRead, BufReader, Write};
use std::ops::ControlFlow;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use postgres::{Client, NoTls};
use reftoken::Error;
use reftoken::ffi::reftoken_status::{self, *};
use reftoken::ffi::*;
use reftoken::grant::{self, Claim, Token};
use reftoken::instant::Instant as At;
use reftoken::introspection::{self, Caller};
use reftoken::revocation::{self, Event, Fence, Options, Target};
use reftoken::validation::StoredGrant;
use reftoken::validator::{CacheOptions, Found, Lookup, Validator};

const NODE_ENV: &str = "REFTOKEN_REVOCATION_NODE";
/// Slack for the stale-positive check: the node stamps its reply just after deciding.
const SLACK: Duration = Duration::from_millis(20);

// ------------------------------------------------------------------------------------------
// Environment

struct Servers {
    pg: String,
    redis: String,
}

/// The servers from the environment; a test that needs them runs only when selected
/// (`--ignored servers_`), so without them it fails.
fn servers(test: &str) -> Servers {
    let get = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    match (
        get("REFTOKEN_TEST_POSTGRES_NOTIFY"),
        get("REFTOKEN_TEST_REDIS"),
    ) {
        (Some(pg), Some(redis)) => Servers { pg, redis },
        _ => panic!(
            "{test}: needs PostgreSQL and Redis, but REFTOKEN_TEST_POSTGRES_NOTIFY and REFTOKEN_TEST_REDIS \
             are not set: eval \"$(scripts/test-servers.sh start)\", then scripts/test-rust.sh"
        ),
    }
}

fn script() -> String {
    format!("{}/scripts/test-servers.sh", env!("CARGO_MANIFEST_DIR"))
}

/// Fails unless the servers are the set `scripts/test-servers.sh` runs under
/// `REFTOKEN_TEST_SERVERS_DIR`: only those may be killed.
fn own_servers(test: &str, s: &Servers) {
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

// ------------------------------------------------------------------------------------------
// The store: IdentityServer's schema in a database of its own

/// IdentityServer's `PersistedGrants` table as EF Core (Npgsql) creates it.
const PG_SCHEMA: &str = include_str!("fixtures/persisted-grants-postgres.sql");

fn migration() -> String {
    std::fs::read_to_string(format!(
        "{}/migrations/postgres/0001_reftoken_revocation_notify.sql",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn with_dbname(url: &str, db: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a postgresql:// URL");
    let (main, query) = rest
        .split_once('?')
        .map_or((rest, None), |(m, q)| (m, Some(q)));
    let authority = main.split_once('/').map_or(main, |(a, _)| a);
    match query {
        Some(q) => format!("{scheme}://{authority}/{db}?{q}"),
        None => format!("{scheme}://{authority}/{db}"),
    }
}

fn connect(url: &str) -> Client {
    let mut cfg: postgres::Config = url.parse().unwrap();
    cfg.connect_timeout(Duration::from_secs(2));
    cfg.connect(NoTls)
        .unwrap_or_else(|e| panic!("connect to {url}: {e}"))
}

/// Connects, retrying while the server starts up.
fn connect_retrying(url: &str) -> Client {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut cfg: postgres::Config = url.parse().unwrap();
        cfg.connect_timeout(Duration::from_secs(1));
        match cfg.connect(NoTls) {
            Ok(c) => return c,
            Err(e) if Instant::now() > deadline => panic!("connect to {url}: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

struct TestDb {
    admin: String,
    name: String,
    url: String,
}

impl TestDb {
    fn create(admin: &str, tag: &str, notify: bool) -> TestDb {
        let name = format!("reftoken_rev_{tag}_{}", std::process::id());
        let mut c = connect_retrying(admin);
        c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .unwrap();
        c.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        let db = TestDb {
            admin: admin.to_owned(),
            url: with_dbname(admin, &name),
            name,
        };
        let mut c = connect(&db.url);
        c.batch_execute(PG_SCHEMA).unwrap();
        if notify {
            c.batch_execute(&migration()).unwrap();
        }
        db
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let mut cfg: postgres::Config = self.admin.parse().unwrap();
        cfg.connect_timeout(Duration::from_secs(2));
        if let Ok(mut c) = cfg.connect(NoTls) {
            let _ = c.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

#[derive(Clone)]
struct Issued {
    handle: String,
    key: String,
}

fn token_data(scope: &str) -> String {
    let t = Token {
        client_id: Some("c1".into()),
        creation_time: At::from_unix_seconds(unix_now()),
        lifetime: 3600,
        claims: vec![
            Claim::new("client_id", "c1"),
            Claim::new("scope", scope),
            Claim::new("sub", "alice"),
        ],
        ..Token::default()
    };
    grant::seal_data(&t.to_json(), false)
}

/// Writes a reference token's row as IdentityServer does.
fn issue(pg: &mut Client) -> Issued {
    let handle = reftoken::handle::new_handle().unwrap().to_string();
    let key = reftoken::key::store_key(&handle, "reference_token")
        .unwrap()
        .to_string();
    pg.execute(
        r#"INSERT INTO "PersistedGrants" ("Key", "Type", "SubjectId", "ClientId", "CreationTime", "Expiration", "Data")
           VALUES ($1, 'reference_token', 'alice', 'c1', now(), now() + interval '1 hour', $2)"#,
        &[&key, &token_data("api1.read")],
    )
    .unwrap();
    Issued { handle, key }
}

/// Deletes a grant as IdentityServer's store does (`RemoveAsync(key)`); returns the time the
/// commit was acknowledged.
fn delete(pg: &mut Client, key: &str) -> u64 {
    let n = pg
        .execute(r#"DELETE FROM "PersistedGrants" WHERE "Key" = $1"#, &[&key])
        .unwrap();
    assert_eq!(n, 1);
    wall_ns()
}

// ------------------------------------------------------------------------------------------
// The validator process

/// Reads rows from PostgreSQL, reconnecting after failures; counts lookups.
struct PgStore {
    url: String,
    client: Mutex<Option<Client>>,
    lookups: AtomicU64,
}

impl PgStore {
    fn new(url: String) -> Self {
        PgStore {
            url,
            client: Mutex::new(None),
            lookups: AtomicU64::new(0),
        }
    }

    fn get(&self, key: &str) -> Result<Option<StoredGrant>, String> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        let mut slot = self.client.lock().unwrap();
        if slot.is_none() {
            let mut cfg: postgres::Config = self.url.parse().unwrap();
            cfg.connect_timeout(Duration::from_millis(500));
            *slot = Some(cfg.connect(NoTls).map_err(|e| e.to_string())?);
        }
        let c = slot.as_mut().unwrap();
        match c.query_opt(
            r#"SELECT "Type", "Data" FROM "PersistedGrants" WHERE "Key" = $1"#,
            &[&key],
        ) {
            Ok(row) => Ok(row.map(|r| StoredGrant {
                grant_type: r.get(0),
                data: r.get(1),
            })),
            Err(e) => {
                *slot = None;
                Err(e.to_string())
            }
        }
    }
}

struct StoreLookup(Arc<PgStore>);

impl Lookup for StoreLookup {
    fn lookup(&self, key: &str) -> Result<Option<StoredGrant>, Error> {
        self.0
            .get(key)
            .map_err(|_| Error::Lookup(REFTOKEN_IO_ERROR as u32))
    }
}

/// A validator that reports every eviction on stdout, with the time.
struct Logged(Arc<Validator<StoreLookup>>);

impl Target for Logged {
    fn evict(&self, key: &str) {
        self.0.evict(key);
        println!("@ e {key} {}", wall_ns());
    }
    fn clear(&self) {
        self.0.clear();
        println!("@ c {}", wall_ns());
    }
    fn fence(&self) -> &Fence {
        self.0.fence()
    }
}

fn env_u64(k: &str, default: u64) -> u64 {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

trait NodeImpl {
    /// `active`, `inactive`, `unknown` or `error`.
    fn validate(&self, handle: &str) -> &'static str;
    fn lookups(&self) -> u64;
    fn wait(&self) -> Result<(), String>;
    fn stats(&self) -> String;
}

struct RustNode {
    store: Arc<PgStore>,
    validator: Arc<Validator<StoreLookup>>,
    listener: revocation::Listener,
}

impl NodeImpl for RustNode {
    fn validate(&self, handle: &str) -> &'static str {
        let scopes = ["api1.read"];
        let api = Caller::Api {
            name: "api1",
            scopes: &scopes,
        };
        match self
            .validator
            .find(handle, At::from_unix_seconds(unix_now()))
        {
            Ok(Found::Token(t)) => {
                if introspection::evaluate(
                    &t,
                    &api,
                    At::from_unix_seconds(unix_now()),
                    &Default::default(),
                )
                .active()
                {
                    "active"
                } else {
                    "inactive"
                }
            }
            Ok(Found::NotFound(_)) => "unknown",
            Err(_) => "error",
        }
    }
    fn lookups(&self) -> u64 {
        self.store.lookups.load(Ordering::SeqCst)
    }
    fn wait(&self) -> Result<(), String> {
        self.listener
            .wait_listening(Duration::from_secs(10))
            .map_err(|e| e.to_string())
    }
    fn stats(&self) -> String {
        let s = self.listener.stats();
        format!("{} {} {}", s.connects, s.failures, s.notifications)
    }
}

/// The same through the C ABI: a lookup callback, `reftoken_validator_validate`, and
/// `reftoken_revocation_listener_start_*`.
struct CNode {
    store: *mut PgStore,
    validator: *mut reftoken_validator,
    listener: *mut reftoken_revocation_listener,
}

unsafe extern "C" fn c_lookup(
    ctx: *mut c_void,
    key: *const c_char,
    key_len: usize,
    row: *mut reftoken_row,
) -> reftoken_status {
    // SAFETY: ctx is the node's PgStore; key is key_len bytes of ASCII.
    let store = unsafe { &*(ctx as *const PgStore) };
    let key = unsafe {
        std::str::from_utf8(std::slice::from_raw_parts(key.cast::<u8>(), key_len)).unwrap()
    };
    match store.get(key) {
        Ok(Some(g)) => unsafe {
            reftoken_row_set(
                row,
                g.grant_type.as_ptr().cast(),
                g.grant_type.len(),
                g.data.as_ptr().cast(),
                g.data.len(),
            )
        },
        Ok(None) => REFTOKEN_NOT_FOUND,
        Err(_) => REFTOKEN_IO_ERROR,
    }
}

fn last_error() -> String {
    let mut buf = vec![0u8; 1024];
    let mut len = 0usize;
    unsafe { reftoken_last_error(buf.as_mut_ptr().cast(), buf.len(), &mut len) };
    String::from_utf8_lossy(&buf[..len.min(buf.len())]).into_owned()
}

impl CNode {
    fn new(store_url: String, transport: &str, notify_url: &str, bound_ms: u32) -> CNode {
        let store = Box::into_raw(Box::new(PgStore::new(store_url)));
        let mut validator = std::ptr::null_mut();
        let st = unsafe {
            reftoken_validator_new(
                Some(c_lookup),
                store.cast(),
                std::ptr::null(),
                1000,
                3600,
                &mut validator,
            )
        };
        assert_eq!(st, REFTOKEN_OK);
        let mut listener = std::ptr::null_mut();
        let start = match transport {
            "postgres" => reftoken_revocation_listener_start_postgres,
            _ => reftoken_revocation_listener_start_redis,
        };
        let st = unsafe {
            start(
                validator,
                notify_url.as_ptr().cast(),
                notify_url.len(),
                std::ptr::null(),
                0,
                bound_ms,
                &mut listener,
            )
        };
        assert_eq!(st, REFTOKEN_OK, "{}", last_error());
        CNode {
            store,
            validator,
            listener,
        }
    }
}

impl NodeImpl for CNode {
    fn validate(&self, handle: &str) -> &'static str {
        let caller = reftoken_caller {
            kind: REFTOKEN_CALLER_API,
            name: reftoken_str {
                ptr: "api1".as_ptr().cast(),
                len: 4,
            },
            scopes: reftoken_str {
                ptr: "api1.read".as_ptr().cast(),
                len: 9,
            },
        };
        let mut verdict = std::mem::MaybeUninit::<reftoken_verdict>::uninit();
        let st = unsafe {
            reftoken_validator_validate(
                self.validator,
                handle.as_ptr().cast(),
                handle.len(),
                &caller,
                unix_now(),
                std::ptr::null(),
                std::ptr::null_mut(),
                verdict.as_mut_ptr(),
            )
        };
        if st != REFTOKEN_OK {
            return "error";
        }
        let v = unsafe { verdict.assume_init() };
        if v.active {
            "active"
        } else if v.reason == REFTOKEN_INACTIVE_UNKNOWN_HANDLE {
            "unknown"
        } else {
            "inactive"
        }
    }
    fn lookups(&self) -> u64 {
        unsafe { &*self.store }.lookups.load(Ordering::SeqCst)
    }
    fn wait(&self) -> Result<(), String> {
        match unsafe { reftoken_revocation_listener_wait(self.listener, 10_000) } {
            REFTOKEN_OK => Ok(()),
            _ => Err(last_error()),
        }
    }
    fn stats(&self) -> String {
        let mut s = reftoken_revocation_stats::default();
        assert_eq!(
            unsafe { reftoken_revocation_listener_stats(self.listener, &mut s) },
            REFTOKEN_OK
        );
        format!("{} {} {}", s.connects, s.failures, s.notifications)
    }
}

impl Drop for CNode {
    fn drop(&mut self) {
        unsafe {
            // The listener first: it borrows the validator.
            reftoken_revocation_listener_free(self.listener);
            reftoken_validator_free(self.validator);
            drop(Box::from_raw(self.store));
        }
    }
}

/// A validator process: `REFTOKEN_REVOCATION_NODE` is `rust-postgres`, `rust-redis`,
/// `c-postgres` or `c-redis`. Commands on stdin, one reply line each (`@ ...`):
/// `v HANDLE` (validate: state, lookups so far, wall-clock ns), `w` (wait until listening),
/// `s` (listener counters), `q` (quit). Rust nodes also print `@ e KEY NS` per eviction.
fn node_main(kind: &str) {
    let store_url = std::env::var("REFTOKEN_NODE_STORE").unwrap();
    let notify_url = std::env::var("REFTOKEN_NODE_NOTIFY").unwrap();
    let bound_ms = env_u64("REFTOKEN_NODE_BOUND_MS", 10_000);
    let backoff_ms = env_u64("REFTOKEN_NODE_BACKOFF_MS", 100);
    let (api, transport) = kind.split_once('-').unwrap();
    let node: Box<dyn NodeImpl> = if api == "c" {
        Box::new(CNode::new(
            store_url,
            transport,
            &notify_url,
            bound_ms as u32,
        ))
    } else {
        let store = Arc::new(PgStore::new(store_url));
        let validator = Arc::new(Validator::new(
            StoreLookup(store.clone()),
            None,
            CacheOptions {
                capacity: 1000,
                ttl_seconds: 3600,
            },
        ));
        let opts = Options {
            stale_bound: Duration::from_millis(bound_ms),
            backoff_initial: Duration::from_millis(backoff_ms),
            backoff_max: Duration::from_millis(backoff_ms * 2),
            ..Options::default()
        };
        let target = Arc::new(Logged(validator.clone()));
        let listener = match transport {
            "postgres" => revocation::postgres::listen(&notify_url, target, opts),
            _ => revocation::redis::listen(&notify_url, target, opts),
        }
        .unwrap();
        Box::new(RustNode {
            store,
            validator,
            listener,
        })
    };
    println!("@ ready");
    for line in std::io::stdin().lock().lines() {
        let line = line.unwrap();
        let (cmd, arg) = line.split_once(' ').unwrap_or((&line, ""));
        match cmd {
            "v" => {
                let state = node.validate(arg);
                println!("@ v {state} {} {}", node.lookups(), wall_ns());
            }
            "w" => match node.wait() {
                Ok(()) => println!("@ w ok"),
                Err(e) => println!("@ w {e}"),
            },
            "s" => println!("@ s {}", node.stats()),
            "q" => break,
            _ => println!("@ ? {line}"),
        }
    }
    drop(node);
}

/// The entry point of validator processes; does nothing in a normal test run.
#[test]
fn node_process() {
    if let Ok(kind) = std::env::var(NODE_ENV) {
        node_main(&kind);
        std::process::exit(0);
    }
}

// ------------------------------------------------------------------------------------------
// Driving validator processes

struct Reply {
    state: String,
    lookups: u64,
    at_ns: u64,
}

struct Node {
    name: String,
    child: Child,
    stdin: ChildStdin,
    replies: Receiver<String>,
    evictions: Receiver<(String, u64)>,
}

impl Node {
    fn spawn(kind: &str, store: &str, notify: &str, bound_ms: u64, backoff_ms: u64) -> Node {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "node_process",
                "--exact",
                "--nocapture",
                "--test-threads=1",
                "-q",
            ])
            .env(NODE_ENV, kind)
            .env("REFTOKEN_NODE_STORE", store)
            .env("REFTOKEN_NODE_NOTIFY", notify)
            .env("REFTOKEN_NODE_BOUND_MS", bound_ms.to_string())
            .env("REFTOKEN_NODE_BACKOFF_MS", backoff_ms.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (rtx, replies) = mpsc::channel();
        let (etx, evictions) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.strip_prefix("@ e ") {
                    let (k, t) = rest.rsplit_once(' ').unwrap();
                    let _ = etx.send((k.to_owned(), t.parse().unwrap()));
                } else if line.starts_with("@ c ") {
                    // cache cleared (on every (re)connection)
                } else if let Some(rest) = line.strip_prefix("@ ") {
                    let _ = rtx.send(rest.to_owned());
                }
            }
        });
        let mut n = Node {
            name: format!("{kind}#{}", child.id()),
            child,
            stdin,
            replies,
            evictions,
        };
        assert_eq!(n.recv(), "ready");
        n
    }

    fn recv(&mut self) -> String {
        match self.replies.recv_timeout(Duration::from_secs(30)) {
            Ok(r) => r,
            Err(e) => panic!("{}: no reply: {e:?}", self.name),
        }
    }

    fn cmd(&mut self, line: &str) -> String {
        writeln!(self.stdin, "{line}").unwrap();
        self.stdin.flush().unwrap();
        self.recv()
    }

    fn validate(&mut self, handle: &str) -> Reply {
        let r = self.cmd(&format!("v {handle}"));
        let parts: Vec<&str> = r.split(' ').collect();
        assert_eq!(parts[0], "v", "{}: {r}", self.name);
        Reply {
            state: parts[1].to_owned(),
            lookups: parts[2].parse().unwrap(),
            at_ns: parts[3].parse().unwrap(),
        }
    }

    fn wait_listening(&mut self) {
        let r = self.cmd("w");
        assert_eq!(r, "w ok", "{}: not listening", self.name);
    }

    /// Validates until the state is `want`, for at most `within`; returns how long it took.
    fn until(&mut self, handle: &str, want: &str, within: Duration) -> Duration {
        let t0 = Instant::now();
        loop {
            let r = self.validate(handle);
            if r.state == want {
                return t0.elapsed();
            }
            assert!(
                t0.elapsed() < within,
                "{}: still {} after {within:?}, wanted {want}",
                self.name,
                r.state
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "q");
        let _ = self.stdin.flush();
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_all(
    kinds: &[&str],
    store: &str,
    notify: &str,
    bound_ms: u64,
    backoff_ms: u64,
) -> Vec<Node> {
    let mut nodes: Vec<Node> = kinds
        .iter()
        .map(|k| Node::spawn(k, store, notify, bound_ms, backoff_ms))
        .collect();
    for n in &mut nodes {
        n.wait_listening();
    }
    nodes
}

/// Every node validates `t` (it is then cached); a second validation takes no lookup.
fn cache_everywhere(nodes: &mut [Node], tokens: &[&Issued]) {
    for n in nodes.iter_mut() {
        for t in tokens {
            assert_eq!(n.validate(&t.handle).state, "active", "{}", n.name);
        }
        let before = n.validate(&tokens[0].handle).lookups;
        for t in tokens {
            let r = n.validate(&t.handle);
            assert_eq!(r.state, "active");
            assert_eq!(r.lookups, before, "{}: served from the cache", n.name);
        }
    }
}

/// Validates `t` on every node for `during`, checking that no node calls it active more
/// than `bound` after `deleted_ns`; returns how many stale positives (all within the bound)
/// were seen, and the oldest.
fn never_stale_beyond(
    nodes: &mut [Node],
    t: &Issued,
    deleted_ns: u64,
    bound: Duration,
    during: Duration,
) -> (usize, Duration) {
    let t0 = Instant::now();
    let (mut stale, mut oldest) = (0, Duration::ZERO);
    while t0.elapsed() < during {
        for n in nodes.iter_mut() {
            let r = n.validate(&t.handle);
            if r.state == "active" {
                stale += 1;
                let age = Duration::from_nanos(r.at_ns.saturating_sub(deleted_ns));
                oldest = oldest.max(age);
                assert!(
                    age <= bound + SLACK,
                    "{}: served a token {age:?} after its row was deleted (bound {bound:?})",
                    n.name
                );
            }
        }
        std::thread::sleep(Duration::from_millis(3));
    }
    (stale, oldest)
}

// ------------------------------------------------------------------------------------------
// Tests

#[test]
#[ignore = "needs PostgreSQL and Redis: eval \"$(scripts/test-servers.sh start)\", then scripts/test-rust.sh"]
fn servers_postgres_notify_reaches_every_validator_process() {
    let s = servers("servers_postgres_notify_reaches_every_validator_process");
    let _serial = serial();
    let db = TestDb::create(&s.pg, "pg", true);
    let mut pg = connect(&db.url);
    let (a, b, c) = (issue(&mut pg), issue(&mut pg), issue(&mut pg));
    // Long TTL and bound: only a notification can make a node forget a cached token.
    let mut nodes = spawn_all(
        &["rust-postgres", "rust-postgres", "c-postgres"],
        &db.url,
        &db.url,
        60_000,
        100,
    );
    cache_everywhere(&mut nodes, &[&a, &b, &c]);

    // A grant deleted through IdentityServer's schema is rejected by every process.
    delete(&mut pg, &a.key);
    for n in &mut nodes {
        let took = n.until(&a.handle, "unknown", Duration::from_secs(5));
        eprintln!("{}: rejected the deleted grant after {took:?}", n.name);
        // Only that key was evicted: b is still served from the cache.
        let before = n.validate(&c.handle).lookups;
        assert_eq!(n.validate(&b.handle).lookups, before);
    }

    // A changed grant (its Data rewritten with another scope) is re-read everywhere.
    pg.execute(
        r#"UPDATE "PersistedGrants" SET "Data" = $2 WHERE "Key" = $1"#,
        &[&b.key, &token_data("api2.read")],
    )
    .unwrap();
    for n in &mut nodes {
        n.until(&b.handle, "inactive", Duration::from_secs(5));
    }

    // Duplicate, late and foreign payloads are harmless: c is looked up again at most once
    // and stays active; nothing else happens.
    let base: Vec<u64> = nodes
        .iter_mut()
        .map(|n| n.validate(&c.handle).lookups)
        .collect();
    pg.batch_execute(&format!(
        "SELECT pg_notify('reftoken_revocations', '{a}'), pg_notify('reftoken_revocations', 'not a key'), \
         pg_notify('reftoken_revocations', repeat('x', 7000)); \
         SELECT pg_notify('reftoken_revocations', '{c}'); SELECT pg_notify('reftoken_revocations', '{c}');",
        a = a.key,
        c = c.key
    ))
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    for (n, base) in nodes.iter_mut().zip(base) {
        let r = n.validate(&c.handle);
        assert_eq!(r.state, "active");
        assert!(
            r.lookups <= base + 1,
            "{}: {} lookups after duplicates",
            n.name,
            r.lookups - base
        );
        assert_eq!(n.validate(&a.handle).state, "unknown");
    }

    // TRUNCATE forgets everything.
    let d = issue(&mut pg);
    for n in &mut nodes {
        assert_eq!(n.validate(&d.handle).state, "active");
    }
    pg.batch_execute(r#"TRUNCATE "PersistedGrants""#).unwrap();
    for n in &mut nodes {
        n.until(&d.handle, "unknown", Duration::from_secs(5));
        n.until(&c.handle, "unknown", Duration::from_secs(5));
    }
}

#[test]
#[ignore = "needs PostgreSQL and Redis: eval \"$(scripts/test-servers.sh start)\", then scripts/test-rust.sh"]
fn servers_redis_publish_reaches_every_validator_process() {
    let s = servers("servers_redis_publish_reaches_every_validator_process");
    let _serial = serial();
    // A store that cannot notify: no trigger.
    let db = TestDb::create(&s.pg, "redis", false);
    let mut pg = connect(&db.url);
    let (a, b, c) = (issue(&mut pg), issue(&mut pg), issue(&mut pg));
    let mut nodes = spawn_all(
        &["rust-redis", "rust-redis", "c-redis"],
        &db.url,
        &s.redis,
        60_000,
        100,
    );
    cache_everywhere(&mut nodes, &[&a, &b, &c]);

    // Deleting the row alone reaches no cache...
    delete(&mut pg, &a.key);
    std::thread::sleep(Duration::from_millis(200));
    for n in &mut nodes {
        assert_eq!(
            n.validate(&a.handle).state,
            "active",
            "{}: the cache still serves it",
            n.name
        );
    }
    // ...publishing its key ("evict this key on all nodes") reaches every one.
    assert_eq!(
        revocation::redis::publish(&s.redis, None, &a.key).unwrap(),
        3
    );
    for n in &mut nodes {
        n.until(&a.handle, "unknown", Duration::from_secs(5));
    }

    // The same through the C ABI.
    delete(&mut pg, &b.key);
    let mut receivers = 0u64;
    let st = unsafe {
        reftoken_revocation_publish_redis(
            s.redis.as_ptr().cast(),
            s.redis.len(),
            std::ptr::null(),
            0,
            b.key.as_ptr().cast(),
            b.key.len(),
            &mut receivers,
        )
    };
    assert_eq!(st, REFTOKEN_OK, "{}", last_error());
    assert_eq!(receivers, 3);
    for n in &mut nodes {
        n.until(&b.handle, "unknown", Duration::from_secs(5));
    }

    // Duplicates and foreign payloads are harmless.
    let mut p = revocation::redis::Publisher::new(&s.redis).unwrap();
    for k in [
        a.key.as_str(),
        "garbage",
        a.key.as_str(),
        c.key.as_str(),
        c.key.as_str(),
    ] {
        p.publish(None, k).unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    for n in &mut nodes {
        assert_eq!(n.validate(&c.handle).state, "active");
        assert_eq!(n.validate(&a.handle).state, "unknown");
    }
}

#[test]
#[ignore = "needs PostgreSQL and Redis: eval \"$(scripts/test-servers.sh start)\", then scripts/test-rust.sh"]
fn servers_postgres_outage_never_serves_a_stale_positive_beyond_the_bound() {
    let test = "servers_postgres_outage_never_serves_a_stale_positive_beyond_the_bound";
    let s = servers(test);
    let _serial = serial();
    own_servers(test, &s);
    let bound = Duration::from_millis(1000);
    let db = TestDb::create(&s.pg, "pgfault", true);
    let mut pg = connect(&db.url);
    let (t1, t2, t3) = (issue(&mut pg), issue(&mut pg), issue(&mut pg));
    // Reconnection waits 1 to 2 s after a loss: long enough to lose notifications.
    let mut nodes = spawn_all(
        &["rust-postgres", "rust-postgres"],
        &db.url,
        &db.url,
        bound.as_millis() as u64,
        2000,
    );
    cache_everywhere(&mut nodes, &[&t1, &t2, &t3]);

    // The database crashes and comes back; the listeners are away for a while. Fresh cache
    // entries are made, then t1 is deleted while no listener hears it.
    drop(pg);
    Outage::begin("postgres").end();
    let mut pg = connect_retrying(&db.url);
    for n in &mut nodes {
        n.until(&t1.handle, "active", Duration::from_secs(10));
    }
    let deleted = delete(&mut pg, &t1.key);
    let (stale, oldest) = never_stale_beyond(
        &mut nodes,
        &t1,
        deleted,
        bound,
        bound + Duration::from_millis(700),
    );
    eprintln!(
        "{test}: after the restart, {stale} stale positives, the oldest {oldest:?} after the delete (bound {bound:?})"
    );
    for n in &mut nodes {
        n.until(&t1.handle, "unknown", Duration::from_secs(1));
        n.wait_listening();
        assert_eq!(n.validate(&t2.handle).state, "active");
    }

    // The listeners' own connections are killed while the database stays up; a delete
    // right then is missed as well.
    for n in &mut nodes {
        assert_eq!(n.validate(&t3.handle).state, "active");
    }
    pg.batch_execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'reftoken-revocation' AND datname = current_database()")
        .unwrap();
    let deleted = delete(&mut pg, &t3.key);
    let (stale, oldest) = never_stale_beyond(
        &mut nodes,
        &t3,
        deleted,
        bound,
        bound + Duration::from_millis(500),
    );
    eprintln!(
        "{test}: after the listeners were cut off, {stale} stale positives, the oldest {oldest:?} after the delete (bound {bound:?})"
    );
    for n in &mut nodes {
        n.until(&t3.handle, "unknown", Duration::from_secs(1));
        // They come back, and notifications work again.
        n.wait_listening();
    }
    delete(&mut pg, &t2.key);
    for n in &mut nodes {
        n.until(&t2.handle, "unknown", Duration::from_millis(900));
    }
}

#[test]
#[ignore = "needs PostgreSQL and Redis: eval \"$(scripts/test-servers.sh start)\", then scripts/test-rust.sh"]
fn servers_redis_outage_never_serves_a_stale_positive_beyond_the_bound() {
    let test = "servers_redis_outage_never_serves_a_stale_positive_beyond_the_bound";
    let s = servers(test);
    let _serial = serial();
    own_servers(test, &s);
    let bound = Duration::from_millis(1000);
    let db = TestDb::create(&s.pg, "redisfault", false);
    let mut pg = connect(&db.url);
    let (t1, t2) = (issue(&mut pg), issue(&mut pg));
    let mut nodes = spawn_all(
        &["rust-redis", "rust-redis"],
        &db.url,
        &s.redis,
        bound.as_millis() as u64,
        300,
    );
    cache_everywhere(&mut nodes, &[&t1, &t2]);

    // Redis dies: the revocation of t1 cannot be published and is lost.
    let outage = Outage::begin("redis");
    let deleted = delete(&mut pg, &t1.key);
    assert!(revocation::redis::publish(&s.redis, None, &t1.key).is_err());
    let (stale, oldest) = never_stale_beyond(
        &mut nodes,
        &t1,
        deleted,
        bound,
        bound + Duration::from_millis(300),
    );
    eprintln!(
        "{test}: with Redis down, {stale} stale positives, the oldest {oldest:?} after the delete (bound {bound:?})"
    );
    for n in &mut nodes {
        // Past the bound the cache stops serving old entries: the store says no.
        assert_eq!(n.validate(&t1.handle).state, "unknown");
        // Tokens not revoked stay valid (looked up again).
        assert_eq!(n.validate(&t2.handle).state, "active");
    }

    // Redis comes back: the listeners reconnect, resynchronise, and revocations flow again.
    outage.end();
    for n in &mut nodes {
        n.wait_listening();
        assert_eq!(n.validate(&t2.handle).state, "active");
    }
    delete(&mut pg, &t2.key);
    let mut published = 0;
    let t0 = Instant::now();
    while published < 2 {
        published = revocation::redis::publish(&s.redis, None, &t2.key).unwrap();
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "the listeners did not resubscribe"
        );
    }
    for n in &mut nodes {
        n.until(&t2.handle, "unknown", Duration::from_millis(900));
    }
}

#[test]
#[ignore = "needs PostgreSQL and Redis: eval \"$(scripts/test-servers.sh start)\", then scripts/test-rust.sh"]
fn servers_watch_reports_keys_as_they_are_revoked() {
    let s = servers("servers_watch_reports_keys_as_they_are_revoked");
    let _serial = serial();
    let db = TestDb::create(&s.pg, "watch", true);
    let mut pg = connect(&db.url);
    let a = issue(&mut pg);
    let (tx, rx) = mpsc::channel();
    let url = db.url.clone();
    let watcher = std::thread::spawn(move || {
        let mut listening = false;
        revocation::postgres::watch(&url, &Options::default(), |e| match e {
            Event::Listening { .. } => {
                listening = true;
                tx.send("listening".to_owned()).unwrap();
                ControlFlow::Continue(())
            }
            Event::Revoked(k) => {
                tx.send(k.to_owned()).unwrap();
                ControlFlow::Break(())
            }
            _ => ControlFlow::Continue(()),
        })
        .unwrap();
        listening
    });
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(10)).unwrap(),
        "listening"
    );
    delete(&mut pg, &a.key);
    assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), a.key);
    assert!(watcher.join().unwrap());

    // Redis likewise.
    let (tx, rx) = mpsc::channel();
    let url = s.redis.clone();
    let opts = Options {
        channel: format!("reftoken_watch_{}", std::process::id()),
        ..Options::default()
    };
    let chan = opts.channel.clone();
    let watcher = std::thread::spawn(move || {
        revocation::redis::watch(&url, &opts, |e| match e {
            Event::Listening { .. } => {
                tx.send(String::new()).unwrap();
                ControlFlow::Continue(())
            }
            Event::Revoked(k) => {
                tx.send(k.to_owned()).unwrap();
                ControlFlow::Break(())
            }
            _ => ControlFlow::Continue(()),
        })
        .unwrap()
    });
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), "");
    assert_eq!(
        revocation::redis::publish(&s.redis, Some(&chan), "K123").unwrap(),
        1
    );
    assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), "K123");
    watcher.join().unwrap();
}

#[test]
fn c_abi_checks_its_arguments() {
    let store = PgStore::new("postgresql://127.0.0.1:1/none".into());
    let mut v = std::ptr::null_mut();
    assert_eq!(
        unsafe {
            reftoken_validator_new(
                Some(c_lookup),
                (&store as *const PgStore).cast_mut().cast(),
                std::ptr::null(),
                10,
                60,
                &mut v,
            )
        },
        REFTOKEN_OK
    );
    let url = "postgresql://127.0.0.1:1/none";
    let mut l = std::ptr::null_mut();
    let start = |v: *const reftoken_validator,
                 url: &str,
                 chan: &str,
                 bound: u32,
                 out: *mut *mut reftoken_revocation_listener| unsafe {
        reftoken_revocation_listener_start_postgres(
            v,
            url.as_ptr().cast(),
            url.len(),
            chan.as_ptr().cast(),
            chan.len(),
            bound,
            out,
        )
    };
    assert_eq!(
        start(std::ptr::null(), url, "", 0, &mut l),
        REFTOKEN_NULL_ARGUMENT
    );
    assert_eq!(
        start(v, url, "", 0, std::ptr::null_mut()),
        REFTOKEN_NULL_ARGUMENT
    );
    assert_eq!(
        start(v, "postgresql://h:port/db", "", 0, &mut l),
        REFTOKEN_MALFORMED_INPUT
    );
    assert!(l.is_null());
    assert_eq!(
        start(v, url, &"c".repeat(64), 0, &mut l),
        REFTOKEN_INVALID_ARGUMENT
    );
    assert_eq!(start(v, url, "", 10, &mut l), REFTOKEN_INVALID_ARGUMENT);
    assert_eq!(
        unsafe {
            reftoken_revocation_listener_start_redis(
                v,
                "http://x".as_ptr().cast(),
                8,
                std::ptr::null(),
                0,
                0,
                &mut l,
            )
        },
        REFTOKEN_MALFORMED_INPUT
    );

    // Nothing listens on port 1: the listener keeps trying and says why.
    assert_eq!(start(v, url, "", 200, &mut l), REFTOKEN_OK);
    assert!(!l.is_null());
    assert_eq!(
        unsafe { reftoken_revocation_listener_wait(l, 300) },
        REFTOKEN_IO_ERROR
    );
    let msg = last_error();
    assert!(msg.contains("127.0.0.1:1"), "{msg}");
    let mut stats = reftoken_revocation_stats::default();
    assert_eq!(
        unsafe { reftoken_revocation_listener_stats(l, &mut stats) },
        REFTOKEN_OK
    );
    assert!(
        !stats.listening && stats.failures >= 1 && stats.connects == 0,
        "{stats:?}"
    );
    assert_eq!(stats.confirmed_age_ms, u64::MAX);
    assert_eq!(
        unsafe { reftoken_revocation_listener_stats(l, std::ptr::null_mut()) },
        REFTOKEN_NULL_ARGUMENT
    );
    assert_eq!(unsafe { reftoken_revocation_listener_stop(l) }, REFTOKEN_OK);
    assert_eq!(unsafe { reftoken_revocation_listener_stop(l) }, REFTOKEN_OK);
    assert_eq!(
        unsafe { reftoken_revocation_listener_wait(l, 10) },
        REFTOKEN_IO_ERROR
    );
    unsafe { reftoken_revocation_listener_free(l) };
    unsafe { reftoken_revocation_listener_free(std::ptr::null_mut()) };
    assert_eq!(
        unsafe { reftoken_revocation_listener_stop(std::ptr::null()) },
        REFTOKEN_NULL_ARGUMENT
    );
    assert_eq!(
        unsafe { reftoken_revocation_listener_wait(std::ptr::null(), 0) },
        REFTOKEN_NULL_ARGUMENT
    );

    // Publishing: arguments, then an unreachable server.
    let publish = |url: &str, key: &str, n: *mut u64| unsafe {
        reftoken_revocation_publish_redis(
            url.as_ptr().cast(),
            url.len(),
            std::ptr::null(),
            0,
            key.as_ptr().cast(),
            key.len(),
            n,
        )
    };
    assert_eq!(
        publish("redis://127.0.0.1:1/", "", std::ptr::null_mut()),
        REFTOKEN_INVALID_ARGUMENT
    );
    assert_eq!(
        publish("nonsense", "K", std::ptr::null_mut()),
        REFTOKEN_MALFORMED_INPUT
    );
    let mut n = 7u64;
    assert_eq!(
        publish("redis://127.0.0.1:1/", "K", &mut n),
        REFTOKEN_IO_ERROR
    );
    assert_eq!(n, 0);
    assert_eq!(
        unsafe {
            reftoken_revocation_publish_redis(
                std::ptr::null(),
                3,
                std::ptr::null(),
                0,
                std::ptr::null(),
                0,
                std::ptr::null_mut(),
            )
        },
        REFTOKEN_NULL_ARGUMENT
    );
    unsafe { reftoken_validator_free(v) };
}

/// The lost-notification rule without servers: a listener that never connects lets the
/// validator serve only entries younger than the bound.
#[test]
fn an_unconfirmed_listener_limits_entries_to_the_bound() {
    let rows: Arc<Mutex<HashMap<String, StoredGrant>>> = Arc::default();
    let lookups = Arc::new(AtomicU64::new(0));
    let (r, n) = (rows.clone(), lookups.clone());
    let v = Arc::new(Validator::new(
        move |k: &str| -> Result<Option<StoredGrant>, Error> {
            n.fetch_add(1, Ordering::SeqCst);
            Ok(r.lock().unwrap().get(k).cloned())
        },
        None,
        CacheOptions {
            capacity: 10,
            ttl_seconds: 3600,
        },
    ));
    let handle = reftoken::handle::new_handle().unwrap().to_string();
    let key = reftoken::key::store_key(&handle, "reference_token")
        .unwrap()
        .to_string();
    rows.lock().unwrap().insert(
        key.clone(),
        StoredGrant {
            grant_type: "reference_token".into(),
            data: token_data("api1.read"),
        },
    );
    let now = At::from_unix_seconds(unix_now());
    assert!(matches!(v.find(&handle, now).unwrap(), Found::Token(_)));
    assert!(matches!(v.find(&handle, now).unwrap(), Found::Token(_)));
    assert_eq!(lookups.load(Ordering::SeqCst), 1);

    let opts = Options {
        stale_bound: Duration::from_millis(100),
        backoff_initial: Duration::from_millis(50),
        ..Options::default()
    };
    let l = revocation::redis::listen("redis://127.0.0.1:1/", v.clone(), opts).unwrap();
    // The row goes; no notification can come. Within the bound the entry may still serve,
    // past it the store is asked again.
    rows.lock().unwrap().clear();
    std::thread::sleep(Duration::from_millis(150));
    assert!(matches!(v.find(&handle, now).unwrap(), Found::NotFound(_)));
    assert_eq!(lookups.load(Ordering::SeqCst), 2);
    // Stopping the listener removes its bound: the TTL alone applies again.
    rows.lock().unwrap().insert(
        key.clone(),
        StoredGrant {
            grant_type: "reference_token".into(),
            data: token_data("api1.read"),
        },
    );
    l.stop();
    assert!(matches!(v.find(&handle, now).unwrap(), Found::Token(_)));
    std::thread::sleep(Duration::from_millis(150));
    assert!(matches!(v.find(&handle, now).unwrap(), Found::Token(_)));
    assert_eq!(lookups.load(Ordering::SeqCst), 3);
}

/// Reads the row, then has its eviction processed, before the lookup returns.
struct Racing {
    target: Arc<Mutex<Option<Arc<dyn Target>>>>,
    key: String,
    data: String,
}

impl Lookup for Racing {
    fn lookup(&self, _key: &str) -> Result<Option<StoredGrant>, Error> {
        let row = StoredGrant {
            grant_type: "reference_token".into(),
            data: self.data.clone(),
        };
        if let Some(t) = self.target.lock().unwrap().as_ref() {
            t.evict(&self.key);
        }
        Ok(Some(row))
    }
}

/// A lookup that straddles an eviction of its key does not cache what it read.
#[test]
fn an_eviction_during_a_lookup_is_not_undone() {
    let handle = reftoken::handle::new_handle().unwrap().to_string();
    let key = reftoken::key::store_key(&handle, "reference_token")
        .unwrap()
        .to_string();
    let target: Arc<Mutex<Option<Arc<dyn Target>>>> = Arc::default();
    let v = Arc::new(Validator::new(
        Racing {
            target: target.clone(),
            key,
            data: token_data("api1.read"),
        },
        None,
        CacheOptions::default(),
    ));
    *target.lock().unwrap() = Some(v.clone());
    assert!(matches!(
        v.find(&handle, At::from_unix_seconds(unix_now())).unwrap(),
        Found::Token(_)
    ));
    assert_eq!(
        v.cached(),
        0,
        "the row read before the eviction was not cached"
    );
    // Without the race, it is cached.
    *target.lock().unwrap() = None;
    assert!(matches!(
        v.find(&handle, At::from_unix_seconds(unix_now())).unwrap(),
        Found::Token(_)
    ));
    assert_eq!(v.cached(), 1);
}

// ------------------------------------------------------------------------------------------
// Benchmark

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn bench_transport(s: &Servers, transport: &str, revocations: usize) {
    let db = TestDb::create(
        &s.pg,
        &format!("bench_{transport}"),
        transport == "postgres",
    );
    let mut pg = connect(&db.url);
    let notify = if transport == "postgres" {
        db.url.clone()
    } else {
        s.redis.clone()
    };
    let kind = format!("rust-{transport}");
    let mut nodes = spawn_all(&[&kind, &kind, &kind, &kind], &db.url, &notify, 10_000, 100);
    let mut publisher = revocation::redis::Publisher::new(&s.redis).unwrap();
    let mut per_node = Vec::new();
    let mut every_node = Vec::new();
    for _ in 0..revocations {
        let t = issue(&mut pg);
        for n in &mut nodes {
            assert_eq!(n.validate(&t.handle).state, "active");
        }
        let committed = delete(&mut pg, &t.key);
        if transport == "redis" {
            publisher.publish(None, &t.key).unwrap();
        }
        let mut last = 0f64;
        for n in &mut nodes {
            loop {
                match n.evictions.recv_timeout(Duration::from_secs(5)) {
                    Ok((k, at)) if k == t.key => {
                        let ms = (at as f64 - committed as f64) / 1e6;
                        per_node.push(ms);
                        last = last.max(ms);
                        break;
                    }
                    Ok(_) => continue,
                    Err(RecvTimeoutError::Timeout) => {
                        panic!("{}: no eviction of {}", n.name, t.key)
                    }
                    Err(e) => panic!("{e:?}"),
                }
            }
        }
        every_node.push(last);
    }
    per_node.sort_by(f64::total_cmp);
    every_node.sort_by(f64::total_cmp);
    println!(
        "{transport:8} {revocations} revocations x 4 nodes: per node p50 {:.2} ms, p99 {:.2} ms; all 4 nodes evicted: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        percentile(&per_node, 0.5),
        percentile(&per_node, 0.99),
        percentile(&every_node, 0.5),
        percentile(&every_node, 0.99),
        every_node.last().unwrap()
    );
}

/// Time from the DELETE's commit (acknowledged to the deleting client) to the eviction on
/// each of 4 validator processes. REFTOKEN_BENCH_REVOCATIONS sets the count (default 500).
#[test]
#[ignore = "benchmark, run by hand with servers: cargo test --release --test revocation -- --ignored --nocapture bench_"]
fn bench_revocation_latency() {
    let s = servers("bench_revocation_latency");
    let _serial = serial();
    let n = env_u64("REFTOKEN_BENCH_REVOCATIONS", 500) as usize;
    bench_transport(&s, "postgres", n);
    bench_transport(&s, "redis", n);
}
