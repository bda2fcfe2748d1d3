//! Revocation that reaches every node: listeners that evict what the store (PostgreSQL
//! NOTIFY) or other nodes (Redis) publish, and "evict this key on all nodes".

use std::ffi::c_char;
use std::sync::Arc;
use std::time::Duration;

use super::reftoken_status;
#[cfg(feature = "revocation")]
use super::validator_fns::{CLookup, reftoken_validator};
use super::{Opaque, check_null, fail, ffi_boundary, try_ref, try_str};
use reftoken::Error;
use reftoken::revocation::{Fence, Listener, Target};
use reftoken::validator::Validator;

/// A background thread that keeps one connection to PostgreSQL or Redis, listens on a
/// channel, and evicts every store key published there from one validator's cache. Free it
/// with `reftoken_revocation_listener_free`.
pub struct reftoken_revocation_listener {
    _private: [u8; 0],
}

impl Opaque for Listener {
    type C = reftoken_revocation_listener;
}

/// A listener's counters, from `reftoken_revocation_listener_stats`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct reftoken_revocation_stats {
    /// Connections that reached the listening state.
    pub connects: u64,
    /// Failed connection attempts and lost connections.
    pub failures: u64,
    /// Store keys received (duplicates included).
    pub notifications: u64,
    /// "Forget everything" payloads received (`*`, sent when the table is truncated).
    pub flushes: u64,
    /// Milliseconds since delivery was last confirmed (on connecting, then by a heartbeat
    /// every quarter of the staleness bound); `UINT64_MAX` when never.
    pub confirmed_age_ms: u64,
    /// Whether the listener listens now.
    pub listening: bool,
}

/// The validator a C listener evicts from: a reference of its own, so the caller may free
/// the validator before or after the listener.
#[cfg_attr(not(feature = "revocation"), allow(dead_code))]
struct CTarget(Arc<Validator<CLookup>>);

impl CTarget {
    #[cfg_attr(not(feature = "revocation"), allow(dead_code))]
    fn v(&self) -> &Validator<CLookup> {
        &self.0
    }
}

impl Target for CTarget {
    fn evict(&self, key: &str) {
        self.v().evict(key);
    }
    fn clear(&self) {
        self.v().clear();
    }
    fn fence(&self) -> &Fence {
        self.v().fence()
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Postgres,
    Redis,
}

#[cfg(feature = "revocation")]
fn start(
    kind: Kind,
    v: &Arc<Validator<CLookup>>,
    url: &str,
    channel: &str,
    stale_bound_ms: u32,
) -> Result<Listener, Error> {
    let mut opts = reftoken::revocation::Options::default();
    if !channel.is_empty() {
        opts.channel = channel.to_owned();
    }
    if stale_bound_ms != 0 {
        opts.stale_bound = Duration::from_millis(u64::from(stale_bound_ms));
    }
    let target = Arc::new(CTarget(Arc::clone(v)));
    match kind {
        Kind::Postgres => reftoken::revocation::postgres::listen(url, target, opts),
        Kind::Redis => reftoken::revocation::redis::listen(url, target, opts),
    }
}

#[cfg(not(feature = "revocation"))]
fn start(
    _: Kind,
    _: &Arc<Validator<CLookup>>,
    _: &str,
    _: &str,
    _: u32,
) -> Result<Listener, Error> {
    Err(unsupported())
}

#[cfg(not(feature = "revocation"))]
fn unsupported() -> Error {
    Error::InvalidArgument("this library was built without the `revocation` feature")
}

#[allow(clippy::too_many_arguments)]
unsafe fn start_c(
    name: &'static str,
    kind: Kind,
    validator: *const reftoken_validator,
    url: *const c_char,
    url_len: usize,
    channel: *const c_char,
    channel_len: usize,
    stale_bound_ms: u32,
    out: *mut *mut reftoken_revocation_listener,
) -> reftoken_status {
    ffi_boundary(name, || {
        check_null!(out);
        // SAFETY: checked non-null.
        unsafe { *out = std::ptr::null_mut() };
        let v = try_ref!(Arc<Validator<CLookup>>, validator);
        let url = try_str!(url, url_len);
        let channel = try_str!(channel, channel_len);
        match start(kind, v, url, channel, stale_bound_ms) {
            // SAFETY: checked non-null.
            Ok(l) => unsafe { *out = l.into_c() },
            Err(e) => return Err(fail(e)),
        }
        Ok(())
    })
}

/// Starts a listener that `LISTEN`s on `channel` of the PostgreSQL database at `url` (a
/// `postgresql://` URL or a `key=value` connection string; the database that holds
/// `PersistedGrants` with the triggers of `migrations/postgres/`) and evicts every store key
/// notified there from `validator`'s cache. `channel` may be empty (`ptr` NULL, `len` 0) for
/// `reftoken_revocations`. `stale_bound_ms` (0: 10000, else at least 50) bounds how long
/// after its row is deleted a token can still be served from the cache when notifications
/// are lost: while the connection is down or unconfirmed, entries older than the bound are
/// looked up again instead of served. The call returns at once; the connection is made, and
/// remade after failures with exponential backoff, on the listener's own thread; each time
/// it listens again the cache is cleared (resynchronisation). `reftoken_revocation_listener_wait`
/// waits for the first connection.
///
/// The listener holds a reference of its own on `validator`: the two may be freed in either
/// order (a validator freed first lives on, evicting only, until its last listener is freed;
/// its lookup is never called again). Several listeners may serve one validator (every bound
/// then applies). On failure `*out` is NULL.
///
/// Returns `REFTOKEN_OK`; `REFTOKEN_NULL_ARGUMENT`; `REFTOKEN_INVALID_UTF8`;
/// `REFTOKEN_MALFORMED_INPUT` (the URL); `REFTOKEN_INVALID_ARGUMENT` (channel over 63 bytes,
/// bound under 50 ms, or a library built without the `revocation` feature); or
/// `REFTOKEN_IO_ERROR` (no thread could be started).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn reftoken_revocation_listener_start_postgres(
    validator: *const reftoken_validator,
    url: *const c_char,
    url_len: usize,
    channel: *const c_char,
    channel_len: usize,
    stale_bound_ms: u32,
    out: *mut *mut reftoken_revocation_listener,
) -> reftoken_status {
    // SAFETY: forwarded pointer contracts.
    unsafe {
        start_c(
            "reftoken_revocation_listener_start_postgres",
            Kind::Postgres,
            validator,
            url,
            url_len,
            channel,
            channel_len,
            stale_bound_ms,
            out,
        )
    }
}

/// As `reftoken_revocation_listener_start_postgres`, subscribed to `channel` of the Redis
/// server at `url` (`redis://[user[:password]@]host[:port][/db]`), where revoking nodes
/// publish keys with `reftoken_revocation_publish_redis`. Redis keeps no message for a
/// disconnected subscriber; the staleness bound covers what is lost.
///
/// Returns as `reftoken_revocation_listener_start_postgres`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn reftoken_revocation_listener_start_redis(
    validator: *const reftoken_validator,
    url: *const c_char,
    url_len: usize,
    channel: *const c_char,
    channel_len: usize,
    stale_bound_ms: u32,
    out: *mut *mut reftoken_revocation_listener,
) -> reftoken_status {
    // SAFETY: forwarded pointer contracts.
    unsafe {
        start_c(
            "reftoken_revocation_listener_start_redis",
            Kind::Redis,
            validator,
            url,
            url_len,
            channel,
            channel_len,
            stale_bound_ms,
            out,
        )
    }
}

/// Waits up to `timeout_ms` milliseconds until the listener listens.
///
/// Returns `REFTOKEN_OK` when it does; `REFTOKEN_IO_ERROR` when it does not (the last error
/// message then names the connection error, without credentials); or
/// `REFTOKEN_NULL_ARGUMENT`. Thread-safe.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn reftoken_revocation_listener_wait(
    listener: *const reftoken_revocation_listener,
    timeout_ms: u32,
) -> reftoken_status {
    ffi_boundary("reftoken_revocation_listener_wait", || {
        let l = try_ref!(Listener, listener);
        l.wait_listening(Duration::from_millis(u64::from(timeout_ms)))
            .map_err(fail)
    })
}

/// Copies the listener's counters into `*out`.
///
/// Returns `REFTOKEN_OK` or `REFTOKEN_NULL_ARGUMENT`. Thread-safe.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn reftoken_revocation_listener_stats(
    listener: *const reftoken_revocation_listener,
    out: *mut reftoken_revocation_stats,
) -> reftoken_status {
    ffi_boundary("reftoken_revocation_listener_stats", || {
        let l = try_ref!(Listener, listener);
        check_null!(out);
        let s = l.stats();
        let stats = reftoken_revocation_stats {
            connects: s.connects,
            failures: s.failures,
            notifications: s.notifications,
            flushes: s.flushes,
            confirmed_age_ms: s.confirmed_age.map_or(u64::MAX, |d| {
                u64::try_from(d.as_millis()).unwrap_or(u64::MAX - 1)
            }),
            listening: s.listening,
        };
        // SAFETY: checked non-null.
        unsafe { *out = stats };
        Ok(())
    })
}

/// Stops the listener: ends its thread and connection (normally within 100 ms; a connection
/// blocked in I/O is waited for at most about two I/O timeouts, a few seconds, and then left
/// to close on its own) and removes its staleness bound from the validator, whose cache then
/// relies on its TTL alone. Once it returns the listener never touches the validator again.
/// Idempotent.
///
/// Returns `REFTOKEN_OK` or `REFTOKEN_NULL_ARGUMENT`. Thread-safe, but not concurrently with
/// `reftoken_revocation_listener_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn reftoken_revocation_listener_stop(
    listener: *const reftoken_revocation_listener,
) -> reftoken_status {
    ffi_boundary("reftoken_revocation_listener_stop", || {
        let l = try_ref!(Listener, listener);
        l.stop();
        Ok(())
    })
}

/// Stops (as `reftoken_revocation_listener_stop`) and frees a listener. NULL is ignored. No
/// other call may be using it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn reftoken_revocation_listener_free(
    listener: *mut reftoken_revocation_listener,
) {
    ffi_boundary("reftoken_revocation_listener_free", || {
        // SAFETY: NULL or a live listener owned by the caller.
        unsafe { Listener::free(listener) }
    })
}

/// "Evict this key on all nodes": publishes the store `key` on `channel` (empty for
/// `reftoken_revocations`) of the Redis server at `url`, where every node's listener
/// (`reftoken_revocation_listener_start_redis`) evicts it. Call it from the revocation path
/// after the row is deleted. `*out_receivers`, when `out_receivers` is not NULL, receives how
/// many subscribers got it (this node's own listener included). Opens one connection per
/// call, with a 5-second timeout.
///
/// Returns `REFTOKEN_OK`; `REFTOKEN_NULL_ARGUMENT`; `REFTOKEN_INVALID_UTF8`;
/// `REFTOKEN_INVALID_ARGUMENT` (an empty key, or a library built without the `revocation`
/// feature); `REFTOKEN_MALFORMED_INPUT` (the URL); or `REFTOKEN_IO_ERROR` (Redis could not
/// be reached from this node: the nodes were not told). After `REFTOKEN_IO_ERROR` the caller
/// must publish the key again until it succeeds: listeners that still reach Redis confirm
/// their own connection, so their staleness bound does not cover a publish that never left,
/// and they serve a cached entry until its TTL ends. Choose the validators' TTL as the
/// longest revocation delay accepted while the revoking node is cut off from Redis, or use
/// the PostgreSQL trigger, whose notification is part of the deleting transaction.
/// Thread-safe.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn reftoken_revocation_publish_redis(
    url: *const c_char,
    url_len: usize,
    channel: *const c_char,
    channel_len: usize,
    key: *const c_char,
    key_len: usize,
    out_receivers: *mut u64,
) -> reftoken_status {
    ffi_boundary("reftoken_revocation_publish_redis", || {
        if !out_receivers.is_null() {
            // SAFETY: checked non-null.
            unsafe { *out_receivers = 0 };
        }
        let url = try_str!(url, url_len);
        let channel = try_str!(channel, channel_len);
        let key = try_str!(key, key_len);
        #[cfg(feature = "revocation")]
        {
            let channel = (!channel.is_empty()).then_some(channel);
            let n = reftoken::revocation::redis::publish(url, channel, key)?;
            if !out_receivers.is_null() {
                // SAFETY: checked non-null.
                unsafe { *out_receivers = n };
            }
            Ok(())
        }
        #[cfg(not(feature = "revocation"))]
        {
            let _ = (url, channel, key);
            fail(unsupported())
        }
    })
}
