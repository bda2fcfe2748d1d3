//! The persisted-grant store key derived from a handle.
//!
//! `s = handle + ":" + grantType`; for handles ending in `-1` the key is the uppercase hex of
//! SHA-256(UTF-8(s)) (64 characters), otherwise (IdentityServer4 and Duende 5 handles) the
//! padded standard base64 of the same digest (44 characters). Read access to the store thus
//! never reveals a usable handle.

use base64::Engine;
use sha2::{Digest, Sha256};

use crate::handle::{HEX_KEY_SUFFIX, upper_hex_into};
use crate::{Error, limits};

/// The longest store key: 64 hex characters.
pub const MAX_KEY_LEN: usize = 64;

/// A store key on the stack: no heap allocation. Always ASCII (hex or base64).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct StoreKey {
    buf: [u8; MAX_KEY_LEN],
    len: u8,
}

impl StoreKey {
    /// The empty key (used where no key was derived).
    pub const fn empty() -> Self {
        StoreKey {
            buf: [0; MAX_KEY_LEN],
            len: 0,
        }
    }

    /// `s` as a store key, if it is one (1 to 64 ASCII characters).
    pub fn from_str_checked(s: &str) -> Option<Self> {
        if s.is_empty() || s.len() > MAX_KEY_LEN || !s.is_ascii() {
            return None;
        }
        let mut buf = [0u8; MAX_KEY_LEN];
        buf[..s.len()].copy_from_slice(s.as_bytes());
        Some(StoreKey {
            buf,
            len: s.len() as u8,
        })
    }

    /// The key's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len as usize]
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).expect("store keys are ASCII")
    }
}

impl std::ops::Deref for StoreKey {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl std::fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("StoreKey").field(&self.as_str()).finish()
    }
}

impl std::fmt::Display for StoreKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<str> for StoreKey {
    fn eq(&self, other: &str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl PartialEq<&str> for StoreKey {
    fn eq(&self, other: &&str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

/// SHA-256's initial hash value (FIPS 180-4, 5.3.3).
const H256: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/// SHA-256 of `a || b || c`. Inputs that pad into two blocks (the usual handle and grant
/// type) are padded here on the stack and compressed directly, skipping the streaming
/// buffer; longer ones stream.
fn sha256_of_parts(a: &[u8], b: &[u8], c: &[u8]) -> [u8; 32] {
    let total = a.len() + b.len() + c.len();
    if total + 9 > 128 {
        return Sha256::new()
            .chain_update(a)
            .chain_update(b)
            .chain_update(c)
            .finalize()
            .into();
    }
    let mut blocks = [[0u8; 64]; 2];
    let n = if total + 9 <= 64 { 1 } else { 2 };
    {
        let flat = blocks.as_flattened_mut();
        flat[..a.len()].copy_from_slice(a);
        flat[a.len()..a.len() + b.len()].copy_from_slice(b);
        flat[a.len() + b.len()..total].copy_from_slice(c);
        flat[total] = 0x80;
        flat[n * 64 - 8..n * 64].copy_from_slice(&((total as u64) * 8).to_be_bytes());
    }
    let mut state = H256;
    sha2::block_api::compress256(&mut state, &blocks[..n]);
    let mut out = [0u8; 32];
    for (chunk, word) in out.chunks_exact_mut(4).zip(state) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

/// The grant type of refresh tokens.
pub const REFRESH_TOKEN: &str = "refresh_token";

/// The grant type of reference tokens.
pub const REFERENCE_TOKEN: &str = "reference_token";

/// How a store key is encoded, which the handle's suffix decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyEncoding {
    /// Uppercase hex (handles ending in `-1`; Duende 6 and later).
    Hex,
    /// Padded standard base64 (older handles).
    Base64,
}

/// The encoding IdentityServer uses for the store key of `handle`.
pub fn encoding_for(handle: &str) -> KeyEncoding {
    if handle.ends_with(HEX_KEY_SUFFIX) {
        KeyEncoding::Hex
    } else {
        KeyEncoding::Base64
    }
}

/// The store key of `handle` for `grant_type`.
pub fn store_key(handle: &str, grant_type: &str) -> Result<StoreKey, Error> {
    Error::check_len("handle", handle.len(), limits::MAX_HANDLE_LEN)?;
    Error::check_len("grant type", grant_type.len(), limits::MAX_GRANT_TYPE_LEN)?;
    let digest = sha256_of_parts(handle.as_bytes(), b":", grant_type.as_bytes());
    let mut buf = [0u8; MAX_KEY_LEN];
    let len = match encoding_for(handle) {
        KeyEncoding::Hex => {
            upper_hex_into(&digest, &mut buf);
            MAX_KEY_LEN
        }
        KeyEncoding::Base64 => base64::engine::general_purpose::STANDARD
            .encode_slice(digest, &mut buf)
            .expect("44 bytes fit in 64"),
    };
    Ok(StoreKey {
        buf,
        len: len as u8,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings() {
        let hex = store_key("ABC-1", REFERENCE_TOKEN).unwrap();
        assert_eq!(hex.len(), 64);
        assert!(
            hex.bytes()
                .all(|c| c.is_ascii_digit() || (b'A'..=b'F').contains(&c))
        );
        let b64 = store_key("ABC", REFERENCE_TOKEN).unwrap();
        assert_eq!(b64.len(), 44);
        assert!(b64.ends_with('='));
    }

    #[test]
    fn padding_boundaries_agree_with_streaming_sha256() {
        // Every total length around the one- and two-block boundaries (55/56, 119/120).
        for len in 0..200 {
            let handle = "A".repeat(len);
            let via_parts = sha256_of_parts(handle.as_bytes(), b":", b"g");
            let streamed: [u8; 32] = Sha256::digest(format!("{handle}:g").as_bytes()).into();
            assert_eq!(via_parts, streamed, "{len}");
        }
    }

    #[test]
    fn limits_enforced() {
        assert!(store_key(&"a".repeat(limits::MAX_HANDLE_LEN + 1), "x").is_err());
        assert!(store_key("a", &"g".repeat(limits::MAX_GRANT_TYPE_LEN + 1)).is_err());
        assert!(store_key("", "").is_ok());
    }
}
