//! The persisted-grant store key derived from a handle.
//!
//! `s = handle + ":" + grantType`; for handles ending in `-1` the key is the uppercase hex of
//! SHA-256(UTF-8(s)) (64 characters), otherwise (IdentityServer4 and Duende 5 handles) the
//! padded standard base64 of the same digest (44 characters). Read access to the store thus
//! never reveals a usable handle.

use arrayvec::ArrayString;
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::handle::{HEX_KEY_SUFFIX, upper_hex_into};
use crate::{Error, limits};

/// The longest store key: 64 hex characters.
pub const MAX_KEY_LEN: usize = 64;

/// A store key on the stack: no heap allocation.
pub type StoreKey = ArrayString<MAX_KEY_LEN>;

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
    // Hash the three parts in sequence rather than concatenating: no allocation.
    let digest: [u8; 32] = Sha256::new()
        .chain_update(handle.as_bytes())
        .chain_update(b":")
        .chain_update(grant_type.as_bytes())
        .finalize()
        .into();
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
    let s = std::str::from_utf8(&buf[..len]).expect("hex and base64 are ASCII");
    Ok(StoreKey::from(s).expect("fits"))
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
    fn limits_enforced() {
        assert!(store_key(&"a".repeat(limits::MAX_HANDLE_LEN + 1), "x").is_err());
        assert!(store_key("a", &"g".repeat(limits::MAX_GRANT_TYPE_LEN + 1)).is_err());
        assert!(store_key("", "").is_ok());
    }
}
