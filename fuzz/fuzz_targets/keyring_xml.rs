//! Key-ring XML as a database, a cache or a key directory holds it: the input is split into
//! elements at 0xFF bytes and loaded with `KeyRing::from_xml` and `reftoken_keyring_new_from_xml`.
//! A ring that loads answers every query; when it has a default key, protect and unprotect
//! round-trip with it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reftoken::dataprotection::KeyRing;
use reftoken::instant::Instant;
use reftoken_ffi::{self as ffi, reftoken_status};
use reftoken_fuzz::{all_utf8, c_strs, is_known_status};

fuzz_target!(|data: &[u8]| {
    let raw: Vec<&[u8]> = data.split(|&b| b == 0xFF).take(8).collect();
    let c_elements = c_strs(&raw);
    let mut c_ring = std::ptr::null_mut();
    let st = unsafe {
        ffi::reftoken_keyring_new_from_xml(
            c_elements.as_ptr(),
            c_elements.len(),
            b"app".as_ptr().cast(),
            3,
            &mut c_ring,
        )
    };
    assert!(is_known_status(st));
    assert_eq!(st == reftoken_status::REFTOKEN_OK, !c_ring.is_null());

    let Some(elements) = all_utf8(&raw) else {
        assert_eq!(st, reftoken_status::REFTOKEN_INVALID_UTF8);
        return;
    };
    let ring = KeyRing::from_xml(&elements);
    assert_eq!(ring.is_ok(), st == reftoken_status::REFTOKEN_OK);
    let Ok(ring) = ring else { return };
    let ring = ring.with_application_name(Some("app"));
    let keys: Vec<_> = ring.keys().collect();
    let _ = ring.skipped();
    for k in &keys {
        // Every loaded key is queryable at its own dates, and the default key is a ring key.
        for t in [
            k.creation,
            k.activation,
            k.expiration,
            Instant(k.activation.0.saturating_add(1)),
        ] {
            if let Some(id) = ring.default_key_id(t) {
                assert!(keys.iter().any(|k| k.id == id));
                let p = ring
                    .protect(&["p"], b"plaintext", t)
                    .expect("protect with the default key");
                assert_eq!(
                    &*ring.unprotect(&["p"], &p).expect("unprotect"),
                    b"plaintext"
                );
                let mut out = [0u8; 37];
                let mut len = 0;
                let st = unsafe {
                    ffi::reftoken_keyring_default_key_id(
                        c_ring,
                        t.unix_seconds(),
                        out.as_mut_ptr().cast(),
                        out.len(),
                        &mut len,
                    )
                };
                assert!(is_known_status(st));
            }
        }
    }
    unsafe { ffi::reftoken_keyring_free(c_ring) };
});
