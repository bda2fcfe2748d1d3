//! Revocation that reaches every node: the store (or the node that revokes) publishes the
//! store key of every revoked grant, and a [`Listener`] on each node evicts it from that
//! node's [`Validator`] cache.
//!
//! Transports (behind the `revocation` cargo feature, on by default):
//!
//! * [`postgres`]: `LISTEN` on a channel fed by the trigger in
//!   `migrations/postgres/0001_reftoken_revocation_notify.sql`, which sends the `Key` of every
//!   deleted or changed `PersistedGrants` row (and [`FLUSH_ALL`] on `TRUNCATE`).
//! * [`redis`]: `SUBSCRIBE` to a channel on which revoking nodes publish keys with
//!   [`redis::publish`], for stores that cannot notify.
//!
//! Faults. A listener confirms delivery with a heartbeat round trip on its own connection
//! every `stale_bound / 4`; the validator serves an entry older than `stale_bound` only
//! while the last confirmation is younger than `stale_bound` (see [`Fence`]). So when the
//! connection is lost, or hangs, nothing is served more than `stale_bound` after its row was
//! deleted, even though the notification never arrives. With Redis that holds once the
//! publish has reached the server: a publish that failed (the revoking node cut off while the
//! listeners are not) is not covered, and [`redis::Publisher`] keeps it to send again. The listener reconnects with
//! exponential backoff and jitter, and on every (re)connection clears the cache once it
//! listens again: that is the resynchronisation, since what was missed is unknown.
//! Evictions only remove entries, so duplicate, late, out-of-order or foreign payloads cost
//! at most one extra lookup.

pub use crate::fence::{Fence, Source, Stamp};

#[cfg(feature = "revocation")]
pub mod postgres;
#[cfg(feature = "revocation")]
pub mod redis;

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::Error;
use crate::fence::now_ns;
use crate::validator::{Lookup, Validator};

/// The channel used when none is configured (PostgreSQL `LISTEN`/`pg_notify`, Redis
/// `SUBSCRIBE`/`PUBLISH`).
pub const DEFAULT_CHANNEL: &str = "reftoken_revocations";

/// The payload that means "forget every cached token" (sent by the migration's `TRUNCATE`
/// trigger). Store keys are hex or base64 and never equal it.
pub const FLUSH_ALL: &str = "*";

/// The staleness bound used when none is configured.
pub const DEFAULT_STALE_BOUND: Duration = Duration::from_secs(10);

/// The smallest staleness bound accepted.
pub const MIN_STALE_BOUND: Duration = Duration::from_millis(50);

/// The longest time a listener blocks without looking at its stop flag.
const POLL: Duration = Duration::from_millis(100);

/// How a listener connects, confirms and reconnects.
#[derive(Debug, Clone)]
pub struct Options {
    /// The channel to listen on: a PostgreSQL identifier of at most 63 bytes, or a Redis
    /// channel name.
    pub channel: String,
    /// The longest time after its row is deleted that a token may still be served from a
    /// validator's cache when notifications are lost (at least [`MIN_STALE_BOUND`]).
    pub stale_bound: Duration,
    /// How often the connection is checked with a round trip; `None`: `stale_bound / 4`.
    /// Must be shorter than `stale_bound`, or old entries stop being served.
    pub heartbeat: Option<Duration>,
    /// The first wait before reconnecting; doubles after each failed attempt.
    pub backoff_initial: Duration,
    /// The longest wait before reconnecting.
    pub backoff_max: Duration,
    /// Limit on connecting and on one heartbeat round trip; `None`: `stale_bound / 2`,
    /// between 200 ms and 5 s.
    pub io_timeout: Option<Duration>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            channel: DEFAULT_CHANNEL.to_owned(),
            stale_bound: DEFAULT_STALE_BOUND,
            heartbeat: None,
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
            io_timeout: None,
        }
    }
}

impl Options {
    /// Default options with another staleness bound.
    pub fn with_stale_bound(stale_bound: Duration) -> Self {
        Options {
            stale_bound,
            ..Options::default()
        }
    }

    pub(crate) fn heartbeat_interval(&self) -> Duration {
        self.heartbeat
            .unwrap_or(self.stale_bound / 4)
            .max(Duration::from_millis(5))
    }

    pub(crate) fn io_timeout(&self) -> Duration {
        self.io_timeout
            .unwrap_or_else(|| {
                (self.stale_bound / 2).clamp(Duration::from_millis(200), Duration::from_secs(5))
            })
            .max(Duration::from_millis(1))
    }

    pub(crate) fn check(&self) -> Result<(), Error> {
        if self.channel.is_empty() || self.channel.len() > 256 || self.channel.contains('\0') {
            return Err(Error::InvalidArgument(
                "the channel must be 1 to 256 bytes without NUL",
            ));
        }
        if self.stale_bound < MIN_STALE_BOUND {
            return Err(Error::InvalidArgument(
                "the staleness bound must be at least 50 ms",
            ));
        }
        if self.heartbeat_interval() >= self.stale_bound {
            return Err(Error::InvalidArgument(
                "the heartbeat must be shorter than the staleness bound",
            ));
        }
        if self.backoff_initial.is_zero() || self.backoff_max < self.backoff_initial {
            return Err(Error::InvalidArgument(
                "backoff_initial must be positive and at most backoff_max",
            ));
        }
        Ok(())
    }
}

/// What a listener reports to [`postgres::watch`]-style callbacks.
#[derive(Debug)]
pub enum Event<'a> {
    /// The connection listens on the channel; `reconnected` after a lost connection.
    /// Whatever was published while not listening is unknown.
    Listening {
        /// Whether an earlier connection was lost.
        reconnected: bool,
    },
    /// A store key was published: the grant under it was deleted or changed.
    Revoked(&'a str),
    /// [`FLUSH_ALL`] was published (for example the table was truncated).
    FlushAll,
    /// The connection failed or was lost; a reconnection follows after a backoff.
    Disconnected(&'a Error),
}

/// What a listener evicts from: a validator's cache. Implemented by every [`Validator`];
/// implement it to observe evictions (a wrapper that logs, for example).
pub trait Target: Send + Sync {
    /// Forgets the cached token stored under `key`; any string is accepted.
    fn evict(&self, key: &str);
    /// Forgets every cached token.
    fn clear(&self);
    /// The fence the cache obeys.
    fn fence(&self) -> &Fence;
}

impl<L: Lookup> Target for Validator<L> {
    fn evict(&self, key: &str) {
        Validator::evict(self, key);
    }
    fn clear(&self) {
        Validator::clear(self);
    }
    fn fence(&self) -> &Fence {
        Validator::fence(self)
    }
}

impl<T: Target + ?Sized> Target for Arc<T> {
    fn evict(&self, key: &str) {
        (**self).evict(key);
    }
    fn clear(&self) {
        (**self).clear();
    }
    fn fence(&self) -> &Fence {
        (**self).fence()
    }
}

/// A listener's counters.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Whether it listens now.
    pub listening: bool,
    /// Connections that reached the listening state.
    pub connects: u64,
    /// Failed connection attempts and lost connections.
    pub failures: u64,
    /// Keys received (duplicates included).
    pub notifications: u64,
    /// [`FLUSH_ALL`] payloads received.
    pub flushes: u64,
    /// Time since delivery was last confirmed (by connecting or a heartbeat); `None` when never.
    pub confirmed_age: Option<Duration>,
    /// The last connection error, without credentials.
    pub last_error: Option<String>,
}

// ---------------------------------------------------------------------------------------
// Transports

/// One established, listening connection.
pub(crate) trait Link {
    /// Waits up to `timeout` for one payload: `Ok(None)` when none arrived, `Err` when the
    /// connection is gone. A zero `timeout` only returns what is already buffered.
    fn next(&mut self, timeout: Duration) -> Result<Option<String>, Error>;
    /// A round trip through the connection, within `timeout`. Afterwards every payload
    /// published before the call has been returned by `next` or pushed to `out`.
    fn heartbeat(&mut self, timeout: Duration, out: &mut Vec<String>) -> Result<(), Error>;
}

/// Opens listening connections.
pub(crate) trait Transport {
    /// The server, for messages (no credentials).
    fn shown(&self) -> &str;
    /// Connects and starts listening on `opts.channel`, then runs `session` until it
    /// returns. Errors before `session` runs mean no connection was established.
    fn run(
        &self,
        opts: &Options,
        session: &mut dyn FnMut(&mut dyn Link) -> Result<(), Error>,
    ) -> Result<(), Error>;
}

/// A connection error (`REFTOKEN_IO_ERROR` at the C ABI).
pub(crate) fn connection_error(shown: &str, e: impl std::fmt::Display) -> Error {
    Error::Network {
        server: shown.to_owned(),
        detail: e.to_string(),
    }
}

// ---------------------------------------------------------------------------------------
// The loop every listener runs

#[derive(Default)]
struct State {
    listening: bool,
    stop: bool,
    last_error: Option<String>,
}

#[derive(Default)]
pub(crate) struct Shared {
    stop: AtomicBool,
    state: Mutex<State>,
    changed: Condvar,
    connects: AtomicU64,
    failures: AtomicU64,
    notifications: AtomicU64,
    flushes: AtomicU64,
}

impl Shared {
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set_listening(&self, listening: bool, error: Option<&Error>) {
        let mut s = self.lock();
        s.listening = listening;
        if let Some(e) = error {
            s.last_error = Some(e.to_string());
        }
        self.changed.notify_all();
    }

    fn request_stop(&self) {
        self.stop.store(true, Ordering::Release);
        let mut s = self.lock();
        s.stop = true;
        self.changed.notify_all();
    }

    /// Sleeps for `d` unless asked to stop first.
    fn sleep(&self, d: Duration) {
        let s = self.lock();
        let _unused = self.changed.wait_timeout_while(s, d, |s| !s.stop);
    }
}

/// `d` scaled into `[d/2, d]`, so that nodes restarted together do not reconnect in step.
fn jitter(d: Duration) -> Duration {
    let r = (now_ns().wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 54) as u32; // 0..1024
    d / 2 + d / 2 * r / 1024
}

/// Connects, listens, confirms and reconnects until stopped or `sink` breaks.
pub(crate) fn run(
    transport: &dyn Transport,
    opts: &Options,
    shared: &Shared,
    source: Option<&Source>,
    sink: &mut dyn FnMut(Event<'_>) -> ControlFlow<()>,
) {
    let mut backoff = opts.backoff_initial;
    let mut reconnected = false;
    let heartbeat = opts.heartbeat_interval();
    let io_timeout = opts.io_timeout();
    loop {
        if shared.stopping() {
            return;
        }
        let t0 = now_ns();
        let mut healthy = false;
        let mut broke = false;
        let result = transport.run(opts, &mut |link| {
            shared.connects.fetch_add(1, Ordering::Relaxed);
            shared.set_listening(true, None);
            // Listening since before t0's round trip ended: whatever is cached from before
            // may have missed a revocation, so the sink starts from an empty cache.
            if sink(Event::Listening { reconnected }).is_break() {
                broke = true;
                return Ok(());
            }
            if let Some(s) = source {
                s.confirm(t0);
            }
            let mut next_beat = std::time::Instant::now() + heartbeat;
            let mut pending = Vec::new();
            let deliver = |p: &str, sink: &mut dyn FnMut(Event<'_>) -> ControlFlow<()>| {
                if p == FLUSH_ALL {
                    shared.flushes.fetch_add(1, Ordering::Relaxed);
                    sink(Event::FlushAll)
                } else {
                    shared.notifications.fetch_add(1, Ordering::Relaxed);
                    sink(Event::Revoked(p))
                }
            };
            loop {
                if shared.stopping() {
                    return Ok(());
                }
                let now = std::time::Instant::now();
                if now >= next_beat {
                    let t = now_ns();
                    link.heartbeat(io_timeout, &mut pending)?;
                    for p in pending.drain(..) {
                        if deliver(&p, sink).is_break() {
                            broke = true;
                            return Ok(());
                        }
                    }
                    if let Some(s) = source {
                        s.confirm(t);
                    }
                    healthy = true;
                    next_beat = std::time::Instant::now() + heartbeat;
                    continue;
                }
                if let Some(p) = link.next((next_beat - now).min(POLL))? {
                    if deliver(&p, sink).is_break() {
                        broke = true;
                        return Ok(());
                    }
                }
            }
        });
        shared.set_listening(false, result.as_ref().err());
        if broke || shared.stopping() {
            return;
        }
        let error = match result {
            Err(e) => e,
            Ok(()) => connection_error(transport.shown(), "the connection ended"),
        };
        shared.failures.fetch_add(1, Ordering::Relaxed);
        if sink(Event::Disconnected(&error)).is_break() {
            return;
        }
        reconnected = true;
        if healthy {
            backoff = opts.backoff_initial;
        }
        shared.sleep(jitter(backoff));
        if !healthy {
            backoff = (backoff * 2).min(opts.backoff_max);
        }
    }
}

/// A background thread that keeps one notification connection and evicts what it hears
/// from a validator's cache. Stopped by [`Listener::stop`] or when dropped. Stopping
/// unregisters its staleness bound: the cache then relies on its TTL alone.
pub struct Listener {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
    source: Arc<Source>,
    target: Arc<dyn Target>,
    /// Open while the thread may touch `target`; closed (under the write lock) by `stop`.
    gate: Arc<RwLock<bool>>,
    /// How long `stop` waits for the thread before leaving it to finish on its own.
    join_within: Duration,
    shown: String,
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener")
            .field("server", &self.shown)
            .field("stats", &self.stats())
            .finish()
    }
}

impl Listener {
    #[allow(dead_code)]
    pub(crate) fn spawn<T: Transport + Send + 'static>(
        transport: T,
        opts: Options,
        target: Arc<dyn Target>,
    ) -> Result<Listener, Error> {
        opts.check()?;
        let shared = Arc::new(Shared::default());
        let source = target.fence().register(opts.stale_bound);
        let shown = transport.shown().to_owned();
        let gate = Arc::new(RwLock::new(true));
        let join_within = opts.io_timeout() * 2 + Duration::from_secs(1);
        let thread = {
            let shared = shared.clone();
            let source = source.clone();
            let target = target.clone();
            let gate = gate.clone();
            std::thread::Builder::new()
                .name("reftoken-revocation".into())
                .spawn(move || {
                    let mut sink = |e: Event<'_>| {
                        // Once stopped, the target (a C caller's validator) may be gone.
                        let open = gate.read().unwrap_or_else(|e| e.into_inner());
                        if !*open {
                            return ControlFlow::Break(());
                        }
                        match e {
                            Event::Listening { .. } | Event::FlushAll => target.clear(),
                            Event::Revoked(key) => target.evict(key),
                            Event::Disconnected(_) => {}
                        }
                        ControlFlow::Continue(())
                    };
                    run(&transport, &opts, &shared, Some(&source), &mut sink);
                })
        };
        let thread = match thread {
            Ok(t) => t,
            Err(e) => {
                target.fence().unregister(&source);
                return Err(connection_error(
                    &shown,
                    format!("cannot start the listener thread: {e}"),
                ));
            }
        };
        Ok(Listener {
            shared,
            thread: Mutex::new(Some(thread)),
            gate,
            join_within,
            source,
            target,
            shown,
        })
    }

    /// Waits up to `timeout` until the listener listens. Returns `Ok` when it does, else
    /// an [`Error::Network`] with the last connection error.
    pub fn wait_listening(&self, timeout: Duration) -> Result<(), Error> {
        let s = self.shared.lock();
        let (s, _) = self
            .shared
            .changed
            .wait_timeout_while(s, timeout, |s| !s.listening && !s.stop)
            .unwrap_or_else(|e| e.into_inner());
        if s.listening {
            return Ok(());
        }
        let why = if s.stop {
            "the listener was stopped".to_owned()
        } else {
            s.last_error
                .clone()
                .unwrap_or_else(|| "not listening yet".to_owned())
        };
        Err(Error::Network {
            server: self.shown.clone(),
            detail: why,
        })
    }

    /// Whether the listener listens now.
    pub fn is_listening(&self) -> bool {
        self.shared.lock().listening
    }

    /// Its counters.
    pub fn stats(&self) -> Stats {
        let s = self.shared.lock();
        Stats {
            listening: s.listening,
            connects: self.shared.connects.load(Ordering::Relaxed),
            failures: self.shared.failures.load(Ordering::Relaxed),
            notifications: self.shared.notifications.load(Ordering::Relaxed),
            flushes: self.shared.flushes.load(Ordering::Relaxed),
            confirmed_age: self.source.confirmed_age(),
            last_error: s.last_error.clone(),
        }
    }

    /// Stops the listener and unregisters its staleness bound. Once this returns the
    /// listener never touches the validator again. It waits for the thread to end (normally
    /// within 100 ms; a connection blocked in I/O ends within about two I/O timeouts, and one
    /// stuck longer is left to end on its own). Idempotent; may be called from any thread.
    pub fn stop(&self) {
        self.shared.request_stop();
        // Waits for an eviction in progress; later ones see the gate closed.
        *self.gate.write().unwrap_or_else(|e| e.into_inner()) = false;
        let handle = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(h) = handle {
            if h.thread().id() != std::thread::current().id() {
                let deadline = std::time::Instant::now() + self.join_within;
                while !h.is_finished() && std::time::Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(5));
                }
                if h.is_finished() {
                    let _ = h.join();
                }
            }
            self.target.fence().unregister(&self.source);
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Listens with `transport` in the calling thread, reporting every event to `on_event`,
/// until it returns `Break`. Reconnects with backoff as a listener does.
#[allow(dead_code)]
pub(crate) fn watch_with(
    transport: &dyn Transport,
    opts: &Options,
    on_event: &mut dyn FnMut(Event<'_>) -> ControlFlow<()>,
) -> Result<(), Error> {
    opts.check()?;
    let shared = Shared::default();
    run(transport, opts, &shared, None, on_event);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn options_are_checked() {
        assert!(Options::default().check().is_ok());
        assert!(
            Options::with_stale_bound(Duration::from_millis(10))
                .check()
                .is_err()
        );
        assert!(
            Options {
                channel: String::new(),
                ..Options::default()
            }
            .check()
            .is_err()
        );
        assert!(
            Options {
                heartbeat: Some(Duration::from_secs(20)),
                ..Options::default()
            }
            .check()
            .is_err()
        );
        assert!(
            Options {
                backoff_initial: Duration::ZERO,
                ..Options::default()
            }
            .check()
            .is_err()
        );
    }

    #[test]
    fn jitter_stays_within_half_and_whole() {
        for _ in 0..100 {
            let j = jitter(Duration::from_millis(1000));
            assert!(
                j >= Duration::from_millis(500) && j <= Duration::from_millis(1000),
                "{j:?}"
            );
        }
    }

    /// A scripted transport: each connection delivers its payloads, answers heartbeats,
    /// then fails.
    struct Script {
        sessions: Mutex<VecDeque<Result<Vec<&'static str>, &'static str>>>,
        connects: AtomicUsize,
    }

    struct ScriptLink {
        payloads: VecDeque<&'static str>,
    }

    impl Link for ScriptLink {
        fn next(&mut self, _timeout: Duration) -> Result<Option<String>, Error> {
            match self.payloads.pop_front() {
                Some(p) => Ok(Some(p.to_owned())),
                None => Err(connection_error("script", "lost")),
            }
        }
        fn heartbeat(&mut self, _timeout: Duration, _out: &mut Vec<String>) -> Result<(), Error> {
            Ok(())
        }
    }

    impl Transport for Script {
        fn shown(&self) -> &str {
            "script"
        }
        fn run(
            &self,
            _opts: &Options,
            session: &mut dyn FnMut(&mut dyn Link) -> Result<(), Error>,
        ) -> Result<(), Error> {
            self.connects.fetch_add(1, Ordering::SeqCst);
            match self.sessions.lock().unwrap().pop_front() {
                None => Err(connection_error("script", "refused")),
                Some(Err(e)) => Err(connection_error("script", e)),
                Some(Ok(p)) => session(&mut ScriptLink { payloads: p.into() }),
            }
        }
    }

    #[test]
    fn the_loop_reports_keys_flushes_losses_and_reconnections() {
        let script = Script {
            sessions: Mutex::new(VecDeque::from([
                Ok(vec!["K1", "K1", "*"]),
                Err("refused"),
                Ok(vec!["K2"]),
            ])),
            connects: AtomicUsize::new(0),
        };
        let opts = Options {
            backoff_initial: Duration::from_millis(1),
            backoff_max: Duration::from_millis(4),
            ..Options::default()
        };
        let mut seen = Vec::new();
        watch_with(&script, &opts, &mut |e| {
            seen.push(match e {
                Event::Listening { reconnected } => format!("listening {reconnected}"),
                Event::Revoked(k) => k.to_owned(),
                Event::FlushAll => "flush".to_owned(),
                Event::Disconnected(_) => "lost".to_owned(),
            });
            if seen.last().map(String::as_str) == Some("K2") {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap();
        assert_eq!(
            seen,
            [
                "listening false",
                "K1",
                "K1",
                "flush",
                "lost",
                "lost",
                "listening true",
                "K2"
            ]
        );
        assert_eq!(script.connects.load(Ordering::SeqCst), 3);
    }
}
