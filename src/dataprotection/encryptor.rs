//! The authenticated encryptors: AES-CBC + HMAC (§9) and AES-GCM (§10), their context headers
//! (§8), and the per-key state used to run them.

use std::ops::Range;
use std::sync::OnceLock;

use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use aes_gcm::aead::AeadInOut;
use aes_gcm::aead::consts::U12;
use aes_gcm::{AesGcm, KeyInit, Nonce, Tag};
use hmac::{Hmac, Mac};
use sha2::{Sha256, Sha384, Sha512};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::kdf::{self, Label, Prf};
use crate::Error;

/// Size of the random key modifier that starts every body (the KDF context).
pub(crate) const KEY_MODIFIER_LEN: usize = 16;
const AES_BLOCK: usize = 16;
const GCM_NONCE: usize = 12;
const GCM_TAG: usize = 16;

/// The message every authentication failure reports: deliberately unspecific.
pub(crate) const INVALID: Error = Error::Decrypt("the payload was invalid");

/// AES key size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AesKeySize {
    /// 128-bit key.
    Aes128,
    /// 192-bit key.
    Aes192,
    /// 256-bit key.
    Aes256,
}

impl AesKeySize {
    /// Key length in bytes.
    pub fn bytes(self) -> usize {
        match self {
            AesKeySize::Aes128 => 16,
            AesKeySize::Aes192 => 24,
            AesKeySize::Aes256 => 32,
        }
    }

    /// The size for a key length in bits (128, 192, 256).
    pub fn from_bits(bits: u32) -> Option<Self> {
        match bits {
            128 => Some(AesKeySize::Aes128),
            192 => Some(AesKeySize::Aes192),
            256 => Some(AesKeySize::Aes256),
            _ => None,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// HMAC used to authenticate CBC payloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HmacAlgorithm {
    /// HMAC-SHA256 (the default).
    HmacSha256,
    /// HMAC-SHA384 (custom managed descriptors only).
    HmacSha384,
    /// HMAC-SHA512.
    HmacSha512,
}

impl HmacAlgorithm {
    /// Digest length in bytes, which is also the HMAC subkey length.
    pub fn digest_len(self) -> usize {
        match self {
            HmacAlgorithm::HmacSha256 => 32,
            HmacAlgorithm::HmacSha384 => 48,
            HmacAlgorithm::HmacSha512 => 64,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// An authenticated-encryption algorithm as a key's descriptor names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// AES-CBC with PKCS#7 padding, then HMAC over IV and ciphertext (§9).
    Cbc {
        /// AES key size.
        aes: AesKeySize,
        /// The HMAC.
        hmac: HmacAlgorithm,
    },
    /// AES-GCM with a 96-bit nonce and a 128-bit tag (§10).
    Gcm {
        /// AES key size.
        aes: AesKeySize,
    },
}

impl Algorithm {
    /// ASP.NET Core's default: AES-256-CBC with HMAC-SHA256.
    pub const DEFAULT: Algorithm = Algorithm::Cbc {
        aes: AesKeySize::Aes256,
        hmac: HmacAlgorithm::HmacSha256,
    };

    /// The context header of §8 (computed once per algorithm, then cached).
    pub fn context_header(self) -> &'static [u8] {
        static HEADERS: [OnceLock<Box<[u8]>>; 12] = [const { OnceLock::new() }; 12];
        let index = match self {
            Algorithm::Cbc { aes, hmac } => aes.index() * 3 + hmac.index(),
            Algorithm::Gcm { aes } => 9 + aes.index(),
        };
        HEADERS[index].get_or_init(|| compute_context_header(self))
    }

    /// Length of the body (everything after the 20-byte header) that protects `pt_len` bytes.
    pub(crate) fn body_len(self, pt_len: usize) -> usize {
        match self {
            Algorithm::Cbc { hmac, .. } => {
                KEY_MODIFIER_LEN
                    + AES_BLOCK
                    + (pt_len / AES_BLOCK + 1) * AES_BLOCK
                    + hmac.digest_len()
            }
            Algorithm::Gcm { .. } => KEY_MODIFIER_LEN + GCM_NONCE + pt_len + GCM_TAG,
        }
    }

    /// Length of the random IV (CBC) or nonce (GCM) that follows the key modifier.
    pub(crate) fn iv_len(self) -> usize {
        match self {
            Algorithm::Cbc { .. } => AES_BLOCK,
            Algorithm::Gcm { .. } => GCM_NONCE,
        }
    }
}

impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let bits = |a: AesKeySize| a.bytes() * 8;
        match *self {
            Algorithm::Cbc { aes, hmac } => {
                let h = match hmac {
                    HmacAlgorithm::HmacSha256 => "HMACSHA256",
                    HmacAlgorithm::HmacSha384 => "HMACSHA384",
                    HmacAlgorithm::HmacSha512 => "HMACSHA512",
                };
                write!(f, "AES_{}_CBC+{h}", bits(aes))
            }
            Algorithm::Gcm { aes } => write!(f, "AES_{}_GCM", bits(aes)),
        }
    }
}

/// Runs `$body` with `$A` bound to the AES type of `$size`.
macro_rules! with_aes {
    ($size:expr, $A:ident => $body:expr) => {
        match $size {
            AesKeySize::Aes128 => {
                type $A = aes::Aes128;
                $body
            }
            AesKeySize::Aes192 => {
                type $A = aes::Aes192;
                $body
            }
            AesKeySize::Aes256 => {
                type $A = aes::Aes256;
                $body
            }
        }
    };
}

/// Runs `$body` with `$M` bound to the HMAC type of `$alg`.
macro_rules! with_hmac {
    ($alg:expr, $M:ident => $body:expr) => {
        match $alg {
            HmacAlgorithm::HmacSha256 => {
                type $M = Hmac<Sha256>;
                $body
            }
            HmacAlgorithm::HmacSha384 => {
                type $M = Hmac<Sha384>;
                $body
            }
            HmacAlgorithm::HmacSha512 => {
                type $M = Hmac<Sha512>;
                $body
            }
        }
    };
}

const KEY_LEN_OK: &str = "subkey lengths match the algorithm";

fn compute_context_header(alg: Algorithm) -> Box<[u8]> {
    let empty = kdf::prf(&[]);
    let mut keys = Zeroizing::new([0u8; 96]);
    let mut h = Vec::with_capacity(18 + 16 + 64);
    match alg {
        Algorithm::Cbc { aes, hmac } => {
            let (e, d) = (aes.bytes(), hmac.digest_len());
            kdf::derive(&empty, Label::Raw(&[]), &[], &[], &mut keys[..e + d]);
            let (k_e, k_h) = keys[..e + d].split_at(e);
            h.extend_from_slice(&[0, 0]);
            for v in [e, AES_BLOCK, d, d] {
                h.extend_from_slice(&(v as u32).to_be_bytes());
            }
            let mut block = [0u8; AES_BLOCK];
            with_aes!(aes, A => {
                cbc::Encryptor::<A>::new_from_slices(k_e, &[0u8; AES_BLOCK])
                    .expect(KEY_LEN_OK)
                    .encrypt_padded::<Pkcs7>(&mut block, 0)
                    .expect("one block holds the padding of an empty message");
            });
            h.extend_from_slice(&block);
            with_hmac!(hmac, M => {
                let mac = <M as hmac::KeyInit>::new_from_slice(k_h).expect(KEY_LEN_OK);
                h.extend_from_slice(&mac.finalize().into_bytes());
            });
        }
        Algorithm::Gcm { aes } => {
            let e = aes.bytes();
            kdf::derive(&empty, Label::Raw(&[]), &[], &[], &mut keys[..e]);
            h.extend_from_slice(&[0, 1]);
            for v in [e, GCM_NONCE, AES_BLOCK, GCM_TAG] {
                h.extend_from_slice(&(v as u32).to_be_bytes());
            }
            with_aes!(aes, A => {
                let gcm = <AesGcm<A, U12> as KeyInit>::new_from_slice(&keys[..e]).expect(KEY_LEN_OK);
                let tag = gcm
                    .encrypt_inout_detached(&Nonce::<U12>::default(), &[], (&mut [][..]).into())
                    .expect("an empty message is within GCM's limits");
                h.extend_from_slice(&tag);
            });
        }
    }
    h.into_boxed_slice()
}

/// A usable key: its algorithm, the PRF keyed with its master key, and the context header.
pub(crate) struct KeyCrypto {
    pub(crate) alg: Algorithm,
    prf: Prf,
    header: &'static [u8],
}

impl std::fmt::Debug for KeyCrypto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyCrypto")
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl KeyCrypto {
    pub(crate) fn new(alg: Algorithm, master_key: &[u8]) -> Self {
        KeyCrypto {
            alg,
            prf: kdf::prf(master_key),
            header: alg.context_header(),
        }
    }

    /// Derives the first `len` bytes of the payload's subkeys (encryption, then validation)
    /// into `keys`, which the caller wipes.
    fn subkeys<'k>(
        &self,
        label: Label<'_>,
        key_modifier: &[u8],
        keys: &'k mut [u8; 96],
        len: usize,
    ) -> &'k [u8] {
        kdf::derive(
            &self.prf,
            label,
            self.header,
            key_modifier,
            &mut keys[..len],
        );
        &keys[..len]
    }

    /// Appends `key_modifier || iv || ciphertext || tag` to `out`. `iv` must be
    /// [`Algorithm::iv_len`] bytes. The plaintext is copied into `out` and encrypted there;
    /// `out` never reallocates once it holds plaintext.
    pub(crate) fn encrypt(
        &self,
        label: Label<'_>,
        key_modifier: &[u8; KEY_MODIFIER_LEN],
        iv: &[u8],
        pt: &[u8],
        out: &mut Vec<u8>,
    ) {
        assert_eq!(iv.len(), self.alg.iv_len(), "IV length for {}", self.alg);
        out.reserve(self.alg.body_len(pt.len()));
        let mut keys = Zeroizing::new([0u8; 96]);
        out.extend_from_slice(key_modifier);
        out.extend_from_slice(iv);
        let ct_start = out.len();
        match self.alg {
            Algorithm::Cbc { aes, hmac } => {
                let (e, d) = (aes.bytes(), hmac.digest_len());
                let (k_e, k_h) = self
                    .subkeys(label, key_modifier, &mut keys, e + d)
                    .split_at(e);
                let padded = (pt.len() / AES_BLOCK + 1) * AES_BLOCK;
                out.extend_from_slice(pt);
                out.resize(ct_start + padded, 0);
                with_aes!(aes, A => {
                    cbc::Encryptor::<A>::new_from_slices(k_e, iv)
                        .expect(KEY_LEN_OK)
                        .encrypt_padded::<Pkcs7>(&mut out[ct_start..], pt.len())
                        .expect("the buffer holds the padded message");
                });
                with_hmac!(hmac, M => {
                    let mut mac = <M as hmac::KeyInit>::new_from_slice(k_h).expect(KEY_LEN_OK);
                    mac.update(&out[ct_start - AES_BLOCK..]);
                    out.extend_from_slice(&mac.finalize().into_bytes());
                });
            }
            Algorithm::Gcm { aes } => {
                let e = aes.bytes();
                let k = self.subkeys(label, key_modifier, &mut keys, e);
                out.extend_from_slice(pt);
                let nonce = Nonce::<U12>::try_from(iv).expect("12-byte nonce");
                with_aes!(aes, A => {
                    let gcm = <AesGcm<A, U12> as KeyInit>::new_from_slice(k).expect(KEY_LEN_OK);
                    let tag = gcm
                        .encrypt_inout_detached(&nonce, &[], (&mut out[ct_start..]).into())
                        .expect("payload sizes are far below GCM's limit");
                    out.extend_from_slice(&tag);
                });
            }
        }
    }

    /// Authenticates and decrypts `body` (`key_modifier || iv || ciphertext || tag`) in place
    /// and returns where the plaintext now lies within it. Nothing is decrypted unless the MAC
    /// or tag is valid.
    pub(crate) fn decrypt_in_place(
        &self,
        label: Label<'_>,
        body: &mut [u8],
    ) -> Result<Range<usize>, Error> {
        let mut keys = Zeroizing::new([0u8; 96]);
        match self.alg {
            Algorithm::Cbc { aes, hmac } => {
                let (e, d) = (aes.bytes(), hmac.digest_len());
                let ct_start = KEY_MODIFIER_LEN + AES_BLOCK;
                if body.len() < ct_start + AES_BLOCK + d {
                    return Err(INVALID);
                }
                let ct_end = body.len() - d;
                if (ct_end - ct_start) % AES_BLOCK != 0 {
                    return Err(INVALID);
                }
                let key_modifier = &body[..KEY_MODIFIER_LEN];
                let (k_e, k_h) = self
                    .subkeys(label, key_modifier, &mut keys, e + d)
                    .split_at(e);
                let ok = with_hmac!(hmac, M => {
                    let mut mac = <M as hmac::KeyInit>::new_from_slice(k_h).expect(KEY_LEN_OK);
                    mac.update(&body[KEY_MODIFIER_LEN..ct_end]);
                    mac.finalize().into_bytes().as_slice().ct_eq(&body[ct_end..])
                });
                if !bool::from(ok) {
                    return Err(INVALID);
                }
                let (head, rest) = body.split_at_mut(ct_start);
                let iv = &head[KEY_MODIFIER_LEN..];
                let n = with_aes!(aes, A => {
                    cbc::Decryptor::<A>::new_from_slices(k_e, iv)
                        .expect(KEY_LEN_OK)
                        .decrypt_padded::<Pkcs7>(&mut rest[..ct_end - ct_start])
                        .map_err(|_| INVALID)?
                        .len()
                });
                Ok(ct_start..ct_start + n)
            }
            Algorithm::Gcm { aes } => {
                let e = aes.bytes();
                let ct_start = KEY_MODIFIER_LEN + GCM_NONCE;
                if body.len() < ct_start + GCM_TAG {
                    return Err(INVALID);
                }
                let ct_end = body.len() - GCM_TAG;
                let k = self.subkeys(label, &body[..KEY_MODIFIER_LEN], &mut keys, e);
                let nonce = Nonce::<U12>::try_from(&body[KEY_MODIFIER_LEN..ct_start])
                    .expect("12-byte nonce");
                let tag = Tag::<aes_gcm::aead::consts::U16>::try_from(&body[ct_end..])
                    .expect("16-byte tag");
                with_aes!(aes, A => {
                    let gcm = <AesGcm<A, U12> as KeyInit>::new_from_slice(k).expect(KEY_LEN_OK);
                    gcm.decrypt_inout_detached(&nonce, &[], (&mut body[ct_start..ct_end]).into(), &tag)
                        .map_err(|_| INVALID)?;
                });
                Ok(ct_start..ct_end)
            }
        }
    }
}
