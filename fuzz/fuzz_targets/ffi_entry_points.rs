//! The remaining C entry points that take bytes from outside, driven with any bytes and any
//! output capacity: `reftoken_random_hex`, `reftoken_secret_hash`,
//! `reftoken_reference_token_key`, `reftoken_grant_set_confirmation` + `reftoken_grant_field`,
//! the validator with a lookup callback that returns the input as the stored row
//! (`reftoken_row_set`, `reftoken_validator_introspect`, `_validate`), `reftoken_protect` +
//! `reftoken_unprotect`, `reftoken_status_str` and `reftoken_last_error`. Every call obeys the
//! buffer convention: on success `*out_len` bytes and a NUL when there is room; when too small
//! nothing written and `*out_len` the length needed.
#![no_main]

use std::ffi::{c_char, c_void};

use libfuzzer_sys::fuzz_target;
use reftoken_ffi::{
    self as ffi, reftoken_caller, reftoken_row, reftoken_status, reftoken_str, reftoken_verdict,
};
use reftoken_fuzz::{fixture_c_ring, is_known_status, split_parts};

const CANARY: u8 = 0xA5;

/// Calls `f(out, cap, &mut len)` with a canary-filled buffer of `cap` bytes and checks the
/// buffer convention; returns the status and the text written.
fn call_out(
    cap: usize,
    f: impl FnOnce(*mut c_char, usize, *mut usize) -> reftoken_status,
) -> (reftoken_status, Vec<u8>) {
    let mut buf = vec![CANARY; cap + 1];
    let mut len = usize::MAX;
    let st = f(
        if cap == 0 {
            std::ptr::null_mut()
        } else {
            buf.as_mut_ptr().cast()
        },
        cap,
        &mut len,
    );
    assert!(is_known_status(st));
    assert_eq!(buf[cap], CANARY, "wrote past out_cap");
    match st {
        reftoken_status::REFTOKEN_OK => {
            assert!(len <= cap);
            if len < cap {
                assert_eq!(buf[len], 0, "no NUL although there is room");
            }
            (st, buf[..len].to_vec())
        }
        reftoken_status::REFTOKEN_BUFFER_TOO_SMALL => {
            assert!(
                len > cap || (cap == 0 && len > 0),
                "too small but needs {len} <= {cap}"
            );
            assert!(
                buf.iter().all(|&b| b == CANARY),
                "written although too small"
            );
            (st, Vec::new())
        }
        _ => (st, Vec::new()),
    }
}

struct Row<'a> {
    grant_type: &'a [u8],
    data: &'a [u8],
    status: reftoken_status,
}

unsafe extern "C" fn lookup(
    ctx: *mut c_void,
    key: *const c_char,
    key_len: usize,
    row: *mut reftoken_row,
) -> reftoken_status {
    let r = unsafe { &*(ctx as *const Row<'_>) };
    let key = unsafe { std::slice::from_raw_parts(key.cast::<u8>(), key_len) };
    assert!(key.len() == 64 || key.len() == 44, "store key {key:?}");
    let st = unsafe {
        ffi::reftoken_row_set(
            row,
            r.grant_type.as_ptr().cast(),
            r.grant_type.len(),
            r.data.as_ptr().cast(),
            r.data.len(),
        )
    };
    assert!(is_known_status(st));
    if st != reftoken_status::REFTOKEN_OK {
        st
    } else {
        r.status
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let cap = rest.first().map_or(0, |&b| b as usize);
    let text = rest.get(1..).unwrap_or_default();
    let p = text.as_ptr().cast::<c_char>();
    match sel % 8 {
        0 => {
            let length = u16::from_le_bytes([
                rest.first().copied().unwrap_or(0),
                rest.get(1).copied().unwrap_or(0),
            ]) as usize
                % 300;
            let (st, out) = call_out(cap * 2, |o, c, l| unsafe {
                ffi::reftoken_random_hex(length, o, c, l)
            });
            if st == reftoken_status::REFTOKEN_OK {
                assert_eq!(out.len(), 2 * length);
                assert!(
                    out.iter()
                        .all(|c| c.is_ascii_digit() || (b'A'..=b'F').contains(c))
                );
            }
        }
        1 => {
            let alg = u32::from(sel >> 3) % 4;
            call_out(cap, |o, c, l| unsafe {
                ffi::reftoken_secret_hash(p, text.len(), alg, o, c, l)
            });
        }
        2 => {
            let (st, out) = call_out(cap % 80, |o, c, l| unsafe {
                ffi::reftoken_reference_token_key(p, text.len(), o, c, l)
            });
            if st == reftoken_status::REFTOKEN_OK {
                assert!(out.len() == 64 || out.len() == 44);
            }
        }
        3 => unsafe {
            let mut g = std::ptr::null_mut();
            assert_eq!(
                ffi::reftoken_grant_new(
                    b"c".as_ptr().cast(),
                    1,
                    b"i".as_ptr().cast(),
                    1,
                    0,
                    60,
                    &mut g
                ),
                reftoken_status::REFTOKEN_OK
            );
            let st = ffi::reftoken_grant_set_confirmation(g, p, text.len());
            assert!(is_known_status(st));
            for field in 0..10 {
                call_out(cap, |o, c, l| ffi::reftoken_grant_field(g, field, o, c, l));
            }
            let (st, json) = call_out(4096, |o, c, l| ffi::reftoken_grant_token_json(g, o, c, l));
            assert_eq!(st, reftoken_status::REFTOKEN_OK);
            reftoken_fuzz::assert_json("token json", std::str::from_utf8(&json).unwrap());
            ffi::reftoken_grant_free(g);
        },
        4 | 5 => unsafe {
            let parts = split_parts(text, 3);
            let row = Row {
                grant_type: parts[1],
                data: parts[2],
                status: if sel & 0x80 != 0 {
                    reftoken_status::REFTOKEN_IO_ERROR
                } else {
                    reftoken_status::REFTOKEN_OK
                },
            };
            let mut v = std::ptr::null_mut();
            let ring = if sel % 8 == 5 {
                fixture_c_ring()
            } else {
                std::ptr::null()
            };
            let ttl = if sel & 0x40 != 0 { -1 } else { 60 };
            let st = ffi::reftoken_validator_new(
                Some(lookup),
                &row as *const Row<'_> as *mut c_void,
                ring,
                cap % 4,
                ttl,
                &mut v,
            );
            if ttl < 0 {
                assert_eq!(st, reftoken_status::REFTOKEN_INVALID_ARGUMENT);
                assert!(v.is_null());
                return;
            }
            assert_eq!(st, reftoken_status::REFTOKEN_OK);
            let caller = reftoken_caller {
                kind: 1 + u32::from(sel & 0x20 != 0),
                name: reftoken_str {
                    ptr: b"api1".as_ptr().cast(),
                    len: 4,
                },
                scopes: reftoken_str {
                    ptr: b"api1.read openid".as_ptr().cast(),
                    len: 16,
                },
            };
            let handle = parts[0];
            for _ in 0..2 {
                let (st, out) = call_out(cap * 16, |o, c, l| {
                    ffi::reftoken_validator_introspect(
                        v,
                        handle.as_ptr().cast(),
                        handle.len(),
                        &caller,
                        1_740_830_400,
                        std::ptr::null(),
                        o,
                        c,
                        l,
                    )
                });
                if st == reftoken_status::REFTOKEN_OK {
                    reftoken_fuzz::assert_json("introspect", std::str::from_utf8(&out).unwrap());
                }
                let mut verdict: reftoken_verdict = std::mem::zeroed();
                let mut g = std::ptr::null_mut();
                let st = ffi::reftoken_validator_validate(
                    v,
                    handle.as_ptr().cast(),
                    handle.len(),
                    &caller,
                    1_740_830_400,
                    std::ptr::null(),
                    &mut g,
                    &mut verdict,
                );
                assert!(is_known_status(st));
                if !g.is_null() {
                    assert_eq!(st, reftoken_status::REFTOKEN_OK);
                }
                ffi::reftoken_grant_free(g);
                // The verdict and the kept response in one call, into a buffer of the
                // fuzzed size.
                let mut g = std::ptr::null_mut();
                let (st, out) = call_out(cap, |o, c, l| {
                    ffi::reftoken_validator_check(
                        v,
                        handle.as_ptr().cast(),
                        handle.len(),
                        &caller,
                        1_740_830_400,
                        std::ptr::null(),
                        &mut g,
                        &mut verdict,
                        o,
                        c,
                        l,
                    )
                });
                assert!(is_known_status(st));
                if st == reftoken_status::REFTOKEN_OK {
                    let json = std::str::from_utf8(&out).unwrap();
                    reftoken_fuzz::assert_json("check", json);
                    assert_eq!(verdict.active, json != "{\"active\":false}");
                } else {
                    assert!(g.is_null());
                }
                ffi::reftoken_grant_free(g);
            }
            let _ = ffi::reftoken_validator_cached(v);
            let st = ffi::reftoken_validator_evict(v, handle.as_ptr().cast(), handle.len());
            assert!(is_known_status(st));
            assert_eq!(
                ffi::reftoken_validator_clear(v),
                reftoken_status::REFTOKEN_OK
            );
            ffi::reftoken_validator_free(v);
        },
        6 => unsafe {
            let parts = split_parts(text, 2);
            let purpose = reftoken_str {
                ptr: parts[0].as_ptr().cast(),
                len: parts[0].len(),
            };
            let pt = parts[1];
            let (st, protected) = call_out(cap * 8, |o, c, l| {
                ffi::reftoken_protect(
                    fixture_c_ring(),
                    &purpose,
                    1,
                    pt.as_ptr().cast(),
                    pt.len(),
                    1_796_100_000,
                    o,
                    c,
                    l,
                )
            });
            if st == reftoken_status::REFTOKEN_OK {
                let (st, back) = call_out(protected.len(), |o, c, l| {
                    ffi::reftoken_unprotect(
                        fixture_c_ring(),
                        &purpose,
                        1,
                        protected.as_ptr().cast(),
                        protected.len(),
                        o,
                        c,
                        l,
                    )
                });
                assert_eq!(st, reftoken_status::REFTOKEN_OK);
                assert_eq!(back, pt);
            }
            let (st, protected) = call_out(cap * 8, |o, c, l| {
                ffi::reftoken_protect_bytes(
                    fixture_c_ring(),
                    &purpose,
                    1,
                    pt.as_ptr(),
                    pt.len(),
                    1_796_100_000,
                    o.cast(),
                    c,
                    l,
                )
            });
            if st == reftoken_status::REFTOKEN_OK {
                let (st, back) = call_out(pt.len(), |o, c, l| {
                    ffi::reftoken_unprotect_bytes(
                        fixture_c_ring(),
                        &purpose,
                        1,
                        protected.as_ptr(),
                        protected.len(),
                        o.cast(),
                        c,
                        l,
                    )
                });
                assert_eq!(st, reftoken_status::REFTOKEN_OK);
                assert_eq!(back, pt);
            }
        },
        _ => unsafe {
            let code = u32::from_le_bytes([
                text.first().copied().unwrap_or(0),
                text.get(1).copied().unwrap_or(0),
                0,
                0,
            ]);
            let name = std::ffi::CStr::from_ptr(ffi::reftoken_status_str(code));
            assert!(name.to_bytes().starts_with(b"REFTOKEN_"));
            call_out(cap, |o, c, l| ffi::reftoken_last_error(o, c, l));
        },
    }
});
