//! The part of revocation that lives inside every [`Validator`](crate::validator::Validator):
//! what a cached entry must satisfy to be served while listeners report revocations.
//!
//! Two mechanisms, both lock-free on the cache-hit path:
//!
//! * **Staleness bound.** Each running listener registers a [`Source`] with its bound `B` and
//!   the instant `C` up to which it has *confirmed* delivery: every revocation committed
//!   before `C` has reached the validator (a heartbeat round trip on the notification
//!   connection proves it). An entry whose lookup began at `I` is served at `now` only if
//!   `max(I, C) >= now - B` for every source. A row deleted at `D` and still served must have
//!   `D > I` (the lookup saw the row) and `D > C` (else its notification had arrived and
//!   evicted the entry), so it is served at most `now - D < B` after its deletion, whatever
//!   happened to the connection. While the connection is healthy `C` trails `now` by about
//!   one heartbeat and every entry is served.
//! * **Eviction stamps.** A lookup that straddles an eviction of its key must not put the
//!   row it read before the eviction into the cache afterwards. Evictions bump a counter
//!   per key stripe and [`Fence::note_clear`] bumps a global one; a lookup records both
//!   before it reads the store and inserts only if neither moved.
//!
//! All instants are monotonic nanoseconds since the first use in this process; the
//! validator's `now` argument (caller-supplied Unix seconds) plays no part, so a bound holds
//! in real time whatever clock the caller validates against.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

const STRIPES: usize = 256;

/// Monotonic nanoseconds since this process first asked, plus one, so that 0 means "never".
pub(crate) fn now_ns() -> u64 {
    static ORIGIN: OnceLock<std::time::Instant> = OnceLock::new();
    let origin = *ORIGIN.get_or_init(std::time::Instant::now);
    u64::try_from(origin.elapsed().as_nanos()).unwrap_or(u64::MAX - 1) + 1
}

fn duration_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// One listener's view of the notification stream, registered with a [`Fence`].
#[derive(Debug)]
pub struct Source {
    bound_ns: u64,
    /// Every revocation committed before this instant has been delivered; 0: none yet.
    confirmed_ns: AtomicU64,
}

impl Source {
    /// Records that every revocation committed before `at_ns` (from [`now_ns`]) has been
    /// delivered. Never moves backwards.
    pub(crate) fn confirm(&self, at_ns: u64) {
        self.confirmed_ns.fetch_max(at_ns, Ordering::AcqRel);
    }

    /// How long ago delivery was last confirmed; `None` when never.
    pub(crate) fn confirmed_age(&self) -> Option<Duration> {
        match self.confirmed_ns.load(Ordering::Acquire) {
            0 => None,
            c => Some(Duration::from_nanos(now_ns().saturating_sub(c))),
        }
    }

    fn admits(&self, stored_ns: u64, now: u64) -> bool {
        let floor = now.saturating_sub(self.bound_ns);
        stored_ns >= floor || self.confirmed_ns.load(Ordering::Acquire) >= floor
    }
}

/// What a lookup saw before it read the store; see [`Fence::stamp`].
#[derive(Debug, Clone, Copy)]
pub struct Stamp {
    /// When the lookup began (monotonic nanoseconds).
    pub at_ns: u64,
    global: u64,
    stripe: u64,
}

/// The revocation state a validator consults; see the module documentation.
#[derive(Debug)]
pub struct Fence {
    sources: RwLock<Vec<Arc<Source>>>,
    active: AtomicUsize,
    global: AtomicU64,
    stripes: Box<[AtomicU64]>,
}

impl Default for Fence {
    fn default() -> Self {
        Fence::new()
    }
}

fn stripe_of(key: &str) -> usize {
    // FNV-1a: keys are hashes already, any cheap mix spreads them.
    let mut h: u32 = 0x811c_9dc5;
    for b in key.bytes() {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    h as usize % STRIPES
}

impl Fence {
    /// A fence with no sources: every entry is admitted.
    pub fn new() -> Self {
        Fence {
            sources: RwLock::new(Vec::new()),
            active: AtomicUsize::new(0),
            global: AtomicU64::new(0),
            stripes: (0..STRIPES).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Registers a listener with staleness bound `bound`; until it confirms delivery, only
    /// entries younger than `bound` are served.
    pub(crate) fn register(&self, bound: Duration) -> Arc<Source> {
        let s = Arc::new(Source {
            bound_ns: duration_ns(bound),
            confirmed_ns: AtomicU64::new(0),
        });
        let mut v = self.sources.write().unwrap_or_else(|e| e.into_inner());
        v.push(s.clone());
        self.active.store(v.len(), Ordering::Release);
        s
    }

    /// Removes a source registered with [`Fence::register`]: its bound no longer applies.
    pub(crate) fn unregister(&self, source: &Arc<Source>) {
        let mut v = self.sources.write().unwrap_or_else(|e| e.into_inner());
        v.retain(|s| !Arc::ptr_eq(s, source));
        self.active.store(v.len(), Ordering::Release);
    }

    /// Whether an entry whose lookup began at `stored_ns` may be served now.
    pub fn admits(&self, stored_ns: u64) -> bool {
        if self.active.load(Ordering::Acquire) == 0 {
            return true;
        }
        let now = now_ns();
        let v = self.sources.read().unwrap_or_else(|e| e.into_inner());
        v.iter().all(|s| s.admits(stored_ns, now))
    }

    /// Taken before a lookup of `key` reads the store.
    pub fn stamp(&self, key: &str) -> Stamp {
        // The counters are read before the clock so that an eviction racing the stamp is
        // either seen by `unchanged` or happened before the lookup read the store.
        let global = self.global.load(Ordering::SeqCst);
        let stripe = self.stripes[stripe_of(key)].load(Ordering::SeqCst);
        Stamp {
            at_ns: now_ns(),
            global,
            stripe,
        }
    }

    /// Whether no eviction of `key`'s stripe and no clear happened since `stamp`.
    pub fn unchanged(&self, key: &str, stamp: &Stamp) -> bool {
        self.global.load(Ordering::SeqCst) == stamp.global
            && self.stripes[stripe_of(key)].load(Ordering::SeqCst) == stamp.stripe
    }

    /// Called before `key` is removed from the cache.
    pub fn note_evict(&self, key: &str) {
        self.stripes[stripe_of(key)].fetch_add(1, Ordering::SeqCst);
    }

    /// Called before the whole cache is cleared.
    pub fn note_clear(&self) {
        self.global.fetch_add(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_sources_everything_is_admitted() {
        let f = Fence::new();
        assert!(f.admits(1));
    }

    #[test]
    fn a_source_admits_young_entries_or_a_recent_confirmation() {
        let f = Fence::new();
        let s = f.register(Duration::from_millis(50));
        let old = now_ns();
        std::thread::sleep(Duration::from_millis(80));
        // Never confirmed: only entries younger than the bound.
        assert!(!f.admits(old));
        assert!(f.admits(now_ns()));
        // A recent confirmation vouches for old entries too.
        s.confirm(now_ns());
        assert!(f.admits(old));
        std::thread::sleep(Duration::from_millis(80));
        assert!(!f.admits(old), "the confirmation is older than the bound");
        // Confirmations never move backwards.
        s.confirm(1);
        assert!(s.confirmed_age().unwrap() >= Duration::from_millis(80));
        f.unregister(&s);
        assert!(f.admits(old));
    }

    #[test]
    fn every_source_must_agree() {
        let f = Fence::new();
        let a = f.register(Duration::from_millis(20));
        let b = f.register(Duration::from_secs(3600));
        let old = now_ns();
        std::thread::sleep(Duration::from_millis(40));
        b.confirm(now_ns());
        assert!(!f.admits(old), "a has never confirmed");
        a.confirm(now_ns());
        assert!(f.admits(old));
    }

    #[test]
    fn stamps_notice_evictions_of_their_stripe_and_clears() {
        let f = Fence::new();
        let s = f.stamp("KEY1");
        assert!(f.unchanged("KEY1", &s));
        f.note_evict("KEY1");
        assert!(!f.unchanged("KEY1", &s));
        let s = f.stamp("KEY1");
        f.note_clear();
        assert!(!f.unchanged("KEY1", &s));
        // Another stripe's eviction leaves the stamp alone.
        let s = f.stamp("KEY1");
        let other = (0..1000)
            .map(|i| format!("K{i}"))
            .find(|k| stripe_of(k) != stripe_of("KEY1"))
            .unwrap();
        f.note_evict(&other);
        assert!(f.unchanged("KEY1", &s));
    }
}
