//! The argument helpers every entry point uses: text and byte arguments checked against
//! their limits before a byte is read, string arrays, the caller and options of an
//! introspection, NULL checks, and the one way to write into the caller's buffer. Each
//! returns [`FfiResult`], so a body uses them with `?`.

use std::ffi::{c_char, c_void};

use arrayvec::ArrayVec;
use reftoken::Error;
use reftoken::introspection::{Caller, IdentityServerVersion, Options};

use super::reftoken_status::{self, *};
use super::{FfiResult, fail, fail_with, set_last_error};
use crate::grant_fns::{
    REFTOKEN_CALLER_API, REFTOKEN_CALLER_CLIENT, REFTOKEN_DUENDE_5_0, REFTOKEN_DUENDE_6_1,
    REFTOKEN_DUENDE_6_3, REFTOKEN_DUENDE_7_1, REFTOKEN_DUENDE_7_3, REFTOKEN_IDENTITYSERVER_4,
    REFTOKEN_IDENTITYSERVER_LATEST, reftoken_caller, reftoken_options, reftoken_str,
};

/// `Err(REFTOKEN_NULL_ARGUMENT)` out of the enclosing body (through `?`) when a pointer is NULL.
macro_rules! check_null {
    ($($p:ident),+ $(,)?) => {
        $(
            $crate::not_null($p.is_null(), concat!("argument `", stringify!($p), "` is NULL"))?;
        )+
    };
}
pub(crate) use check_null;

/// `Err(REFTOKEN_NULL_ARGUMENT)` with `message` when `is_null`.
pub(crate) fn not_null(is_null: bool, message: &'static str) -> FfiResult {
    if is_null {
        Err(fail_with(REFTOKEN_NULL_ARGUMENT, message))
    } else {
        Ok(())
    }
}

/// Borrows `(ptr, len)` as UTF-8 text; a NULL `ptr` is allowed only with `len == 0`.
///
/// * `try_str!(ptr, len)`: no limit but the size of any object;
/// * `try_str!(ptr, len, max = MAX, "what")`: a length over `MAX` is refused with
///   `REFTOKEN_INPUT_TOO_LARGE` before a byte is read ([`Limit::Refuse`]); `MAX` and `what`
///   are the limit and the name the core checks the value with (`Error::check_len`), so the
///   message is the core's;
/// * `try_str!(ptr, len, stand_in_over = MAX)`: over `MAX` the argument is not read and the
///   core gets a stand-in ([`Limit::StandIn`]).
macro_rules! try_str {
    (@ $ptr:ident, $len:ident, $limit:expr) => {
        unsafe { $crate::str_arg($ptr, $len, stringify!($ptr), $limit) }?
    };
    ($ptr:ident, $len:ident) => {
        $crate::try_str!(@ $ptr, $len, $crate::Limit::Unlimited)
    };
    ($ptr:ident, $len:ident, max = $max:expr, $what:literal) => {
        $crate::try_str!(@ $ptr, $len, $crate::Limit::refuse($what, $max))
    };
    ($ptr:ident, $len:ident, stand_in_over = $max:expr) => {
        $crate::try_str!(@ $ptr, $len, const { $crate::Limit::stand_in($max) })
    };
}
pub(crate) use try_str;

/// Borrows `(ptr, len)` as bytes; a NULL `ptr` is allowed only with `len == 0`. The same forms
/// as [`try_str!`].
#[allow(unused_macros)]
macro_rules! try_bytes {
    (@ $ptr:ident, $len:ident, $limit:expr) => {
        unsafe { $crate::bytes_arg($ptr, $len, stringify!($ptr), $limit) }?
    };
    ($ptr:ident, $len:ident) => {
        $crate::try_bytes!(@ $ptr, $len, $crate::Limit::Unlimited)
    };
    ($ptr:ident, $len:ident, max = $max:expr, $what:literal) => {
        $crate::try_bytes!(@ $ptr, $len, $crate::Limit::refuse($what, $max))
    };
    ($ptr:ident, $len:ident, stand_in_over = $max:expr) => {
        $crate::try_bytes!(@ $ptr, $len, const { $crate::Limit::stand_in($max) })
    };
}
#[allow(unused_imports)]
pub(crate) use try_bytes;

/// What an entry point does with an argument longer than a limit the core applies to it. It
/// is decided from the length alone, before a byte is read: a length over the limit never
/// makes the library read past a shorter buffer (issue "Shape": lengths are checked against
/// the limits before any byte is read).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Limit {
    /// No limit but the size of any object (`isize::MAX` bytes).
    Unlimited,
    /// Over `max` bytes: `REFTOKEN_INPUT_TOO_LARGE`, with the core's message (`what` is the
    /// name the core gives the value when it checks the same limit).
    Refuse { what: &'static str, max: usize },
    /// Over `max` bytes the core gives every value the same answer without failing (a
    /// presented handle over 100 bytes is inactive, a form body over 64 KiB is a 400): the
    /// argument is not read, and the core is handed `max + 1` NUL bytes in its place.
    StandIn { max: usize },
}

impl Limit {
    pub(crate) const fn refuse(what: &'static str, max: usize) -> Self {
        Limit::Refuse { what, max }
    }

    /// Checked at compile time when called in a `const` block, as the macros do.
    pub(crate) const fn stand_in(max: usize) -> Self {
        assert!(
            max < STAND_IN_LEN,
            "the stand-in is shorter than this limit"
        );
        Limit::StandIn { max }
    }
}

/// Length of [`STAND_IN`]: the largest limit it stands in for (a form body) plus one.
const STAND_IN_LEN: usize = reftoken::endpoint::MAX_FORM_LEN + 1;
/// What [`Limit::StandIn`] hands the core for an argument over its limit (zeros, in `.bss`).
static STAND_IN: [u8; STAND_IN_LEN] = [0; STAND_IN_LEN];

/// # Safety
/// `ptr` must be NULL or point to `len` readable bytes that stay valid and unmodified for `'a`;
/// when `len` is over the `limit`, nothing is read and `ptr` need only be non-NULL.
pub(crate) unsafe fn bytes_arg<'a>(
    ptr: *const u8,
    len: usize,
    name: &str,
    limit: Limit,
) -> Result<&'a [u8], reftoken_status> {
    if ptr.is_null() {
        return if len == 0 {
            Ok(&[])
        } else {
            Err(fail_with(
                REFTOKEN_NULL_ARGUMENT,
                format!("argument `{name}` is NULL with a length of {len}"),
            ))
        };
    }
    if len > isize::MAX as usize {
        return Err(fail_with(
            REFTOKEN_INVALID_ARGUMENT,
            format!("length of `{name}` is larger than any object"),
        ));
    }
    match limit {
        Limit::Refuse { what, max } if len > max => {
            return Err(fail(Error::TooLarge { what, len, max }));
        }
        Limit::StandIn { max } if len > max => return Ok(&STAND_IN[..=max]),
        _ => {}
    }
    // SAFETY: non-null, and the caller promises `len` readable bytes.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// # Safety
/// As [`bytes_arg`].
pub(crate) unsafe fn str_arg<'a>(
    ptr: *const std::ffi::c_char,
    len: usize,
    name: &str,
    limit: Limit,
) -> Result<&'a str, reftoken_status> {
    // SAFETY: forwarded contract.
    let bytes = unsafe { bytes_arg(ptr.cast(), len, name, limit)? };
    std::str::from_utf8(bytes).map_err(|e| {
        fail_with(
            REFTOKEN_INVALID_UTF8,
            format!("argument `{name}` is not valid UTF-8: {e}"),
        )
    })
}

/// Writes `value` into the caller's buffer following the conventions above.
///
/// # Safety
/// `out_len` must be valid for a write; `out` must be NULL or valid for `out_cap` bytes.
pub(crate) unsafe fn write_out(
    value: &[u8],
    out: *mut std::ffi::c_char,
    out_cap: usize,
    out_len: *mut usize,
) -> FfiResult {
    // SAFETY: forwarded contract.
    let written = unsafe { write_out_quiet(value, out, out_cap, out_len) };
    if written == Err(REFTOKEN_BUFFER_TOO_SMALL) {
        set_last_error(format!(
            "the output needs {} bytes (plus one for a NUL); the buffer holds {out_cap}",
            value.len()
        ));
    }
    written
}

/// As [`write_out`], without touching the thread's last error.
///
/// # Safety
/// As [`write_out`].
pub(crate) unsafe fn write_out_quiet(
    value: &[u8],
    out: *mut std::ffi::c_char,
    out_cap: usize,
    out_len: *mut usize,
) -> FfiResult {
    not_null(out_len.is_null(), "argument `out_len` is NULL")?;
    // SAFETY: checked non-null above; the caller promises it is writable.
    unsafe { *out_len = value.len() };
    if value.len() > out_cap || (out.is_null() && !value.is_empty()) {
        return Err(REFTOKEN_BUFFER_TOO_SMALL);
    }
    if !out.is_null() {
        // SAFETY: `out` holds `out_cap >= value.len()` bytes; the regions cannot overlap
        // because `value` is owned by the library.
        unsafe {
            std::ptr::copy_nonoverlapping(value.as_ptr(), out.cast::<u8>(), value.len());
            if out_cap > value.len() {
                *out.add(value.len()) = 0;
            }
        }
    }
    Ok(())
}

/// Borrowed strings from a `(const reftoken_str *, size_t)` array, without a heap
/// allocation for the usual few.
pub(crate) enum Strs<'a> {
    Few(ArrayVec<&'a str, 8>),
    Many(Vec<&'a str>),
}

impl<'a> std::ops::Deref for Strs<'a> {
    type Target = [&'a str];
    fn deref(&self) -> &[&'a str] {
        match self {
            Strs::Few(v) => v,
            Strs::Many(v) => v,
        }
    }
}

/// `(max, each)`: at most `max` entries (checked before the array is read), each checked
/// against `each` before its text is read.
///
/// # Safety
/// `ptr` must be NULL or point to `count` readable `reftoken_str`, each of which is valid as
/// for [`super::str_arg`], all staying valid for `'a`.
pub(crate) unsafe fn strs_arg<'a>(
    ptr: *const reftoken_str,
    count: usize,
    (max, each): (usize, Limit),
    name: &str,
) -> Result<Strs<'a>, reftoken_status> {
    if count > max {
        return Err(fail_with(
            REFTOKEN_INPUT_TOO_LARGE,
            format!("`{name}` has {count} entries, more than the limit of {max}"),
        ));
    }
    if count == 0 {
        return Ok(Strs::Few(ArrayVec::new()));
    }
    if ptr.is_null() {
        return Err(fail_with(
            REFTOKEN_NULL_ARGUMENT,
            format!("argument `{name}` is NULL with a count of {count}"),
        ));
    }
    // SAFETY: non-null, and the caller promises `count` (bounded by `max`) readable entries.
    let entries = unsafe { std::slice::from_raw_parts(ptr, count) };
    let mut out = if count <= 8 {
        Strs::Few(ArrayVec::new())
    } else {
        Strs::Many(Vec::with_capacity(count))
    };
    for (i, e) in entries.iter().enumerate() {
        // SAFETY: forwarded contract for each entry.
        let s = unsafe { str_arg(e.ptr, e.len, &format!("{name}[{i}]"), each)? };
        match &mut out {
            Strs::Few(v) => v.push(s),
            Strs::Many(v) => v.push(s),
        }
    }
    Ok(out)
}

/// Checks that `(out, out_cap)` can hold `needed` bytes before any work is done; on failure
/// sets `*out_len = needed` as `write_out` would.
///
/// # Safety
/// `out_len` must be NULL or valid for a write.
pub(crate) unsafe fn reserve_out(
    needed: usize,
    out: *const c_char,
    out_cap: usize,
    out_len: *mut usize,
) -> Result<(), reftoken_status> {
    if out_len.is_null() {
        return Err(fail_with(
            REFTOKEN_NULL_ARGUMENT,
            "argument `out_len` is NULL",
        ));
    }
    if needed > out_cap || out.is_null() {
        // SAFETY: checked non-null; the caller promises it is writable.
        unsafe { *out_len = needed };
        return Err(fail_with(
            REFTOKEN_BUFFER_TOO_SMALL,
            format!(
                "the output needs {needed} bytes (plus one for a NUL); the buffer holds {out_cap}"
            ),
        ));
    }
    Ok(())
}

pub(crate) struct CallerArgs<'a> {
    kind: u32,
    name: &'a str,
    // Inline for the usual few scopes: no allocation per call.
    scopes: smallvec::SmallVec<[&'a str; 8]>,
}

impl<'a> CallerArgs<'a> {
    pub(crate) fn caller(&self) -> Caller<'_> {
        if self.kind == REFTOKEN_CALLER_API {
            Caller::Api {
                name: self.name,
                scopes: &self.scopes,
            }
        } else {
            Caller::Client { id: self.name }
        }
    }
}

/// Converts a caller and options from C. The closure given to `with` sees the Rust values.
///
/// # Safety
/// `caller` must point to a valid `reftoken_caller` whose strings are valid; `options` must
/// be NULL or valid.
pub(crate) unsafe fn with_caller<R>(
    caller: *const reftoken_caller,
    options: *const reftoken_options,
    with: impl FnOnce(&Caller<'_>, &Options<'_>) -> R,
) -> Result<R, reftoken_status> {
    // SAFETY: the caller promises a valid pointer or NULL.
    let c = unsafe { caller.as_ref() }
        .ok_or_else(|| fail_with(REFTOKEN_NULL_ARGUMENT, "argument `caller` is NULL"))?;
    if c.kind != REFTOKEN_CALLER_API && c.kind != REFTOKEN_CALLER_CLIENT {
        return Err(fail(Error::InvalidArgument(
            "caller kind must be REFTOKEN_CALLER_API or REFTOKEN_CALLER_CLIENT",
        )));
    }
    // SAFETY: the caller promises valid strings.
    let name = unsafe { super::str_arg(c.name.ptr, c.name.len, "caller.name", Limit::Unlimited) }?;
    // SAFETY: as above.
    let scopes = unsafe {
        super::str_arg(
            c.scopes.ptr,
            c.scopes.len,
            "caller.scopes",
            Limit::Unlimited,
        )
    }?;
    let args = CallerArgs {
        kind: c.kind,
        name,
        scopes: scopes.split(' ').filter(|s| !s.is_empty()).collect(),
    };
    // SAFETY: NULL or valid.
    let o = unsafe { options.as_ref() }.copied();
    let version = match o.map_or(REFTOKEN_IDENTITYSERVER_LATEST, |o| o.identityserver_version) {
        REFTOKEN_IDENTITYSERVER_LATEST | REFTOKEN_DUENDE_7_3 => IdentityServerVersion::Duende7_3,
        REFTOKEN_DUENDE_7_1 => IdentityServerVersion::Duende7_1,
        REFTOKEN_DUENDE_6_3 => IdentityServerVersion::Duende6_3,
        REFTOKEN_DUENDE_6_1 => IdentityServerVersion::Duende6_1,
        REFTOKEN_DUENDE_5_0 => IdentityServerVersion::Duende5_0,
        REFTOKEN_IDENTITYSERVER_4 => IdentityServerVersion::IdentityServer4,
        _ => {
            return Err(fail(Error::InvalidArgument(
                "unknown identityserver_version",
            )));
        }
    };
    type Callback = (
        unsafe extern "C" fn(*mut c_void, *const c_char, usize) -> bool,
        *mut c_void,
    );
    let ask = |callback: Option<Callback>, id: &str| match callback {
        // SAFETY: the C caller supplied this callback and context for exactly this use.
        Some((f, ctx)) => unsafe { f(ctx, id.as_ptr().cast(), id.len()) },
        None => true,
    };
    let enabled = o.and_then(|o| o.client_enabled.map(|f| (f, o.client_enabled_ctx)));
    let offline = o.and_then(|o| {
        o.client_offline_access
            .map(|f| (f, o.client_offline_access_ctx))
    });
    let check_enabled = move |id: &str| ask(enabled, id);
    let check_offline = move |id: &str| ask(offline, id);
    let opts = Options {
        version,
        client_enabled: enabled
            .is_some()
            .then_some(&check_enabled as &dyn Fn(&str) -> bool),
        offline_access: offline
            .is_some()
            .then_some(&check_offline as &dyn Fn(&str) -> bool),
    };
    Ok(with(&args.caller(), &opts))
}
