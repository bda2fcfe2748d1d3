//! Handles: uniqueness at scale, fork safety, byte statistics.

use std::collections::HashSet;
use std::time::Instant as Clock;

use super::*;

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

/// The frequency tests refuse streams a broken generator makes, one test per stream, and pass
/// a good one (the statistic is not simply always failing).
mod frequency_tests_catch_broken_generators {
    use super::*;

    const N: usize = 16 << 20;

    /// xorshift64, a fast generator that passes these tests.
    fn xorshift() -> impl FnMut() -> u64 {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        }
    }

    /// Perfectly uniform bytes, far too regular.
    fn counter() -> Vec<u8> {
        (0..N).map(|i| i as u8).collect()
    }

    fn constant() -> Vec<u8> {
        vec![0x42u8; N]
    }

    /// Every byte has its top bit clear.
    fn stuck_bit() -> Vec<u8> {
        let mut next = xorshift();
        (0..N).map(|_| (next() >> 32) as u8 & 0x7F).collect()
    }

    /// 1 byte in 64 is forced to zero.
    fn slightly_biased() -> Vec<u8> {
        let mut next = xorshift();
        (0..N)
            .map(|_| {
                let v = next();
                if v & 63 == 0 { 0 } else { (v >> 40) as u8 }
            })
            .collect()
    }

    /// Uniform one by one, not independent.
    fn repeated_in_pairs() -> Vec<u8> {
        let mut next = xorshift();
        (0..N / 2)
            .flat_map(|_| {
                let b = (next() >> 24) as u8;
                [b, b]
            })
            .collect()
    }

    fn refused(stream: fn() -> Vec<u8>) {
        assert!(looks_random(&stream()).is_err(), "a broken stream passed");
    }

    test_cases!(refused {
        a_counter: (counter),
        a_constant: (constant),
        a_generator_stuck_on_one_bit: (stuck_bit),
        a_slightly_biased_generator: (slightly_biased),
        bytes_repeated_in_pairs: (repeated_in_pairs),
    });

    #[test]
    fn a_good_generator_passes() {
        let mut next = xorshift();
        let good: Vec<u8> = (0..N / 8).flat_map(|_| next().to_le_bytes()).collect();
        looks_random(&good).unwrap();
    }
}
