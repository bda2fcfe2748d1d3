//! The validator process: this test binary re-run as `node_process` (see `main.rs`), with
//! a Rust or a C ABI validator reading the store and a listener for revocations.

use std::ffi::{c_char, c_void};
use std::io::BufRead;
use std::sync::atomic::{AtomicU64, Ordering};

use postgres::{Client, NoTls};
use reftoken::introspection::{self, Caller};
use reftoken::revocation::{Fence, Target};
use reftoken::validator::{Found, Lookup};

use super::*;

/// Reads rows from PostgreSQL, reconnecting after failures; counts lookups.
pub struct PgStore {
    pub url: String,
    pub client: Mutex<Option<Client>>,
    pub lookups: AtomicU64,
}

impl PgStore {
    pub fn new(url: String) -> Self {
        PgStore {
            url,
            client: Mutex::new(None),
            lookups: AtomicU64::new(0),
        }
    }

    pub fn get(&self, key: &str) -> Result<Option<StoredGrant>, String> {
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

pub struct StoreLookup(pub Arc<PgStore>);

impl Lookup for StoreLookup {
    fn lookup(&self, key: &str) -> Result<Option<StoredGrant>, Error> {
        self.0
            .get(key)
            .map_err(|_| Error::Lookup(REFTOKEN_IO_ERROR as u32))
    }
}

/// A validator that reports every eviction on stdout, with the time.
pub struct Logged(pub Arc<Validator<StoreLookup>>);

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

pub fn env_u64(k: &str, default: u64) -> u64 {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub trait NodeImpl {
    /// `active`, `inactive`, `unknown` or `error`.
    fn validate(&self, handle: &str) -> &'static str;
    fn lookups(&self) -> u64;
    fn wait(&self) -> Result<(), String>;
    fn stats(&self) -> String;
}

pub struct RustNode {
    pub store: Arc<PgStore>,
    pub validator: Arc<Validator<StoreLookup>>,
    pub listener: revocation::Listener,
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
                .is_ok_and(|v| v.active())
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
pub struct CNode {
    pub store: *mut PgStore,
    pub validator: *mut reftoken_validator,
    pub listener: *mut reftoken_revocation_listener,
}

pub unsafe extern "C" fn c_lookup(
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

impl CNode {
    pub fn new(store_url: String, transport: &str, notify_url: &str, bound_ms: u32) -> CNode {
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
            name: rs("api1"),
            scopes: rs("api1.read"),
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
pub fn node_main(kind: &str) {
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
