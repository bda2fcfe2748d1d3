//! Shared-secret checks: `verify_secret` and `reftoken_secret_verify` over any presented
//! secret and any stored values (split at 0xFF; the first byte decides expirations). A match
//! at `i` means the stored value is the presented secret's SHA-256 or SHA-512 hash; the C
//! ABI agrees with the core.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reftoken::instant::Instant;
use reftoken::secret::{self, HashAlgorithm, StoredSecret};
use reftoken_ffi::{self as ffi, reftoken_status};
use reftoken_fuzz::{all_utf8, c_strs, is_known_status};

fuzz_target!(|data: &[u8]| {
    let Some((&bits, rest)) = data.split_first() else {
        return;
    };
    let mut parts = rest.split(|&b| b == 0xFF);
    let presented = parts.next().unwrap_or_default();
    let stored_raw: Vec<&[u8]> = parts.take(8).collect();
    let exps: Vec<i64> = (0..stored_raw.len())
        .map(|i| {
            if bits >> (i % 8) & 1 == 1 {
                10
            } else {
                i64::MAX
            }
        })
        .collect();
    let now = 100i64;
    let c_stored = c_strs(&stored_raw);
    let (mut valid, mut index) = (true, usize::MAX);
    let st = unsafe {
        ffi::reftoken_secret_verify(
            presented.as_ptr().cast(),
            presented.len(),
            c_stored.as_ptr(),
            exps.as_ptr(),
            c_stored.len(),
            now,
            &mut valid,
            &mut index,
        )
    };
    assert!(is_known_status(st));
    let Ok(p) = std::str::from_utf8(presented) else {
        return;
    };
    let Some(stored) = all_utf8(&stored_raw) else {
        return;
    };
    let list: Vec<StoredSecret<&str>> = stored
        .iter()
        .zip(&exps)
        .map(|(v, e)| StoredSecret {
            value: *v,
            expiration: (*e != i64::MAX).then(|| Instant::from_unix_seconds(*e)),
        })
        .collect();
    match secret::verify_secret(p, &list, Instant::from_unix_seconds(now)) {
        Ok(Some(i)) => {
            assert_eq!(st, reftoken_status::REFTOKEN_OK);
            assert!(valid && index == i);
            let v = list[i].value;
            assert!(
                v == secret::hash_secret(p, HashAlgorithm::Sha256).as_str()
                    || v == secret::hash_secret(p, HashAlgorithm::Sha512).as_str()
            );
        }
        Ok(None) => {
            assert_eq!(st, reftoken_status::REFTOKEN_OK);
            assert!(!valid && index == list.len());
        }
        Err(e) => {
            assert_eq!(st, reftoken_status::from(&e));
            assert!(!valid);
        }
    }
});
