//! Maximum sizes of inputs. Everything larger is refused with [`crate::Error::TooLarge`]
//! before any work is done, so no input makes memory or time grow without bound.

/// Largest `Data` column accepted (bytes). IdentityServer's own grants are a few KiB.
pub const MAX_DATA_LEN: usize = 1 << 20;
/// Largest handle accepted when deriving a store key (bytes).
pub const MAX_HANDLE_LEN: usize = 4096;
/// Largest grant type accepted when deriving a store key (bytes).
pub const MAX_GRANT_TYPE_LEN: usize = 256;
/// Most claims a token may carry.
pub const MAX_CLAIMS: usize = 10_000;
/// Deepest JSON nesting accepted in a `Data` column, a token, or an embedded JSON claim.
pub const MAX_JSON_DEPTH: usize = 64;
/// Largest random-hex length, in random bytes, for `random_hex`.
pub const MAX_RANDOM_BYTES: usize = 1 << 16;
