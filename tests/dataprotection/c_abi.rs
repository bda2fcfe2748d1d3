//! The C ABI: key rings, protect and unprotect, their statuses and buffers.

use std::ffi::c_char;
use std::ptr::{null, null_mut};

use reftoken::dataprotection::MAX_PURPOSES;
use reftoken_ffi::reftoken_status::*;
use reftoken_ffi::*;

use super::*;
use crate::common::{
    CKeyRing, DpFn, Written, c_dp, c_keyring_from_dir, c_keyring_from_xml, last_error, rs, written,
};

/// `reftoken_unprotect` of the V1 payload with its purpose, into a buffer of 64 bytes.
fn unprotect_v1(ring: &CKeyRing) -> Written {
    let payload = V1_PAYLOAD.as_bytes();
    c_dp(
        DpFn::Unprotect,
        ring.ptr(),
        &[rs("purpose")],
        payload,
        Some(64),
    )
}

/// `reftoken_unprotect` of the V1 payload with NULL purposes, `count` of them.
fn unprotect_v1_without_purposes(ring: &CKeyRing, count: usize) -> reftoken_status {
    let w = written(Some(64), |out, cap, len| unsafe {
        reftoken_unprotect(
            ring.ptr(),
            null(),
            count,
            V1_PAYLOAD.as_ptr().cast(),
            V1_PAYLOAD.len(),
            out.cast(),
            cap,
            len,
        )
    });
    w.status
}

#[test]
fn unprotect_v1_through_the_c_abi() {
    let (ring, st) = c_keyring_from_xml(&[v1_key()], Some("repro-app"));
    assert_eq!(st, REFTOKEN_OK);
    let purposes = [rs("purpose")];
    let v1 = V1_PAYLOAD.as_bytes();
    // Size query: NULL buffer.
    let w = c_dp(DpFn::Unprotect, ring.ptr(), &purposes, v1, None);
    assert_eq!((w.status, w.len), (REFTOKEN_BUFFER_TOO_SMALL, 17));
    let w = c_dp(DpFn::Unprotect, ring.ptr(), &purposes, v1, Some(18));
    assert_eq!((w.status, w.len), (REFTOKEN_OK, 17));
    assert_eq!(&w.buf, b"hello from 10.0.5\0");
    // Failures.
    let bad = V1_PAYLOAD.replace("CfDJ8Hp", "CfDJ8Hq");
    let w = c_dp(
        DpFn::Unprotect,
        ring.ptr(),
        &purposes,
        bad.as_bytes(),
        Some(18),
    );
    assert_eq!(w.status, REFTOKEN_UNKNOWN_KEY, "{}", last_error());
    let mut tampered = V1_PAYLOAD.to_owned().into_bytes();
    tampered[60] = if tampered[60] == b'A' { b'B' } else { b'A' };
    let w = c_dp(DpFn::Unprotect, ring.ptr(), &purposes, &tampered, Some(18));
    assert_eq!(w.status, REFTOKEN_CRYPTO_FAILURE);
    let w = c_dp(DpFn::Unprotect, ring.ptr(), &purposes, b"*", Some(18));
    assert_eq!(w.status, REFTOKEN_MALFORMED_INPUT);
    let w = c_dp(DpFn::Unprotect, null(), &purposes, v1, Some(18));
    assert_eq!(w.status, REFTOKEN_NULL_ARGUMENT);
    assert_eq!(
        unprotect_v1_without_purposes(&ring, 1),
        REFTOKEN_NULL_ARGUMENT
    );
    let invalid = [reftoken_str {
        ptr: b"\xFF".as_ptr().cast::<c_char>(),
        len: 1,
    }];
    let w = c_dp(DpFn::Unprotect, ring.ptr(), &invalid, v1, Some(18));
    assert_eq!(w.status, REFTOKEN_INVALID_UTF8);
    assert!(last_error().contains("purposes[0]"), "{}", last_error());
    let mut buf = [0u8; 18];
    let st = unsafe {
        reftoken_unprotect(
            ring.ptr(),
            purposes.as_ptr(),
            1,
            v1.as_ptr().cast(),
            v1.len(),
            buf.as_mut_ptr().cast(),
            buf.len(),
            null_mut(),
        )
    };
    assert_eq!(st, REFTOKEN_NULL_ARGUMENT);
    let too_many = vec![rs("p"); MAX_PURPOSES + 1];
    let w = c_dp(DpFn::Unprotect, ring.ptr(), &too_many, v1, Some(18));
    assert_eq!(w.status, REFTOKEN_INPUT_TOO_LARGE);
    drop(ring);
    unsafe { reftoken_keyring_free(null_mut()) };
}

#[test]
fn protect_round_trip_through_the_c_abi() {
    let id = "8a1f8e6b-5c98-4e4d-8dbc-6f4a5b7c8d9e";
    let (ring, st) = c_keyring_from_xml(&[active_key(id, 3.0, 80.0)], Some("app"));
    assert_eq!(st, REFTOKEN_OK);
    let now = now().unix_seconds();
    // The default key.
    let default_key = |at: i64| {
        written(Some(37), |out, cap, len| unsafe {
            reftoken_keyring_default_key_id(ring.ptr(), at, out.cast(), cap, len)
        })
    };
    let w = default_key(now);
    assert_eq!((w.status, w.text()), (REFTOKEN_OK, id));
    assert_eq!(default_key(now + 100 * 86_400).status, REFTOKEN_UNKNOWN_KEY);
    let purposes = [rs("PersistentGrantSerializer"), rs("ünï")];
    let dp = |f, input: &[u8], cap| c_dp(f, ring.ptr(), &purposes, input, cap);
    for text in ["", "a", "{\"json\":\"ünïcødé\"}", &"x".repeat(1000)] {
        let plain = text.as_bytes();
        let query = dp(DpFn::Protect(now), plain, None);
        assert_eq!(query.status, REFTOKEN_BUFFER_TOO_SMALL);
        let needed = query.len;
        let w = dp(DpFn::Protect(now), plain, Some(needed - 1));
        assert_eq!((w.status, w.len), (REFTOKEN_BUFFER_TOO_SMALL, needed));
        let w = dp(DpFn::Protect(now), plain, Some(needed));
        assert_eq!((w.status, w.len), (REFTOKEN_OK, needed));
        assert!(w.buf.starts_with(b"CfDJ8"));
        let back = dp(DpFn::Unprotect, &w.buf, Some(plain.len() + 1));
        assert_eq!((back.status, back.bytes()), (REFTOKEN_OK, plain));
        // Binary forms.
        let query = dp(DpFn::ProtectBytes(now), plain, None);
        assert_eq!(query.status, REFTOKEN_BUFFER_TOO_SMALL);
        let needed = query.len;
        let bin = dp(DpFn::ProtectBytes(now), plain, Some(needed));
        assert_eq!((bin.status, bin.len), (REFTOKEN_OK, needed));
        let back = dp(DpFn::UnprotectBytes, &bin.buf, Some(plain.len() + 1));
        assert_eq!((back.status, back.bytes()), (REFTOKEN_OK, plain));
    }
    // Plaintext for the string form must be UTF-8.
    let w = c_dp(
        DpFn::Protect(now),
        ring.ptr(),
        &purposes,
        b"\xFF",
        Some(200),
    );
    assert_eq!(w.status, REFTOKEN_INVALID_UTF8);
    // No default key at that time.
    let w = c_dp(
        DpFn::Protect(now + 100 * 86_400),
        ring.ptr(),
        &purposes,
        b"x",
        Some(200),
    );
    assert_eq!(w.status, REFTOKEN_UNKNOWN_KEY);
}

#[test]
fn keyring_construction_through_the_c_abi() {
    // Not NULL, to see it cleared.
    let mut out = std::ptr::NonNull::<reftoken_keyring>::dangling().as_ptr();
    let dir = "/nonexistent/keys";
    let st = unsafe {
        reftoken_keyring_new_from_dir(dir.as_ptr().cast(), dir.len(), null(), 0, &mut out)
    };
    assert_eq!(st, REFTOKEN_IO_ERROR);
    assert!(out.is_null());
    let st = unsafe { reftoken_keyring_new_from_dir(null(), 3, null(), 0, &mut out) };
    assert_eq!(st, REFTOKEN_NULL_ARGUMENT);
    let st = unsafe {
        reftoken_keyring_new_from_dir(dir.as_ptr().cast(), dir.len(), null(), 0, null_mut())
    };
    assert_eq!(st, REFTOKEN_NULL_ARGUMENT);
    // From a directory, with the app name.
    let tmp = tempdir();
    std::fs::write(tmp.path().join("k.xml"), v1_key()).unwrap();
    let (ring, st) = c_keyring_from_dir(tmp.path(), Some("repro-app"));
    assert_eq!(st, REFTOKEN_OK);
    let w = unprotect_v1(&ring);
    assert_eq!(
        (w.status, w.bytes()),
        (REFTOKEN_OK, &b"hello from 10.0.5"[..])
    );
    drop(ring);
    // An empty ring from no elements; malformed XML.
    let mut empty = null_mut();
    assert_eq!(
        unsafe { reftoken_keyring_new_from_xml(null(), 0, null(), 0, &mut empty) },
        REFTOKEN_OK
    );
    let empty = CKeyRing(empty);
    let w = c_dp(DpFn::Protect(0), empty.ptr(), &[rs("p")], b"x", Some(64));
    assert_eq!(w.status, REFTOKEN_UNKNOWN_KEY);
    // No app name and no purposes.
    assert_eq!(
        unprotect_v1_without_purposes(&empty, 0),
        REFTOKEN_INVALID_ARGUMENT
    );
    drop(empty);
    let mut none = null_mut();
    assert_eq!(
        unsafe { reftoken_keyring_new_from_xml(null(), 1, null(), 0, &mut none) },
        REFTOKEN_NULL_ARGUMENT
    );
    let (r, st) = c_keyring_from_xml(&["<key"], Some(""));
    assert_eq!(st, REFTOKEN_MALFORMED_INPUT);
    assert!(r.is_null());
    let (r, st) = c_keyring_from_xml(&[dpapi_key(V1_ID, now(), now(), now())], Some("repro-app"));
    assert_eq!(st, REFTOKEN_OK);
    let w = unprotect_v1(&r);
    assert_eq!(w.status, REFTOKEN_UNSUPPORTED_PROTECTOR);
    assert!(last_error().contains("DpapiXmlDecryptor"));
}
