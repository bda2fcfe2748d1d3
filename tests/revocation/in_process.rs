//! Without servers: the C ABI's argument checks, the bound of an unconfirmed listener, and an
//! eviction racing a lookup.

use reftoken::revocation::Target;
use reftoken::validator::{Found, Lookup};

use super::*;

/// A C ABI validator over `store` (10 entries, 60 s); `store` must outlive it.
fn c_validator(store: &PgStore) -> *mut reftoken_validator {
    let mut v = std::ptr::null_mut();
    assert_eq!(
        unsafe {
            reftoken_validator_new(
                Some(c_lookup),
                (store as *const PgStore).cast_mut().cast(),
                std::ptr::null(),
                10,
                60,
                &mut v,
            )
        },
        REFTOKEN_OK
    );
    v
}

#[test]
fn c_abi_checks_its_arguments() {
    let store = PgStore::new("postgresql://127.0.0.1:1/none".into());
    let v = c_validator(&store);
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
    let store = Arc::new(MemStore::default());
    let v = store.validator();
    let Issued { handle, key } = store.issue();
    let now = At::from_unix_seconds(unix_now());
    assert!(matches!(v.find(&handle, now).unwrap(), Found::Token(_)));
    assert!(matches!(v.find(&handle, now).unwrap(), Found::Token(_)));
    assert_eq!(store.lookups(), 1);

    let opts = Options {
        stale_bound: Duration::from_millis(100),
        backoff_initial: Duration::from_millis(50),
        ..Options::default()
    };
    let l = revocation::redis::listen("redis://127.0.0.1:1/", v.clone(), opts).unwrap();
    // The row goes; no notification can come. Within the bound the entry may still serve,
    // past it the store is asked again.
    store.rows.lock().unwrap().clear();
    std::thread::sleep(Duration::from_millis(150));
    assert!(matches!(v.find(&handle, now).unwrap(), Found::NotFound(_)));
    assert_eq!(store.lookups(), 2);
    // Stopping the listener removes its bound: the TTL alone applies again.
    store.restore(&key);
    l.stop();
    assert!(matches!(v.find(&handle, now).unwrap(), Found::Token(_)));
    std::thread::sleep(Duration::from_millis(150));
    assert!(matches!(v.find(&handle, now).unwrap(), Found::Token(_)));
    assert_eq!(store.lookups(), 3);
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

/// Every credential form the drivers accept is masked in `reftoken_last_error`, whether the
/// string is refused at once (malformed), the connection fails, or a publish fails.
#[test]
fn c_abi_errors_never_show_a_password() {
    const SECRET: &str = "S3CRET";
    let store = PgStore::new("postgresql://127.0.0.1:1/none".into());
    let v = c_validator(&store);
    type Start = unsafe extern "C" fn(
        *const reftoken_validator,
        *const std::ffi::c_char,
        usize,
        *const std::ffi::c_char,
        usize,
        u32,
        *mut *mut reftoken_revocation_listener,
    ) -> reftoken_status;
    let cases: &[(&str, Start)] = &[
        (
            "postgresql://u:S3CRET@127.0.0.1:1/db",
            reftoken_revocation_listener_start_postgres,
        ),
        (
            "postgres://u:S3/CR?ET@127.0.0.1:1/db",
            reftoken_revocation_listener_start_postgres,
        ),
        (
            "postgresql://u@127.0.0.1:1/db?password=S3CRET",
            reftoken_revocation_listener_start_postgres,
        ),
        (
            "postgresql://127.0.0.1:1/db?PASSWORD=S3CRET",
            reftoken_revocation_listener_start_postgres,
        ),
        (
            "host=127.0.0.1 port=1 password = S3CRET",
            reftoken_revocation_listener_start_postgres,
        ),
        (
            "host=127.0.0.1 port=1 password='with S3CRET spaces'",
            reftoken_revocation_listener_start_postgres,
        ),
        (
            r"host=127.0.0.1 port=1 password='it\'s S3CRET'",
            reftoken_revocation_listener_start_postgres,
        ),
        (
            "host=127.0.0.1 port=1 password S3CRET",
            reftoken_revocation_listener_start_postgres,
        ),
        (
            "redis://:S3CRET@127.0.0.1:1/",
            reftoken_revocation_listener_start_redis,
        ),
        (
            "redis://user:S3CRET@127.0.0.1:1/0",
            reftoken_revocation_listener_start_redis,
        ),
        (
            "rediss://user:S3CRET@127.0.0.1:1/",
            reftoken_revocation_listener_start_redis,
        ),
        (
            "redis+unix:///nonexistent/redis.sock?pass=S3CRET",
            reftoken_revocation_listener_start_redis,
        ),
        (
            "unix:///nonexistent/redis.sock?db=0&pass=S3CRET",
            reftoken_revocation_listener_start_redis,
        ),
    ];
    for &(url, start) in cases {
        let mut l = std::ptr::null_mut();
        let st = unsafe {
            start(
                v,
                url.as_ptr().cast(),
                url.len(),
                std::ptr::null(),
                0,
                200,
                &mut l,
            )
        };
        let msg = if st == REFTOKEN_OK {
            // Started: the connection fails in the listener's thread and `wait` reports it.
            let waited = unsafe { reftoken_revocation_listener_wait(l, 300) };
            unsafe { reftoken_revocation_listener_free(l) };
            assert_eq!(waited, REFTOKEN_IO_ERROR, "{url}");
            last_error()
        } else {
            assert_eq!(st, REFTOKEN_MALFORMED_INPUT, "{url}");
            last_error()
        };
        assert!(!msg.is_empty(), "{url}");
        assert!(!msg.contains(SECRET), "{url}: {msg}");
    }

    // A failed publish.
    for url in [
        "redis://:S3CRET@127.0.0.1:1/",
        "redis+unix:///nonexistent/redis.sock?pass=S3CRET",
        "redis://:S3CRET@[::1",
    ] {
        let mut n = 0u64;
        let st = unsafe {
            reftoken_revocation_publish_redis(
                url.as_ptr().cast(),
                url.len(),
                std::ptr::null(),
                0,
                "K".as_ptr().cast(),
                1,
                &mut n,
            )
        };
        assert_ne!(st, REFTOKEN_OK, "{url}");
        let msg = last_error();
        assert!(!msg.is_empty() && !msg.contains(SECRET), "{url}: {msg}");
    }
    unsafe { reftoken_validator_free(v) };
}
