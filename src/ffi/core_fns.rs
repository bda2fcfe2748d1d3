//! Status names, error detail, handles and store keys.

use std::ffi::c_char;

use super::reftoken_status::{self, *};
use super::{check_null, ffi_boundary, try_str, write_out};
use reftoken::{handle, key, limits};

/// The ABI version of the loaded library. Bindings compare it with `REFTOKEN_ABI_VERSION`
/// from the header they were built against and refuse to run on a mismatch.
/// Thread-safe; never fails.
#[unsafe(no_mangle)]
pub extern "C" fn reftoken_abi_version() -> u32 {
    super::REFTOKEN_ABI_VERSION
}

/// A static, NUL-terminated name for a status code, such as `"REFTOKEN_BUFFER_TOO_SMALL"`.
/// Unknown codes give `"REFTOKEN_UNKNOWN_STATUS"`. The string must not be freed.
/// Thread-safe; never fails.
#[unsafe(no_mangle)]
pub extern "C" fn reftoken_status_str(status: u32) -> *const c_char {
    match reftoken_status::from_code(status) {
        Some(s) => s.name().as_ptr(),
        None => c"REFTOKEN_UNKNOWN_STATUS".as_ptr(),
    }
}

/// Copies the detail message of the last failure on the calling thread (UTF-8, English)
/// into `out`. The message stays until the next failing call on this thread; successful
/// calls do not clear it. With no failure yet, the message is empty.
///
/// Returns `REFTOKEN_OK`, `REFTOKEN_NULL_ARGUMENT` (`out_len` NULL) or
/// `REFTOKEN_BUFFER_TOO_SMALL` (with `*out_len` set to the length needed).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn reftoken_last_error(
    out: *mut c_char,
    out_cap: usize,
    out_len: *mut usize,
) -> reftoken_status {
    ffi_boundary("reftoken_last_error", || {
        let msg = super::LAST_ERROR.with(|e| e.borrow().clone());
        // SAFETY: caller's buffer contract. Quiet, so that a too-small buffer keeps the
        // message the caller is trying to read.
        unsafe { super::write_out_quiet(msg.as_bytes(), out, out_cap, out_len) }
    })
}

/// `IHandleGenerationService.GenerateAsync(length)`: `length` bytes from a CSPRNG written as
/// `2 * length` uppercase hex characters into `out`.
///
/// The generator is a per-thread ChaCha20 seeded from the operating system, reseeded after
/// 1 MiB of output and in every child process after `fork()`. Thread-safe.
///
/// Returns `REFTOKEN_OK`; `REFTOKEN_NULL_ARGUMENT` (`out_len` NULL);
/// `REFTOKEN_INVALID_ARGUMENT` (`length` 0); `REFTOKEN_INPUT_TOO_LARGE` (`length` over
/// 65536); `REFTOKEN_BUFFER_TOO_SMALL` (`out_cap < 2 * length`; `*out_len` is `2 * length`);
/// `REFTOKEN_RNG_FAILURE`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn reftoken_random_hex(
    length: usize,
    out: *mut c_char,
    out_cap: usize,
    out_len: *mut usize,
) -> reftoken_status {
    ffi_boundary("reftoken_random_hex", || {
        check_null!(out_len);
        if length == 0 {
            return Err(super::fail(reftoken::Error::InvalidArgument(
                "length must be at least 1",
            )));
        }
        if length > reftoken::limits::MAX_RANDOM_BYTES {
            return Err(super::fail(reftoken::Error::TooLarge {
                what: "length",
                len: length,
                max: reftoken::limits::MAX_RANDOM_BYTES,
            }));
        }
        let need = 2 * length;
        // SAFETY: checked non-null.
        unsafe { *out_len = need };
        if out.is_null() || out_cap < need {
            return Err(super::fail_with(
                REFTOKEN_BUFFER_TOO_SMALL,
                format!("the output needs {need} bytes; the buffer holds {out_cap}"),
            ));
        }
        // SAFETY: `out` holds at least `need` bytes (checked above) and is only written.
        let dst = unsafe { std::slice::from_raw_parts_mut(out.cast::<u8>(), out_cap) };
        handle::random_hex_into(&mut dst[..need])?;
        if out_cap > need {
            dst[need] = 0;
        }
        Ok(())
    })
}

/// A new reference-token handle as IdentityServer hands it out: 32 CSPRNG bytes as 64
/// uppercase hex characters followed by `-1` (66 characters; 67 with the NUL).
///
/// Returns `REFTOKEN_OK`; `REFTOKEN_NULL_ARGUMENT` (`out_len` NULL);
/// `REFTOKEN_BUFFER_TOO_SMALL` (`*out_len` is 66); `REFTOKEN_RNG_FAILURE`. Thread-safe and
/// fork-safe.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn reftoken_handle_new(
    out: *mut c_char,
    out_cap: usize,
    out_len: *mut usize,
) -> reftoken_status {
    ffi_boundary("reftoken_handle_new", || {
        check_null!(out_len);
        if out.is_null() || out_cap < handle::HANDLE_LEN {
            // SAFETY: checked non-null.
            unsafe { *out_len = handle::HANDLE_LEN };
            return Err(super::fail_with(
                REFTOKEN_BUFFER_TOO_SMALL,
                format!(
                    "a handle needs {} bytes; the buffer holds {out_cap}",
                    handle::HANDLE_LEN
                ),
            ));
        }
        // SAFETY: `out` holds at least HANDLE_LEN bytes (checked above) and is only written.
        let dst = unsafe { &mut *out.cast::<[u8; handle::HANDLE_LEN]>() };
        handle::new_handle_into(dst)?;
        if out_cap > handle::HANDLE_LEN {
            // SAFETY: within `out_cap`.
            unsafe { *out.add(handle::HANDLE_LEN) = 0 };
        }
        // SAFETY: checked non-null.
        unsafe { *out_len = handle::HANDLE_LEN };
        Ok(())
    })
}

/// The persisted-grant store key of `handle` for `grant_type` (for reference tokens,
/// `"reference_token"`): SHA-256 of `handle ":" grant_type`, as 64 uppercase hex characters
/// when the handle ends with `-1`, else as 44 characters of padded base64 (handles from
/// IdentityServer4 and Duende 5). Allocates nothing.
///
/// `handle` and `grant_type` are UTF-8 and need no NUL; either may be NULL when its length
/// is 0. Returns `REFTOKEN_OK`; `REFTOKEN_NULL_ARGUMENT`; `REFTOKEN_INVALID_UTF8`;
/// `REFTOKEN_INPUT_TOO_LARGE` (handle over 4096 or grant type over 256 bytes, refused from the
/// length alone: nothing is read);
/// `REFTOKEN_BUFFER_TOO_SMALL` (`*out_len` is 64 or 44). Thread-safe.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn reftoken_store_key(
    handle: *const c_char,
    handle_len: usize,
    grant_type: *const c_char,
    grant_type_len: usize,
    out: *mut c_char,
    out_cap: usize,
    out_len: *mut usize,
) -> reftoken_status {
    ffi_boundary("reftoken_store_key", || {
        let h = try_str!(handle, handle_len, max = limits::MAX_HANDLE_LEN, "handle");
        let g = try_str!(
            grant_type,
            grant_type_len,
            max = limits::MAX_GRANT_TYPE_LEN,
            "grant type"
        );
        let k = key::store_key(h, g)?;
        // SAFETY: caller's buffer contract.
        unsafe { write_out(k.as_bytes(), out, out_cap, out_len) }
    })
}

/// Whether `handle` has the shape of a current reference-token handle: 64 hex digits then
/// `-1`. Validators call it to refuse garbage before touching the store. NULL or invalid
/// UTF-8 gives `false`, and so does a length over 66 (without reading the text).
/// Thread-safe; never fails.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn reftoken_handle_is_wellformed(
    handle: *const c_char,
    handle_len: usize,
) -> bool {
    ffi_boundary("reftoken_handle_is_wellformed", || {
        // SAFETY: caller's contract for (ptr, len).
        let limit = const { super::Limit::stand_in(handle::HANDLE_LEN) };
        match unsafe { super::bytes_arg(handle.cast(), handle_len, "handle", limit) } {
            Ok(b) => std::str::from_utf8(b).is_ok_and(handle::is_current_handle),
            Err(_) => false,
        }
    })
}
