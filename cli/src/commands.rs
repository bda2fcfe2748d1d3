//! The verbs. Each returns the line to print, or a [`Failure`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use reftoken::dataprotection::KeyRing;
use reftoken::grant::{self, DataPayload};
use reftoken::instant::Instant;
use reftoken::introspection::{self, Caller, INACTIVE, Options};
use reftoken::secret::{self, HashAlgorithm};
use reftoken::validation::{self, Unprotect};
use reftoken::{Error, handle, key};

use crate::store::{self, Store};
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
    let ring = KeyRing::from_dir(dir).map_err(|e| Failure::Run(format!("key ring {}: {e}", dir.display())))?;
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

fn purpose_refs<'a>(app_name: Option<&str>, purposes: &'a [String]) -> Result<Vec<&'a str>, Failure> {
    if app_name.is_none_or(str::is_empty) && purposes.is_empty() {
        return Err(Failure::Usage("a purpose chain needs --app-name or at least one --purpose".into()));
    }
    Ok(purposes.iter().map(String::as_str).collect())
}

/// `reftoken unprotect --keyring DIR [--app-name NAME] [--purpose P]... [PAYLOAD]`.
pub fn unprotect(dir: &Path, app_name: Option<String>, purposes: &[String], payload: Option<String>) -> Outcome {
    let purposes = purpose_refs(app_name.as_deref(), purposes)?;
    let ring = keyring(dir, app_name.as_deref())?;
    let payload = input::value(payload, "the payload")?;
    Ok(ring.unprotect_str(&purposes, &payload)?.to_string())
}

/// `reftoken protect --keyring DIR [--app-name NAME] [--purpose P]... [TEXT]`.
pub fn protect(dir: &Path, app_name: Option<String>, purposes: &[String], text: Option<String>) -> Outcome {
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
    let alg = if sha512 { HashAlgorithm::Sha512 } else { HashAlgorithm::Sha256 };
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
            return Err(Failure::Usage(format!("--now {s} is outside the years 1 to 9999")));
        }
        Some(s) => Instant::from_unix_seconds(s),
        None => now(),
    };
    let scopes: Vec<&str> = match &caller {
        CallerArg::Api { scopes, .. } => scopes.iter().flat_map(|s| s.split_ascii_whitespace()).collect(),
        CallerArg::Client { .. } => Vec::new(),
    };
    let caller = match &caller {
        CallerArg::Api { name, .. } => Caller::Api { name, scopes: &scopes },
        CallerArg::Client { id } => Caller::Client { id },
    };
    let ring = match dir {
        Some(d) => Some(keyring(&d, app_name.as_deref())?),
        None => None,
    };
    let unprotect = ring.as_ref().map(|r| r as &dyn Unprotect);
    let protected_hint = "the row's Data is protected with ASP.NET Core Data Protection: give the \
                          host's key ring with --keyring DIR --app-name NAME";

    let (token, mut store): (_, Option<Box<dyn Store>>) = match source {
        Source::Data(data) => {
            let data = input::value(Some(data), "the Data column")?;
            match validation::read_token(&data, unprotect) {
                Err(Error::DataProtected) => return Err(Failure::Run(protected_hint.replace("row's ", ""))),
                r => (r?, None),
            }
        }
        Source::Sqlite(handle, path) => {
            let handle = input::value(handle, "the handle")?;
            let mut s: Box<dyn Store> = Box::new(store::Sqlite::open(&path)?);
            match find(&handle, s.as_mut(), unprotect, protected_hint)? {
                Some(t) => (t, Some(s)),
                None => return Ok(INACTIVE.to_owned()),
            }
        }
        Source::Postgres(handle, url) => {
            let handle = input::value(handle, "the handle")?;
            let mut s: Box<dyn Store> = Box::new(store::Postgres::connect(&url)?);
            match find(&handle, s.as_mut(), unprotect, protected_hint)? {
                Some(t) => (t, Some(s)),
                None => return Ok(INACTIVE.to_owned()),
            }
        }
    };

    // IdentityServer asks its client store for the token's client (and the `client_id`
    // claim's); a database with the configuration store answers the same way.
    let mut enabled: HashMap<String, bool> = HashMap::new();
    let mut ask_clients = false;
    if let Some(s) = store.as_mut() {
        let ids = token.client_id.iter().map(String::as_str).chain(token.claim("client_id"));
        for id in ids {
            if let Some(e) = s.client_enabled(id)? {
                ask_clients = true;
                enabled.insert(id.to_owned(), e);
            }
        }
    }
    let is_enabled = |id: &str| enabled.get(id).copied().unwrap_or(false);
    let opts = Options {
        client_enabled: if ask_clients { Some(&is_enabled) } else { None },
        ..Options::default()
    };
    introspection::respond(&token, &caller, now, &opts).map_err(|e| {
        Failure::Run(format!(
            "IdentityServer cannot answer for this token either (its endpoint fails with 500): {e}"
        ))
    })
}

/// Looks `handle` up as IdentityServer's reference-token store does: `None` (with the reason
/// on stderr) when it leads to no readable reference token.
fn find(
    handle: &str,
    store: &mut dyn Store,
    unprotect: Option<&dyn Unprotect>,
    protected_hint: &str,
) -> Result<Option<grant::Token>, Failure> {
    let inactive = |why: String| {
        eprintln!("reftoken: inactive: {why}");
        Ok(None)
    };
    if !validation::plausible_handle(handle) {
        return inactive("not a reference-token handle (IdentityServer refuses it unread)".into());
    }
    let k = key::store_key(handle, key::REFERENCE_TOKEN)?;
    let Some(row) = store.lookup(&k)? else {
        return inactive(format!("no PersistedGrants row with Key {k}"));
    };
    if row.grant_type != key::REFERENCE_TOKEN {
        return inactive(format!("the row with Key {k} has Type {:?}", row.grant_type));
    }
    match validation::read_token(&row.data, unprotect) {
        Ok(t) => Ok(Some(t)),
        Err(Error::DataProtected) => Err(Failure::Run(protected_hint.to_owned())),
        Err(e) => inactive(format!("the Data of the row with Key {k} cannot be read: {e}")),
    }
}
