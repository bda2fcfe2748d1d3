//! Validating a presented handle against the store, as IdentityServer's introspection
//! endpoint does, without the HTTP round trip: shape check, store key, the caller's lookup,
//! row type, `Data` decoding (unprotecting when needed), expiry and caller checks.

use zeroize::Zeroizing;

use crate::Error;
use crate::grant::{self, DataPayload, RefreshToken, Token};
use crate::instant::Instant;
use crate::introspection::{self, Caller, INACTIVE, Options};
use crate::key::{self, StoreKey};

/// IdentityServer's `InputLengthRestrictions.TokenHandle`: longer handles are refused.
pub const MAX_PRESENTED_HANDLE_LEN: usize = 100;

/// What the caller's lookup found under a store key: the row's `Type` and `Data`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredGrant {
    /// The `Type` column.
    pub grant_type: String,
    /// The `Data` column.
    pub data: String,
}

/// Opens `DataProtected: true` payloads: a key ring, or the host's own protector.
pub trait Unprotect {
    /// Unprotects the string form of a payload protected by IdentityServer's persisted-grant
    /// serializer (purposes: the application discriminator, then `PersistentGrantSerializer`).
    fn unprotect_grant(&self, payload: &str) -> Result<Zeroizing<String>, Error>;
}

impl Unprotect for crate::dataprotection::KeyRing {
    fn unprotect_grant(&self, payload: &str) -> Result<Zeroizing<String>, Error> {
        self.unprotect_str(&[grant::DATA_PROTECTION_PURPOSE], payload)
    }
}

/// Why a presented handle did not lead to a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotFound {
    /// Empty, longer than 100 characters, containing `.` (a JWT) or characters no handle has.
    Malformed,
    /// No row under the key.
    NoRow,
    /// A row of another grant type.
    WrongType,
    /// The row's `Data` could not be read (IdentityServer logs it and answers as not found).
    Unreadable,
}

/// The outcome of validating a handle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The handle does not lead to a token.
    NotFound(NotFound),
    /// The token was found; it may still be inactive for this caller (see
    /// [`introspection::evaluate`]).
    Found(Box<Token>),
}

/// Whether `handle` could be a reference-token handle at all: 1 to 100 characters of the
/// hex and base64url alphabets (current handles are hex with `-1`; IdentityServer4 handles
/// were hex or base64url). Anything else is refused before a lookup.
pub fn plausible_handle(handle: &str) -> bool {
    !handle.is_empty()
        && handle.len() <= MAX_PRESENTED_HANDLE_LEN
        && handle
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Reads the token from a `Data` column, unprotecting it with `unprotect` when needed.
pub fn read_token(data: &str, unprotect: Option<&dyn Unprotect>) -> Result<Token, Error> {
    if let Some(token) = grant::read_written_row(data) {
        return Ok(token);
    }
    match grant::open_data(data)? {
        DataPayload::Plain(json) => Token::from_json(&json),
        DataPayload::Protected(p) => {
            let json = unprotect.ok_or(Error::DataProtected)?.unprotect_grant(&p)?;
            Token::from_json(&json)
        }
    }
}

/// As [`read_token`], into `token`, reusing its strings and vectors: for a caller that reads
/// one row after another (nothing is allocated once `token` has held a grant as large). On
/// error `token` holds whatever was read before it.
pub fn read_token_into(
    data: &str,
    unprotect: Option<&dyn Unprotect>,
    token: &mut Token,
) -> Result<(), Error> {
    if grant::fill_written_row(data, token) {
        return Ok(());
    }
    let read = match grant::open_data(data)? {
        DataPayload::Plain(json) => Token::from_json(&json),
        DataPayload::Protected(p) => {
            let json = unprotect.ok_or(Error::DataProtected)?.unprotect_grant(&p)?;
            if grant::fill_written_json(&json, token) {
                return Ok(());
            }
            Token::from_json(&json)
        }
    };
    *token = read?;
    Ok(())
}

/// Looks up `handle` with `lookup` (given the store key) and reads the token it leads to.
/// `lookup` returns `Ok(None)` when there is no row; its errors are passed through.
pub fn find_token<F>(
    handle: &str,
    lookup: F,
    unprotect: Option<&dyn Unprotect>,
) -> Result<(StoreKey, Outcome), Error>
where
    F: FnOnce(&str) -> Result<Option<StoredGrant>, Error>,
{
    if !plausible_handle(handle) {
        return Ok((StoreKey::empty(), Outcome::NotFound(NotFound::Malformed)));
    }
    let k = key::store_key(handle, key::REFERENCE_TOKEN)?;
    let outcome = match lookup(&k)? {
        None => Outcome::NotFound(NotFound::NoRow),
        Some(row) if row.grant_type != key::REFERENCE_TOKEN => {
            Outcome::NotFound(NotFound::WrongType)
        }
        Some(row) => match read_token(&row.data, unprotect) {
            Ok(t) => Outcome::Found(Box::new(t)),
            Err(_) => Outcome::NotFound(NotFound::Unreadable),
        },
    };
    Ok((k, outcome))
}

/// Which kind of token the caller says it presents (RFC 7662 `token_type_hint`); it only
/// orders the attempts.
/// A recognised `token_type_hint` (RFC 7662 2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenTypeHint {
    /// `access_token`.
    AccessToken,
    /// `refresh_token`.
    RefreshToken,
}

impl TokenTypeHint {
    /// The hint as sent.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenTypeHint::AccessToken => "access_token",
            TokenTypeHint::RefreshToken => "refresh_token",
        }
    }
}

/// Looks `handle` up as a refresh token and reads it.
pub fn find_refresh_token<F>(
    handle: &str,
    lookup: F,
    unprotect: Option<&dyn Unprotect>,
) -> Result<Option<RefreshToken>, Error>
where
    F: FnOnce(&str) -> Result<Option<StoredGrant>, Error>,
{
    if !plausible_handle(handle) {
        return Ok(None);
    }
    let k = key::store_key(handle, key::REFRESH_TOKEN)?;
    Ok(match lookup(&k)? {
        Some(row) if row.grant_type == key::REFRESH_TOKEN => read_grant_json(&row.data, unprotect)
            .ok()
            .and_then(|json| RefreshToken::from_json(&json).ok()),
        _ => None,
    })
}

/// The JSON payload of a `Data` column, unprotected with `unprotect` when needed.
pub fn read_grant_json(
    data: &str,
    unprotect: Option<&dyn Unprotect>,
) -> Result<Zeroizing<String>, Error> {
    match grant::open_data(data)? {
        DataPayload::Plain(json) => Ok(Zeroizing::new(json)),
        DataPayload::Protected(p) => unprotect.ok_or(Error::DataProtected)?.unprotect_grant(&p),
    }
}

/// The introspection response for a presented handle, as IdentityServer's endpoint returns
/// it (status 200): `{"active":false}` unless the handle leads to a token active for the
/// caller. API callers introspect access tokens only; client callers also their own refresh
/// tokens, tried first when `hint` says `refresh_token` and second otherwise.
pub fn introspect_handle<F>(
    handle: &str,
    hint: Option<TokenTypeHint>,
    lookup: F,
    unprotect: Option<&dyn Unprotect>,
    caller: &Caller<'_>,
    now: Instant,
    opts: &Options<'_>,
) -> Result<String, Error>
where
    F: Fn(&str) -> Result<Option<StoredGrant>, Error>,
{
    let access = || -> Result<Option<String>, Error> {
        match find_token(handle, &lookup, unprotect)?.1 {
            Outcome::Found(token) => {
                let body = introspection::respond(&token, caller, now, opts)?;
                Ok((body != INACTIVE).then_some(body))
            }
            Outcome::NotFound(_) => Ok(None),
        }
    };
    let Caller::Client { id } = caller else {
        return Ok(access()?.unwrap_or_else(|| INACTIVE.to_owned()));
    };
    let refresh = || -> Result<Option<String>, Error> {
        match find_refresh_token(handle, &lookup, unprotect)? {
            Some(rt) => introspection::respond_refresh(&rt, id, now, opts),
            None => Ok(None),
        }
    };
    let body = if hint == Some(TokenTypeHint::RefreshToken) {
        match refresh()? {
            Some(b) => Some(b),
            None => access()?,
        }
    } else {
        match access()? {
            Some(b) => Some(b),
            None => refresh()?,
        }
    };
    Ok(body.unwrap_or_else(|| INACTIVE.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        assert!(plausible_handle(&format!("{}-1", "A".repeat(64))));
        assert!(plausible_handle("abc_DEF-123"));
        assert!(!plausible_handle(""));
        assert!(!plausible_handle(&"A".repeat(101)));
        assert!(!plausible_handle("eyJ.abc.def"));
        assert!(!plausible_handle("a b"));
        assert!(!plausible_handle("é"));
    }

    #[test]
    fn lookup_outcomes() {
        let t = Token {
            client_id: Some("c".into()),
            ..Token::default()
        };
        let data = grant::seal_data(&t.to_json(), false);
        let h = "AB-1";
        let found = find_token(
            h,
            |k| {
                assert_eq!(k, key::store_key(h, "reference_token").unwrap().as_str());
                Ok(Some(StoredGrant {
                    grant_type: "reference_token".into(),
                    data: data.clone(),
                }))
            },
            None,
        )
        .unwrap();
        assert!(matches!(found.1, Outcome::Found(ref x) if **x == t));
        let wrong = find_token(
            h,
            |_| {
                Ok(Some(StoredGrant {
                    grant_type: "refresh_token".into(),
                    data: data.clone(),
                }))
            },
            None,
        )
        .unwrap();
        assert_eq!(wrong.1, Outcome::NotFound(NotFound::WrongType));
        let none = find_token(h, |_| Ok(None), None).unwrap();
        assert_eq!(none.1, Outcome::NotFound(NotFound::NoRow));
        let bad = find_token(
            h,
            |_| {
                Ok(Some(StoredGrant {
                    grant_type: "reference_token".into(),
                    data: "{".into(),
                }))
            },
            None,
        )
        .unwrap();
        assert_eq!(bad.1, Outcome::NotFound(NotFound::Unreadable));
        let prot = grant::seal_data("CfDJ8xyz", true);
        let p = find_token(
            h,
            |_| {
                Ok(Some(StoredGrant {
                    grant_type: "reference_token".into(),
                    data: prot.clone(),
                }))
            },
            None,
        )
        .unwrap();
        assert_eq!(p.1, Outcome::NotFound(NotFound::Unreadable));
        let mut called = false;
        let m = find_token(
            "x.y",
            |_| {
                called = true;
                Ok(None)
            },
            None,
        )
        .unwrap();
        assert!(!called && m.1 == Outcome::NotFound(NotFound::Malformed));
    }
}
