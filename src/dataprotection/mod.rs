//! ASP.NET Core Data Protection, wire-compatible with `IDataProtector.Protect`/`Unprotect`.
//!
//! A [`KeyRing`] holds the keys an ASP.NET Core application persisted (`key-*.xml` files, or the
//! same elements from a database or Redis) and the application name that roots every purpose
//! chain. [`KeyRing::unprotect_str`] reads what `protector.Protect(string)` wrote;
//! [`KeyRing::protect_str`] writes what `protector.Unprotect(string)` reads.
//!
//! ```text
//! payload = 09 F0 C9 F0 || key id (16, .NET Guid byte order) || body
//! body    = key modifier (16) || IV (16) || AES-CBC(K_E, PKCS#7(pt)) || HMAC(K_H, IV || ct)   CBC
//!         | key modifier (16) || nonce (12) || AES-GCM(K_E, pt) || tag (16)                   GCM
//! K_E || K_H = SP800-108-CTR-HMACSHA512(master key, label = AAD,
//!                                       context = context header || key modifier)
//! AAD     = 09 F0 C9 F0 || key id || BE32(#purposes) || (7-bit length || UTF-8)*   [app name, purposes…]
//! ```
//!
//! Keys encrypted at rest with Windows DPAPI, DPAPI-NG or an X.509 certificate cannot be used
//! here; such keys stay in the ring, and unprotecting a payload made with one fails with
//! [`crate::Error::UnsupportedProtector`].

mod encryptor;
mod kdf;
mod keyring;
mod protector;
#[cfg(test)]
mod tests;

pub use encryptor::{AesKeySize, Algorithm, HmacAlgorithm};
pub use keyring::{DefaultKeyPolicy, KeyInfo, KeyRing};
pub use protector::{base64url_decode, base64url_encode};

/// Largest binary payload or plaintext accepted by protect and unprotect (bytes).
pub const MAX_PAYLOAD_LEN: usize = 1 << 20;
/// Largest string payload accepted by [`KeyRing::unprotect_str`]: base64url of
/// [`MAX_PAYLOAD_LEN`] bytes.
pub const MAX_PAYLOAD_STR_LEN: usize = MAX_PAYLOAD_LEN.div_ceil(3) * 4;
/// Largest key-ring XML file or element (bytes).
pub const MAX_XML_LEN: usize = 1 << 20;
/// Most XML nodes in one key-ring file or element (a generated key has about 20).
pub const MAX_XML_NODES: u32 = 10_000;
/// Most keys in one key ring.
pub const MAX_KEYS: usize = 1000;
/// Most files (or elements) in one key ring: keys, revocations and anything else.
pub const MAX_KEY_RING_ELEMENTS: usize = 10_000;
/// Most purposes passed to one protect or unprotect call (the application name not counted).
pub const MAX_PURPOSES: usize = 256;
/// Largest single purpose string (bytes of UTF-8).
pub const MAX_PURPOSE_LEN: usize = 1 << 16;

// A key ring is shared between threads without locks.
const _: () = {
    const fn thread_safe<T: Send + Sync>() {}
    thread_safe::<KeyRing>()
};

/// The application discriminator ASP.NET Core 7.0 and later derive from the content root path
/// when the application does not call `SetApplicationName` (Linux and macOS rule, §5):
/// the path trimmed of white space, with a `/` appended unless it already ends with one;
/// `None` for an empty path. ASP.NET Core 2.x–5.0 and 6.0 non-minimal hosts used the
/// content root path as it was: pass that to [`KeyRing::with_application_name`] directly.
pub fn application_discriminator(content_root_path: &str) -> Option<String> {
    let s = content_root_path.trim();
    if s.is_empty() {
        None
    } else if s.ends_with('/') {
        Some(s.to_owned())
    } else {
        Some(format!("{s}/"))
    }
}
