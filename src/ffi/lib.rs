//! The C ABI. Thin by design: each entry point checks and converts its arguments with the
//! helpers here, calls the core, and maps the result to a [`reftoken_status`]. Every body
//! runs inside [`ffi_boundary`], so no panic ever unwinds into C, and returns an
//! [`FfiResult`]: the argument helpers, [`write_out`] and the core's errors all meet in
//! `Result<_, reftoken_status>`, so a body is straight-line code with `?`.
//!
//! Conventions (see the header for the full text): text in as `(const char *ptr, size_t len)`
//! UTF-8 without a NUL; text out into `(char *out, size_t out_cap, size_t *out_len)`: on
//! success `*out_len` bytes are written, followed by a NUL when `out_cap > *out_len`; when the
//! buffer is too small nothing is written, `*out_len` is the length needed and the status is
//! `REFTOKEN_BUFFER_TOO_SMALL`.

#![allow(clippy::missing_safety_doc, non_camel_case_types)]

use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind};

use reftoken::Error;

mod args;
mod core_fns;
mod endpoint_fns;
mod grant_fns;
mod keyring_fns;
mod revocation_fns;
mod validator_fns;

pub(crate) use args::*;
pub use core_fns::*;
pub use endpoint_fns::*;
pub use grant_fns::*;
#[allow(unused_imports)]
pub use keyring_fns::*;
pub use revocation_fns::*;
pub use validator_fns::*;

/// The version of the C ABI this header describes. It changes when a function's signature
/// or meaning changes or a struct's layout changes (bindings refuse to load another version);
/// additions that keep every existing call valid do not change it.
pub const REFTOKEN_ABI_VERSION: u32 = 1;

/// Status codes returned by every fallible function. `REFTOKEN_OK` is zero; the other codes
/// are grouped by kind and never renumbered.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum reftoken_status {
    /// Success.
    REFTOKEN_OK = 0,
    // 1..=9: the caller's arguments.
    /// A required pointer argument was NULL.
    REFTOKEN_NULL_ARGUMENT = 1,
    /// A text argument was not valid UTF-8.
    REFTOKEN_INVALID_UTF8 = 2,
    /// The output buffer is too small; `*out_len` holds the length needed.
    REFTOKEN_BUFFER_TOO_SMALL = 3,
    /// An argument is outside the accepted range (for example a zero length).
    REFTOKEN_INVALID_ARGUMENT = 4,
    /// An input is larger than the documented limit.
    REFTOKEN_INPUT_TOO_LARGE = 5,
    // 10..=19: the data.
    /// Input is not well-formed (JSON, base64, XML, date).
    REFTOKEN_MALFORMED_INPUT = 10,
    /// The grant's `Data` is protected with ASP.NET Core Data Protection and no key ring was
    /// supplied to read it.
    REFTOKEN_DATA_PROTECTED = 11,
    /// The persisted-grant container has a version this library does not know.
    REFTOKEN_UNSUPPORTED_VERSION = 12,
    /// The requested value is absent (a grant without that field, a handle not in the store).
    REFTOKEN_NOT_FOUND = 13,
    // 20..=29: cryptography.
    /// Decryption or authentication failed: tampered, truncated or foreign payload, wrong purpose.
    REFTOKEN_CRYPTO_FAILURE = 20,
    /// The payload names a key that is not in the key ring.
    REFTOKEN_UNKNOWN_KEY = 21,
    /// The payload's key has been revoked.
    REFTOKEN_KEY_REVOKED = 22,
    /// A key's master key is encrypted at rest with a protector this library cannot use.
    REFTOKEN_UNSUPPORTED_PROTECTOR = 23,
    // 30..=39: the system.
    /// The operating system's random number generator failed.
    REFTOKEN_RNG_FAILURE = 30,
    /// Reading a file or directory failed.
    REFTOKEN_IO_ERROR = 31,
    // 100: bugs.
    /// The library panicked; this is a bug, please report it with the last-error message.
    REFTOKEN_INTERNAL_PANIC = 100,
}

use reftoken_status::*;

/// The one list of statuses: it gives [`reftoken_status::ALL`], `from_code` and the names of
/// `reftoken_status_str` (from the identifiers, so they cannot drift), and its `match` is
/// exhaustive, so a variant added to the enum and not here does not compile.
macro_rules! status_table {
    ($($variant:ident),+ $(,)?) => {
        impl reftoken_status {
            /// Every status, in declaration order.
            pub const ALL: [reftoken_status; [$(stringify!($variant)),+].len()] = [$($variant),+];

            /// The NUL-terminated name of the status, as in the header.
            pub const fn name(self) -> &'static std::ffi::CStr {
                match self {
                    $($variant => match std::ffi::CStr::from_bytes_with_nul(
                        concat!(stringify!($variant), "\0").as_bytes(),
                    ) {
                        Ok(name) => name,
                        Err(_) => panic!("a status name holds a NUL"),
                    },)+
                }
            }
        }
    };
}

status_table!(
    REFTOKEN_OK,
    REFTOKEN_NULL_ARGUMENT,
    REFTOKEN_INVALID_UTF8,
    REFTOKEN_BUFFER_TOO_SMALL,
    REFTOKEN_INVALID_ARGUMENT,
    REFTOKEN_INPUT_TOO_LARGE,
    REFTOKEN_MALFORMED_INPUT,
    REFTOKEN_DATA_PROTECTED,
    REFTOKEN_UNSUPPORTED_VERSION,
    REFTOKEN_NOT_FOUND,
    REFTOKEN_CRYPTO_FAILURE,
    REFTOKEN_UNKNOWN_KEY,
    REFTOKEN_KEY_REVOKED,
    REFTOKEN_UNSUPPORTED_PROTECTOR,
    REFTOKEN_RNG_FAILURE,
    REFTOKEN_IO_ERROR,
    REFTOKEN_INTERNAL_PANIC,
);

impl reftoken_status {
    /// The status with this number, if there is one.
    pub fn from_code(code: u32) -> Option<Self> {
        Self::ALL.into_iter().find(|s| *s as u32 == code)
    }
}

impl From<&Error> for reftoken_status {
    fn from(e: &Error) -> Self {
        match e {
            Error::InvalidArgument(_) => REFTOKEN_INVALID_ARGUMENT,
            Error::TooLarge { .. } => REFTOKEN_INPUT_TOO_LARGE,
            Error::Malformed { .. } => REFTOKEN_MALFORMED_INPUT,
            Error::DataProtected => REFTOKEN_DATA_PROTECTED,
            Error::UnsupportedVersion(_) => REFTOKEN_UNSUPPORTED_VERSION,
            Error::Decrypt(_) => REFTOKEN_CRYPTO_FAILURE,
            Error::UnknownKey(_) | Error::NoActiveKey => REFTOKEN_UNKNOWN_KEY,
            Error::KeyRevoked(_) => REFTOKEN_KEY_REVOKED,
            Error::UnsupportedProtector(_) => REFTOKEN_UNSUPPORTED_PROTECTOR,
            Error::Io { .. } | Error::Network { .. } => REFTOKEN_IO_ERROR,
            Error::Rng(_) => REFTOKEN_RNG_FAILURE,
            Error::Lookup(code) => reftoken_status::from_code(*code).unwrap_or(REFTOKEN_IO_ERROR),
        }
    }
}

thread_local! {
    pub(crate) static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
}

pub(crate) fn set_last_error(msg: impl Into<String>) {
    let msg = msg.into();
    LAST_ERROR.with(|e| *e.borrow_mut() = msg);
}

/// What an entry point's body gives back: `Ok`, or the status it failed with, whose message
/// is already this thread's last error. `?` works on everything a body calls: the argument
/// helpers and [`write_out`] return this, and a core `Result<_, Error>` converts through
/// `From<Error>` (which records the error's message, as [`fail`] does).
pub(crate) type FfiResult<T = ()> = Result<T, reftoken_status>;

impl From<Error> for reftoken_status {
    fn from(e: Error) -> Self {
        fail(e)
    }
}

/// Records `e` as this thread's last error and returns its status.
pub(crate) fn fail(e: Error) -> reftoken_status {
    set_last_error(e.to_string());
    reftoken_status::from(&e)
}

/// Records a status with a message.
pub(crate) fn fail_with(status: reftoken_status, msg: impl Into<String>) -> reftoken_status {
    set_last_error(msg);
    status
}

/// What an entry point returns when it panics, decided by its return type.
pub(crate) trait PanicDefault {
    fn on_panic() -> Self;
}

impl PanicDefault for reftoken_status {
    fn on_panic() -> Self {
        REFTOKEN_INTERNAL_PANIC
    }
}

impl PanicDefault for () {
    fn on_panic() -> Self {}
}

impl PanicDefault for i64 {
    fn on_panic() -> Self {
        0
    }
}

impl PanicDefault for usize {
    fn on_panic() -> Self {
        0
    }
}

impl PanicDefault for bool {
    fn on_panic() -> Self {
        false
    }
}

/// What a body returns, and what the C function then returns. A fallible body returns
/// [`FfiResult`] (the C function a `reftoken_status`); the few that cannot fail return their
/// C value directly (a count, a flag, nothing). A status is deliberately not a body result,
/// so that every fallible body is written one way, with `?`.
pub(crate) trait BodyResult {
    type C: PanicDefault;
    fn into_c(self) -> Self::C;
}

impl BodyResult for FfiResult {
    type C = reftoken_status;
    fn into_c(self) -> reftoken_status {
        match self {
            Ok(()) => REFTOKEN_OK,
            Err(status) => status,
        }
    }
}

macro_rules! infallible_body {
    ($($t:ty),*) => {
        $(impl BodyResult for $t {
            type C = $t;
            fn into_c(self) -> $t {
                self
            }
        })*
    };
}
infallible_body!((), i64, usize, bool);

/// Runs an entry point's body; a panic becomes the return type's [`PanicDefault`] and the
/// thread's last error. Every exported function goes through this.
pub(crate) fn ffi_boundary<R: BodyResult>(name: &'static str, body: impl FnOnce() -> R) -> R::C {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(v) => v.into_c(),
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            set_last_error(format!("internal error in {name}: {what}"));
            R::C::on_panic()
        }
    }
}

/// Implemented by the Rust type behind each opaque C handle, so that handles are created and
/// freed through one pair of functions and a `Box` is never mistaken for another type.
pub(crate) trait Opaque: Sized {
    /// The zero-sized C-visible type.
    type C;

    fn into_c(self) -> *mut Self::C {
        Box::into_raw(Box::new(self)).cast()
    }

    /// # Safety
    /// `p` must be NULL or come from [`Opaque::into_c`] of this type and not be freed.
    unsafe fn borrow_c<'a>(p: *const Self::C) -> Option<&'a Self> {
        // SAFETY: per the contract, a non-null `p` is a live `Box<Self>`.
        unsafe { p.cast::<Self>().as_ref() }
    }

    /// The one mutable borrow of an opaque handle.
    ///
    /// # Safety
    /// As [`Opaque::borrow_c`], and the caller holds the object exclusively for `'a` (the C
    /// contract of the functions that change an object: not used from another thread during
    /// the call).
    unsafe fn borrow_c_mut<'a>(p: *mut Self::C) -> Option<&'a mut Self> {
        // SAFETY: per the contract, a non-null `p` is a live `Box<Self>` borrowed by no one else.
        unsafe { p.cast::<Self>().as_mut() }
    }

    /// # Safety
    /// As [`Opaque::borrow_c`]; `p` must not be used afterwards.
    unsafe fn free(p: *mut Self::C) {
        if !p.is_null() {
            // SAFETY: per the contract, `p` came from `Box::into_raw` of this type.
            drop(unsafe { Box::from_raw(p.cast::<Self>()) });
        }
    }
}

/// Borrows an opaque handle, or `Err(REFTOKEN_NULL_ARGUMENT)` out of the enclosing body.
macro_rules! try_ref {
    ($ty:ty, $p:ident) => {
        unsafe { <$ty as $crate::Opaque>::borrow_c($p) }.ok_or_else(|| {
            $crate::fail_with(
                $crate::reftoken_status::REFTOKEN_NULL_ARGUMENT,
                concat!("argument `", stringify!($p), "` is NULL"),
            )
        })?
    };
}
pub(crate) use try_ref;

/// Largest `Data` column accepted, in bytes.
pub const REFTOKEN_MAX_DATA_LEN: usize = 1_048_576;
/// Largest handle accepted, in bytes.
pub const REFTOKEN_MAX_HANDLE_LEN: usize = 4096;
/// Largest grant type accepted, in bytes.
pub const REFTOKEN_MAX_GRANT_TYPE_LEN: usize = 256;
/// Most claims a token may carry.
pub const REFTOKEN_MAX_CLAIMS: usize = 10_000;
/// Largest `length` for `reftoken_random_hex`.
pub const REFTOKEN_MAX_RANDOM_BYTES: usize = 65_536;
/// Length of a handle from `reftoken_handle_new`, without the NUL.
pub const REFTOKEN_HANDLE_LEN: usize = 66;
/// Length of the longest store key, without the NUL.
pub const REFTOKEN_MAX_KEY_LEN: usize = 64;

// The header's copies of the limits must agree with the core's.
const _: () = {
    assert!(REFTOKEN_MAX_DATA_LEN == reftoken::limits::MAX_DATA_LEN);
    assert!(REFTOKEN_MAX_HANDLE_LEN == reftoken::limits::MAX_HANDLE_LEN);
    assert!(REFTOKEN_MAX_GRANT_TYPE_LEN == reftoken::limits::MAX_GRANT_TYPE_LEN);
    assert!(REFTOKEN_MAX_CLAIMS == reftoken::limits::MAX_CLAIMS);
    assert!(REFTOKEN_MAX_RANDOM_BYTES == reftoken::limits::MAX_RANDOM_BYTES);
    assert!(REFTOKEN_HANDLE_LEN == reftoken::handle::HANDLE_LEN);
    assert!(REFTOKEN_MAX_KEY_LEN == reftoken::key::MAX_KEY_LEN);
};
