//! A validator for native services: presented handle in, introspection result out, against
//! the live store through the caller's lookup, with a bounded cache of tokens.
//!
//! The cache is keyed by store key, never by handle, so a memory dump of the cache reveals
//! no usable handle. An entry lives no longer than its token (`CreationTime + Lifetime`) nor
//! longer than the configured time to live, whichever is first, and can be evicted at any
//! moment (revocation). Only found tokens are cached: a handle that is not in the store is
//! looked up again next time, so a token issued a moment later is never missed.

use std::sync::{Arc, Mutex};

use quick_cache::sync::Cache;

use crate::Error;
use crate::dataprotection::KeyRing;
use crate::fence::Fence;
use crate::grant::Token;
use crate::instant::Instant;
use crate::introspection::{self, Caller, INACTIVE, IdentityServerVersion, Options, Verdict};
use crate::key::StoreKey;
use crate::validation::{self, NotFound, Outcome, StoredGrant, Unprotect};

/// Fetches the row stored under a key: its `Type` and `Data`, or `None` when there is none.
/// Called from whichever thread validates, possibly from several at once.
pub trait Lookup: Send + Sync {
    /// The row under `key`.
    fn lookup(&self, key: &str) -> Result<Option<StoredGrant>, Error>;
}

impl<F> Lookup for F
where
    F: Fn(&str) -> Result<Option<StoredGrant>, Error> + Send + Sync,
{
    fn lookup(&self, key: &str) -> Result<Option<StoredGrant>, Error> {
        self(key)
    }
}

#[derive(Clone)]
struct Entry {
    token: Arc<Token>,
    /// The entry is served while `now <= until`.
    until: Instant,
    /// When the lookup that produced it began (monotonic; see [`Fence`]).
    stored_ns: u64,
    responses: Arc<Responses>,
}

/// Most callers whose responses one cached token keeps; further callers get theirs built on
/// every call.
const MEMO_CALLERS: usize = 4;

/// The active responses built from one cached token, one per caller that asked. While the
/// entry is served, an active token's response depends only on the token, the caller and
/// the IdentityServer version (not on the time: the entry ends before the token does), so
/// it is built once; it goes with the entry when that is evicted or expires.
#[derive(Default)]
struct Responses(Mutex<Vec<Memo>>);

struct Memo {
    version: IdentityServerVersion,
    caller: OwnedCaller,
    body: Arc<Response>,
}

/// An introspection response built from a cached token. It holds the token's claims, which
/// are wiped when the token is dropped; so is this text, when its last reference goes.
pub struct Response(String);

impl Response {
    /// The response JSON.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for Response {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl Drop for Response {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.0.zeroize();
    }
}

/// A caller as a memo remembers it: compared in full, never by a hash, so one caller's
/// response is never served to another.
enum OwnedCaller {
    Api {
        name: Box<str>,
        scopes: Box<[Box<str>]>,
    },
    Client {
        id: Box<str>,
    },
}

impl OwnedCaller {
    fn of(c: &Caller<'_>) -> Self {
        match c {
            Caller::Api { name, scopes } => OwnedCaller::Api {
                name: (*name).into(),
                scopes: scopes.iter().map(|s| (*s).into()).collect(),
            },
            Caller::Client { id } => OwnedCaller::Client { id: (*id).into() },
        }
    }

    fn is(&self, c: &Caller<'_>) -> bool {
        match (self, c) {
            (OwnedCaller::Api { name, scopes }, Caller::Api { name: n, scopes: s }) => {
                **name == **n
                    && scopes.len() == s.len()
                    && scopes.iter().zip(s.iter()).all(|(a, b)| **a == **b)
            }
            (OwnedCaller::Client { id }, Caller::Client { id: i }) => **id == **i,
            _ => false,
        }
    }
}

impl Responses {
    fn get(&self, caller: &Caller<'_>, version: IdentityServerVersion) -> Option<Arc<Response>> {
        let memos = self.0.lock().ok()?;
        memos
            .iter()
            .find(|m| m.version == version && m.caller.is(caller))
            .map(|m| m.body.clone())
    }

    fn put(&self, caller: &Caller<'_>, version: IdentityServerVersion, body: &Arc<Response>) {
        let Ok(mut memos) = self.0.lock() else {
            return;
        };
        let known = memos
            .iter()
            .any(|m| m.version == version && m.caller.is(caller));
        if !known && memos.len() < MEMO_CALLERS {
            memos.push(Memo {
                version,
                caller: OwnedCaller::of(caller),
                body: body.clone(),
            });
        }
    }
}

/// A token the validator found, with the responses its cache entry keeps.
pub struct Hit {
    /// The token.
    pub token: Arc<Token>,
    /// `None` when the cache is off or the token was not cached.
    responses: Option<Arc<Responses>>,
}

impl Hit {
    /// The verdict for `caller` at `now` and the response IdentityServer's endpoint gives
    /// for this reference token (`{"active":false}` when it is not active for the caller).
    /// The verdict is decided on every call (a disabled client is refused at once); an
    /// active response is built once per caller while the token is cached.
    pub fn introspect(
        &self,
        caller: &Caller<'_>,
        now: Instant,
        opts: &Options<'_>,
    ) -> Result<(Verdict<'_>, Arc<Response>), Error> {
        let verdict = introspection::evaluate(&self.token, caller, now, opts)?;
        if verdict.active() {
            if let Some(body) = self
                .responses
                .as_ref()
                .and_then(|r| r.get(caller, opts.version))
            {
                return Ok((verdict, body));
            }
        }
        let body = Arc::new(Response(introspection::respond(
            &self.token,
            caller,
            now,
            opts,
        )?));
        if let (true, Some(r)) = (verdict.active(), &self.responses) {
            r.put(caller, opts.version, &body);
        }
        Ok((verdict, body))
    }
}

/// How a validator caches.
#[derive(Debug, Clone, Copy)]
pub struct CacheOptions {
    /// Most tokens kept; 0 turns the cache off.
    pub capacity: usize,
    /// Longest time an entry is served, in seconds, however long its token lives. This
    /// bounds how long a revoked token (deleted row) can still validate on a node that was
    /// not told to evict it.
    pub ttl_seconds: i64,
}

impl Default for CacheOptions {
    fn default() -> Self {
        CacheOptions {
            capacity: 10_000,
            ttl_seconds: 60,
        }
    }
}

/// The result of looking a handle up.
#[derive(Debug, Clone)]
pub enum Found {
    /// The token; whether it is active for a caller is [`introspection::evaluate`]'s call.
    Token(Arc<Token>),
    /// The handle does not lead to a readable reference token.
    NotFound(NotFound),
}

/// Validates presented handles against the store. Share one per process: it is `Send` and
/// `Sync`, and its cache is safe under concurrent use.
pub struct Validator<L: Lookup> {
    lookup: L,
    keyring: Option<Arc<KeyRing>>,
    cache: Option<Cache<StoreKey, Entry>>,
    ttl: i64,
    fence: Fence,
}

impl<L: Lookup> Validator<L> {
    /// A validator reading rows with `lookup`, unprotecting protected rows with `keyring`.
    pub fn new(lookup: L, keyring: Option<Arc<KeyRing>>, cache: CacheOptions) -> Self {
        Validator {
            lookup,
            keyring,
            cache: (cache.capacity > 0).then(|| Cache::new(cache.capacity)),
            ttl: cache.ttl_seconds.max(0),
            fence: Fence::new(),
        }
    }

    /// Looks `handle` up at `now`: from the cache when a live entry is there, else from the
    /// store. Malformed handles never reach the lookup.
    pub fn find(&self, handle: &str, now: Instant) -> Result<Found, Error> {
        Ok(match self.find_hit(handle, now)? {
            Ok(hit) => Found::Token(hit.token),
            Err(why) => Found::NotFound(why),
        })
    }

    /// As [`Validator::find`], with what the cache keeps for the token: answer with
    /// [`Hit::introspect`] to have a cached token's response built once.
    pub fn find_hit(&self, handle: &str, now: Instant) -> Result<Result<Hit, NotFound>, Error> {
        if !validation::plausible_handle(handle) {
            return Ok(Err(NotFound::Malformed));
        }
        let key = crate::key::store_key(handle, crate::key::REFERENCE_TOKEN)?;
        if let Some(cache) = &self.cache {
            if let Some(e) = cache.get(&key) {
                if now <= e.until && self.fence.admits(e.stored_ns) {
                    return Ok(Ok(Hit {
                        token: e.token,
                        responses: Some(e.responses),
                    }));
                }
                cache.remove(&key);
            }
        }
        let stamp = self.fence.stamp(&key);
        let unprotect = self.keyring.as_deref().map(|k| k as &dyn Unprotect);
        let (key, outcome) = validation::find_token(handle, |k| self.lookup.lookup(k), unprotect)?;
        Ok(match outcome {
            Outcome::NotFound(why) => Err(why),
            Outcome::Found(token) => {
                let token: Arc<Token> = Arc::from(token);
                let until = token.expiration().min(now.add_seconds(self.ttl));
                let mut responses = None;
                if let Some(cache) = &self.cache {
                    // An expired token is not worth keeping: it is inactive for everyone.
                    // Nor is a row read before an eviction of its key that ran meanwhile.
                    if now <= until && self.fence.unchanged(&key, &stamp) {
                        let r = Arc::new(Responses::default());
                        cache.insert(
                            key,
                            Entry {
                                token: token.clone(),
                                until,
                                stored_ns: stamp.at_ns,
                                responses: r.clone(),
                            },
                        );
                        if self.fence.unchanged(&key, &stamp) {
                            responses = Some(r);
                        } else {
                            cache.remove(&key);
                        }
                    }
                }
                Ok(Hit { token, responses })
            }
        })
    }

    /// The introspection response IdentityServer's endpoint would give `caller` for `handle`.
    /// A client caller may also introspect its own refresh tokens: when the handle is no
    /// reference token active for it, the refresh token under the handle is tried (not
    /// cached), as IdentityServer does without a `token_type_hint`.
    pub fn introspect(
        &self,
        handle: &str,
        caller: &Caller<'_>,
        now: Instant,
        opts: &Options<'_>,
    ) -> Result<String, Error> {
        let body = match self.find_hit(handle, now)? {
            Ok(hit) => hit.introspect(caller, now, opts)?.1.as_str().to_owned(),
            Err(_) => INACTIVE.to_owned(),
        };
        if let (Caller::Client { id }, true) = (caller, body == INACTIVE) {
            let unprotect = self.keyring.as_deref().map(|k| k as &dyn Unprotect);
            if let Some(rt) =
                validation::find_refresh_token(handle, |k| self.lookup.lookup(k), unprotect)?
            {
                if let Some(refresh) = introspection::respond_refresh(&rt, id, now, opts)? {
                    return Ok(refresh);
                }
            }
        }
        Ok(body)
    }

    /// Whether `handle` is active for `caller`, with the token when it was found.
    pub fn validate(
        &self,
        handle: &str,
        caller: &Caller<'_>,
        now: Instant,
        opts: &Options<'_>,
    ) -> Result<Option<(Arc<Token>, bool)>, Error> {
        Ok(match self.find(handle, now)? {
            Found::Token(t) => {
                let active = introspection::evaluate(&t, caller, now, opts)?.active();
                Some((t, active))
            }
            Found::NotFound(_) => None,
        })
    }

    /// Forgets the token stored under `key` (a store key, as revocation paths know it).
    /// Returns whether an entry was there.
    pub fn evict(&self, key: &str) -> bool {
        let Some(cache) = &self.cache else {
            return false;
        };
        let Some(k) = StoreKey::from_str_checked(key) else {
            return false;
        };
        self.fence.note_evict(&k);
        cache.remove(&k).is_some()
    }

    /// Forgets every cached token.
    pub fn clear(&self) {
        if let Some(cache) = &self.cache {
            self.fence.note_clear();
            cache.clear();
        }
    }

    /// The revocation state this validator's cache obeys (see [`crate::revocation`]).
    pub fn fence(&self) -> &Fence {
        &self.fence
    }

    /// Tokens currently cached (live or not yet noticed as expired).
    pub fn cached(&self) -> usize {
        self.cache.as_ref().map_or(0, |c| c.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grant::{self, Claim};
    use std::collections::HashMap;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Store {
        rows: Mutex<HashMap<String, StoredGrant>>,
        lookups: AtomicUsize,
    }

    impl Lookup for Arc<Store> {
        fn lookup(&self, key: &str) -> Result<Option<StoredGrant>, Error> {
            self.lookups.fetch_add(1, Ordering::SeqCst);
            Ok(self.rows.lock().unwrap().get(key).cloned())
        }
    }

    fn issue(store: &Store, created: i64, lifetime: i32) -> String {
        let handle = crate::handle::new_handle().unwrap().to_string();
        let t = Token {
            client_id: Some("c1".into()),
            issuer: Some("https://idp".into()),
            creation_time: Instant::from_unix_seconds(created),
            lifetime,
            claims: vec![
                Claim::new("client_id", "c1"),
                Claim::new("scope", "api1.read"),
            ],
            ..Token::default()
        };
        let key = crate::key::store_key(&handle, "reference_token")
            .unwrap()
            .to_string();
        let row = StoredGrant {
            grant_type: "reference_token".into(),
            data: grant::seal_data(&t.to_json(), false),
        };
        store.rows.lock().unwrap().insert(key, row);
        handle
    }

    #[test]
    fn caches_until_expiry_ttl_or_eviction() {
        let store = Arc::new(Store {
            rows: Mutex::new(HashMap::new()),
            lookups: AtomicUsize::new(0),
        });
        let v = Validator::new(
            store.clone(),
            None,
            CacheOptions {
                capacity: 100,
                ttl_seconds: 30,
            },
        );
        let scopes = ["api1.read"];
        let api = Caller::Api {
            name: "api1",
            scopes: &scopes,
        };
        let o = Options::default();
        let h = issue(&store, 1000, 100);
        let t0 = Instant::from_unix_seconds(1000);
        assert!(v.validate(&h, &api, t0, &o).unwrap().unwrap().1);
        assert!(
            v.validate(&h, &api, t0.add_seconds(10), &o)
                .unwrap()
                .unwrap()
                .1
        );
        assert_eq!(
            store.lookups.load(Ordering::SeqCst),
            1,
            "second call served from the cache"
        );
        // Past the cache TTL the store is asked again.
        assert!(
            v.validate(&h, &api, t0.add_seconds(31), &o)
                .unwrap()
                .unwrap()
                .1
        );
        assert_eq!(store.lookups.load(Ordering::SeqCst), 2);
        // Revocation: the row is deleted; the cached entry still serves until evicted.
        let key = crate::key::store_key(&h, "reference_token").unwrap();
        store.rows.lock().unwrap().clear();
        assert!(
            v.validate(&h, &api, t0.add_seconds(32), &o)
                .unwrap()
                .is_some()
        );
        assert!(v.evict(&key));
        assert!(!v.evict(&key));
        assert!(
            v.validate(&h, &api, t0.add_seconds(33), &o)
                .unwrap()
                .is_none()
        );
        // Never past the token's own expiry, whatever the TTL.
        let h2 = issue(&store, 1000, 5);
        let v2 = Validator::new(
            store.clone(),
            None,
            CacheOptions {
                capacity: 100,
                ttl_seconds: 3600,
            },
        );
        assert!(v2.validate(&h2, &api, t0, &o).unwrap().unwrap().1);
        let (_, active) = v2
            .validate(&h2, &api, t0.add_seconds(6), &o)
            .unwrap()
            .unwrap();
        assert!(!active);
        assert_eq!(v2.cached(), 0, "expired entries are dropped");
    }

    #[test]
    fn clients_fall_back_to_their_refresh_tokens() {
        let store = Arc::new(Store {
            rows: Mutex::new(HashMap::new()),
            lookups: AtomicUsize::new(0),
        });
        let handle = format!("{}-1", "AB".repeat(32));
        let rt = r#"{"CreationTime":"2025-03-01T11:55:00Z","Lifetime":600,"Subject":{"Claims":[{"Type":"sub","Value":"alice"}]},"Version":5,"ClientId":"ropc","AuthorizedScopes":["api1.read","offline_access"]}"#;
        let key = crate::key::store_key(&handle, "refresh_token")
            .unwrap()
            .to_string();
        store.rows.lock().unwrap().insert(
            key,
            StoredGrant {
                grant_type: "refresh_token".into(),
                data: grant::seal_data(rt, false),
            },
        );
        let v = Validator::new(store.clone(), None, CacheOptions::default());
        let now = crate::instant::parse("2025-03-01T12:00:00Z").unwrap();
        let o = Options::default();
        assert_eq!(
            v.introspect(&handle, &Caller::Client { id: "ropc" }, now, &o)
                .unwrap(),
            r#"{"client_id":"ropc","token_type":"refresh_token","iat":1740830100,"exp":1740830700,"sub":"alice","active":true,"scope":"api1.read offline_access"}"#
        );
        assert_eq!(
            v.introspect(&handle, &Caller::Client { id: "other" }, now, &o)
                .unwrap(),
            INACTIVE
        );
        let scopes = ["api1.read"];
        assert_eq!(
            v.introspect(
                &handle,
                &Caller::Api {
                    name: "api1",
                    scopes: &scopes
                },
                now,
                &o
            )
            .unwrap(),
            INACTIVE
        );
        assert_eq!(
            v.introspect(
                &handle,
                &Caller::Client { id: "ropc" },
                now.add_seconds(601),
                &o
            )
            .unwrap(),
            INACTIVE
        );
    }

    #[test]
    fn malformed_handles_never_reach_the_store() {
        let store = Arc::new(Store {
            rows: Mutex::new(HashMap::new()),
            lookups: AtomicUsize::new(0),
        });
        let v = Validator::new(store.clone(), None, CacheOptions::default());
        for h in ["", "a.b.c", "with space", &"A".repeat(101)] {
            assert!(matches!(
                v.find(h, Instant(0)).unwrap(),
                Found::NotFound(NotFound::Malformed)
            ));
        }
        assert_eq!(store.lookups.load(Ordering::SeqCst), 0);
    }

    fn memo_store() -> Arc<Store> {
        Arc::new(Store {
            rows: Mutex::new(HashMap::new()),
            lookups: AtomicUsize::new(0),
        })
    }

    #[test]
    fn cached_responses_are_per_caller_and_version() {
        let store = memo_store();
        let v = Validator::new(store.clone(), None, CacheOptions::default());
        let h = issue(&store, 1000, 100);
        let now = Instant::from_unix_seconds(1000);
        let read = ["api1.read"];
        let none: [&str; 0] = [];
        let callers = [
            Caller::Api {
                name: "api1",
                scopes: &read,
            },
            Caller::Api {
                name: "api2",
                scopes: &read,
            },
            Caller::Api {
                name: "api1",
                scopes: &none,
            },
            Caller::Client { id: "c1" },
            Caller::Client { id: "c2" },
            Caller::Api {
                name: "api3",
                scopes: &read,
            },
        ];
        let versions = [
            IdentityServerVersion::default(),
            IdentityServerVersion::IdentityServer4,
        ];
        // Twice over, so the second round is answered from what the first kept (and, past
        // MEMO_CALLERS, built again): every answer equals the token's own uncached response.
        for round in 0..2 {
            for version in versions {
                let o = Options {
                    version,
                    ..Options::default()
                };
                for c in &callers {
                    let hit = v.find_hit(&h, now).unwrap().unwrap();
                    let (verdict, body) = hit.introspect(c, now, &o).unwrap();
                    let expected = introspection::respond(&hit.token, c, now, &o).unwrap();
                    assert_eq!(body.as_str(), expected, "round {round}, {c:?}, {version:?}");
                    assert_eq!(verdict.active(), expected != INACTIVE, "{c:?}");
                }
            }
        }
        assert_eq!(store.lookups.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_cached_response_follows_the_verdict_of_each_call() {
        let store = memo_store();
        let v = Validator::new(store.clone(), None, CacheOptions::default());
        let h = issue(&store, 1000, 100);
        let read = ["api1.read"];
        let api = Caller::Api {
            name: "api1",
            scopes: &read,
        };
        let now = Instant::from_unix_seconds(1000);
        let enabled = |_: &str| true;
        let disabled = |_: &str| false;
        let on = Options {
            client_enabled: Some(&enabled),
            ..Options::default()
        };
        let off = Options {
            client_enabled: Some(&disabled),
            ..Options::default()
        };
        let active = v.introspect(&h, &api, now, &on).unwrap();
        assert!(active.contains("\"active\":true"), "{active}");
        // The client disabled after its token's response was kept: refused at once.
        let hit = v.find_hit(&h, now).unwrap().unwrap();
        let (verdict, body) = hit.introspect(&api, now, &off).unwrap();
        assert!(!verdict.active());
        assert_eq!(body.as_str(), INACTIVE);
        assert_eq!(v.introspect(&h, &api, now, &on).unwrap(), active);
        // Evicted (revoked): the kept response goes with the entry.
        let key = crate::key::store_key(&h, "reference_token")
            .unwrap()
            .to_string();
        store.rows.lock().unwrap().remove(&key);
        assert!(v.evict(&key));
        assert_eq!(v.introspect(&h, &api, now, &on).unwrap(), INACTIVE);
        assert_eq!(store.lookups.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn without_a_cache_nothing_is_kept() {
        let store = memo_store();
        let v = Validator::new(
            store.clone(),
            None,
            CacheOptions {
                capacity: 0,
                ttl_seconds: 60,
            },
        );
        let h = issue(&store, 1000, 100);
        let hit = v
            .find_hit(&h, Instant::from_unix_seconds(1000))
            .unwrap()
            .unwrap();
        assert!(hit.responses.is_none());
    }
}
