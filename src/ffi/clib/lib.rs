//! libreftoken: the C library. Every exported function is defined in `reftoken-ffi`
//! (`src/ffi`); this crate only links them, with the core, into `libreftoken.so` and
//! `libreftoken.a`. The header is `include/reftoken.h`.

pub use reftoken_ffi::*;
