//! Shared secrets as IdentityServer stores and checks them.
//!
//! IdentityServer keeps `"secret".Sha256()` (or `.Sha512()`): the standard padded base64 of the
//! SHA-256 (SHA-512) of the secret's UTF-8 bytes. `HashedSharedSecretValidator` checks a
//! presented secret against the stored secrets in order: expired secrets are dropped first
//! (`now > Expiration`); each remaining value is base64-decoded to learn its kind (32 bytes:
//! SHA-256, 64 bytes: SHA-512); a value that does not decode, or decodes to another length,
//! fails the whole check at once. RefToken does the same, with the comparison in constant time
//! over the full length, and without revealing through timing which secret matched.

use arrayvec::ArrayString;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256, Sha512};
use subtle::{Choice, ConstantTimeEq};
use zeroize::Zeroizing;

use crate::Error;
use crate::instant::Instant;

/// Length of the longest stored value: base64 of a SHA-512 digest.
pub const MAX_HASHED_SECRET_LEN: usize = 88;

/// A hashed secret on the stack, as IdentityServer stores it.
pub type HashedSecret = ArrayString<MAX_HASHED_SECRET_LEN>;

/// The hash IdentityServer applies to a shared secret before storing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashAlgorithm {
    /// `"secret".Sha256()`: 44 characters of base64.
    Sha256,
    /// `"secret".Sha512()`: 88 characters of base64.
    Sha512,
}

/// Whether .NET's `string.IsNullOrWhiteSpace` holds (`char.IsWhiteSpace` is Unicode's
/// White_Space property, as Rust's `char::is_whitespace`).
pub(crate) fn is_missing(s: &str) -> bool {
    s.chars().all(char::is_whitespace)
}

/// The value IdentityServer stores for `secret`: `secret.Sha256()` or `secret.Sha512()`, the
/// standard padded base64 of the digest of its UTF-8 bytes. Like IdentityServer's
/// `HashExtensions`, an empty or whitespace-only secret hashes to the empty string.
pub fn hash_secret(secret: &str, algorithm: HashAlgorithm) -> HashedSecret {
    let mut out = HashedSecret::new();
    if is_missing(secret) {
        return out;
    }
    let mut buf = [0u8; MAX_HASHED_SECRET_LEN];
    let n = match algorithm {
        HashAlgorithm::Sha256 => STANDARD.encode_slice(Sha256::digest(secret.as_bytes()), &mut buf),
        HashAlgorithm::Sha512 => STANDARD.encode_slice(Sha512::digest(secret.as_bytes()), &mut buf),
    }
    .expect("a digest's base64 fits in 88 bytes");
    out.push_str(std::str::from_utf8(&buf[..n]).expect("base64 is ASCII"));
    out
}

/// A secret as IdentityServer's configuration holds it (`Secret` of type `SharedSecret`): the
/// stored value (see [`hash_secret`]) and an optional expiration. `S` is `String` or `&str`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSecret<S = String> {
    /// `Secret.Value`: base64 of the secret's SHA-256 or SHA-512.
    pub value: S,
    /// `Secret.Expiration`: the secret no longer counts once `now` is later than this.
    pub expiration: Option<Instant>,
}

impl<S: AsRef<str>> StoredSecret<S> {
    /// A secret that never expires.
    pub fn new(value: S) -> Self {
        StoredSecret {
            value,
            expiration: None,
        }
    }

    /// Whether the secret has expired at `now` (`now > Expiration`, as IdentityServer's
    /// `HasExpired`).
    pub fn is_expired(&self, now: Instant) -> bool {
        self.expiration.is_some_and(|e| now > e)
    }
}

/// Compares two byte strings in time that depends only on their lengths: when the lengths are
/// equal every byte is read whatever the contents. Unequal lengths are unequal at once.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    // Lengths are not secret: a stored value is 44 or 88 characters.
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// Decodes base64 as .NET's `Convert.FromBase64String` does: the standard alphabet; spaces,
/// tabs, CR and LF ignored anywhere; a length (without them) that is a multiple of four; at
/// most two `=` and only at the end; unused trailing bits ignored. `None` where .NET throws
/// `FormatException`.
pub(crate) fn dotnet_base64_decode(s: &str) -> Option<Zeroizing<Vec<u8>>> {
    let mut clean = Zeroizing::new(Vec::with_capacity(s.len()));
    clean.extend(
        s.bytes()
            .filter(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n')),
    );
    if clean.len() % 4 != 0 {
        return None;
    }
    let pad = clean.iter().rev().take_while(|&&b| b == b'=').count();
    if pad > 2 {
        return None;
    }
    let data = &clean[..clean.len() - pad];
    let mut out = Zeroizing::new(Vec::with_capacity(data.len() / 4 * 3 + 2));
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in data {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// What a stored value is, judged by the length of its base64 decoding.
enum StoredKind {
    Sha256,
    Sha512,
    Malformed(&'static str),
}

fn stored_kind(value: &str) -> StoredKind {
    match dotnet_base64_decode(value).map(|b| b.len()) {
        Some(32) => StoredKind::Sha256,
        Some(64) => StoredKind::Sha512,
        Some(_) => StoredKind::Malformed("it is neither a SHA-256 nor a SHA-512 hash (length)"),
        None => StoredKind::Malformed("it is not base64"),
    }
}

/// Checks a presented shared secret against the stored secrets, as IdentityServer's
/// `SecretValidator` with `HashedSharedSecretValidator` does.
///
/// Returns `Ok(Some(i))` when the secret matches `stored[i]` (the first match), `Ok(None)`
/// when it matches none (or `presented` is empty or whitespace, which IdentityServer treats as
/// no secret at all). Expired secrets (`now > expiration`) are skipped. A stored value that is
/// not base64, or whose decoding is neither 32 nor 64 bytes long, makes IdentityServer fail
/// the whole check when it reaches it; RefToken returns [`Error::Malformed`] naming it, unless
/// an earlier secret matched.
///
/// The presented secret is hashed with both algorithms and compared with every unexpired
/// stored value in constant time; all of them are compared whatever the outcome, so the time
/// taken does not depend on which secret matched or where a value differs.
pub fn verify_secret<S: AsRef<str>>(
    presented: &str,
    stored: &[StoredSecret<S>],
    now: Instant,
) -> Result<Option<usize>, Error> {
    if is_missing(presented) {
        return Ok(None);
    }
    let sha256 = hash_secret(presented, HashAlgorithm::Sha256);
    let sha512 = hash_secret(presented, HashAlgorithm::Sha512);
    // The outcome is decided by the first stored secret that either matches or is malformed.
    let mut decided = false;
    let mut outcome: Result<Option<usize>, usize> = Ok(None);
    let mut reason = "";
    for (i, secret) in stored.iter().enumerate() {
        if secret.is_expired(now) {
            continue;
        }
        let value = secret.value.as_ref().as_bytes();
        let matched: Choice = match stored_kind(secret.value.as_ref()) {
            StoredKind::Sha256 => {
                Choice::from(u8::from(constant_time_eq(value, sha256.as_bytes())))
            }
            StoredKind::Sha512 => {
                Choice::from(u8::from(constant_time_eq(value, sha512.as_bytes())))
            }
            StoredKind::Malformed(why) => {
                if !decided {
                    decided = true;
                    outcome = Err(i);
                    reason = why;
                }
                continue;
            }
        };
        if bool::from(matched) && !decided {
            decided = true;
            outcome = Ok(Some(i));
        }
    }
    outcome.map_err(|i| Error::Malformed {
        what: "stored secret",
        detail: format!("stored secret {i} cannot be checked: {reason}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes() {
        // Values from tests/fixtures/duende/secrets.json.
        assert_eq!(
            hash_secret("api1-secret", HashAlgorithm::Sha256).as_str(),
            "6wQyUUAdTu9zHPV8/6ZUj+5sLyiatf+sGw+hjp41K8A="
        );
        assert_eq!(hash_secret(" \t", HashAlgorithm::Sha512).as_str(), "");
        assert_eq!(hash_secret("x", HashAlgorithm::Sha512).len(), 88);
    }

    #[test]
    fn base64_like_dotnet() {
        let d = |s: &str| dotnet_base64_decode(s).map(|v| v.to_vec());
        assert_eq!(d("QQ=="), Some(b"A".to_vec()));
        assert_eq!(d("QR=="), Some(b"A".to_vec()));
        assert_eq!(d(" Q Q = = "), Some(b"A".to_vec()));
        assert_eq!(d("QUI="), Some(b"AB".to_vec()));
        assert_eq!(d(""), Some(vec![]));
        assert_eq!(d("QQ="), None);
        assert_eq!(d("QQ"), None);
        assert_eq!(d("Q=Q="), None);
        assert_eq!(d("===="), None);
        assert_eq!(d("QQ==QQ=="), None);
        assert_eq!(d("QUJD\u{b}RA=="), None);
    }

    #[test]
    fn verification_order_and_expiry() {
        let now = Instant::from_unix_seconds(1000);
        let good = hash_secret("s", HashAlgorithm::Sha512);
        let other = hash_secret("t", HashAlgorithm::Sha256);
        let s = |v: &str, exp: Option<i64>| StoredSecret {
            value: v.to_owned(),
            expiration: exp.map(Instant::from_unix_seconds),
        };
        let list = [s(&other, None), s(&good, Some(1000))];
        assert_eq!(verify_secret("s", &list, now).unwrap(), Some(1));
        assert_eq!(
            verify_secret("s", &list, Instant::from_unix_seconds(1001)).unwrap(),
            None
        );
        assert_eq!(verify_secret(" ", &list, now).unwrap(), None);
        let broken = [s(&good, None), s("QQ==", None)];
        assert_eq!(verify_secret("s", &broken, now).unwrap(), Some(0));
        let broken = [s("QQ==", None), s(&good, None)];
        assert!(verify_secret("s", &broken, now).is_err());
        let expired_broken = [s("QQ==", Some(5)), s(&good, None)];
        assert_eq!(verify_secret("s", &expired_broken, now).unwrap(), Some(1));
    }
}
