//! The verbs. Each returns the line to print, or a [`Failure`].

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use reftoken::dataprotection::KeyRing;
use reftoken::grant::{self, DataPayload, RefreshToken, Token};
use reftoken::instant::{self, Instant};
use reftoken::introspection::{self, Caller, INACTIVE, Inactive, Options};
use reftoken::key::StoreKey;
use reftoken::secret::{self, HashAlgorithm};
use reftoken::validation::{self, NotFound, StoredGrant, Unprotect};
use reftoken::{Error, handle, key};

use crate::store::{self, ClientFlag, Store};
use crate::{Failure, Outcome, PurposeChain, input};

/// `reftoken handle [--length N]`.
pub fn handle(length: u32) -> Outcome {
    if length as usize == handle::HANDLE_BYTES {
        Ok(handle::new_handle()?.to_string())
    } else {
        Ok(handle::random_hex(length as usize)?)
    }
}

/// `reftoken key HANDLE [--grant-type T]`.
pub fn key(handle: Option<String>, grant_type: &str) -> Outcome {
    let handle = input::HANDLE.read(handle)?;
    Ok(key::store_key(&handle, grant_type)?.to_string())
}

fn keyring(dir: &Path, app_name: Option<&str>) -> Result<KeyRing, Failure> {
    let ring = KeyRing::from_dir(dir)
        .map_err(|e| Failure::Run(format!("key ring {}: {e}", dir.display())))?;
    Ok(ring.with_application_name(app_name))
}

/// The core's `Error::Decrypt` message once the payload's key is in the ring but the payload
/// does not authenticate: other purposes (most often another application name), or tampering.
const NOT_AUTHENTIC: &str = "the payload was invalid";

const APP_NAME_HINT: &str = "--app-name NAME sets it: what the host passes to \
                             SetApplicationName, else ASP.NET Core's default, the host's \
                             content root path";

/// `e` as a message, with a hint when the application name is the likely culprit: ASP.NET
/// Core makes it the first purpose, so a missing or different one fails like tampering.
/// `chain`: the caller chose the purposes after it too (`unprotect`).
fn unprotect_message(e: &Error, app_name: Option<&str>, chain: bool) -> String {
    if !matches!(e, Error::Decrypt(m) if *m == NOT_AUTHENTIC) {
        return e.to_string();
    }
    let name = match (app_name.filter(|n| !n.is_empty()), chain) {
        (None, false) => "the application name is probably missing".to_owned(),
        (None, true) => {
            "the application name is probably missing, or a --purpose is wrong".to_owned()
        }
        (Some(n), false) => format!("the application name {n:?} is probably wrong"),
        (Some(n), true) => {
            format!("the application name {n:?} or the --purpose chain is probably wrong")
        }
    };
    format!("{e} ({name}; {APP_NAME_HINT})")
}

/// `reftoken decode [--keyring DIR] [--app-name NAME] [DATA]`.
pub fn decode(dir: Option<PathBuf>, app_name: Option<String>, data: Option<String>) -> Outcome {
    let data = input::DATA.read(data)?;
    let json = match grant::open_data(&data)? {
        DataPayload::Plain(json) => json,
        DataPayload::Protected(payload) => {
            let Some(dir) = dir else {
                return Err(Failure::Run(
                    "the payload is protected with ASP.NET Core Data Protection: give the host's \
                     key ring with --keyring DIR and its application name with --app-name NAME"
                        .into(),
                ));
            };
            let ring = keyring(&dir, app_name.as_deref())?;
            ring.unprotect_grant(&payload)
                .map_err(|e| Failure::Run(unprotect_message(&e, app_name.as_deref(), false)))?
                .to_string()
        }
    };
    // Any grant type decodes (tokens, refresh tokens, codes, consents), but it must be JSON.
    serde_json::from_str::<serde_json::Value>(&json)
        .map_err(|e| Failure::Run(format!("the payload is not JSON: {e}")))?;
    Ok(json)
}

/// The key ring of `chain` and its purposes after the application name.
fn chain_ring(chain: &PurposeChain) -> Result<(KeyRing, Vec<&str>), Failure> {
    let app_name = chain.app_name.as_deref();
    if app_name.is_none_or(str::is_empty) && chain.purposes.is_empty() {
        return Err(Failure::Usage(
            "a purpose chain needs --app-name or at least one --purpose".into(),
        ));
    }
    let ring = keyring(&chain.keyring, app_name)?;
    Ok((ring, chain.purposes.iter().map(String::as_str).collect()))
}

/// `reftoken unprotect --keyring DIR [--app-name NAME] [--purpose P]... [PAYLOAD]`.
pub fn unprotect(chain: &PurposeChain, payload: Option<String>) -> Outcome {
    let (ring, purposes) = chain_ring(chain)?;
    let payload = input::PAYLOAD.read(payload)?;
    match ring.unprotect_str(&purposes, &payload) {
        Ok(text) => Ok(text.to_string()),
        Err(e) => Err(Failure::Run(unprotect_message(
            &e,
            chain.app_name.as_deref(),
            true,
        ))),
    }
}

/// `reftoken protect --keyring DIR [--app-name NAME] [--purpose P]... [TEXT]`.
pub fn protect(chain: &PurposeChain, text: Option<String>) -> Outcome {
    let (ring, purposes) = chain_ring(chain)?;
    let text = input::TEXT.read(text)?;
    match ring.protect_str(&purposes, &text, now()) {
        Err(Error::NoActiveKey) => Err(Failure::Run(format!(
            "the key ring in {} has no key that may protect now (ASP.NET Core would create one: \
             let the host run once)",
            chain.keyring.display()
        ))),
        r => Ok(r?),
    }
}

/// `reftoken secret-hash [--sha512] [SECRET]`.
pub fn secret_hash(sha512: bool, value: Option<String>) -> Outcome {
    let value = input::SECRET.read(value)?;
    let alg = if sha512 {
        HashAlgorithm::Sha512
    } else {
        HashAlgorithm::Sha256
    };
    Ok(secret::hash_secret(&value, alg).to_string())
}

/// Now, to the tick (100 ns), for cutoffs compared with stored times.
pub fn now_precise() -> Instant {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Instant(i64::try_from(d.as_nanos() / 100).unwrap_or(i64::MAX))
}

pub fn now() -> Instant {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    Instant::from_unix_seconds(secs)
}

/// Who introspects.
pub enum CallerArg {
    Api { name: String, scopes: Vec<String> },
    Client { id: String },
}

/// What to introspect.
pub enum Source {
    /// A `Data` column given directly.
    Data(String),
    /// A handle (or stdin) looked up in an SQLite database.
    Sqlite(Option<String>, PathBuf),
    /// A handle (or stdin) looked up in a PostgreSQL database.
    Postgres(Option<String>, String),
}

/// `reftoken introspect ...`; with `explain`, an inactive answer says why on stderr.
pub fn introspect(
    caller: CallerArg,
    now_arg: Option<i64>,
    dir: Option<PathBuf>,
    app_name: Option<String>,
    explain: bool,
    source: Source,
) -> Outcome {
    let now = match now_arg {
        Some(s) if !reftoken::instant::DOTNET_UNIX_SECONDS.contains(&s) => {
            return Err(Failure::Usage(format!(
                "--now {s} is outside the years 1 to 9999"
            )));
        }
        Some(s) => Instant::from_unix_seconds(s),
        None => now(),
    };
    if dir.is_some() && app_name.is_none() {
        // An ASP.NET Core host always has one (its content root by default); without it every
        // protected row would only look unreadable, that is inactive.
        return Err(Failure::Usage(format!(
            "--keyring needs --app-name NAME, the host's Data Protection application name \
             ({APP_NAME_HINT})"
        )));
    }
    let scopes: Vec<&str> = match &caller {
        CallerArg::Api { scopes, .. } => scopes
            .iter()
            .flat_map(|s| s.split_ascii_whitespace())
            .collect(),
        CallerArg::Client { .. } => Vec::new(),
    };
    let caller = match &caller {
        CallerArg::Api { name, .. } => Caller::Api {
            name,
            scopes: &scopes,
        },
        CallerArg::Client { id } => Caller::Client { id },
    };
    let ring = match dir {
        Some(d) => Some(keyring(&d, app_name.as_deref())?),
        None => None,
    };
    let unprotect = ring.as_ref().map(|r| r as &dyn Unprotect);
    let app_name = app_name.as_deref();

    let (handle, store): (String, Box<dyn Store>) = match source {
        Source::Data(data) => {
            let data = input::DATA.read(Some(data))?;
            let token = match validation::read_token(&data, unprotect) {
                Err(Error::DataProtected) => {
                    return Err(Failure::Run(PROTECTED.replace("row's ", "")));
                }
                Err(e) => return Err(Failure::Run(unprotect_message(&e, app_name, false))),
                Ok(t) => t,
            };
            let opts = Options::default();
            let body = introspection::respond(&token, &caller, now, &opts).map_err(server_error)?;
            if explain && body == INACTIVE {
                eprintln!(
                    "reftoken: inactive: {}",
                    why_token(&token, &caller, now, &opts)
                );
            }
            return Ok(body);
        }
        Source::Sqlite(handle, path) => {
            let handle = input::HANDLE.read(handle)?;
            (handle, Box::new(store::Sqlite::open(&path)?))
        }
        Source::Postgres(handle, url) => {
            let handle = input::HANDLE.read(handle)?;
            (handle, Box::new(store::Postgres::connect(&url)?))
        }
    };

    // The library asks through infallible callbacks; the first store failure is kept here
    // and reported instead of the answer.
    let store = RefCell::new(store);
    let failure: RefCell<Option<Failure>> = RefCell::new(None);
    let keep = |f: Failure| {
        failure.borrow_mut().get_or_insert(f);
    };
    let lookup = |k: &str| -> Result<Option<StoredGrant>, Error> {
        store.borrow_mut().lookup(k).map_err(|f| {
            keep(f);
            Error::Lookup(IO_ERROR)
        })
    };
    // IdentityServer asks its client store for the token's client; a database that also
    // holds the configuration store answers the same way (no `Clients` table: every client
    // counts as enabled and may use refresh tokens).
    let (store, keep) = (&store, &keep);
    let flag = |flag: ClientFlag| {
        move |id: &str| match store.borrow_mut().client_flag(id, flag) {
            Ok(v) => v.unwrap_or(true),
            Err(f) => {
                keep(f);
                false
            }
        }
    };
    let (enabled, offline) = (
        flag(ClientFlag::Enabled),
        flag(ClientFlag::AllowOfflineAccess),
    );
    let opts = Options {
        client_enabled: Some(&enabled),
        offline_access: Some(&offline),
        ..Options::default()
    };
    let answer =
        validation::introspect_handle(&handle, None, lookup, unprotect, &caller, now, &opts);
    if let Some(f) = failure.borrow_mut().take() {
        return Err(f);
    }
    let body = answer.map_err(server_error)?;
    if body == INACTIVE {
        // Asked or not: a protected row without a key ring is an error, not an answer.
        let why = why_handle(&handle, &lookup, unprotect, app_name, &caller, now, &opts);
        if let Some(f) = failure.borrow_mut().take() {
            return Err(f);
        }
        let why = why?;
        if explain {
            for line in why {
                eprintln!("reftoken: inactive: {line}");
            }
        }
    }
    Ok(body)
}

const PROTECTED: &str = "the row's Data is protected with ASP.NET Core Data Protection: give the \
                         host's key ring with --keyring DIR --app-name NAME";

/// `Error::Lookup` carries a `reftoken_status`: `REFTOKEN_IO_ERROR`.
const IO_ERROR: u32 = 31;

fn server_error(e: Error) -> Failure {
    Failure::Run(format!(
        "IdentityServer cannot answer for this token either (its endpoint fails with 500): {e}"
    ))
}

fn timestamp(t: Instant) -> String {
    let mut s = String::new();
    instant::format(t, &mut s);
    s
}

/// Why `token` is inactive for `caller`: the core's verdict, in words.
fn why_token(token: &Token, caller: &Caller<'_>, now: Instant, opts: &Options<'_>) -> String {
    let verdict = match introspection::evaluate(token, caller, now, opts) {
        Ok(v) => v,
        Err(e) => return format!("IdentityServer fails on it: {e}"),
    };
    match (verdict.status, caller) {
        (Err(Inactive::Expired), _) => format!(
            "expired at {} (exp {}; now is {})",
            timestamp(token.expiration()),
            verdict.expiration,
            timestamp(now)
        ),
        (Err(Inactive::ClientDisabled), _) => format!(
            "its client {:?} is unknown or disabled in the Clients table",
            verdict.client_id.unwrap_or_default()
        ),
        (Err(Inactive::NoMatchingScope), Caller::Api { name, scopes }) => format!(
            "none of its scopes [{}] is a scope of the API {name:?} (--scope: [{}])",
            token.scopes().collect::<Vec<_>>().join(" "),
            scopes.join(" ")
        ),
        (Err(Inactive::OtherClient), Caller::Client { id }) => match token.claim("client_id") {
            Some(owner) => format!("not this client's: issued to {owner:?}, not {id:?}"),
            None => format!("not this client's: it has no client_id claim (asked by {id:?})"),
        },
        (status, _) => format!("the core says {status:?}"),
    }
}

/// Why `handle` is inactive for `caller`, one line per grant type IdentityServer tries, from
/// the core's own findings. Fails when a row is protected and no key ring was given (the
/// answer would be a guess).
fn why_handle(
    handle: &str,
    lookup: &dyn Fn(&str) -> Result<Option<StoredGrant>, Error>,
    unprotect: Option<&dyn Unprotect>,
    app_name: Option<&str>,
    caller: &Caller<'_>,
    now: Instant,
    opts: &Options<'_>,
) -> Result<Vec<String>, Failure> {
    // The row the core looked at last, to name its Type or read its Data's error.
    let seen: RefCell<Option<StoredGrant>> = RefCell::new(None);
    let look = |k: &str| -> Result<Option<StoredGrant>, Error> {
        let row = lookup(k)?;
        seen.replace(row.clone());
        Ok(row)
    };
    let (k, outcome) = validation::find_token(handle, look, unprotect)?;
    let access = match outcome {
        validation::Outcome::NotFound(NotFound::Malformed) => {
            return Ok(vec![
                "not a reference-token handle (empty, over 100 characters, or characters no \
                 handle has): IdentityServer refuses it unread"
                    .into(),
            ]);
        }
        validation::Outcome::NotFound(NotFound::NoRow) => format!(
            "unknown handle: no reference_token row with Key {k} (never issued here, revoked, \
             or removed)"
        ),
        validation::Outcome::NotFound(NotFound::WrongType) => {
            wrong_type(&k, seen.take(), key::REFERENCE_TOKEN)
        }
        validation::Outcome::NotFound(NotFound::Unreadable) => {
            let data = seen.take().map(|r| r.data).unwrap_or_default();
            unreadable(
                &k,
                validation::read_token(&data, unprotect).map(drop),
                app_name,
            )?
        }
        validation::Outcome::Found(token) => why_token(&token, caller, now, opts),
    };
    let access = format!("reference token: {access}");
    let Caller::Client { id } = caller else {
        return Ok(vec![access]);
    };
    // Client callers are also answered for their own refresh tokens.
    seen.replace(None);
    let k = key::store_key(handle, key::REFRESH_TOKEN)?;
    let refresh = match (
        validation::find_refresh_token(handle, look, unprotect)?,
        seen.take(),
    ) {
        (Some(rt), _) => refresh_facts(&rt, id),
        (None, None) => format!("no refresh_token row with Key {k}"),
        (None, Some(row)) if row.grant_type != key::REFRESH_TOKEN => {
            wrong_type(&k, Some(row), key::REFRESH_TOKEN)
        }
        (None, Some(row)) => {
            let read = validation::read_grant_json(&row.data, unprotect)
                .and_then(|json| RefreshToken::from_json(&json))
                .map(drop);
            unreadable(&k, read, app_name)?
        }
    };
    Ok(vec![access, format!("refresh token: {refresh}")])
}

fn wrong_type(k: &StoreKey, row: Option<StoredGrant>, want: &str) -> String {
    let found = row.map(|r| r.grant_type).unwrap_or_default();
    format!("the row with Key {k} has Type {found:?}, not {want}")
}

/// What reading a row's Data gave (`read`), in words. A protected row without a key ring is
/// an error.
fn unreadable(
    k: &StoreKey,
    read: Result<(), Error>,
    app_name: Option<&str>,
) -> Result<String, Failure> {
    match read {
        Err(Error::DataProtected) => Err(Failure::Run(PROTECTED.to_owned())),
        Err(e) => Ok(format!(
            "the Data of the row with Key {k} cannot be read, so IdentityServer treats the \
             handle as unknown: {}",
            unprotect_message(&e, app_name, false)
        )),
        Ok(()) => Ok(format!("the Data of the row with Key {k} cannot be read")),
    }
}

/// The refresh token the core's `respond_refresh` refused, as its checks see it (the core
/// gives no reason for refresh tokens).
fn refresh_facts(rt: &RefreshToken, id: &str) -> String {
    let consumed = rt.consumed_time.map_or("not consumed".to_owned(), |t| {
        format!("consumed at {}", timestamp(t))
    });
    format!(
        "not valid for {id:?} (IdentityServer refuses one that is expired, consumed or another \
         client's, or whose client lacks AllowOfflineAccess): issued to {:?}, expires at {}, \
         {consumed}",
        rt.client_id.as_deref().unwrap_or_default(),
        timestamp(rt.creation_time.add_seconds(rt.lifetime.into()))
    )
}
