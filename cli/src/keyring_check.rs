//! `reftoken keyring check`: the key ring's health, and which key protects which grants.

use std::collections::BTreeMap;
use std::path::PathBuf;

use reftoken::dataprotection::{KeyInfo, KeyRing, base64url_decode};
use reftoken::grant::{self, DataPayload};
use reftoken::instant::{self, Instant, TICKS_PER_SECOND};
use reftoken::validation::Unprotect;
use serde_json::{Value, json};

use crate::store::{self, Location, pg_fail, sqlite_err};
use crate::{Failure, Outcome};

/// ASP.NET Core's payload header: the magic number of its authenticated encryptor's format,
/// then the key id as `Guid.ToByteArray()`.
const MAGIC: [u8; 4] = [0x09, 0xF0, 0xC9, 0xF0];
const HEADER_LEN: usize = 20;

/// Keys activated this far ahead of now already count (KeyManagementOptions' clock skew).
const CLOCK_SKEW_SECONDS: i64 = 5 * 60;

pub struct Request {
    pub dir: PathBuf,
    pub app_name: String,
    pub store: Option<Location>,
    pub expiring_within_days: u32,
    pub json: bool,
}

/// Why a protected grant cannot be read, as the JSON names it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Unreadable {
    /// No key of the ring has the payload's key id (a removed or never-shared key).
    UnknownKey,
    /// Its key is revoked: ASP.NET Core refuses to unprotect with it.
    RevokedKey,
    /// Its key cannot be used here (an encrypted master key, an unsupported algorithm).
    UnusableKey,
    /// Its key is there but the payload does not authenticate: another application name
    /// (purpose), or tampering.
    NotAuthentic,
    /// Not a Data Protection payload, or the Data column is not IdentityServer's container.
    Malformed,
}

impl Unreadable {
    fn name(self) -> &'static str {
        match self {
            Unreadable::UnknownKey => "unknown_key",
            Unreadable::RevokedKey => "revoked_key",
            Unreadable::UnusableKey => "unusable_key",
            Unreadable::NotAuthentic => "not_authentic",
            Unreadable::Malformed => "malformed",
        }
    }

    fn words(self) -> &'static str {
        match self {
            Unreadable::UnknownKey => "protected with a key that is not in the ring",
            Unreadable::RevokedKey => "protected with a revoked key",
            Unreadable::UnusableKey => "protected with a key this library cannot use",
            Unreadable::NotAuthentic => {
                "not authentic with their key (most often another --app-name)"
            }
            Unreadable::Malformed => "not a readable Data column or payload",
        }
    }
}

/// Counts by grant type.
type ByType = BTreeMap<String, u64>;

#[derive(Default)]
struct Grants {
    /// Protected grants by the key id in their header (in the ring or not).
    by_key: BTreeMap<String, ByType>,
    unreadable: BTreeMap<Unreadable, ByType>,
    unprotected: ByType,
    readable: u64,
    total: u64,
}

/// A .NET `Guid` from its `ToByteArray()` bytes, in its usual text form.
fn guid_text(b: &[u8; 16]) -> String {
    let d1 = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    let d2 = u16::from_le_bytes([b[4], b[5]]);
    let d3 = u16::from_le_bytes([b[6], b[7]]);
    let mut s = format!("{d1:08x}-{d2:04x}-{d3:04x}-{:02x}{:02x}-", b[8], b[9]);
    for x in &b[10..] {
        s.push_str(&format!("{x:02x}"));
    }
    s
}

/// The key id in a protected payload's header, if it has one.
fn payload_key_id(payload: &str) -> Option<[u8; 16]> {
    // 28 characters of base64url are 21 bytes: the header and one more.
    let head = payload.get(..28.min(payload.len()))?;
    let bytes = base64url_decode(head).ok()?;
    if bytes.len() < HEADER_LEN || bytes[..4] != MAGIC {
        return None;
    }
    bytes[4..HEADER_LEN].try_into().ok()
}

impl Grants {
    fn add(&mut self, ring: &KeyRing, keys: &[KeyInfo], grant_type: String, data: &str) {
        self.total += 1;
        let payload = match grant::open_data(data) {
            Ok(DataPayload::Plain(_)) => {
                *self.unprotected.entry(grant_type).or_default() += 1;
                return;
            }
            Ok(DataPayload::Protected(p)) => p,
            Err(_) => {
                *self
                    .unreadable
                    .entry(Unreadable::Malformed)
                    .or_default()
                    .entry(grant_type)
                    .or_default() += 1;
                return;
            }
        };
        let verdict = match payload_key_id(&payload) {
            None => Err(Unreadable::Malformed),
            Some(id) => {
                *self
                    .by_key
                    .entry(guid_text(&id))
                    .or_default()
                    .entry(grant_type.clone())
                    .or_default() += 1;
                match keys.iter().find(|k| k.id.to_bytes_le() == id) {
                    None => Err(Unreadable::UnknownKey),
                    Some(k) if k.revoked => Err(Unreadable::RevokedKey),
                    Some(k) if k.problem.is_some() => Err(Unreadable::UnusableKey),
                    Some(_) => ring
                        .unprotect_grant(&payload)
                        .map(drop)
                        .map_err(|_| Unreadable::NotAuthentic),
                }
            }
        };
        match verdict {
            Ok(()) => self.readable += 1,
            Err(why) => {
                *self
                    .unreadable
                    .entry(why)
                    .or_default()
                    .entry(grant_type)
                    .or_default() += 1
            }
        }
    }

    fn unreadable_total(&self) -> u64 {
        self.unreadable.values().flat_map(|m| m.values()).sum()
    }
}

fn scan(location: &Location, ring: &KeyRing, keys: &[KeyInfo]) -> Result<Grants, Failure> {
    let mut g = Grants::default();
    const SQL: &str = r#"SELECT "Type", "Data" FROM "PersistedGrants""#;
    match location {
        Location::Sqlite(path) => {
            let conn = store::open_sqlite(path, false)?;
            let mut stmt = conn.prepare(SQL).map_err(sqlite_err)?;
            let mut rows = stmt.query([]).map_err(sqlite_err)?;
            while let Some(r) = rows.next().map_err(sqlite_err)? {
                let t: String = r.get(0).map_err(sqlite_err)?;
                let d: String = r.get(1).map_err(sqlite_err)?;
                g.add(ring, keys, t, &d);
            }
        }
        Location::Postgres(url) => {
            use postgres::fallible_iterator::FallibleIterator;
            let mut client = store::connect_postgres(url)?;
            // Streamed: a store of millions of rows is never held in memory.
            let mut rows = client
                .query_raw(SQL, std::iter::empty::<&dyn postgres::types::ToSql>())
                .map_err(pg_fail)?;
            while let Some(r) = rows.next().map_err(pg_fail)? {
                let t: String = r.try_get(0).map_err(pg_fail)?;
                let d: String = r.try_get(1).map_err(pg_fail)?;
                g.add(ring, keys, t, &d);
            }
        }
    }
    Ok(g)
}

fn time(t: Instant) -> String {
    let mut s = String::new();
    instant::format(t, &mut s);
    s
}

fn by_type_text(m: &ByType) -> String {
    m.iter()
        .map(|(t, n)| format!("{t} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `reftoken keyring check ...`.
pub fn check(req: Request) -> Outcome {
    if req.app_name.is_empty() {
        return Err(Failure::Usage("--app-name must not be empty".into()));
    }
    let ring = KeyRing::from_dir(&req.dir)
        .map_err(|e| Failure::Run(format!("key ring {}: {e}", req.dir.display())))?
        .with_application_name(Some(&req.app_name));
    let now = crate::commands::now_precise();
    let soon = now.add_seconds(i64::from(req.expiring_within_days) * 86_400);
    let keys: Vec<KeyInfo> = ring.keys().collect();
    let default = ring.default_key_id(now);

    let mut problems: Vec<String> = Vec::new();
    let mut warnings: Vec<String> = Vec::new();
    let mut key_json = Vec::new();
    let mut key_lines = Vec::new();
    for k in &keys {
        let mut status = Vec::new();
        if Some(k.id) == default {
            status.push("default");
        }
        if k.revoked {
            status.push("revoked");
        }
        if k.problem.is_some() {
            status.push("unusable");
        }
        if k.expiration <= now {
            status.push("expired");
        } else if k.expiration <= soon {
            status.push("expiring");
        }
        if k.activation.0 > now.0 + CLOCK_SKEW_SECONDS * TICKS_PER_SECOND {
            status.push("not_yet_active");
        }
        key_json.push(json!({
            "id": k.id.to_string(),
            "created": time(k.creation),
            "activation": time(k.activation),
            "expiration": time(k.expiration),
            "status": status,
            "algorithm": k.algorithm.map(|a| a.to_string()),
            "problem": k.problem,
        }));
        let mut line = format!(
            "  {} created {} active {} expires {}",
            k.id,
            time(k.creation),
            time(k.activation),
            time(k.expiration)
        );
        if !status.is_empty() {
            line.push_str(&format!(" [{}]", status.join(", ")));
        }
        if let Some(p) = &k.problem {
            line.push_str(&format!(": {p}"));
        }
        key_lines.push(line);
        if k.problem.is_some() && !k.revoked && k.expiration > now {
            warnings.push(format!(
                "key {} cannot be used: {}",
                k.id,
                k.problem.as_deref().unwrap_or_default()
            ));
        }
    }

    match default.and_then(|id| keys.iter().find(|k| k.id == id)) {
        None => problems.push(
            "no default key: ASP.NET Core would create a new one (a host that cannot write the \
             ring fails to protect)"
                .into(),
        ),
        Some(d) if d.expiration <= soon => {
            // A key that takes over: activated before the default expires, expiring after it.
            let successor = keys.iter().any(|k| {
                k.id != d.id
                    && !k.revoked
                    && k.problem.is_none()
                    && k.activation <= d.expiration
                    && k.expiration > d.expiration
            });
            if !successor {
                warnings.push(format!(
                    "the default key {} expires at {} and no key takes over (ASP.NET Core \
                     creates one in its last 2 days, if the host may write the ring)",
                    d.id,
                    time(d.expiration)
                ));
            }
        }
        Some(_) => {}
    }
    for s in ring.skipped() {
        warnings.push(format!("skipped: {s}"));
    }

    let grants = match &req.store {
        Some(l) => Some(scan(l, &ring, &keys)?),
        None => None,
    };
    if let Some(g) = &grants {
        let n = g.unreadable_total();
        if n > 0 {
            problems.push(format!(
                "{n} of {} grants cannot be read with this key ring",
                g.total
            ));
        }
    }

    let output = if req.json {
        let mut o = json!({
            "keyring": req.dir.display().to_string(),
            "app_name": req.app_name,
            "now": time(now),
            "expiring_within_days": req.expiring_within_days,
            "default_key": default.map(|d| d.to_string()),
            "keys": key_json,
            "skipped": ring.skipped(),
            "warnings": warnings,
            "problems": problems,
            "healthy": problems.is_empty(),
        });
        if let Some(g) = &grants {
            let unreadable: serde_json::Map<String, Value> = g
                .unreadable
                .iter()
                .map(|(why, m)| (why.name().to_owned(), json!(m)))
                .collect();
            o["grants"] = json!({
                "total": g.total,
                "unprotected": g.unprotected,
                "readable": g.readable,
                "by_key": g.by_key.iter().map(|(id, m)| {
                    let in_ring = keys.iter().any(|k| k.id.to_string() == *id);
                    (id.clone(), json!({ "in_ring": in_ring, "grants": m }))
                }).collect::<serde_json::Map<_, _>>(),
                "unreadable": unreadable,
                "unreadable_total": g.unreadable_total(),
            });
        }
        o.to_string()
    } else {
        let mut lines = vec![format!(
            "key ring {} ({} keys), application name {:?}",
            req.dir.display(),
            keys.len(),
            req.app_name
        )];
        lines.push(match default {
            Some(d) => format!("default key: {d}"),
            None => "default key: none".into(),
        });
        lines.extend(key_lines);
        if let Some(g) = &grants {
            lines.push(format!(
                "grants: {} rows, {} readable, {} unreadable, {} unprotected ({})",
                g.total,
                g.readable,
                g.unreadable_total(),
                g.unprotected.values().sum::<u64>(),
                by_type_text(&g.unprotected)
            ));
            for (id, m) in &g.by_key {
                let in_ring = keys.iter().any(|k| k.id.to_string() == *id);
                lines.push(format!(
                    "  key {id}{}: {}",
                    if in_ring { "" } else { " (not in the ring)" },
                    by_type_text(m)
                ));
            }
            for (why, m) in &g.unreadable {
                lines.push(format!(
                    "  unreadable, {}: {}",
                    why.words(),
                    by_type_text(m)
                ));
            }
        }
        for w in &warnings {
            lines.push(format!("warning: {w}"));
        }
        for p in &problems {
            lines.push(format!("problem: {p}"));
        }
        lines.push(if problems.is_empty() {
            "healthy".into()
        } else {
            "unhealthy".into()
        });
        lines.join("\n")
    };
    if problems.is_empty() {
        Ok(output)
    } else {
        Err(Failure::Report {
            output,
            problem: format!("key ring unhealthy: {}", problems.join("; ")),
        })
    }
}
