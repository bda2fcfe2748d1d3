//! Hardening (issue 7): handle uniqueness and randomness at scale, fork safety, constant-time
//! MAC and tag checks, the documented input limits (each enforced with its documented status,
//! in bounded time and memory), and the wiping of secrets when they are dropped.
//!
//! A watching global allocator (below) makes two things observable that are otherwise only
//! code review: how much memory a call allocates at most (per thread), and whether memory
//! freed during a call still held a secret (a marker) when it was given back.
//!
//! Run in release (`cargo test --release --test hardening`): about 10 s on two cores. In a
//! debug build the scale tests use a tenth of the handles.
//!
//! Here: the allocator and the helpers the sections share; the sections are the modules below.

#[macro_use]
#[path = "../common/mod.rs"]
mod common;

mod constant_time;
mod fuzz_regressions;
mod handles;
mod memory_hygiene;
mod resource_limits;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::ptr::null_mut;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reftoken::Error;
use reftoken::dataprotection::KeyRing;
use reftoken::grant::{self, Token};
use reftoken::instant::Instant;
use reftoken_ffi::*;

use common::{DEFAULT_DESERIALIZER, FIXTURE_APP, FIXTURE_KEY, rs};

// ---------------------------------------------------------------------------------------------
// The watching allocator

/// Counts, per thread, the bytes allocated (current and peak) while tracking is on, and scans
/// every block freed while a marker is armed for that marker. Thread-local state only, so
/// tests running in parallel do not see each other's allocations.
struct Watch;

thread_local! {
    static TRACK: Cell<bool> = const { Cell::new(false) };
    static CURRENT: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
    /// The armed marker: (pointer, length); length 0 when disarmed.
    static ARMED: Cell<(usize, usize)> = const { Cell::new((0, 0)) };
    /// Freed blocks that still held the marker.
    static FOUND: Cell<usize> = const { Cell::new(0) };
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.len() <= hay.len() && hay.windows(needle.len()).any(|w| w == needle)
}

unsafe impl GlobalAlloc for Watch {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() && TRACK.try_with(Cell::get).unwrap_or(false) {
            let _ = CURRENT.try_with(|c| {
                let now = c.get() + layout.size() as isize;
                c.set(now);
                let _ = PEAK.try_with(|p| p.set(p.get().max(now)));
            });
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if TRACK.try_with(Cell::get).unwrap_or(false) {
            let _ = CURRENT.try_with(|c| c.set(c.get() - layout.size() as isize));
        }
        if let Ok((m, n)) = ARMED.try_with(Cell::get) {
            if n > 0 {
                // SAFETY: the block is still ours until System.dealloc below; the marker is a
                // leaked, immutable allocation.
                let block = unsafe { std::slice::from_raw_parts(ptr, layout.size()) };
                let marker = unsafe { std::slice::from_raw_parts(m as *const u8, n) };
                if contains(block, marker) {
                    let _ = FOUND.try_with(|f| f.set(f.get() + 1));
                }
            }
        }
        unsafe { System.dealloc(ptr, layout) }
    }
    // `realloc` is GlobalAlloc's default: alloc, copy, dealloc; so the old block of a growing
    // buffer is scanned too.
}

#[global_allocator]
static GLOBAL: Watch = Watch;

/// Runs `f` and returns its result and the most bytes it had allocated at once on this thread
/// (beyond what was allocated when it started).
fn peak_alloc<R>(f: impl FnOnce() -> R) -> (R, usize) {
    CURRENT.with(|c| c.set(0));
    PEAK.with(|p| p.set(0));
    TRACK.with(|t| t.set(true));
    let r = f();
    TRACK.with(|t| t.set(false));
    (r, PEAK.with(Cell::get).max(0) as usize)
}

/// Runs `f` with `marker` armed and returns how many blocks freed meanwhile still held it.
/// Everything `f` needs must be built before and dropped after, outside the call.
fn freed_with_marker(marker: &[u8], f: impl FnOnce()) -> usize {
    let m: &'static [u8] = Box::leak(marker.to_vec().into_boxed_slice());
    FOUND.with(|c| c.set(0));
    ARMED.with(|c| c.set((m.as_ptr() as usize, m.len())));
    f();
    ARMED.with(|c| c.set((0, 0)));
    FOUND.with(Cell::get)
}

// ---------------------------------------------------------------------------------------------
// Helpers

/// An instant when the fixture key (created 2026-11-25) and the keys of [`key_xml`] are active.
fn key_time() -> Instant {
    reftoken::instant::parse("2026-12-01T00:00:00Z").unwrap()
}

/// A key element as ASP.NET Core writes it, active around [`key_time`].
fn key_xml(id: &str, encryption: &str, validation: Option<&str>, master_key: &[u8]) -> String {
    let val = validation
        .map(|v| format!(r#"<validation algorithm="{v}" />"#))
        .unwrap_or_default();
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<key id=\"{id}\" version=\"1\">\n  <creationDate>2026-11-20T00:00:00Z</creationDate>\n  <activationDate>2026-11-20T00:00:00Z</activationDate>\n  <expirationDate>2027-02-18T00:00:00Z</expirationDate>\n  <descriptor deserializerType=\"{DEFAULT_DESERIALIZER}\">\n    <descriptor><encryption algorithm=\"{encryption}\" />{val}<masterKey p4:requiresEncryption=\"true\" xmlns:p4=\"http://schemas.asp.net/2015/03/dataProtection\"><value>{}</value></masterKey></descriptor>\n  </descriptor>\n</key>",
        STANDARD.encode(master_key)
    )
}

fn fixture_ring() -> KeyRing {
    KeyRing::from_xml(&[FIXTURE_KEY])
        .unwrap()
        .with_application_name(Some(FIXTURE_APP))
}

fn status_of(e: &Error) -> reftoken_status {
    reftoken_status::from(e)
}

fn is_debug() -> bool {
    cfg!(debug_assertions)
}

/// `reftoken_grant_parse` of `data`: its status (the grant freed).
fn grant_parse(data: &[u8]) -> reftoken_status {
    let mut g = null_mut();
    let st = unsafe { reftoken_grant_parse(data.as_ptr().cast(), data.len(), &mut g) };
    unsafe { reftoken_grant_free(g) };
    st
}

/// A new grant through the C ABI (client `c`, issuer `i`, created at 0, 60 s): free it.
fn new_grant() -> *mut reftoken_grant {
    let mut g = null_mut();
    let st = unsafe {
        reftoken_grant_new(
            b"c".as_ptr().cast(),
            1,
            b"i".as_ptr().cast(),
            1,
            0,
            60,
            &mut g,
        )
    };
    assert_eq!(st, reftoken_status::REFTOKEN_OK);
    g
}

/// The introspection response for `client1` of `t` (at 2025-03-01T12:00:00Z).
fn client1_response(t: &Token) -> String {
    let caller = reftoken::introspection::Caller::Client { id: "client1" };
    let now = Instant::from_unix_seconds(1_740_830_400);
    reftoken::introspection::respond(t, &caller, now, &Default::default()).unwrap()
}

/// A token as IdentityServer stores it, with `claims` extra `role` claims.
fn token_json(claims: usize) -> String {
    let mut t = Token {
        issuer: Some("https://idsvr.test".into()),
        client_id: Some("client1".into()),
        creation_time: Instant::from_unix_seconds(1_740_830_340),
        lifetime: 3600,
        audiences: vec!["api1".into()],
        ..Token::default()
    };
    t.claims.push(grant::Claim::new("client_id", "client1"));
    t.claims.push(grant::Claim::new("scope", "api1.read"));
    t.claims.push(grant::Claim::new("sub", "alice"));
    for i in 0..claims {
        t.claims.push(grant::Claim::new("role", format!("r{i}")));
    }
    t.to_json()
}
