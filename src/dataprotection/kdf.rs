//! The purpose-chain label (§4) and the NIST SP 800-108 counter-mode KDF with HMAC-SHA512 (§7).

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha512;
use zeroize::Zeroize;

/// `0x09F0C9F0`, big-endian: the magic header of every protected payload (§2).
pub(crate) const MAGIC: [u8; 4] = [0x09, 0xF0, 0xC9, 0xF0];

/// HMAC-SHA512 keyed with a key-derivation key. Cloning it skips re-hashing the key.
pub(crate) type Prf = Hmac<Sha512>;

/// A PRF keyed with `kdk` (any length, including empty).
pub(crate) fn prf(kdk: &[u8]) -> Prf {
    <Prf as KeyInit>::new_from_slice(kdk).expect("HMAC accepts keys of any length")
}

/// Writes `value` as .NET's `BinaryWriter.Write7BitEncodedInt` does (unsigned LEB128) into
/// `out` and returns the number of bytes used (1..=5).
pub(crate) fn leb128(mut value: u32, out: &mut [u8; 5]) -> usize {
    let mut n = 0;
    while value >= 0x80 {
        out[n] = (value as u8) | 0x80;
        value >>= 7;
        n += 1;
    }
    out[n] = value as u8;
    n + 1
}

/// The KDF label. For payloads it is the additional authenticated data of §4, fed to the PRF
/// piece by piece so it is never assembled in memory.
#[derive(Clone, Copy)]
pub(crate) enum Label<'a> {
    /// Literal bytes (known-answer tests, context headers).
    Raw(&'a [u8]),
    /// `MAGIC || key id || BE32(count) || (LEB128(len) || utf8)*` for the chain `[root,] purposes…`.
    Purposes {
        key_id: &'a [u8; 16],
        root: Option<&'a str>,
        purposes: &'a [&'a str],
    },
}

impl Label<'_> {
    fn feed(&self, mac: &mut Prf) {
        match *self {
            Label::Raw(bytes) => mac.update(bytes),
            Label::Purposes {
                key_id,
                root,
                purposes,
            } => {
                mac.update(&MAGIC);
                mac.update(key_id);
                let count = purposes.len() + usize::from(root.is_some());
                mac.update(&(count as u32).to_be_bytes());
                let mut prefix = [0u8; 5];
                for p in root.iter().chain(purposes.iter()) {
                    let n = leb128(p.len() as u32, &mut prefix);
                    mac.update(&prefix[..n]);
                    mac.update(p.as_bytes());
                }
            }
        }
    }

    /// The label as bytes (tests and diagnostics only).
    #[cfg(test)]
    pub(crate) fn to_vec(self) -> Vec<u8> {
        match self {
            Label::Raw(b) => b.to_vec(),
            Label::Purposes {
                key_id,
                root,
                purposes,
            } => {
                let mut v = MAGIC.to_vec();
                v.extend_from_slice(key_id);
                let count = purposes.len() + usize::from(root.is_some());
                v.extend_from_slice(&(count as u32).to_be_bytes());
                let mut prefix = [0u8; 5];
                for p in root.iter().chain(purposes.iter()) {
                    let n = leb128(p.len() as u32, &mut prefix);
                    v.extend_from_slice(&prefix[..n]);
                    v.extend_from_slice(p.as_bytes());
                }
                v
            }
        }
    }
}

/// SP 800-108 counter mode, PRF = HMAC-SHA512 keyed with the KDK (`prf`):
/// `out = first |out| bytes of HMAC(i_BE32 || label || 0x00 || header || context || L_BE32), i = 1, 2, …`
/// where `L` is `|out|` in bits. `out` may be at most 2^29 - 1 bytes (always far less here).
pub(crate) fn derive(prf: &Prf, label: Label<'_>, header: &[u8], context: &[u8], out: &mut [u8]) {
    let bits = ((out.len() as u64) * 8) as u32;
    for (i, chunk) in out.chunks_mut(64).enumerate() {
        let mut mac = prf.clone();
        mac.update(&(i as u32 + 1).to_be_bytes());
        label.feed(&mut mac);
        mac.update(&[0]);
        mac.update(header);
        mac.update(context);
        mac.update(&bits.to_be_bytes());
        let mut block = mac.finalize().into_bytes();
        chunk.copy_from_slice(&block[..chunk.len()]);
        block.as_mut_slice().zeroize();
    }
}
