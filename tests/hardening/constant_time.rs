//! Constant time: Data Protection MACs and tags.

use std::hint::black_box;
use std::time::Instant as Clock;

use super::*;
use crate::common::welch_t;

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

/// A key ring of one AES-256-GCM key.
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

/// Unprotecting payloads whose last `tag_len` bytes differ from the right ones in their first
/// or in their last byte takes the same time.
fn assert_unprotect_constant_time(what: &str, ring: KeyRing, tag_len: usize) {
    let (first, last) = tampered_pair(&ring, tag_len);
    assert_constant_time(what, &first, &last, |p| {
        black_box(ring.unprotect(&["p"], p).is_err());
    });
}

#[test]
fn data_protection_mac_check_takes_the_same_time_wherever_the_mac_differs() {
    assert_unprotect_constant_time("AES-256-CBC + HMAC-SHA256 unprotect", fixture_ring(), 32);
}

#[test]
fn data_protection_gcm_tag_check_takes_the_same_time_wherever_the_tag_differs() {
    assert_unprotect_constant_time("AES-256-GCM unprotect", gcm_ring(), 16);
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
