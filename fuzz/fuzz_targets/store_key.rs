//! Handles and grant types: `key::store_key` and `reftoken_store_key` against an independent
//! SHA-256 (streaming `sha2`, then hex or base64 as the suffix says), and the handle shape
//! checks (`is_current_handle`, `plausible_handle`, `reftoken_handle_is_wellformed`).
#![no_main]

use base64::Engine;
use libfuzzer_sys::fuzz_target;
use reftoken_ffi::{self as ffi, reftoken_status};
use reftoken::{handle, key, limits, validation};
use reftoken_fuzz::{is_known_status, split_parts};
use sha2::{Digest, Sha256};

fuzz_target!(|data: &[u8]| {
    let parts = split_parts(data, 2);
    let (h, g) = (parts[0], parts[1]);
    let mut out = [0xA5u8; 65];
    let cap = if data.first().is_some_and(|b| b & 1 == 1) {
        65
    } else {
        44
    };
    let mut len = 0;
    let st = unsafe {
        ffi::reftoken_store_key(
            h.as_ptr().cast(),
            h.len(),
            g.as_ptr().cast(),
            g.len(),
            out.as_mut_ptr().cast(),
            cap,
            &mut len,
        )
    };
    assert!(is_known_status(st));
    let wellformed = unsafe { ffi::reftoken_handle_is_wellformed(h.as_ptr().cast(), h.len()) };
    if std::str::from_utf8(h).is_err() {
        assert!(!wellformed);
    }
    // Each argument in turn: its length against its limit before any of its bytes is read.
    for (arg, max) in [(h, limits::MAX_HANDLE_LEN), (g, limits::MAX_GRANT_TYPE_LEN)] {
        if arg.len() > max {
            assert_eq!(st, reftoken_status::REFTOKEN_INPUT_TOO_LARGE);
            return;
        }
        if std::str::from_utf8(arg).is_err() {
            assert_eq!(st, reftoken_status::REFTOKEN_INVALID_UTF8);
            return;
        }
    }
    let (Ok(h), Ok(g)) = (std::str::from_utf8(h), std::str::from_utf8(g)) else {
        assert_eq!(st, reftoken_status::REFTOKEN_INVALID_UTF8);
        return;
    };
    assert_eq!(wellformed, handle::is_current_handle(h));
    if handle::is_current_handle(h) {
        assert!(validation::plausible_handle(h));
    }
    let r = key::store_key(h, g);
    if h.len() > limits::MAX_HANDLE_LEN || g.len() > limits::MAX_GRANT_TYPE_LEN {
        assert!(r.is_err());
        assert_eq!(st, reftoken_status::REFTOKEN_INPUT_TOO_LARGE);
        return;
    }
    let k = r.expect("within the limits");
    let digest = Sha256::new()
        .chain_update(h)
        .chain_update(":")
        .chain_update(g)
        .finalize();
    let expected = if h.ends_with("-1") {
        digest
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<String>()
    } else {
        base64::engine::general_purpose::STANDARD.encode(digest)
    };
    assert_eq!(k.as_str(), expected);
    if expected.len() <= cap {
        assert_eq!(st, reftoken_status::REFTOKEN_OK);
        assert_eq!(&out[..len], expected.as_bytes());
        if cap > len {
            assert_eq!(out[len], 0);
        }
    } else {
        assert_eq!(st, reftoken_status::REFTOKEN_BUFFER_TOO_SMALL);
        assert_eq!(len, expected.len());
        assert!(out.iter().all(|&b| b == 0xA5));
    }
});
