//! Timing: secret comparison takes the same time wherever the values differ.

use std::hint::black_box;
use std::time::Instant as Clock;

use crate::common::welch_t;

use super::*;

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Times `a` and `b` in interleaved batches (alternating which goes first) and returns the
/// median batch times and Welch's t over the batch times.
fn compare_timing(
    mut a: impl FnMut(),
    mut b: impl FnMut(),
    batches: usize,
    per_batch: usize,
) -> (f64, f64, f64) {
    let mut ta = Vec::with_capacity(batches);
    let mut tb = Vec::with_capacity(batches);
    let time = |f: &mut dyn FnMut()| {
        let t0 = Clock::now();
        for _ in 0..per_batch {
            f();
        }
        t0.elapsed().as_secs_f64()
    };
    // Warm up.
    time(&mut a);
    time(&mut b);
    for i in 0..batches {
        if i % 2 == 0 {
            ta.push(time(&mut a));
            tb.push(time(&mut b));
        } else {
            tb.push(time(&mut b));
            ta.push(time(&mut a));
        }
    }
    let trim = |v: &mut Vec<f64>| {
        // Drop the slowest tenth: preemptions on a loaded machine.
        v.sort_by(f64::total_cmp);
        v.truncate(v.len() - v.len() / 10);
    };
    let (ma, mb) = (median(&ta), median(&tb));
    trim(&mut ta);
    trim(&mut tb);
    (ma, mb, welch_t(&ta, &tb))
}

fn assert_same_time(what: &str, (ma, mb, t): (f64, f64, f64)) {
    let rel = (ma - mb).abs() / ma.min(mb);
    eprintln!(
        "{what}: medians {ma:.3e} s / {mb:.3e} s per batch, relative difference {rel:.3}, Welch's t {t:.2}"
    );
    assert!(
        rel < 0.20 || t.abs() < 10.0,
        "{what}: first-byte difference takes {ma:.3e} s per batch, last-byte {mb:.3e} s \
         (relative difference {rel:.3}, Welch's t {t:.2})"
    );
}

#[test]
fn secret_comparison_takes_the_same_time_wherever_the_values_differ() {
    // The harness detects an early-exit comparison: slice equality (memcmp) over 16 KiB.
    let base = vec![0x5Au8; 16 * 1024];
    let mut first = base.clone();
    first[0] ^= 1;
    let mut last = base.clone();
    *last.last_mut().unwrap() ^= 1;
    let (ma, mb, t) = compare_timing(
        || {
            black_box(black_box(&base[..]) == black_box(&first[..]));
        },
        || {
            black_box(black_box(&base[..]) == black_box(&last[..]));
        },
        200,
        20,
    );
    assert!(
        mb > 3.0 * ma,
        "the timing harness should see memcmp exit early ({ma:.3e} vs {mb:.3e}, t {t:.1})"
    );

    // RefToken's comparison reads everything. Both cases compare the same two buffers (the
    // differing byte moved in place before each call, the same two writes either way): two
    // separate allocations differ in alignment and cache aliasing by far more than a leak.
    let other = std::cell::RefCell::new(base.clone());
    let end = base.len() - 1;
    let differ_at = |i: usize| {
        let mut o = other.borrow_mut();
        o[0] = base[0] ^ u8::from(i == 0);
        o[end] = base[end] ^ u8::from(i == end);
        drop(o);
        black_box(secret::constant_time_eq(
            black_box(&base),
            black_box(&other.borrow()),
        ));
    };
    assert_same_time(
        "constant_time_eq",
        compare_timing(|| differ_at(0), || differ_at(end), 100, 4),
    );

    // And so does secret verification: stored values that differ from the presented secret's
    // hash in their first or in their last base64 character.
    let now = Instant::from_unix_seconds(0);
    let right = secret::hash_secret("timing-secret", HashAlgorithm::Sha256).to_string();
    let flip = |i: usize| {
        let mut b = right.clone().into_bytes();
        b[i] = if b[i] == b'A' { b'B' } else { b'A' };
        vec![StoredSecret::new(String::from_utf8(b).unwrap())]
    };
    let (s_first, s_last) = (flip(0), flip(42));
    assert_eq!(
        secret::verify_secret("timing-secret", &s_first, now).unwrap(),
        None
    );
    assert_eq!(
        secret::verify_secret("timing-secret", &s_last, now).unwrap(),
        None
    );
    assert_same_time(
        "verify_secret",
        compare_timing(
            || {
                black_box(
                    secret::verify_secret(black_box("timing-secret"), &s_first, now).unwrap(),
                );
            },
            || {
                black_box(secret::verify_secret(black_box("timing-secret"), &s_last, now).unwrap());
            },
            300,
            10,
        ),
    );
}
