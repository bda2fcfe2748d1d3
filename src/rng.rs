//! A fast, fork-safe CSPRNG: one fast-key-erasure ChaCha20 generator per thread, seeded from
//! the operating system and reseeded after a bounded amount of output and after every `fork()`.
//!
//! Why not call getrandom() each time: that system call costs several times one handle's worth
//! of ChaCha20 output. Why it is still safe:
//! * the key is replaced by fresh keystream on every refill (fast key erasure), so a captured
//!   state does not reveal earlier output;
//! * at most [`RESEED_AFTER`] bytes leave a thread's generator before it draws a new key from
//!   the OS;
//! * a child process never repeats its parent: an epoch word lives in a page mapped with
//!   `MADV_WIPEONFORK`, which the kernel zeroes in the child, so the child's generators see a
//!   changed epoch and reseed before producing anything. Where the kernel refuses
//!   `MADV_WIPEONFORK`, the process id is compared instead.

use std::cell::RefCell;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use chacha20::cipher::StreamCipher;
use chacha20::{ChaCha20, Key, KeyIvInit, Nonce};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::Error;

/// Bytes of output a thread's generator produces before reseeding from the OS.
const RESEED_AFTER: u64 = 1 << 20;
/// Keystream produced per refill: a new 32-byte key plus this many output bytes. The total
/// (1 KiB) is a multiple of the four-block width of ChaCha20's SIMD backends.
const BLOCK: usize = 1024 - 32;

#[derive(Zeroize, ZeroizeOnDrop)]
struct Generator {
    key: [u8; 32],
    /// One refill of keystream: the first 32 bytes become the next key (and are wiped here),
    /// the rest is output. Bytes before `pos` were handed out and wiped.
    buf: [u8; 32 + BLOCK],
    pos: usize,
    since_seed: u64,
    epoch: u64,
}

impl Generator {
    fn seeded(epoch: u64) -> Result<Self, Error> {
        let mut g = Generator {
            key: [0; 32],
            buf: [0; 32 + BLOCK],
            pos: 32 + BLOCK,
            since_seed: 0,
            epoch,
        };
        os_fill(&mut g.key)?;
        Ok(g)
    }

    fn refill(&mut self) {
        self.buf.fill(0);
        ChaCha20::new(&Key::from(self.key), &Nonce::from([0u8; 12])).apply_keystream(&mut self.buf);
        // Fast key erasure: the old key is replaced before any output is used.
        self.key.copy_from_slice(&self.buf[..32]);
        self.buf[..32].fill(0);
        self.pos = 32;
    }

    fn fill(&mut self, mut out: &mut [u8]) -> Result<(), Error> {
        while !out.is_empty() {
            if self.since_seed >= RESEED_AFTER {
                let mut fresh = [0u8; 32];
                os_fill(&mut fresh)?;
                for (k, f) in self.key.iter_mut().zip(fresh.iter()) {
                    *k ^= *f;
                }
                fresh.zeroize();
                self.since_seed = 0;
                self.pos = self.buf.len();
            }
            if self.pos == self.buf.len() {
                self.refill();
            }
            let n = out.len().min(self.buf.len() - self.pos);
            let src = &mut self.buf[self.pos..self.pos + n];
            out[..n].copy_from_slice(src);
            src.fill(0);
            self.pos += n;
            self.since_seed += n as u64;
            out = &mut out[n..];
        }
        Ok(())
    }
}

thread_local! {
    static GENERATOR: RefCell<Option<Generator>> = const { RefCell::new(None) };
}

/// Fill `out` with cryptographically secure random bytes.
pub(crate) fn fill(out: &mut [u8]) -> Result<(), Error> {
    let epoch = fork_epoch()?;
    GENERATOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        match slot.as_mut() {
            Some(g) if g.epoch == epoch => {}
            _ => *slot = Some(Generator::seeded(epoch)?),
        }
        slot.as_mut().expect("generator was just seeded").fill(out)
    })
}

/// Fill `out` straight from the operating system (getrandom(2)).
pub(crate) fn os_fill(out: &mut [u8]) -> Result<(), Error> {
    getrandom::fill(out).map_err(|e| Error::Rng(e.to_string()))
}

/// A value that changes in every child process created by `fork()`.
fn fork_epoch() -> Result<u64, Error> {
    match fork_guard() {
        ForkGuard::Wiped(word) => {
            let v = word.load(Ordering::Acquire);
            if v != 0 {
                return Ok(v);
            }
            // A fresh child (or the first call): pick a new nonzero epoch.
            let mut b = [0u8; 8];
            os_fill(&mut b)?;
            let fresh = u64::from_ne_bytes(b) | 1;
            Ok(
                match word.compare_exchange(0, fresh, Ordering::AcqRel, Ordering::Acquire) {
                    Ok(_) => fresh,
                    Err(current) => current,
                },
            )
        }
        ForkGuard::Pid => Ok(std::process::id() as u64),
    }
}

enum ForkGuard {
    Wiped(&'static AtomicU64),
    Pid,
}

fn fork_guard() -> &'static ForkGuard {
    static GUARD: OnceLock<ForkGuard> = OnceLock::new();
    GUARD.get_or_init(|| match wipe_on_fork_word() {
        Some(word) => ForkGuard::Wiped(word),
        None => ForkGuard::Pid,
    })
}

/// Map one anonymous page with `MADV_WIPEONFORK` and return its first word. The page lives for
/// the rest of the process; the kernel fills it with zeros in every child.
fn wipe_on_fork_word() -> Option<&'static AtomicU64> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: an anonymous private mapping of one page; checked for failure before use.
        // The page is never unmapped, so the 'static reference stays valid, and it is
        // page-aligned, so it is suitably aligned for AtomicU64.
        unsafe {
            let len = 4096usize;
            let p = libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            if p == libc::MAP_FAILED {
                return None;
            }
            if libc::madvise(p, len, libc::MADV_WIPEONFORK) != 0 {
                libc::munmap(p, len);
                return None;
            }
            Some(&*(p as *const AtomicU64))
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_and_differs() {
        let mut a = [0u8; 64];
        let mut b = [0u8; 64];
        fill(&mut a).unwrap();
        fill(&mut b).unwrap();
        assert_ne!(a, b);
        assert_ne!(a, [0u8; 64]);
    }

    #[test]
    fn survives_reseed_boundary() {
        let mut buf = vec![0u8; (RESEED_AFTER as usize) + 4096];
        fill(&mut buf).unwrap();
        // A crude check that would catch a generator stuck on a constant or on zeros.
        let zeros = buf.iter().filter(|&&b| b == 0).count();
        let expected = buf.len() / 256;
        assert!(
            zeros > expected / 2 && zeros < expected * 2,
            "zeros={zeros}"
        );
    }

    #[test]
    fn wipe_on_fork_is_available_here() {
        assert!(matches!(fork_guard(), ForkGuard::Wiped(_)));
    }
}
