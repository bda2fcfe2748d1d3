//! `protector.Unprotect(byte[])`: binary payloads (magic, key id, body) unprotected with one
//! ring per algorithm family (AES-CBC + HMAC-SHA256/384/512, AES-GCM), through the core and
//! `reftoken_unprotect_bytes`. The first byte picks the ring and the purpose chain. A payload
//! that authenticates must also re-protect and unprotect to the same plaintext.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reftoken::Error;
use reftoken_ffi::{self as ffi, reftoken_status};
use reftoken_fuzz::{c_strs, is_known_status, rings};

const CHAINS: [&[&str]; 3] = [&["PersistentGrantSerializer"], &["p"], &[]];

fuzz_target!(|data: &[u8]| {
    let Some((&sel, payload)) = data.split_first() else {
        return;
    };
    let rings = rings();
    let ring = &rings[sel as usize % rings.len()];
    let purposes = CHAINS[(sel as usize / rings.len()) % CHAINS.len()];
    let r = ring.unprotect(purposes, payload);
    match &r {
        Ok(pt) => {
            let again = ring.protect(purposes, pt, reftoken_fuzz::now()).unwrap();
            assert_eq!(&*ring.unprotect(purposes, &again).unwrap(), &**pt);
        }
        Err(e) => assert!(
            matches!(
                e,
                Error::Decrypt(_) | Error::UnknownKey(_) | Error::TooLarge { .. }
            ),
            "{e}"
        ),
    }
    // The C entry point, with the fixture ring (the ring of `sel` is not reachable from C
    // without building it again): compare its status with the core's for that ring.
    let fixture = reftoken_fuzz::fixture_ring();
    let expect = fixture.unprotect(purposes, payload);
    let c_purposes = c_strs(purposes);
    // A capacity from the input: too small, exact or roomy.
    let cap = (sel as usize * 7) % (payload.len() + 2);
    let mut out = vec![0xA5u8; cap];
    let mut len = 0usize;
    let st = unsafe {
        ffi::reftoken_unprotect_bytes(
            reftoken_fuzz::fixture_c_ring(),
            c_purposes.as_ptr(),
            c_purposes.len(),
            payload.as_ptr(),
            payload.len(),
            if cap == 0 {
                std::ptr::null_mut()
            } else {
                out.as_mut_ptr()
            },
            cap,
            &mut len,
        )
    };
    assert!(is_known_status(st));
    match expect {
        Ok(pt) if pt.len() <= cap => {
            assert_eq!(st, reftoken_status::REFTOKEN_OK);
            assert_eq!(&out[..len], &pt[..]);
        }
        Ok(pt) => {
            assert_eq!(st, reftoken_status::REFTOKEN_BUFFER_TOO_SMALL);
            assert_eq!(len, pt.len());
            assert!(out.iter().all(|&b| b == 0xA5), "written although too small");
        }
        Err(e) => assert_eq!(st, reftoken_status::from(&e)),
    }
});
