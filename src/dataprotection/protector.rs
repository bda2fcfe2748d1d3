//! Protect and unprotect (§1, §2, §6): the payload header, the key lookup, and the string
//! (base64url) forms.

use std::ops::Range;

use base64::Engine;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurposeConfig, NO_PAD};
use zeroize::{Zeroize, Zeroizing};

use super::encryptor::{KEY_MODIFIER_LEN, KeyCrypto};
use super::kdf::{Label, MAGIC};
use super::keyring::{Key, KeyRing};
use super::{MAX_PAYLOAD_LEN, MAX_PAYLOAD_STR_LEN, MAX_PURPOSE_LEN, MAX_PURPOSES};
use crate::Error;
use crate::instant::Instant;

/// Magic header (4) and key id (16).
pub(crate) const HEADER_LEN: usize = 20;

impl KeyRing {
    /// `IDataProtector.Protect(byte[])` for the purpose chain `[application name,] purposes…`
    /// with the default key at `now` (see [`KeyRing::default_key_id`]). Fails with
    /// [`Error::NoActiveKey`] where ASP.NET Core would first create a new key.
    pub fn protect(
        &self,
        purposes: &[&str],
        plaintext: &[u8],
        now: Instant,
    ) -> Result<Vec<u8>, Error> {
        self.check_purposes(purposes)?;
        Error::check_len("plaintext", plaintext.len(), MAX_PAYLOAD_LEN)?;
        let key = self.default_key(now).ok_or(Error::NoActiveKey)?;
        let crypto = key.crypto.as_ref().map_err(|p| p.to_error())?;
        // Key modifier, then IV or nonce, from one draw (as ASP.NET Core's CNG encryptor does).
        let mut random = [0u8; KEY_MODIFIER_LEN + 16];
        crate::rng::fill(&mut random[..KEY_MODIFIER_LEN + crypto.alg.iv_len()])?;
        let (key_modifier, iv) = random.split_at(KEY_MODIFIER_LEN);
        let key_modifier: &[u8; KEY_MODIFIER_LEN] = key_modifier.try_into().expect("16 bytes");
        let iv = &iv[..crypto.alg.iv_len()];
        Ok(self.protect_with(key, crypto, purposes, plaintext, key_modifier, iv))
    }

    /// Protect with a given key, key modifier and IV (known-answer tests use this directly).
    pub(crate) fn protect_with(
        &self,
        key: &Key,
        crypto: &KeyCrypto,
        purposes: &[&str],
        plaintext: &[u8],
        key_modifier: &[u8; KEY_MODIFIER_LEN],
        iv: &[u8],
    ) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + crypto.alg.body_len(plaintext.len()));
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&key.id_le);
        crypto.encrypt(
            self.label(&key.id_le, purposes),
            key_modifier,
            iv,
            plaintext,
            &mut out,
        );
        out
    }

    /// The length [`KeyRing::protect`] would return for a plaintext of `plaintext_len` bytes
    /// at `now` (exact). Fails as `protect` would for the plaintext length and the key,
    /// without doing any work.
    pub fn protected_len(&self, plaintext_len: usize, now: Instant) -> Result<usize, Error> {
        Error::check_len("plaintext", plaintext_len, MAX_PAYLOAD_LEN)?;
        let key = self.default_key(now).ok_or(Error::NoActiveKey)?;
        let crypto = key.crypto.as_ref().map_err(|p| p.to_error())?;
        Ok(HEADER_LEN + crypto.alg.body_len(plaintext_len))
    }

    /// The string form: `WebEncoders.Base64UrlEncode(Protect(UTF-8(plaintext)))`, as
    /// `DataProtectionCommonExtensions.Protect(string)` returns it (base64url, no padding).
    pub fn protect_str(
        &self,
        purposes: &[&str],
        plaintext: &str,
        now: Instant,
    ) -> Result<String, Error> {
        Ok(base64url_encode(&self.protect(
            purposes,
            plaintext.as_bytes(),
            now,
        )?))
    }

    /// `IDataProtector.Unprotect(byte[])` for the purpose chain `[application name,] purposes…`.
    /// Any key of the ring may have protected the payload (expired or not yet active ones too);
    /// a revoked key fails with [`Error::KeyRevoked`], an absent one with
    /// [`Error::UnknownKey`], everything else about the payload with [`Error::Decrypt`].
    /// The plaintext is wiped when the returned buffer is dropped.
    pub fn unprotect(
        &self,
        purposes: &[&str],
        payload: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, Error> {
        self.check_purposes(purposes)?;
        Error::check_len("protected payload", payload.len(), MAX_PAYLOAD_LEN)?;
        let (key, crypto) = self.payload_key(payload)?;
        let mut buf = Zeroizing::new(payload[HEADER_LEN..].to_vec());
        let range = crypto.decrypt_in_place(self.label(&key.id_le, purposes), &mut buf)?;
        keep_range(&mut buf, range);
        Ok(buf)
    }

    /// The string form, as `DataProtectionCommonExtensions.Unprotect(string)`: base64url
    /// (decoded as leniently as ASP.NET Core's `WebEncoders.Base64UrlDecode`), unprotect, then
    /// strict UTF-8. Malformed base64url is [`Error::Malformed`]; a plaintext that is not
    /// UTF-8 is [`Error::Decrypt`].
    pub fn unprotect_str(
        &self,
        purposes: &[&str],
        payload: &str,
    ) -> Result<Zeroizing<String>, Error> {
        self.check_purposes(purposes)?;
        Error::check_len("protected payload", payload.len(), MAX_PAYLOAD_STR_LEN)?;
        let mut buf = Zeroizing::new(base64url_decode(payload)?);
        let (key, crypto) = self.payload_key(&buf)?;
        let label = self.label(&key.id_le, purposes);
        let range = crypto.decrypt_in_place(label, &mut buf[HEADER_LEN..])?;
        keep_range(&mut buf, range.start + HEADER_LEN..range.end + HEADER_LEN);
        match String::from_utf8(std::mem::take(&mut *buf)) {
            Ok(s) => Ok(Zeroizing::new(s)),
            Err(e) => {
                e.into_bytes().zeroize();
                Err(Error::Decrypt("the plaintext is not UTF-8"))
            }
        }
    }

    fn label<'a>(&'a self, key_id: &'a [u8; 16], purposes: &'a [&'a str]) -> Label<'a> {
        Label::Purposes {
            key_id,
            root: self.root.as_deref(),
            purposes,
        }
    }

    fn check_purposes(&self, purposes: &[&str]) -> Result<(), Error> {
        Error::check_len("purpose list", purposes.len(), MAX_PURPOSES)?;
        if purposes.is_empty() && self.root.is_none() {
            return Err(Error::InvalidArgument(
                "a purpose chain needs at least one purpose",
            ));
        }
        for p in purposes {
            Error::check_len("purpose", p.len(), MAX_PURPOSE_LEN)?;
        }
        Ok(())
    }

    /// Checks the header (§2) and finds the key that protected the payload.
    fn payload_key(&self, payload: &[u8]) -> Result<(&Key, &KeyCrypto), Error> {
        if payload.len() < HEADER_LEN || payload[..3] != MAGIC[..3] || payload[3] & 0xF0 != MAGIC[3]
        {
            return Err(Error::Decrypt(
                "the payload was not protected with this protection provider",
            ));
        }
        if payload[3] & 0x0F != 0 {
            return Err(Error::Decrypt(
                "the payload was protected with a newer version of the protection provider",
            ));
        }
        let id = &payload[4..HEADER_LEN];
        let key = self.key_by_id(id).ok_or_else(|| {
            Error::UnknownKey(uuid::Uuid::from_bytes_le(
                id.try_into().expect("16-byte key id"),
            ))
        })?;
        if key.revoked {
            return Err(Error::KeyRevoked(key.id));
        }
        let crypto = key.crypto.as_ref().map_err(|p| p.to_error())?;
        Ok((key, crypto))
    }
}

/// Moves `buf[range]` to the front of `buf` and drops the rest.
fn keep_range(buf: &mut Vec<u8>, range: Range<usize>) {
    let len = range.len();
    buf.copy_within(range, 0);
    // The bytes past `len` are wiped with the rest of the allocation when `buf` is dropped.
    buf.truncate(len);
}

/// Decodes a protected string exactly as ASP.NET Core 9+'s `WebEncoders.Base64UrlDecode`
/// (checked against it in tests/dataprotection.rs):
/// * white space (space, tab, CR, LF) anywhere is ignored;
/// * a string with `+` or `/` is standard base64 as `Convert.FromBase64String` reads it:
///   padding required, unused low bits ignored, `-` and `_` refused;
/// * otherwise base64url (`Base64Url.DecodeFromChars`): padding optional, even partial
///   (`AQ=`), but never more than needed; unused low bits must be zero.
///
/// Empty input is empty output.
pub fn base64url_decode(s: &str) -> Result<Vec<u8>, Error> {
    let bad = || Error::malformed("protected payload", "not valid base64url");
    let is_space = |c: u8| matches!(c, b' ' | b'\t' | b'\r' | b'\n');
    let stripped: Vec<u8>;
    let mut b = s.as_bytes();
    // One branch-free pass (it vectorizes): is there white space, is it standard base64?
    let (mut space, mut standard) = (false, false);
    for &c in b {
        space |= is_space(c);
        standard |= c == b'+' || c == b'/';
    }
    if space {
        stripped = b.iter().copied().filter(|&c| !is_space(c)).collect();
        b = &stripped;
    }
    let mut out = vec![0u8; b.len() / 4 * 3 + 3];
    let n = if standard {
        if b.len() % 4 != 0 {
            return Err(bad());
        }
        engines()
            .standard_lenient
            .decode_slice(b, &mut out)
            .map_err(|_| bad())?
    } else {
        let data = b.len() - b.iter().rev().take_while(|&&c| c == b'=').count();
        let padding = b.len() - data;
        if data % 4 == 1 || padding > (4 - data % 4) % 4 {
            return Err(bad());
        }
        engines()
            .url
            .decode_slice(&b[..data], &mut out)
            .map_err(|_| bad())?
    };
    out.truncate(n);
    Ok(out)
}

/// The base64 engine: the crate's SIMD one (AVX2 / NEON, detected at run time) where it exists.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
type FastEngine = base64::engine::Simd;
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
type FastEngine = base64::engine::GeneralPurpose;

struct Engines {
    /// base64url, no padding, unused bits must be zero (`Base64Url`).
    url: FastEngine,
    /// Standard base64, canonical padding, unused bits ignored (`Convert.FromBase64String`).
    standard_lenient: FastEngine,
}

fn engines() -> &'static Engines {
    static ENGINES: std::sync::OnceLock<Engines> = std::sync::OnceLock::new();
    ENGINES.get_or_init(|| {
        let lenient = GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(DecodePaddingMode::RequireCanonical);
        #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
        let (url, standard_lenient) = (FastEngine::url_safe(NO_PAD), FastEngine::standard(lenient));
        #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
        let (url, standard_lenient) = (
            FastEngine::new(&base64::alphabet::URL_SAFE, NO_PAD),
            FastEngine::new(&base64::alphabet::STANDARD, lenient),
        );
        Engines {
            url,
            standard_lenient,
        }
    })
}

/// Encodes as `WebEncoders.Base64UrlEncode`: base64url, no padding.
pub fn base64url_encode(bytes: &[u8]) -> String {
    engines().url.encode(bytes)
}
