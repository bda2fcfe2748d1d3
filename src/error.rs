//! The library's error type.

use thiserror::Error;

/// Everything that can go wrong in the core. The C ABI maps each variant to one
/// `reftoken_status` code; the message is kept as the thread's last-error detail.
#[derive(Debug, Error)]
// Exhaustive on purpose: the C ABI (reftoken-ffi) matches every variant to a status code, so
// a new variant cannot ship without one.
pub enum Error {
    /// An argument is outside what the function accepts (for example a zero length).
    #[error("invalid argument: {0}")]
    InvalidArgument(&'static str),
    /// Input is larger than the documented limit in [`crate::limits`].
    #[error("{what} is {len} bytes, larger than the limit of {max}")]
    TooLarge {
        /// What was too large.
        what: &'static str,
        /// Its size.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Input that should be JSON, base64, XML or a date is not.
    #[error("malformed {what}: {detail}")]
    Malformed {
        /// What was being parsed.
        what: &'static str,
        /// Why it failed.
        detail: String,
    },
    /// The grant's `Data` is protected with ASP.NET Core Data Protection and no key ring was given.
    #[error(
        "the grant data is protected with ASP.NET Core Data Protection; a key ring is needed to read it"
    )]
    DataProtected,
    /// The container version is one this library does not know.
    #[error("unsupported persisted grant container version {0}")]
    UnsupportedVersion(i64),
    /// A Data Protection payload failed to decrypt or authenticate: tampered, truncated,
    /// protected with other purposes, or not a payload at all. Deliberately unspecific.
    #[error("the payload could not be unprotected: {0}")]
    Decrypt(&'static str),
    /// The payload names a key that is not in the key ring.
    #[error("the key {{{0}}} was not found in the key ring")]
    UnknownKey(uuid::Uuid),
    /// The payload's key has been revoked.
    #[error("the key {{{0}}} has been revoked")]
    KeyRevoked(uuid::Uuid),
    /// The key ring has no key that may protect new payloads now.
    #[error("the key ring has no active key to protect with")]
    NoActiveKey,
    /// A key's master key is encrypted at rest by a protector this library cannot use.
    #[error("unsupported protector: {0}")]
    UnsupportedProtector(String),
    /// Reading key-ring files failed.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A server (a revocation listener's PostgreSQL or Redis) could not be reached or
    /// dropped the connection.
    #[error("cannot reach {server}: {detail}")]
    Network {
        /// The server, with any password masked.
        server: String,
        /// What went wrong.
        detail: String,
    },
    /// A caller-supplied store lookup failed with this status code.
    #[error("the store lookup failed with status {0}")]
    Lookup(u32),
    /// The operating system's random number generator failed.
    #[error("the system random number generator failed: {0}")]
    Rng(String),
}

impl Error {
    /// [`Error::Malformed`]: `what` could not be read, for the reason `detail`.
    pub fn malformed(what: &'static str, detail: impl std::fmt::Display) -> Self {
        Error::Malformed {
            what,
            detail: detail.to_string(),
        }
    }

    /// [`Error::TooLarge`] when `len` is over `max`, before anything of the input is read.
    pub fn check_len(what: &'static str, len: usize, max: usize) -> Result<(), Self> {
        if len > max {
            Err(Error::TooLarge { what, len, max })
        } else {
            Ok(())
        }
    }
}

/// `e`'s message followed by each of its causes (`a: b: c`), skipping a cause the message
/// already ends with. Drivers' own messages ("error connecting to server") often name none.
pub fn with_causes(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !message.ends_with(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        cause = c.source();
    }
    message
}
