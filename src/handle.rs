//! Handles as IdentityServer generates them.
//!
//! `IHandleGenerationService.GenerateAsync(length)` returns `length` CSPRNG bytes as uppercase
//! hex; the reference-token store appends `-1` to mark that the store key of this handle is
//! hex-encoded (see [`crate::key`]).

use arrayvec::ArrayString;
use zeroize::Zeroize;

use crate::{Error, limits, rng};

/// Random bytes in a handle handed to clients.
pub const HANDLE_BYTES: usize = 32;
/// The suffix that marks a handle whose store key is hex-encoded.
pub const HEX_KEY_SUFFIX: &str = "-1";
/// Length of a handle from [`new_handle`]: 64 hex characters and `-1`.
pub const HANDLE_LEN: usize = 2 * HANDLE_BYTES + HEX_KEY_SUFFIX.len();

/// Each byte's two uppercase hex digits: one lookup per byte.
static HEX_PAIRS: [[u8; 2]; 256] = {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    let mut t = [[0u8; 2]; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = [DIGITS[i >> 4], DIGITS[i & 0xf]];
        i += 1;
    }
    t
};

/// A handle on the stack: no heap allocation.
pub type Handle = ArrayString<HANDLE_LEN>;

/// Writes `bytes` as uppercase hex into `out` (which must be twice as long).
pub(crate) fn upper_hex_into(bytes: &[u8], out: &mut [u8]) {
    debug_assert_eq!(out.len(), bytes.len() * 2);
    for (b, pair) in bytes.iter().zip(out.chunks_exact_mut(2)) {
        pair.copy_from_slice(&HEX_PAIRS[*b as usize]);
    }
}

/// `length` random bytes as uppercase hex (`2 * length` characters), written into `out`,
/// which must be exactly `2 * length` bytes long. This is what
/// `IHandleGenerationService.GenerateAsync(length)` returns.
pub fn random_hex_into(out: &mut [u8]) -> Result<(), Error> {
    if out.len() % 2 != 0 {
        return Err(Error::InvalidArgument("the output length must be even"));
    }
    let length = out.len() / 2;
    if length == 0 {
        return Err(Error::InvalidArgument("length must be at least 1"));
    }
    Error::check_len("random length", length, limits::MAX_RANDOM_BYTES)?;
    let mut chunk = [0u8; 64];
    for dst in out.chunks_mut(128) {
        let bytes = &mut chunk[..dst.len() / 2];
        rng::fill(bytes)?;
        upper_hex_into(bytes, dst);
    }
    chunk.zeroize();
    Ok(())
}

/// `length` random bytes as an uppercase hex `String`.
pub fn random_hex(length: usize) -> Result<String, Error> {
    if length == 0 {
        return Err(Error::InvalidArgument("length must be at least 1"));
    }
    Error::check_len("random length", length, limits::MAX_RANDOM_BYTES)?;
    let mut out = vec![0u8; 2 * length];
    random_hex_into(&mut out)?;
    Ok(String::from_utf8(out).expect("hex is ASCII"))
}

/// Writes a new handle (see [`new_handle`]) into `out`, which the caller wipes when done.
pub fn new_handle_into(out: &mut [u8; HANDLE_LEN]) -> Result<(), Error> {
    let mut bytes = [0u8; HANDLE_BYTES];
    rng::fill(&mut bytes)?;
    upper_hex_into(&bytes, &mut out[..2 * HANDLE_BYTES]);
    bytes.zeroize();
    out[2 * HANDLE_BYTES..].copy_from_slice(HEX_KEY_SUFFIX.as_bytes());
    Ok(())
}

/// A new handle as IdentityServer hands it to clients: 32 random bytes as uppercase hex,
/// then `-1`.
pub fn new_handle() -> Result<Handle, Error> {
    let mut buf = [0u8; HANDLE_LEN];
    new_handle_into(&mut buf)?;
    let s = std::str::from_utf8(&buf).expect("hex is ASCII");
    let handle = Handle::from(s).expect("exact capacity");
    buf.zeroize();
    Ok(handle)
}

/// Whether `handle` has the shape of a current IdentityServer reference-token handle:
/// 64 hex digits (either case) followed by `-1`. Validators use it to refuse garbage before
/// touching the store.
pub fn is_current_handle(handle: &str) -> bool {
    let b = handle.as_bytes();
    b.len() == HANDLE_LEN
        && b.ends_with(HEX_KEY_SUFFIX.as_bytes())
        && b[..2 * HANDLE_BYTES].iter().all(u8::is_ascii_hexdigit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handle_shape() {
        let h = new_handle().unwrap();
        assert_eq!(h.len(), 66);
        assert!(h.ends_with("-1"));
        assert!(
            h[..64]
                .bytes()
                .all(|c| c.is_ascii_digit() || (b'A'..=b'F').contains(&c))
        );
        assert!(is_current_handle(&h));
    }

    #[test]
    fn random_hex_lengths() {
        for n in [1usize, 16, 32, 63, 64, 65, 200] {
            let s = random_hex(n).unwrap();
            assert_eq!(s.len(), 2 * n);
            assert!(
                s.bytes()
                    .all(|c| c.is_ascii_digit() || (b'A'..=b'F').contains(&c))
            );
        }
        assert!(random_hex(0).is_err());
        assert!(random_hex(limits::MAX_RANDOM_BYTES + 1).is_err());
    }

    #[test]
    fn shape_check_rejects_garbage() {
        assert!(!is_current_handle(""));
        assert!(!is_current_handle(&"A".repeat(66)));
        assert!(!is_current_handle(&format!("{}-1", "G".repeat(64))));
        assert!(!is_current_handle(&format!("{}-1", "A".repeat(63))));
        assert!(is_current_handle(&format!("{}-1", "a".repeat(64))));
    }
}
