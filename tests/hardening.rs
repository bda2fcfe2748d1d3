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

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::HashSet;
use std::ffi::c_char;
use std::hint::black_box;
use std::ptr::{null, null_mut};
use std::time::{Duration, Instant as Clock};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reftoken::dataprotection::{self, KeyRing};
use reftoken::endpoint::{self, Form, HttpRequest, IntrospectionRequest};
use reftoken::ffi::*;
use reftoken::grant::{self, Token};
use reftoken::instant::Instant;
use reftoken::{Error, jwt, limits};

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

const FIXTURE_KEY: &str =
    include_str!("fixtures/duende/keyring/key-3e8fa111-b37f-4806-a7d7-20ddc589534f.xml");
const FIXTURE_APP: &str = "reftoken-fixtures";
const DEFAULT_DESERIALIZER: &str = "Microsoft.AspNetCore.DataProtection.AuthenticatedEncryption.ConfigurationModel.AuthenticatedEncryptorDescriptorDeserializer, Microsoft.AspNetCore.DataProtection, Version=10.0.0.0, Culture=neutral, PublicKeyToken=adb9793829ddae60";

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

fn gcm_ring() -> KeyRing {
    let key = key_xml(
        "4b9c6bbf-3f43-4c35-a6e0-1c1d1d2a4a02",
        "AES_256_GCM",
        None,
        &[7u8; 64],
    );
    KeyRing::from_xml(&[key])
        .unwrap()
        .with_application_name(Some("app"))
}

fn rs(s: &[u8]) -> reftoken_str {
    reftoken_str {
        ptr: s.as_ptr().cast(),
        len: s.len(),
    }
}

fn status_of(e: &Error) -> reftoken_status {
    reftoken_status::from(e)
}

fn is_debug() -> bool {
    cfg!(debug_assertions)
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

// ---------------------------------------------------------------------------------------------
// Handles: uniqueness at scale, fork safety, byte statistics

fn new_handle() -> [u8; 66] {
    let mut h = [0u8; 67];
    let mut len = 0;
    let st = unsafe { reftoken_handle_new(h.as_mut_ptr().cast(), h.len(), &mut len) };
    assert_eq!(st, reftoken_status::REFTOKEN_OK);
    assert_eq!(len, 66);
    assert_eq!(h[66], 0);
    h[..66].try_into().unwrap()
}

fn hex_val(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'A'..=b'F' => c - b'A' + 10,
        _ => panic!("not an uppercase hex digit: {c:#x}"),
    }
}

/// The first 16 random bytes of a handle as a number. Two equal handles have equal prefixes,
/// so no equal prefixes means no equal handles (and 16 bytes make a chance prefix collision
/// among 10^7 handles a 10^-25 event).
fn prefix(h: &[u8; 66]) -> u128 {
    assert_eq!(&h[64..], b"-1");
    let mut v = 0u128;
    for &c in &h[..32] {
        v = v << 4 | u128::from(hex_val(c));
    }
    for &c in &h[32..64] {
        hex_val(c);
    }
    v
}

#[test]
fn ten_million_handles_from_eight_threads_are_unique() {
    const THREADS: usize = 8;
    let total: usize = if is_debug() { 1_000_000 } else { 10_000_000 };
    let per = total / THREADS;
    let t0 = Clock::now();
    let parts: Vec<Vec<u128>> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..THREADS)
            .map(|_| {
                s.spawn(move || {
                    let mut v = Vec::with_capacity(per);
                    for _ in 0..per {
                        v.push(prefix(&new_handle()));
                    }
                    v
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut all: Vec<u128> = parts.into_iter().flatten().collect();
    assert_eq!(all.len(), per * THREADS);
    all.sort_unstable();
    let dups = all.windows(2).filter(|w| w[0] == w[1]).count();
    eprintln!(
        "{} handles from {THREADS} threads in {:.1?}: {dups} duplicates",
        all.len(),
        t0.elapsed()
    );
    assert_eq!(dups, 0);
}

/// Reads exactly `buf.len()` bytes from a pipe.
fn read_full(fd: i32, buf: &mut [u8]) {
    let mut got = 0;
    while got < buf.len() {
        let n = unsafe { libc::read(fd, buf[got..].as_mut_ptr().cast(), buf.len() - got) };
        assert!(n > 0, "read from the child failed");
        got += n as usize;
    }
}

const FORK_HANDLES: usize = 64;

/// Forks; the child writes `FORK_HANDLES` new handles into a pipe and exits without
/// allocating (the test harness has other threads, so the child must stay async-signal-safe:
/// only `reftoken_handle_new`, `write` and `_exit`). Returns the child's handles.
fn handles_from_child() -> Vec<[u8; 66]> {
    let mut fds = [0i32; 2];
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        unsafe {
            libc::close(fds[0]);
            let mut ok = true;
            for _ in 0..FORK_HANDLES {
                let mut h = [0u8; 66];
                let mut len = 0usize;
                ok &= reftoken_handle_new(h.as_mut_ptr().cast(), h.len(), &mut len)
                    == reftoken_status::REFTOKEN_OK;
                ok &= libc::write(fds[1], h.as_ptr().cast(), 66) == 66;
            }
            libc::_exit(if ok { 0 } else { 1 });
        }
    }
    unsafe { libc::close(fds[1]) };
    let mut buf = vec![0u8; 66 * FORK_HANDLES];
    read_full(fds[0], &mut buf);
    unsafe { libc::close(fds[0]) };
    let mut status = 0;
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "child failed: {status}"
    );
    buf.chunks_exact(66)
        .map(|c| c.try_into().unwrap())
        .collect()
}

#[test]
fn a_child_after_fork_never_repeats_the_parents_stream() {
    // Run on a thread of our own so that this thread's generator is in a known state: one
    // handle taken, so the parent holds buffered keystream the child would replay if its
    // generator were a plain copy.
    std::thread::spawn(|| {
        let mut seen: HashSet<[u8; 66]> = HashSet::new();
        seen.insert(new_handle());
        for round in 0..4 {
            let child = handles_from_child();
            let parent: Vec<[u8; 66]> = (0..FORK_HANDLES).map(|_| new_handle()).collect();
            for h in child.iter().chain(&parent) {
                prefix(h);
                assert!(
                    seen.insert(*h),
                    "round {round}: a handle repeated across fork()"
                );
            }
            // Each child also differs from its siblings (checked through `seen`) and from a
            // child forked before this thread ever used its generator (below).
        }
    })
    .join()
    .unwrap();
    let a = std::thread::spawn(handles_from_child).join().unwrap();
    let b = std::thread::spawn(handles_from_child).join().unwrap();
    let set: HashSet<_> = a.iter().chain(&b).collect();
    assert_eq!(set.len(), 2 * FORK_HANDLES);
}

/// Pearson's chi-square of the byte frequencies of `bytes` against the uniform distribution
/// (255 degrees of freedom: mean 255, standard deviation 22.6).
fn chi_square_bytes(bytes: &[u8]) -> f64 {
    let mut counts = [0u64; 256];
    for &b in bytes {
        counts[b as usize] += 1;
    }
    let expected = bytes.len() as f64 / 256.0;
    counts
        .iter()
        .map(|&c| (c as f64 - expected).powi(2) / expected)
        .sum()
}

/// Chi-square of the frequencies of consecutive byte pairs (65535 degrees of freedom: mean
/// 65535, standard deviation 362): catches generators whose bytes are uniform one by one but
/// not independent.
fn chi_square_pairs(bytes: &[u8]) -> f64 {
    let mut counts = vec![0u64; 65536];
    for p in bytes.chunks_exact(2) {
        counts[usize::from(p[0]) << 8 | usize::from(p[1])] += 1;
    }
    let expected = (bytes.len() / 2) as f64 / 65536.0;
    counts
        .iter()
        .map(|&c| (c as f64 - expected).powi(2) / expected)
        .sum()
}

/// The verdict on a byte stream. The bounds are about seven standard deviations from the
/// mean on both sides: a good generator fails them with a probability far below 10^-9, and a
/// stream that is too uniform (a counter) fails the lower bound.
fn looks_random(bytes: &[u8]) -> Result<(), String> {
    let c1 = chi_square_bytes(bytes);
    let c2 = chi_square_pairs(bytes);
    let ones: u64 = bytes.iter().map(|b| u64::from(b.count_ones())).sum();
    let bits = bytes.len() as f64 * 8.0;
    let z_bits = (ones as f64 - bits / 2.0) / (bits / 4.0).sqrt();
    if !(100.0..=420.0).contains(&c1) {
        return Err(format!("byte chi-square {c1:.1} (expected about 255)"));
    }
    if !(62_900.0..=68_200.0).contains(&c2) {
        return Err(format!("pair chi-square {c2:.0} (expected about 65535)"));
    }
    if z_bits.abs() > 7.0 {
        return Err(format!("bit balance z = {z_bits:.1}"));
    }
    Ok(())
}

/// `n` random bytes through the C ABI (`reftoken_random_hex`, decoded).
fn random_bytes(n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n);
    let mut buf = vec![0u8; 2 * 4096 + 1];
    while out.len() < n {
        let mut len = 0;
        let st = unsafe { reftoken_random_hex(4096, buf.as_mut_ptr().cast(), buf.len(), &mut len) };
        assert_eq!(st, reftoken_status::REFTOKEN_OK);
        assert_eq!(len, 8192);
        out.extend(
            buf[..len]
                .chunks_exact(2)
                .map(|p| hex_val(p[0]) << 4 | hex_val(p[1])),
        );
    }
    out.truncate(n);
    out
}

#[test]
fn handle_bytes_pass_frequency_tests() {
    let n = 16 << 20;
    let bytes = random_bytes(n);
    looks_random(&bytes).unwrap();
    // The random bytes of handles themselves (64 hex digits each).
    let mut hb = Vec::with_capacity(32 * 200_000);
    for _ in 0..200_000 {
        let h = new_handle();
        hb.extend(
            h[..64]
                .chunks_exact(2)
                .map(|p| hex_val(p[0]) << 4 | hex_val(p[1])),
        );
    }
    looks_random(&hb).unwrap();
}

#[test]
fn frequency_tests_catch_broken_generators() {
    let n = 16 << 20;
    // A counter: perfectly uniform bytes, far too regular.
    let counter: Vec<u8> = (0..n).map(|i| i as u8).collect();
    assert!(looks_random(&counter).is_err());
    // A constant.
    assert!(looks_random(&vec![0x42u8; n]).is_err());
    // A generator stuck on one bit (every byte has its top bit clear).
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let stuck: Vec<u8> = (0..n).map(|_| (next() >> 32) as u8 & 0x7F).collect();
    assert!(looks_random(&stuck).is_err());
    // A slightly biased one: 1 byte in 64 is forced to zero.
    let biased: Vec<u8> = (0..n)
        .map(|_| {
            let v = next();
            if v & 63 == 0 { 0 } else { (v >> 40) as u8 }
        })
        .collect();
    assert!(looks_random(&biased).is_err());
    // Bytes that repeat in pairs (uniform one by one, not independent).
    let pairs: Vec<u8> = (0..n / 2)
        .flat_map(|_| {
            let b = (next() >> 24) as u8;
            [b, b]
        })
        .collect();
    assert!(looks_random(&pairs).is_err());
    // And a good generator passes (the statistic is not simply always failing).
    let good: Vec<u8> = (0..n / 8).flat_map(|_| next().to_le_bytes()).collect();
    looks_random(&good).unwrap();
}

// ---------------------------------------------------------------------------------------------
// Constant time: Data Protection MACs and tags

/// Welch's t statistic of two samples.
fn welch_t(a: &[f64], b: &[f64]) -> f64 {
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let var =
        |v: &[f64], m: f64| v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64;
    let (ma, mb) = (mean(a), mean(b));
    let se = (var(a, ma) / a.len() as f64 + var(b, mb) / b.len() as f64).sqrt();
    if se == 0.0 { 0.0 } else { (ma - mb) / se }
}

/// dudect's method (Reparaz, Balasch, Verbauwhede 2017): `samples` timings of `op` on inputs
/// of two classes chosen at random for each measurement, both copied into the same buffer;
/// timings above the 80th percentile (interrupts, preemption) dropped; Welch's t between the
/// classes. |t| above 10 is dudect's threshold for "not constant time".
fn dudect(samples: usize, a: &[u8], b: &[u8], mut op: impl FnMut(&[u8])) -> f64 {
    assert_eq!(a.len(), b.len());
    let mut buf = a.to_vec();
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let mut timings: Vec<(bool, f64)> = Vec::with_capacity(samples);
    for i in 0..samples + samples / 10 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let class = seed & 1 == 1;
        buf.copy_from_slice(if class { b } else { a });
        let t0 = Clock::now();
        op(black_box(&buf));
        let dt = t0.elapsed().as_nanos() as f64;
        if i >= samples / 10 {
            timings.push((class, dt)); // the first tenth warms up
        }
    }
    let mut sorted: Vec<f64> = timings.iter().map(|t| t.1).collect();
    sorted.sort_by(f64::total_cmp);
    let cut = sorted[sorted.len() * 8 / 10];
    let kept = |class: bool| -> Vec<f64> {
        timings
            .iter()
            .filter(|t| t.0 == class && t.1 <= cut)
            .map(|t| t.1)
            .collect()
    };
    let (xa, xb) = (kept(false), kept(true));
    welch_t(&xa, &xb)
}

/// Bounded so that it cannot be flaky: a leak shows in every attempt, noise on a loaded
/// machine does not; so the check fails only when all three attempts exceed the threshold.
fn assert_constant_time(what: &str, a: &[u8], b: &[u8], mut op: impl FnMut(&[u8])) {
    let mut ts = Vec::new();
    for _ in 0..3 {
        let t = dudect(40_000, a, b, &mut op);
        ts.push(t);
        if t.abs() < 10.0 {
            eprintln!("{what}: Welch's t {t:.2} after {} attempt(s)", ts.len());
            return;
        }
    }
    panic!("{what}: timing depends on where the values differ (Welch's t {ts:.2?})");
}

/// A payload protected by `ring` and two copies whose MAC (CBC) or tag (GCM), its last
/// `tag_len` bytes, differs in the first and in the last byte.
fn tampered_pair(ring: &KeyRing, tag_len: usize) -> (Vec<u8>, Vec<u8>) {
    let payload = ring.protect(&["p"], &[0x5Au8; 64], key_time()).unwrap();
    let mut first = payload.clone();
    first[payload.len() - tag_len] ^= 1;
    let mut last = payload.clone();
    *last.last_mut().unwrap() ^= 1;
    for t in [&first, &last] {
        assert!(matches!(ring.unprotect(&["p"], t), Err(Error::Decrypt(_))));
    }
    (first, last)
}

#[test]
fn data_protection_mac_check_takes_the_same_time_wherever_the_mac_differs() {
    let ring = fixture_ring();
    let (first, last) = tampered_pair(&ring, 32);
    assert_constant_time("AES-256-CBC + HMAC-SHA256 unprotect", &first, &last, |p| {
        black_box(ring.unprotect(&["p"], p).is_err());
    });
}

#[test]
fn data_protection_gcm_tag_check_takes_the_same_time_wherever_the_tag_differs() {
    let ring = gcm_ring();
    let (first, last) = tampered_pair(&ring, 16);
    assert_constant_time("AES-256-GCM unprotect", &first, &last, |p| {
        black_box(ring.unprotect(&["p"], p).is_err());
    });
}

#[test]
fn the_timing_harness_detects_an_early_exit_mac_comparison() {
    // The same operation followed by an early-exit comparison of the MAC against the right
    // one (a few nanoseconds per equal byte): the harness must see it.
    let ring = fixture_ring();
    let (first, last) = tampered_pair(&ring, 32);
    let right = {
        let mut r = last.clone();
        *r.last_mut().unwrap() ^= 1;
        r
    };
    let leaky = |p: &[u8]| {
        black_box(ring.unprotect(&["p"], p).is_err());
        let (x, y) = (&p[p.len() - 32..], &right[right.len() - 32..]);
        for i in 0..32 {
            if black_box(x[i]) != black_box(y[i]) {
                break;
            }
            for _ in 0..8 {
                black_box(i);
            }
        }
    };
    let mut leaky = leaky;
    let ts: Vec<f64> = (0..3)
        .map(|_| dudect(40_000, &first, &last, &mut leaky))
        .collect();
    eprintln!("early-exit comparison: Welch's t {ts:.1?}");
    assert!(
        ts.iter().any(|t| t.abs() >= 10.0),
        "the harness did not see an early-exit comparison (t {ts:.1?})"
    );
}

// ---------------------------------------------------------------------------------------------
// Resource limits: each documented limit, enforced with its documented status

fn grant_parse(data: &[u8]) -> reftoken_status {
    let mut g = null_mut();
    let st = unsafe { reftoken_grant_parse(data.as_ptr().cast(), data.len(), &mut g) };
    unsafe { reftoken_grant_free(g) };
    st
}

/// `text` padded with spaces after its closing brace to exactly `len` bytes (JSON allows
/// trailing white space).
fn padded(text: &str, len: usize) -> String {
    let mut s = text.to_owned();
    s.extend(std::iter::repeat_n(' ', len - text.len()));
    s
}

#[test]
fn limit_data_column_is_1_mib() {
    let row = grant::seal_data(&token_json(0), false);
    let at = padded(&row, limits::MAX_DATA_LEN);
    let (st, peak) = peak_alloc(|| grant_parse(at.as_bytes()));
    assert_eq!(st, reftoken_status::REFTOKEN_OK);
    assert!(peak < 8 * limits::MAX_DATA_LEN, "peak {peak}");
    let over = padded(&row, limits::MAX_DATA_LEN + 1);
    let (st, peak) = peak_alloc(|| grant_parse(over.as_bytes()));
    assert_eq!(st, reftoken_status::REFTOKEN_INPUT_TOO_LARGE);
    assert!(peak < 4096, "refused only after allocating {peak} bytes");
    // The bare token JSON, and the row handed to a validator, have the same limit.
    let mut g = null_mut();
    let tok = padded(&token_json(0), limits::MAX_DATA_LEN + 1);
    let st = unsafe { reftoken_grant_parse_token_json(tok.as_ptr().cast(), tok.len(), &mut g) };
    assert_eq!(st, reftoken_status::REFTOKEN_INPUT_TOO_LARGE);
    assert!(g.is_null());
    assert!(matches!(
        grant::read_token(&over),
        Err(Error::TooLarge { max, .. }) if max == limits::MAX_DATA_LEN
    ));
}

#[test]
fn limit_claims_is_10000() {
    let at = token_json(limits::MAX_CLAIMS - 3);
    assert_eq!(grant_parse(at.as_bytes()), reftoken_status::REFTOKEN_OK);
    let over = token_json(limits::MAX_CLAIMS - 2);
    assert_eq!(
        grant_parse(over.as_bytes()),
        reftoken_status::REFTOKEN_INPUT_TOO_LARGE
    );
    // Building: the 10001st claim is refused.
    let mut g = null_mut();
    unsafe {
        assert_eq!(
            reftoken_grant_new(
                b"c".as_ptr().cast(),
                1,
                b"i".as_ptr().cast(),
                1,
                0,
                60,
                &mut g
            ),
            reftoken_status::REFTOKEN_OK
        );
        for _ in 0..limits::MAX_CLAIMS {
            assert_eq!(
                reftoken_grant_add_claim(
                    g,
                    b"r".as_ptr().cast(),
                    1,
                    b"v".as_ptr().cast(),
                    1,
                    null(),
                    0
                ),
                reftoken_status::REFTOKEN_OK
            );
        }
        assert_eq!(
            reftoken_grant_add_claim(
                g,
                b"r".as_ptr().cast(),
                1,
                b"v".as_ptr().cast(),
                1,
                null(),
                0
            ),
            reftoken_status::REFTOKEN_INPUT_TOO_LARGE
        );
        reftoken_grant_free(g);
    }
}

fn nested(depth: usize) -> String {
    format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
}

/// A token whose unknown member `X` holds `value` (System.Text.Json and RefToken ignore
/// unknown members, but must still read them).
fn token_with_member(value: &str) -> String {
    let t = token_json(0);
    format!("{{\"X\":{value},{}", &t[1..])
}

#[test]
fn limit_json_depth_is_64_for_data_columns_and_tokens() {
    // System.Text.Json (JsonSerializerOptions.MaxDepth 64) fails on the 65th level, so
    // IdentityServer cannot read such a row; RefToken refuses it too. The token object itself
    // is the first level.
    let ok = token_with_member(&nested(limits::MAX_JSON_DEPTH - 1));
    assert_eq!(grant_parse(ok.as_bytes()), reftoken_status::REFTOKEN_OK);
    let deep = token_with_member(&nested(limits::MAX_JSON_DEPTH));
    assert_eq!(
        grant_parse(deep.as_bytes()),
        reftoken_status::REFTOKEN_MALFORMED_INPUT,
        "a token nested 65 deep is read"
    );
    let row = grant::seal_data(&deep, false);
    assert_eq!(
        grant_parse(row.as_bytes()),
        reftoken_status::REFTOKEN_MALFORMED_INPUT
    );
    let deep_container = format!(
        "{{\"X\":{},\"PersistentGrantDataContainerVersion\":1,\"DataProtected\":false,\"Payload\":{}}}",
        nested(limits::MAX_JSON_DEPTH),
        serde_json::to_string(&token_json(0)).unwrap()
    );
    assert_eq!(
        grant_parse(deep_container.as_bytes()),
        reftoken_status::REFTOKEN_MALFORMED_INPUT
    );
    // However deep, parsing takes bounded time and stack (1 MiB of brackets).
    let huge = token_with_member(&nested((limits::MAX_DATA_LEN - 2048) / 2));
    let t0 = Clock::now();
    assert_eq!(
        grant_parse(huge.as_bytes()),
        reftoken_status::REFTOKEN_MALFORMED_INPUT
    );
    assert!(t0.elapsed() < Duration::from_secs(2));
}

#[test]
fn limit_json_depth_is_64_for_confirmations_and_json_claims() {
    let mut g = null_mut();
    unsafe {
        reftoken_grant_new(
            b"c".as_ptr().cast(),
            1,
            b"i".as_ptr().cast(),
            1,
            0,
            60,
            &mut g,
        );
        let ok = nested(limits::MAX_JSON_DEPTH);
        assert_eq!(
            reftoken_grant_set_confirmation(g, ok.as_ptr().cast(), ok.len()),
            reftoken_status::REFTOKEN_OK
        );
        let deep = nested(limits::MAX_JSON_DEPTH + 1);
        assert_eq!(
            reftoken_grant_set_confirmation(g, deep.as_ptr().cast(), deep.len()),
            reftoken_status::REFTOKEN_MALFORMED_INPUT
        );
        reftoken_grant_free(g);
    }
    // A `json` claim nested too deep is written as a string, not embedded.
    let mut t = Token::from_json(&token_json(0)).unwrap();
    t.claims
        .push(grant::Claim::typed("deep", nested(65), "json"));
    t.claims
        .push(grant::Claim::typed("fine", nested(64), "json"));
    let caller = reftoken::introspection::Caller::Client { id: "client1" };
    let body = reftoken::introspection::respond(
        &t,
        &caller,
        Instant::from_unix_seconds(1_740_830_400),
        &Default::default(),
    )
    .unwrap();
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(v["deep"].is_string());
    assert!(v["fine"].is_array());
}

#[test]
fn limit_handles_and_grant_types() {
    let mut out = [0u8; 65];
    let mut len = 0;
    let key = |h: &[u8], g: &[u8], out: &mut [u8; 65], len: &mut usize| unsafe {
        reftoken_store_key(
            h.as_ptr().cast(),
            h.len(),
            g.as_ptr().cast(),
            g.len(),
            out.as_mut_ptr().cast(),
            65,
            len,
        )
    };
    let h = vec![b'A'; limits::MAX_HANDLE_LEN];
    assert_eq!(
        key(&h, b"reference_token", &mut out, &mut len),
        reftoken_status::REFTOKEN_OK
    );
    let h = vec![b'A'; limits::MAX_HANDLE_LEN + 1];
    assert_eq!(
        key(&h, b"reference_token", &mut out, &mut len),
        reftoken_status::REFTOKEN_INPUT_TOO_LARGE
    );
    let g = vec![b'g'; limits::MAX_GRANT_TYPE_LEN];
    assert_eq!(
        key(b"A-1", &g, &mut out, &mut len),
        reftoken_status::REFTOKEN_OK
    );
    let g = vec![b'g'; limits::MAX_GRANT_TYPE_LEN + 1];
    assert_eq!(
        key(b"A-1", &g, &mut out, &mut len),
        reftoken_status::REFTOKEN_INPUT_TOO_LARGE
    );
    // A presented handle longer than IdentityServer's 100 characters is refused before any
    // lookup.
    assert!(reftoken::validation::plausible_handle(&"A".repeat(100)));
    assert!(!reftoken::validation::plausible_handle(&"A".repeat(101)));
}

#[test]
fn limit_random_bytes_is_64_kib() {
    let mut buf = vec![0u8; 2 * limits::MAX_RANDOM_BYTES + 2];
    let mut len = 0;
    unsafe {
        assert_eq!(
            reftoken_random_hex(
                limits::MAX_RANDOM_BYTES,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut len
            ),
            reftoken_status::REFTOKEN_OK
        );
        assert_eq!(
            reftoken_random_hex(
                limits::MAX_RANDOM_BYTES + 1,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut len
            ),
            reftoken_status::REFTOKEN_INPUT_TOO_LARGE
        );
        assert_eq!(
            reftoken_random_hex(0, buf.as_mut_ptr().cast(), buf.len(), &mut len),
            reftoken_status::REFTOKEN_INVALID_ARGUMENT
        );
    }
}

#[test]
fn limit_data_protection_payloads_are_1_mib() {
    let ring = fixture_ring();
    let t = key_time();
    let max = dataprotection::MAX_PAYLOAD_LEN;
    let p = ring.protect(&["p"], &vec![1u8; max], t).unwrap();
    assert!(matches!(
        ring.protect(&["p"], &vec![1u8; max + 1], t),
        Err(Error::TooLarge { .. })
    ));
    // A payload over the limit is refused before anything is decoded or allocated.
    let mut long = p.clone();
    long.resize(max + 1, 0);
    let (r, peak) = peak_alloc(|| ring.unprotect(&["p"], &long).map(|_| ()));
    assert!(matches!(r, Err(Error::TooLarge { .. })));
    assert!(peak < 4096, "peak {peak}");
    let text = "A".repeat(dataprotection::MAX_PAYLOAD_STR_LEN + 1);
    let (r, peak) = peak_alloc(|| ring.unprotect_str(&["p"], &text).map(|_| ()));
    assert!(matches!(r, Err(Error::TooLarge { .. })));
    assert!(peak < 4096, "peak {peak}");
    // The largest plaintext round-trips as a string (its base64url is at the string limit).
    let s = ring.protect_str(&["p"], &"x".repeat(max - 100), t).unwrap();
    assert!(s.len() <= dataprotection::MAX_PAYLOAD_STR_LEN);
    assert_eq!(ring.unprotect_str(&["p"], &s).unwrap().len(), max - 100);
    // Through the C ABI.
    let mut c_ring = null_mut();
    let el = rs(FIXTURE_KEY.as_bytes());
    unsafe {
        assert_eq!(
            reftoken_keyring_new_from_xml(
                &el,
                1,
                FIXTURE_APP.as_ptr().cast(),
                FIXTURE_APP.len(),
                &mut c_ring
            ),
            reftoken_status::REFTOKEN_OK
        );
        let purpose = rs(b"p");
        let mut len = 0;
        let mut out = vec![0u8; 16];
        assert_eq!(
            reftoken_unprotect_bytes(
                c_ring,
                &purpose,
                1,
                long.as_ptr(),
                long.len(),
                out.as_mut_ptr(),
                out.len(),
                &mut len
            ),
            reftoken_status::REFTOKEN_INPUT_TOO_LARGE
        );
        assert_eq!(
            reftoken_unprotect(
                c_ring,
                &purpose,
                1,
                text.as_ptr().cast(),
                text.len(),
                out.as_mut_ptr().cast(),
                out.len(),
                &mut len
            ),
            reftoken_status::REFTOKEN_INPUT_TOO_LARGE
        );
        let big = vec![b'x'; max + 1];
        assert_eq!(
            reftoken_protect(
                c_ring,
                &purpose,
                1,
                big.as_ptr().cast(),
                big.len(),
                key_time().unix_seconds(),
                out.as_mut_ptr().cast(),
                out.len(),
                &mut len
            ),
            reftoken_status::REFTOKEN_INPUT_TOO_LARGE
        );
        reftoken_keyring_free(c_ring);
    }
}

#[test]
fn limit_purposes_256_of_64_kib() {
    let ring = fixture_ring();
    let t = key_time();
    let many: Vec<&str> = vec!["p"; dataprotection::MAX_PURPOSES];
    assert!(ring.protect(&many, b"x", t).is_ok());
    let too_many: Vec<&str> = vec!["p"; dataprotection::MAX_PURPOSES + 1];
    let e = ring.protect(&too_many, b"x", t).unwrap_err();
    assert_eq!(status_of(&e), reftoken_status::REFTOKEN_INPUT_TOO_LARGE);
    let e = ring.unprotect(&too_many, b"x").unwrap_err();
    assert_eq!(status_of(&e), reftoken_status::REFTOKEN_INPUT_TOO_LARGE);
    let long = "p".repeat(dataprotection::MAX_PURPOSE_LEN);
    assert!(ring.protect(&[&long], b"x", t).is_ok());
    let longer = "p".repeat(dataprotection::MAX_PURPOSE_LEN + 1);
    let e = ring.protect(&[&longer], b"x", t).unwrap_err();
    assert_eq!(status_of(&e), reftoken_status::REFTOKEN_INPUT_TOO_LARGE);
}

fn keyring_status(elements: &[String]) -> reftoken_status {
    let strs: Vec<reftoken_str> = elements.iter().map(|e| rs(e.as_bytes())).collect();
    let mut out = null_mut();
    let st =
        unsafe { reftoken_keyring_new_from_xml(strs.as_ptr(), strs.len(), null(), 0, &mut out) };
    unsafe { reftoken_keyring_free(out) };
    st
}

fn numbered_key(i: usize) -> String {
    key_xml(
        &format!("00000000-0000-4000-8000-{i:012}"),
        "AES_256_CBC",
        Some("HMACSHA256"),
        &[i as u8; 64],
    )
}

#[test]
fn limit_key_ring_xml_is_1_mib_and_10000_nodes() {
    let key = numbered_key(1);
    // White space before the root element is allowed: pad to exactly the limit.
    let pad = |n: usize| {
        let body = key.trim_start_matches(|c| c != '<');
        let decl_end = body.find("?>").unwrap() + 2;
        let mut s = body[..decl_end].to_owned();
        s.extend(std::iter::repeat_n(' ', n - body.len()));
        s.push_str(&body[decl_end..]);
        s
    };
    assert_eq!(
        keyring_status(&[pad(dataprotection::MAX_XML_LEN)]),
        reftoken_status::REFTOKEN_OK
    );
    assert_eq!(
        keyring_status(&[pad(dataprotection::MAX_XML_LEN + 1)]),
        reftoken_status::REFTOKEN_INPUT_TOO_LARGE
    );
    // Nodes: comments are nodes. A key with 10000 nodes in all loads; one more is refused.
    let nodes = |n: usize| {
        let base = xml_nodes(&key);
        let extra = "<!---->".repeat(n - base);
        key.replacen("</key>", &format!("{extra}</key>"), 1)
    };
    assert_eq!(
        keyring_status(&[nodes(dataprotection::MAX_XML_NODES as usize)]),
        reftoken_status::REFTOKEN_OK
    );
    assert_eq!(
        keyring_status(&[nodes(dataprotection::MAX_XML_NODES as usize + 1)]),
        reftoken_status::REFTOKEN_INPUT_TOO_LARGE,
        "an element over the node limit is not refused as too large"
    );
}

/// The nodes roxmltree makes of a document (the limit counts them): the document itself,
/// elements, text runs, comments and processing instructions; attributes are not nodes.
fn xml_nodes(xml: &str) -> usize {
    roxmltree::Document::parse(xml.trim_start_matches('\u{feff}'))
        .unwrap()
        .root()
        .descendants()
        .count()
}

#[test]
fn limit_key_ring_1000_keys_and_10000_elements() {
    let keys: Vec<String> = (0..dataprotection::MAX_KEYS).map(numbered_key).collect();
    assert_eq!(keyring_status(&keys), reftoken_status::REFTOKEN_OK);
    let mut more = keys.clone();
    more.push(numbered_key(dataprotection::MAX_KEYS));
    assert_eq!(
        keyring_status(&more),
        reftoken_status::REFTOKEN_INPUT_TOO_LARGE
    );
    let other = "<other/>".to_owned();
    let elements = vec![other.clone(); dataprotection::MAX_KEY_RING_ELEMENTS];
    assert_eq!(keyring_status(&elements), reftoken_status::REFTOKEN_OK);
    let elements = vec![other; dataprotection::MAX_KEY_RING_ELEMENTS + 1];
    assert_eq!(
        keyring_status(&elements),
        reftoken_status::REFTOKEN_INPUT_TOO_LARGE
    );
}

#[test]
fn limit_key_ring_directory_1_mib_per_file_10000_files() {
    let load = |dir: &std::path::Path| -> reftoken_status {
        let path = dir.to_str().unwrap();
        let mut r = null_mut();
        let st = unsafe {
            reftoken_keyring_new_from_dir(path.as_ptr().cast(), path.len(), null(), 0, &mut r)
        };
        unsafe { reftoken_keyring_free(r) };
        st
    };
    let dir = tempfile::tempdir().unwrap();
    let key = numbered_key(7);
    let padded_key = |n: usize| {
        let mut s = key.clone();
        s.extend(std::iter::repeat_n(' ', n - key.len()));
        s
    };
    std::fs::write(
        dir.path().join("key-1.xml"),
        padded_key(dataprotection::MAX_XML_LEN),
    )
    .unwrap();
    assert_eq!(load(dir.path()), reftoken_status::REFTOKEN_OK);
    std::fs::write(
        dir.path().join("key-1.xml"),
        padded_key(dataprotection::MAX_XML_LEN + 1),
    )
    .unwrap();
    assert_eq!(load(dir.path()), reftoken_status::REFTOKEN_INPUT_TOO_LARGE);
    let many = tempfile::tempdir().unwrap();
    for i in 0..=dataprotection::MAX_KEY_RING_ELEMENTS {
        std::fs::write(many.path().join(format!("x-{i}.xml")), "<other/>").unwrap();
    }
    assert_eq!(load(many.path()), reftoken_status::REFTOKEN_INPUT_TOO_LARGE);
    std::fs::remove_file(many.path().join("x-0.xml")).unwrap();
    assert_eq!(load(many.path()), reftoken_status::REFTOKEN_OK);
}

#[test]
fn limit_authorization_header_and_credentials() {
    let basic =
        |id: &str, secret: &str| format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")));
    let parse = |h: &str| -> reftoken_status {
        let (mut id, mut secret) = ([0u8; 301], [0u8; 301]);
        let (mut il, mut sl, mut has) = (0, 0, false);
        unsafe {
            reftoken_basic_parse(
                h.as_ptr().cast(),
                h.len(),
                id.as_mut_ptr().cast(),
                id.len(),
                &mut il,
                secret.as_mut_ptr().cast(),
                secret.len(),
                &mut sl,
                &mut has,
            )
        }
    };
    let id = "i".repeat(endpoint::MAX_CLIENT_ID_LEN);
    let secret = "s".repeat(endpoint::MAX_CLIENT_SECRET_LEN);
    assert_eq!(parse(&basic(&id, &secret)), reftoken_status::REFTOKEN_OK);
    assert_eq!(
        parse(&basic(&format!("{id}i"), "s")),
        reftoken_status::REFTOKEN_INPUT_TOO_LARGE
    );
    assert_eq!(
        parse(&basic("i", &format!("{secret}s"))),
        reftoken_status::REFTOKEN_INPUT_TOO_LARGE
    );
    // Limits count UTF-16 code units, as .NET does: 100 × U+20AC (3 bytes each) is at it.
    let euro = "\u{20AC}".repeat(endpoint::MAX_CLIENT_ID_LEN);
    assert_eq!(parse(&basic(&euro, "s")), reftoken_status::REFTOKEN_OK);
    let euro_over = "\u{20AC}".repeat(endpoint::MAX_CLIENT_ID_LEN + 1);
    assert_eq!(
        parse(&basic(&euro_over, "s")),
        reftoken_status::REFTOKEN_INPUT_TOO_LARGE
    );
    // The header itself: at most 4 * (100 + 100) + 10 UTF-16 code units.
    let at = format!("Basic {}", "A".repeat(endpoint::MAX_AUTHORIZATION_LEN - 6));
    assert_ne!(parse(&at), reftoken_status::REFTOKEN_INPUT_TOO_LARGE);
    let over = format!("Basic {}", "A".repeat(endpoint::MAX_AUTHORIZATION_LEN - 5));
    assert_eq!(parse(&over), reftoken_status::REFTOKEN_INPUT_TOO_LARGE);
}

fn form_status(body: &[u8]) -> u16 {
    let req = IntrospectionRequest::parse(&HttpRequest {
        method: "POST",
        content_type: Some("application/x-www-form-urlencoded"),
        authorization: None,
        accept: None,
        body,
    });
    match req.decide(true) {
        endpoint::Decision::Respond(r) => r.status,
        endpoint::Decision::Introspect { .. } => 200,
    }
}

#[test]
fn limit_form_body_64_kib_1024_pairs_2048_byte_keys() {
    let body = |n: usize| {
        let mut b = b"client_id=api1&token=".to_vec();
        b.resize(n, b'A');
        b
    };
    assert_eq!(form_status(&body(endpoint::MAX_FORM_LEN)), 200);
    assert_eq!(form_status(&body(endpoint::MAX_FORM_LEN + 1)), 400);
    assert!(matches!(
        Form::parse(&body(endpoint::MAX_FORM_LEN + 1)),
        Err(Error::TooLarge { .. })
    ));
    let pairs = |n: usize| {
        let mut b = b"token=T".to_vec();
        for _ in 1..n {
            b.extend_from_slice(b"&a=b");
        }
        b
    };
    assert_eq!(form_status(&pairs(endpoint::MAX_FORM_VALUES)), 200);
    assert_eq!(form_status(&pairs(endpoint::MAX_FORM_VALUES + 1)), 400);
    let key = |n: usize| format!("token=T&{}=v", "k".repeat(n)).into_bytes();
    assert_eq!(form_status(&key(endpoint::MAX_FORM_KEY_LEN)), 200);
    assert_eq!(form_status(&key(endpoint::MAX_FORM_KEY_LEN + 1)), 400);
    // Through the C ABI the request is read and the answer is the bare 400.
    let b = body(endpoint::MAX_FORM_LEN + 1);
    let mut req = null_mut();
    unsafe {
        assert_eq!(
            reftoken_introspection_form_parse(b.as_ptr(), b.len(), &mut req),
            reftoken_status::REFTOKEN_OK
        );
        let mut a: reftoken_endpoint_answer = std::mem::zeroed();
        assert_eq!(
            reftoken_introspection_request_decide(req, true, &mut a),
            reftoken_status::REFTOKEN_OK
        );
        assert_eq!(a.status, 400);
        assert!(!a.introspect);
        reftoken_introspection_request_free(req);
    }
}

#[test]
fn limit_signing_keys_64_kib_and_responses_1_mib() {
    let big = " ".repeat(jwt::MAX_KEY_TEXT_LEN + 1);
    let mut k = null_mut();
    unsafe {
        assert_eq!(
            reftoken_signing_key_new_from_pem(big.as_ptr().cast(), big.len(), 0, null(), 0, &mut k),
            reftoken_status::REFTOKEN_INPUT_TOO_LARGE
        );
        assert_eq!(
            reftoken_signing_key_new_from_jwk(big.as_ptr().cast(), big.len(), 0, null(), 0, &mut k),
            reftoken_status::REFTOKEN_INPUT_TOO_LARGE
        );
    }
    assert!(k.is_null());
    let jwk = r#"{"kty":"EC","crv":"P-256","d":"AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA"}"#;
    let key = jwt::SigningKey::from_jwk(jwk, None, None).unwrap();
    let now = Instant::from_unix_seconds(0);
    let at = padded("{\"active\":false}", limits::MAX_DATA_LEN);
    assert!(jwt::introspection_jwt(&key, "i", "a", now, &at).is_ok());
    let over = padded("{\"active\":false}", limits::MAX_DATA_LEN + 1);
    let e = jwt::introspection_jwt(&key, "i", "a", now, &over).unwrap_err();
    assert_eq!(status_of(&e), reftoken_status::REFTOKEN_INPUT_TOO_LARGE);
    // RSA moduli over 8192 bits are refused before any arithmetic.
    let n = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(vec![0xFFu8; 1025]);
    let rsa = format!(r#"{{"kty":"RSA","n":"{n}","e":"AQAB","d":"{n}"}}"#);
    let t0 = Clock::now();
    assert!(jwt::SigningKey::from_jwk(&rsa, None, None).is_err());
    assert!(t0.elapsed() < Duration::from_secs(1));
}

#[test]
fn limit_stored_secrets_1024() {
    let stored: Vec<reftoken_str> = vec![rs(b"QQ=="); REFTOKEN_MAX_STORED_SECRETS + 1];
    let mut valid = true;
    unsafe {
        let st = reftoken_secret_verify(
            b"s".as_ptr().cast(),
            1,
            stored.as_ptr(),
            null(),
            stored.len(),
            0,
            &mut valid,
            null_mut(),
        );
        assert_eq!(st, reftoken_status::REFTOKEN_INPUT_TOO_LARGE);
        let st = reftoken_secret_verify(
            b"s".as_ptr().cast(),
            1,
            stored.as_ptr(),
            null(),
            REFTOKEN_MAX_STORED_SECRETS,
            0,
            &mut valid,
            null_mut(),
        );
        assert_eq!(st, reftoken_status::REFTOKEN_MALFORMED_INPUT);
    }
}

#[test]
fn worst_case_inputs_at_the_limits_take_bounded_time_and_memory() {
    let scale = if is_debug() { 10 } else { 1 };
    let bound = |what: &str, d: Duration, peak: usize, max_peak: usize| {
        eprintln!("{what}: {d:.1?}, peak {} KiB", peak / 1024);
        assert!(d < Duration::from_secs(2) * scale, "{what} took {d:?}");
        assert!(peak <= max_peak, "{what} allocated {peak} bytes at once");
    };
    let timed = |f: &mut dyn FnMut()| {
        let t0 = Clock::now();
        let ((), peak) = peak_alloc(f);
        (t0.elapsed(), peak)
    };
    // 10000 claims: parse, introspect, serialize.
    let data = grant::seal_data(&token_json(limits::MAX_CLAIMS - 3), false);
    let (d, p) = timed(&mut || {
        let t = grant::read_token(&data).unwrap();
        let caller = reftoken::introspection::Caller::Client { id: "client1" };
        black_box(
            reftoken::introspection::respond(
                &t,
                &caller,
                Instant::from_unix_seconds(1_740_830_400),
                &Default::default(),
            )
            .unwrap(),
        );
        black_box(t.to_json());
    });
    bound("10000 claims", d, p, 16 * data.len());
    // A 1 MiB string of escapes (every character `\u0022`).
    let escaped = format!(
        "{{\"Claims\":[{{\"Type\":\"x\",\"Value\":\"{}\"}}]}}",
        "\\u0022".repeat((limits::MAX_DATA_LEN - 64) / 6)
    );
    let (d, p) = timed(&mut || {
        black_box(grant_parse(escaped.as_bytes()));
    });
    bound("1 MiB of escapes", d, p, 8 * limits::MAX_DATA_LEN);
    // A 1 MiB form body of 1024 pairs of `%XX` escapes.
    let mut form = b"token=T".to_vec();
    while form.len() + 70 < endpoint::MAX_FORM_LEN {
        form.extend_from_slice(b"&a=");
        form.extend(std::iter::repeat_n(*b"%E2%82", 10).flatten());
    }
    let (d, p) = timed(&mut || {
        black_box(Form::parse(&form).ok());
    });
    bound("64 KiB form of escapes", d, p, 16 * endpoint::MAX_FORM_LEN);
    // A 1 MiB key-ring element of 10000 nodes.
    let key = numbered_key(3);
    let el = key.replacen(
        "</key>",
        &format!(
            "{}</key>",
            format!("<x a=\"{}\"/>", "v".repeat(90)).repeat(9_900)
        ),
        1,
    );
    let (d, p) = timed(&mut || {
        black_box(keyring_status(std::slice::from_ref(&el)));
    });
    bound("key ring element of 10000 nodes", d, p, 16 * el.len());
    // A Data Protection string at the limit, all white space but the payload.
    let ring = fixture_ring();
    let payload = ring.protect_str(&["p"], "x", key_time()).unwrap();
    let spaced = format!(
        "{payload}{}",
        " ".repeat(dataprotection::MAX_PAYLOAD_STR_LEN - payload.len())
    );
    let (d, p) = timed(&mut || {
        assert_eq!(&*ring.unprotect_str(&["p"], &spaced).unwrap(), "x");
    });
    bound(
        "1.4 MB of white space around a payload",
        d,
        p,
        4 * spaced.len(),
    );
}

// ---------------------------------------------------------------------------------------------
// Memory hygiene: secrets are wiped before their memory is given back

/// A plaintext marker that cannot occur by chance.
const MARKER: &[u8] = b"zeroize-marker-5f1c2a9e0d7b4c36";

#[test]
fn unprotected_plaintext_is_wiped_when_dropped() {
    let ring = fixture_ring();
    let mut pt = b"{\"secret\":\"".to_vec();
    pt.extend_from_slice(MARKER);
    pt.extend_from_slice(b"\"}");
    let text = std::str::from_utf8(&pt).unwrap().to_owned();
    let bytes_payload = ring.protect(&["p"], &pt, key_time()).unwrap();
    let str_payload = ring.protect_str(&["p"], &text, key_time()).unwrap();
    // Control: an ordinary Vec holding the marker is found when freed.
    let copy = pt.clone();
    assert_eq!(freed_with_marker(MARKER, || drop(black_box(copy))), 1);
    let found = freed_with_marker(MARKER, || {
        let p = ring.unprotect(&["p"], &bytes_payload).unwrap();
        assert!(contains(&p, MARKER));
        drop(p);
        let s = ring.unprotect_str(&["p"], &str_payload).unwrap();
        assert!(contains(s.as_bytes(), MARKER));
        drop(s);
    });
    assert_eq!(found, 0, "plaintext left in freed memory");
    // Through the C ABI: the library's own copies are wiped, also when the buffer is too small
    // (the payload is decrypted to learn the length).
    let mut c_ring = null_mut();
    let el = rs(FIXTURE_KEY.as_bytes());
    unsafe {
        reftoken_keyring_new_from_xml(
            &el,
            1,
            FIXTURE_APP.as_ptr().cast(),
            FIXTURE_APP.len(),
            &mut c_ring,
        );
    }
    let purpose = rs(b"p");
    let mut out = vec![0u8; pt.len() + 1];
    let found = freed_with_marker(MARKER, || unsafe {
        let mut len = 0;
        for cap in [out.len(), 3] {
            reftoken_unprotect(
                c_ring,
                &purpose,
                1,
                str_payload.as_ptr().cast(),
                str_payload.len(),
                out.as_mut_ptr().cast(),
                cap,
                &mut len,
            );
            reftoken_unprotect_bytes(
                c_ring,
                &purpose,
                1,
                bytes_payload.as_ptr(),
                bytes_payload.len(),
                out.as_mut_ptr(),
                cap,
                &mut len,
            );
        }
    });
    unsafe { reftoken_keyring_free(c_ring) };
    assert_eq!(
        found, 0,
        "plaintext left in freed memory by the C entry points"
    );
}

#[test]
fn protect_wipes_its_copy_of_the_plaintext() {
    let ring = fixture_ring();
    let mut pt = vec![b'.'; 200];
    pt.extend_from_slice(MARKER);
    let found = freed_with_marker(MARKER, || {
        let p = ring.protect(&["p"], &pt, key_time()).unwrap();
        drop(p);
    });
    assert_eq!(found, 0);
}

/// The SHA-512 chaining value after HMAC-SHA512's first block (`key XOR ipad`): what a keyed
/// HMAC holds instead of the key, as the `u64` words lie in memory.
fn hmac_sha512_inner_state(key: &[u8]) -> Vec<u8> {
    let mut block = [0x36u8; 128];
    for (b, k) in block.iter_mut().zip(key) {
        *b ^= k;
    }
    let mut state: [u64; 8] = [
        0x6a09e667f3bcc908,
        0xbb67ae8584caa73b,
        0x3c6ef372fe94f82b,
        0xa54ff53a5f1d36f1,
        0x510e527fade682d1,
        0x9b05688c2b3e6c1f,
        0x1f83d9abfb41bd6b,
        0x5be0cd19137e2179,
    ];
    sha2::block_api::compress512(&mut state, &[block]);
    state.iter().flat_map(|w| w.to_ne_bytes()).collect()
}

#[test]
fn key_ring_master_keys_and_derived_state_are_wiped_when_dropped() {
    use hmac::{Hmac, KeyInit};
    let master: Vec<u8> = (0..64u8).map(|i| i.wrapping_mul(73) ^ 0xC3).collect();
    let xml = key_xml(
        "11111111-2222-4333-8444-555555555555",
        "AES_256_CBC",
        Some("HMACSHA256"),
        &master,
    );
    // The master key itself: decoded from base64 while loading, never left behind.
    let found = freed_with_marker(&master, || {
        let ring = KeyRing::from_xml(&[xml.as_str()]).unwrap();
        let p = ring
            .with_application_name(Some("a"))
            .protect(&["p"], b"x", key_time())
            .unwrap();
        drop(p);
    });
    assert_eq!(found, 0, "the master key was left in freed memory");
    // What the ring keeps instead: HMAC-SHA512 keyed with the master key (every payload key is
    // derived from it). Control: a keyed HMAC really holds `state` in its memory, and a plain
    // copy of it is found when freed.
    let state = hmac_sha512_inner_state(&master);
    let mac = Box::new(<Hmac<sha2::Sha512> as KeyInit>::new_from_slice(&master).unwrap());
    // SAFETY: reading the bytes of our own live allocation.
    let mac_bytes = unsafe {
        std::slice::from_raw_parts(
            (mac.as_ref() as *const Hmac<sha2::Sha512>).cast::<u8>(),
            std::mem::size_of::<Hmac<sha2::Sha512>>(),
        )
    };
    assert!(
        contains(mac_bytes, &state),
        "the marker is not what an HMAC key holds"
    );
    let copy = mac_bytes.to_vec();
    assert_eq!(freed_with_marker(&state, || drop(black_box(copy))), 1);
    assert_eq!(
        freed_with_marker(&state, || drop(mac)),
        0,
        "HMAC state is not zeroized on drop"
    );
    // The ring's keyed state is wiped when the ring is dropped.
    let ring = KeyRing::from_xml(&[xml.as_str()]).unwrap();
    let found = freed_with_marker(&state, || drop(ring));
    assert_eq!(
        found, 0,
        "the key ring's derived key state was left in freed memory"
    );
}

#[test]
fn key_ring_state_is_not_left_behind_when_the_ring_grows_while_loading() {
    // Loading keys one by one into a growing vector would move (copy) each key's HMAC state
    // into a new allocation and free the old one unwiped.
    let masters: Vec<Vec<u8>> = (0..9u8)
        .map(|k| (0..64u8).map(|i| i ^ k.wrapping_mul(17)).collect())
        .collect();
    let xml: Vec<String> = masters
        .iter()
        .enumerate()
        .map(|(i, m)| {
            key_xml(
                &format!("11111111-2222-4333-8444-{i:012}"),
                "AES_256_CBC",
                Some("HMACSHA256"),
                m,
            )
        })
        .collect();
    let state = hmac_sha512_inner_state(&masters[0]);
    let mut ring = None;
    let found = freed_with_marker(&state, || ring = Some(KeyRing::from_xml(&xml).unwrap()));
    assert_eq!(
        found, 0,
        "a copy of a key's derived state was freed unwiped while loading"
    );
    assert_eq!(freed_with_marker(&state, || drop(ring)), 0);
}

#[test]
fn key_ring_files_are_wiped_after_loading() {
    let dir = tempfile::tempdir().unwrap();
    let master: Vec<u8> = (0..64u8).map(|i| i.wrapping_mul(29) ^ 0x5A).collect();
    let xml = key_xml(
        "11111111-2222-4333-8444-666666666666",
        "AES_128_GCM",
        None,
        &master,
    );
    std::fs::write(dir.path().join("key-1.xml"), &xml).unwrap();
    let b64 = STANDARD.encode(&master);
    let path = dir.path().to_str().unwrap().to_owned();
    for marker in [master.as_slice(), b64.as_bytes()] {
        let found = freed_with_marker(marker, || {
            let mut r = null_mut();
            unsafe {
                assert_eq!(
                    reftoken_keyring_new_from_dir(
                        path.as_ptr().cast(),
                        path.len(),
                        b"a".as_ptr().cast(),
                        1,
                        &mut r
                    ),
                    reftoken_status::REFTOKEN_OK
                );
                reftoken_keyring_free(r);
            }
        });
        assert_eq!(found, 0, "key file contents left in freed memory");
    }
}

#[test]
fn client_secrets_are_wiped_after_parsing() {
    let secret = std::str::from_utf8(MARKER).unwrap();
    let header = format!("Basic {}", STANDARD.encode(format!("api1:{secret}")));
    let body = format!("token=T&client_id=api1&client_secret={secret}").into_bytes();
    let found = freed_with_marker(MARKER, || {
        let c = endpoint::parse_basic(&header).unwrap();
        assert_eq!(c.secret.as_deref().map(|s| s.as_str()), Some(secret));
        drop(c);
        let f = Form::parse(&body).unwrap();
        drop(f);
        let r = IntrospectionRequest::parse(&HttpRequest {
            method: "POST",
            content_type: Some("application/x-www-form-urlencoded"),
            authorization: Some(&header),
            accept: None,
            body: &body,
        });
        drop(r);
        let mut req = null_mut();
        unsafe {
            reftoken_introspection_form_parse(body.as_ptr(), body.len(), &mut req);
            reftoken_introspection_request_free(req);
        }
        let (mut id, mut sec) = ([0 as c_char; 128], [0 as c_char; 128]);
        let (mut il, mut sl, mut has) = (0, 0, false);
        unsafe {
            reftoken_basic_parse(
                header.as_ptr().cast(),
                header.len(),
                id.as_mut_ptr(),
                128,
                &mut il,
                sec.as_mut_ptr(),
                128,
                &mut sl,
                &mut has,
            );
        }
    });
    assert_eq!(found, 0, "a client secret was left in freed memory");
}

#[test]
fn grant_plaintext_is_wiped_when_the_token_is_dropped() {
    // The token read from a protected row: its JSON, and the claims parsed from it.
    let ring = fixture_ring();
    let secret = std::str::from_utf8(MARKER).unwrap();
    let mut t = Token::from_json(&token_json(0)).unwrap();
    t.claims.push(grant::Claim::new("session_secret", secret));
    let json = t.to_json();
    let row = grant::seal_data(
        &ring
            .protect_str(&[grant::DATA_PROTECTION_PURPOSE], &json, key_time())
            .unwrap(),
        true,
    );
    drop(t);
    let found = freed_with_marker(MARKER, || {
        let token = reftoken::validation::read_token(&row, Some(&ring)).unwrap();
        assert_eq!(token.claim("session_secret"), Some(secret));
        drop(token);
    });
    assert_eq!(found, 0, "grant plaintext left in freed memory");
}

#[test]
fn handles_are_not_left_in_freed_memory() {
    // `reftoken_handle_new` writes into the caller's buffer; the library keeps no copy and
    // its generator's output buffer is wiped as it is handed out.
    let mut out = [0u8; 67];
    let mut len = 0;
    unsafe { reftoken_handle_new(out.as_mut_ptr().cast(), out.len(), &mut len) };
    let h = reftoken::handle::new_handle().unwrap();
    let found = freed_with_marker(&h.as_bytes()[..64], || {
        let k = reftoken::key::store_key(&h, "reference_token").unwrap();
        black_box(k);
    });
    assert_eq!(found, 0);
}

// ---------------------------------------------------------------------------------------------
// Regression tests for what fuzzing found (fuzz/artifacts inputs, named after the finding)

/// fuzz target `instant`: `9999-12-31T23:54-09:59` parsed to an instant in year 10000, which
/// `instant::format` wrote as `10000-01-01T09:53:00Z`, which does not parse: a token read from
/// such a row was written back unreadable. .NET's `DateTime` stops at year 9999 (and starts at
/// year 1), so System.Text.Json refuses these dates, and RefToken now does too.
#[test]
fn fuzz_instant_offset_pushing_a_date_past_year_9999_is_refused() {
    use reftoken::instant;
    for s in [
        "9999-12-31T23:54-09:59",
        "9999-12-31T23:59:59.9999999-00:01",
        "0001-01-01T00:00:00+00:01",
        "0001-01-01T00:00+14:00",
    ] {
        assert!(instant::parse(s).is_err(), "{s}");
    }
    for s in [
        "9999-12-31T23:59:59.9999999Z",
        "9999-12-31T23:59:59.9999999+00:00",
        "9999-12-31T14:00:00-09:59",
        "0001-01-01T00:00:00Z",
        "0001-01-01T14:00:00+14:00",
    ] {
        let t = instant::parse(s).unwrap();
        let mut out = String::new();
        instant::format(t, &mut out);
        assert_eq!(instant::parse(&out).unwrap(), t, "{s} -> {out}");
    }
    // A row carrying such a date is unreadable (IdentityServer cannot read it either).
    let json = token_json(0).replace("2025-03-01T11:59:00Z", "9999-12-31T23:54-09:59");
    assert!(json.contains("-09:59"));
    assert_eq!(
        grant_parse(json.as_bytes()),
        reftoken_status::REFTOKEN_MALFORMED_INPUT
    );
}

/// fuzz target `json`: `"\ud8e00"` (a high surrogate escape not followed by a low one) passed
/// `json::validate`, so a `json` claim or a confirmation holding it was copied verbatim into
/// responses that strict readers (serde_json, .NET's `JsonElement.WriteTo`) refuse.
#[test]
fn fuzz_json_lone_surrogate_escape_is_not_embedded() {
    use reftoken::json;
    for bad in [
        r#""\ud8e00""#,
        r#""\udc00""#,
        r#"["\uD800x"]"#,
        r#"{"a":"\ud800\u0041"}"#,
    ] {
        assert!(!json::validate(bad), "{bad}");
    }
    for good in [
        r#""\ud83d\ude00""#,
        r#""\uD83D\uDE00""#,
        r#""\\ud800""#,
        r#""\u00e9""#,
        "1e400",
    ] {
        assert!(json::validate(good), "{good}");
    }
    let mut t = Token::from_json(&token_json(0)).unwrap();
    t.claims
        .push(grant::Claim::typed("j", r#"{"a":"\ud8e00"}"#, "json"));
    let caller = reftoken::introspection::Caller::Client { id: "client1" };
    let body = reftoken::introspection::respond(
        &t,
        &caller,
        Instant::from_unix_seconds(1_740_830_400),
        &Default::default(),
    )
    .unwrap();
    let v: serde_json::Value = serde_json::from_str(&body).expect("a response serde_json reads");
    assert_eq!(v["j"], r#"{"a":"\ud8e00"}"#);
    let mut g = null_mut();
    unsafe {
        reftoken_grant_new(
            b"c".as_ptr().cast(),
            1,
            b"i".as_ptr().cast(),
            1,
            0,
            60,
            &mut g,
        );
        let cnf = r#"{"x5t#S256":"\ud8e00"}"#;
        assert_eq!(
            reftoken_grant_set_confirmation(g, cnf.as_ptr().cast(), cnf.len()),
            reftoken_status::REFTOKEN_MALFORMED_INPUT
        );
        reftoken_grant_free(g);
    }
}

/// fuzz targets `data_column` and `token_json` (a finding in the harness, kept as a test of
/// the behaviour it relies on): IdentityServer4 rows spell out the string value type;
/// RefToken writes such claims without it, which reads back as the same claim.
#[test]
fn fuzz_explicit_string_value_type_is_written_without_it() {
    let json = token_json(0).replace(
        r#""Value":"alice"}"#,
        r#""Value":"alice","ValueType":"http://www.w3.org/2001/XMLSchema#string"}"#,
    );
    assert!(json.contains("XMLSchema#string"));
    let t = Token::from_json(&json).unwrap();
    let written = t.to_json();
    assert!(!written.contains("XMLSchema#string"));
    let back = Token::from_json(&written).unwrap();
    assert_eq!(back.to_json(), written);
    let sub = |t: &Token| {
        let c = t.claims.iter().find(|c| c.claim_type == "sub").unwrap();
        (c.value.clone(), c.value_type().to_owned())
    };
    assert_eq!(sub(&t), sub(&back));
}

/// fuzz target `signing_key_jwk` (crash-b743dc335a2dbba1b76a86fee0db1d7b746c7fe2): an RSA JWK
/// whose `d` is zero and which has no `p`/`q` made `rsa`'s prime recovery compute `d * e - 1`
/// and panic with "attempted to subtract with underflow" (`SigningKey::from_jwk` panicked;
/// through the C ABI, `REFTOKEN_INTERNAL_PANIC`). Small moduli are now refused before any
/// arithmetic, and a zero `d` as malformed.
#[test]
fn fuzz_rsa_jwk_with_a_zero_private_exponent_is_refused_not_a_panic() {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let artifact = r#"{"kty": "RSA", "n": "i8ng3Yvv", "e": "AQAB", "d": "AAAAAAAAAAAA"}"#;
    let n2048 = URL_SAFE_NO_PAD.encode([0xC5u8; 256]);
    let big = format!(r#"{{"kty":"RSA","n":"{n2048}","e":"AQAB","d":"AAAAAAAA"}}"#);
    for (jwk, status) in [
        (
            artifact.to_owned(),
            reftoken_status::REFTOKEN_INVALID_ARGUMENT,
        ),
        (big, reftoken_status::REFTOKEN_MALFORMED_INPUT),
    ] {
        let r =
            std::panic::catch_unwind(|| jwt::SigningKey::from_jwk(&jwk, None, None).map(|_| ()));
        let e = r.expect("no panic").expect_err("refused");
        assert_eq!(status_of(&e), status, "{e}");
        let mut k = null_mut();
        let st = unsafe {
            reftoken_signing_key_new_from_jwk(jwk.as_ptr().cast(), jwk.len(), 0, null(), 0, &mut k)
        };
        assert_eq!(st, status);
        assert!(k.is_null());
    }
}

/// Options whose `client_enabled` callback is `enabled` with `ctx`.
fn with_client_enabled(
    enabled: unsafe extern "C" fn(*mut std::ffi::c_void, *const c_char, usize) -> bool,
    ctx: *mut std::ffi::c_void,
) -> reftoken_options {
    reftoken_options {
        identityserver_version: 0,
        client_enabled: Some(enabled),
        client_enabled_ctx: ctx,
        client_offline_access: None,
        client_offline_access_ctx: null_mut(),
    }
}

/// Responses are built in a buffer each thread reuses; a callback that introspects again from
/// inside a call (its options' `client_enabled`) gets a buffer of its own, and neither answer
/// is disturbed, nor are the answers of a later call with a smaller response.
#[test]
fn introspection_nested_in_a_callback_gets_its_own_buffer() {
    struct Ctx {
        grant: *const reftoken_grant,
        nested: Vec<u8>,
    }
    fn introspect(grant: *const reftoken_grant, options: *const reftoken_options) -> Vec<u8> {
        let caller = reftoken_caller {
            kind: REFTOKEN_CALLER_API,
            name: rs(b"api1"),
            scopes: rs(b"api1.read"),
        };
        let mut out = vec![0u8; 64 * 1024];
        let mut len = 0;
        let st = unsafe {
            reftoken_introspect(
                grant,
                &caller,
                1_740_830_400,
                options,
                out.as_mut_ptr().cast(),
                out.len(),
                &mut len,
            )
        };
        assert_eq!(st, reftoken_status::REFTOKEN_OK);
        out.truncate(len);
        out
    }
    unsafe extern "C" fn enabled(ctx: *mut std::ffi::c_void, _: *const c_char, _: usize) -> bool {
        let ctx = unsafe { &mut *ctx.cast::<Ctx>() };
        ctx.nested = introspect(ctx.grant, null());
        true
    }
    let parse = |json: &str| {
        let mut g = null_mut();
        let st =
            unsafe { reftoken_grant_parse_token_json(json.as_ptr().cast(), json.len(), &mut g) };
        assert_eq!(st, reftoken_status::REFTOKEN_OK);
        g
    };
    let (big, small) = (parse(&token_json(300)), parse(&token_json(1)));
    let plain = introspect(big, null());
    assert!(
        plain.len() > 2000 && plain.starts_with(b"{\"iss\""),
        "{}",
        plain.len()
    );
    let mut ctx = Ctx {
        grant: big,
        nested: Vec::new(),
    };
    let options = with_client_enabled(enabled, (&raw mut ctx).cast());
    assert_eq!(introspect(big, &options), plain);
    assert_eq!(ctx.nested, plain);
    let small_alone = {
        let json: serde_json::Value = serde_json::from_slice(&introspect(small, null())).unwrap();
        json
    };
    assert_eq!(small_alone["role"], "r0");
    assert_eq!(small_alone["active"], true);
    unsafe {
        reftoken_grant_free(big);
        reftoken_grant_free(small);
    }
}

/// fuzz target `keyring_file` (crash-363c596df7f21a30321c20884c6e7c7280e531a7, minimised to
/// `EF BB BF EF BB BF EF BB BF <k/>`): a key file starting with three UTF-8 byte-order marks
/// failed `KeyRing::from_dir`, while the file's
/// text after its encoding signature loaded with `KeyRing::from_xml`: `from_dir` kept the
/// signature in the text, and a text could start with two marks (`KeyRing::from_xml` skipped
/// one, roxmltree another). A UTF-8 mark is now the file's signature, as the UTF-16 ones were,
/// and a text starts with one mark at most.
#[test]
fn fuzz_key_file_byte_order_marks_read_as_the_text_from_xml_is_given() {
    const BOM: &str = "\u{FEFF}";
    let key = FIXTURE_KEY
        .strip_prefix(BOM)
        .expect("the fixture file has a mark");
    let dir = tempfile::tempdir().unwrap();
    for marks in 0..4 {
        let file = format!("{}{key}", BOM.repeat(marks));
        std::fs::write(dir.path().join("key.xml"), &file).unwrap();
        let from_dir = KeyRing::from_dir(dir.path());
        let from_xml = KeyRing::from_xml(&[file.strip_prefix(BOM).unwrap_or(&file)]);
        assert_eq!(from_dir.is_ok(), marks <= 2, "{marks} marks");
        assert_eq!(from_xml.is_ok(), from_dir.is_ok(), "{marks} marks");
        if let (Ok(a), Ok(b)) = (&from_dir, &from_xml) {
            assert_eq!(a.keys().count(), 1);
            assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
        }
    }
    assert!(KeyRing::from_xml(&[format!("{BOM}{key}")]).is_ok());
    assert!(matches!(
        KeyRing::from_xml(&[format!("{BOM}{BOM}{key}")]),
        Err(Error::Malformed { .. })
    ));
    // The fuzzer's input, minimised: three marks and an element that is not a key.
    let artifact = "\u{FEFF}\u{FEFF}\u{FEFF}<k/>";
    std::fs::write(dir.path().join("key.xml"), artifact).unwrap();
    let path = dir.path().to_str().unwrap();
    let mut r = null_mut();
    let st = unsafe {
        reftoken_keyring_new_from_dir(path.as_ptr().cast(), path.len(), null(), 0, &mut r)
    };
    unsafe { reftoken_keyring_free(r) };
    assert_eq!(st, reftoken_status::REFTOKEN_MALFORMED_INPUT);
    assert!(KeyRing::from_xml(&[&artifact[3..]]).is_err());
}

/// `reftoken_introspect_data` reads each row into a token the thread reuses. Rows large and
/// small, one with a claim escaped (`+` is `\u002B` twice over), one that the general parser
/// reads (white space), a malformed one, and a call nested in a callback must each answer as
/// the row parsed on its own does, and nothing of an earlier row may show in a later answer.
#[test]
fn introspection_from_rows_in_turn_answers_each_row_alone() {
    let caller = reftoken_caller {
        kind: REFTOKEN_CALLER_API,
        name: rs(b"api1"),
        scopes: rs(b"api1.read"),
    };
    fn from_data(
        data: &str,
        caller: &reftoken_caller,
        options: *const reftoken_options,
    ) -> Result<Vec<u8>, reftoken_status> {
        let mut out = vec![0u8; 64 * 1024];
        let mut len = 0;
        let st = unsafe {
            reftoken_introspect_data(
                data.as_ptr().cast(),
                data.len(),
                null(),
                caller,
                1_740_830_400,
                options,
                out.as_mut_ptr().cast(),
                out.len(),
                &mut len,
            )
        };
        out.truncate(len);
        if st == reftoken_status::REFTOKEN_OK {
            Ok(out)
        } else {
            Err(st)
        }
    }
    // The reference: the row parsed into a grant of its own, then introspected.
    let alone = |data: &str| -> Vec<u8> {
        let mut g = null_mut();
        let st = unsafe { reftoken_grant_parse(data.as_ptr().cast(), data.len(), &mut g) };
        assert_eq!(st, reftoken_status::REFTOKEN_OK);
        let mut out = vec![0u8; 64 * 1024];
        let mut len = 0;
        let st = unsafe {
            reftoken_introspect(
                g,
                &caller,
                1_740_830_400,
                null(),
                out.as_mut_ptr().cast(),
                out.len(),
                &mut len,
            )
        };
        assert_eq!(st, reftoken_status::REFTOKEN_OK);
        unsafe { reftoken_grant_free(g) };
        out.truncate(len);
        out
    };
    let mut escaped = Token::from_json(&token_json(2)).unwrap();
    escaped
        .claims
        .push(grant::Claim::typed("amr", "a+b", "urn:x"));
    escaped.audiences.push("api2".into());
    let rows = [
        grant::seal_data(&token_json(300), false),
        grant::seal_data(&token_json(1), false),
        grant::seal_data(&escaped.to_json(), false),
        grant::seal_data(&token_json(40).replacen(":[", ": [", 1), false),
        grant::seal_data(&token_json(0), false),
    ];
    for data in rows.iter().chain(rows.iter().rev()) {
        let answer = from_data(data, &caller, null()).unwrap();
        assert_eq!(answer, alone(data), "{data}");
    }
    let tail = rows[4].len() - 5;
    let broken = format!("{}x{}", &rows[4][..tail], &rows[4][tail..]);
    assert_eq!(
        from_data(&broken, &caller, null()),
        Err(reftoken_status::REFTOKEN_MALFORMED_INPUT)
    );
    assert_eq!(
        from_data(&rows[1], &caller, null()).unwrap(),
        alone(&rows[1])
    );

    // Nested: the callback reads another row while the outer call holds the thread's token.
    struct Ctx<'a> {
        data: &'a str,
        caller: &'a reftoken_caller,
        nested: Vec<u8>,
    }
    unsafe extern "C" fn enabled(ctx: *mut std::ffi::c_void, _: *const c_char, _: usize) -> bool {
        let ctx = unsafe { &mut *ctx.cast::<Ctx>() };
        ctx.nested = from_data(ctx.data, ctx.caller, null()).unwrap();
        true
    }
    let mut ctx = Ctx {
        data: &rows[0],
        caller: &caller,
        nested: Vec::new(),
    };
    let options = with_client_enabled(enabled, (&raw mut ctx).cast());
    assert_eq!(
        from_data(&rows[2], &caller, &options).unwrap(),
        alone(&rows[2])
    );
    assert_eq!(ctx.nested, alone(&rows[0]));
}
