//! The verbs. Each returns the line to print, or a [`Failure`].

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use reftoken::dataprotection::KeyRing;
use reftoken::grant::{self, DataPayload};
use reftoken::instant::Instant;
use reftoken::introspection::{self, Caller, INACTIVE, Options};
use reftoken::secret::{self, HashAlgorithm};
use reftoken::validation::{self, StoredGrant, Unprotect};
use reftoken::{Error, handle, key};

use crate::store::{self, ClientFlag, Store};
use crate::{Failure, Outcome, input};

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
    let handle = input::value(handle, "the handle")?;
    Ok(key::store_key(&handle, grant_type)?.to_string())
}

fn keyring(dir: &Path, app_name: Option<&str>) -> Result<KeyRing, Failure> {
    let ring = KeyRing::from_dir(dir)
        .map_err(|e| Failure::Run(format!("key ring {}: {e}", dir.display())))?;
    Ok(ring.with_application_name(app_name))
}

/// `reftoken decode [--keyring DIR] [--app-name NAME] [DATA]`.
pub fn decode(dir: Option<PathBuf>, app_name: Option<String>, data: Option<String>) -> Outcome {
    let data = input::value(data, "the Data column")?;
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
            ring.unprotect_grant(&payload)?.to_string()
        }
    };
    // Any grant type decodes (tokens, refresh tokens, codes, consents), but it must be JSON.
    serde_json::from_str::<serde_json::Value>(&json)
        .map_err(|e| Failure::Run(format!("the payload is not JSON: {e}")))?;
    Ok(json)
}

fn purpose_refs<'a>(
    app_name: Option<&str>,
    purposes: &'a [String],
) -> Result<Vec<&'a str>, Failure> {
    if app_name.is_none_or(str::is_empty) && purposes.is_empty() {
        return Err(Failure::Usage(
            "a purpose chain needs --app-name or at least one --purpose".into(),
        ));
    }
    Ok(purposes.iter().map(String::as_str).collect())
}

/// `reftoken unprotect --keyring DIR [--app-name NAME] [--purpose P]... [PAYLOAD]`.
pub fn unprotect(
    dir: &Path,
    app_name: Option<String>,
    purposes: &[String],
    payload: Option<String>,
) -> Outcome {
    let purposes = purpose_refs(app_name.as_deref(), purposes)?;
    let ring = keyring(dir, app_name.as_deref())?;
    let payload = input::value(payload, "the payload")?;
    Ok(ring.unprotect_str(&purposes, &payload)?.to_string())
}

/// `reftoken protect --keyring DIR [--app-name NAME] [--purpose P]... [TEXT]`.
pub fn protect(
    dir: &Path,
    app_name: Option<String>,
    purposes: &[String],
    text: Option<String>,
) -> Outcome {
    let purposes = purpose_refs(app_name.as_deref(), purposes)?;
    let ring = keyring(dir, app_name.as_deref())?;
    let text = input::value(text, "the text")?;
    match ring.protect_str(&purposes, &text, now()) {
        Err(Error::NoActiveKey) => Err(Failure::Run(format!(
            "the key ring in {} has no key that may protect now (ASP.NET Core would create one: \
             let the host run once)",
            dir.display()
        ))),
        r => Ok(r?),
    }
}

/// `reftoken secret-hash [--sha512] [SECRET]`.
pub fn secret_hash(sha512: bool, value: Option<String>) -> Outcome {
    let value = input::value(value, "the secret")?;
    let alg = if sha512 {
        HashAlgorithm::Sha512
    } else {
        HashAlgorithm::Sha256
    };
    Ok(secret::hash_secret(&value, alg).to_string())
}

fn now() -> Instant {
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

/// `reftoken introspect ...`.
pub fn introspect(
    caller: CallerArg,
    now_arg: Option<i64>,
    dir: Option<PathBuf>,
    app_name: Option<String>,
    source: Source,
) -> Outcome {
    let now = match now_arg {
        // .NET's DateTime covers years 1 to 9999.
        Some(s) if !(-62_135_596_800..=253_402_300_799).contains(&s) => {
            return Err(Failure::Usage(format!(
                "--now {s} is outside the years 1 to 9999"
            )));
        }
        Some(s) => Instant::from_unix_seconds(s),
        None => now(),
    };
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

    let (handle, store): (String, Box<dyn Store>) = match source {
        Source::Data(data) => {
            let data = input::value(Some(data), "the Data column")?;
            let token = match validation::read_token(&data, unprotect) {
                Err(Error::DataProtected) => {
                    return Err(Failure::Run(PROTECTED.replace("row's ", "")));
                }
                r => r?,
            };
            return introspection::respond(&token, &caller, now, &Options::default())
                .map_err(server_error);
        }
        Source::Sqlite(handle, path) => {
            let handle = input::value(handle, "the handle")?;
            (handle, Box::new(store::Sqlite::open(&path)?))
        }
        Source::Postgres(handle, url) => {
            let handle = input::value(handle, "the handle")?;
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
        // Say why on stderr; an unreadable protected row without a key ring is an error.
        let lookup = |k: &str| store.borrow_mut().lookup(k);
        let why = explain(&handle, &lookup, unprotect, &caller, now, &opts)?;
        eprintln!("reftoken: inactive: {why}");
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

/// Why `handle` is inactive for `caller`: what IdentityServer found under its keys. Fails
/// when a row is protected and no key ring was given (the answer would be a guess).
fn explain(
    handle: &str,
    lookup: &dyn Fn(&str) -> Result<Option<StoredGrant>, Failure>,
    unprotect: Option<&dyn Unprotect>,
    caller: &Caller<'_>,
    now: Instant,
    opts: &Options<'_>,
) -> Result<String, Failure> {
    if !validation::plausible_handle(handle) {
        return Ok("not a reference-token handle (IdentityServer refuses it unread)".into());
    }
    let mut reasons = Vec::new();
    let grant_types: &[&str] = match caller {
        Caller::Client { .. } => &[key::REFERENCE_TOKEN, key::REFRESH_TOKEN],
        Caller::Api { .. } => &[key::REFERENCE_TOKEN],
    };
    for &grant_type in grant_types {
        let k = key::store_key(handle, grant_type)?;
        let Some(row) = lookup(&k)? else {
            reasons.push(format!("no {grant_type} row with Key {k}"));
            continue;
        };
        if row.grant_type != grant_type {
            reasons.push(format!(
                "the row with Key {k} has Type {:?}",
                row.grant_type
            ));
            continue;
        }
        let json = match validation::read_grant_json(&row.data, unprotect) {
            Err(Error::DataProtected) => return Err(Failure::Run(PROTECTED.to_owned())),
            Err(e) => {
                reasons.push(format!(
                    "the Data of the row with Key {k} cannot be read: {e}"
                ));
                continue;
            }
            Ok(json) => json,
        };
        if grant_type == key::REFERENCE_TOKEN {
            match grant::Token::from_json(&json) {
                Err(e) => reasons.push(format!(
                    "the Data of the row with Key {k} cannot be read: {e}"
                )),
                Ok(t) => match introspection::evaluate(&t, caller, now, opts).status {
                    Ok(()) => reasons
                        .push("the token is active but IdentityServer answers inactive".into()),
                    Err(why) => reasons.push(format!("the reference token is inactive: {why:?}")),
                },
            }
        } else {
            reasons.push(
                "the refresh token is expired, consumed, another client's, or its client may not \
                          use refresh tokens"
                    .into(),
            );
        }
    }
    Ok(reasons.join("; "))
}
