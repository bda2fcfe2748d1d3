//! RefToken: Duende IdentityServer's reference-token machinery, natively.
//!
//! The crate is an ordinary Rust library (`rlib`) with no C in it. The C library
//! (`libreftoken.so`, `libreftoken.a`, header `include/reftoken.h`) is built from it by the
//! `reftoken-ffi` crate in `src/ffi`.
//!
//! * [`handle`]: handles as IdentityServer hands them out (CSPRNG, uppercase hex, `-1`).
//! * [`key`]: the persisted-grant store key derived from a handle.
//! * [`grant`]: the persisted grant's `Data` column and the `Token` it carries.
//! * [`introspection`]: the RFC 7662 response IdentityServer builds from a token.
//! * [`validation`]: a presented handle validated against the store, as the endpoint does.
//! * [`validator`]: the same with a bounded, revocable cache, for native services.
//! * [`revocation`]: evictions pushed from the store (PostgreSQL NOTIFY, Redis) to every node.
//! * [`instant`]: instants as .NET writes and reads them.
//! * [`json`]: JSON output escaped as System.Text.Json's default encoder does.

#![forbid(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod dataprotection;
pub mod endpoint;
pub mod error;
pub mod fence;
pub mod grant;
pub mod handle;
pub mod instant;
pub mod introspection;
pub mod json;
pub mod jwt;
pub mod key;
pub mod limits;
pub mod redact;
pub mod revocation;
mod rng;
pub mod secret;
pub mod validation;
pub mod validator;

pub use error::Error;
