//! `reftoken revoke`: the grants of a subject deleted, in batches, and every node told.

use serde_json::json;

use crate::store::{self, Location, pg_fail, sqlite_err};
use crate::{Failure, Outcome};

/// Which grants go: IdentityServer's `PersistedGrantFilter` with a subject.
pub struct Filter {
    pub subject: String,
    pub session_id: Option<String>,
    /// Empty: any client.
    pub client_ids: Vec<String>,
    /// Empty: any type.
    pub types: Vec<String>,
}

pub struct Request {
    pub store: Location,
    pub filter: Filter,
    /// A Redis server and channel to publish each deleted key on.
    pub redis: Option<(String, String)>,
    pub batch_size: u32,
    pub dry_run: bool,
    pub json: bool,
}

impl Filter {
    /// The SQLite condition and its parameters (`?1` is the subject).
    fn sqlite(&self) -> (String, Vec<&str>) {
        let mut cond = r#""SubjectId" = ?1"#.to_owned();
        let mut params: Vec<&str> = vec![&self.subject];
        if let Some(s) = &self.session_id {
            params.push(s);
            cond.push_str(&format!(r#" AND "SessionId" = ?{}"#, params.len()));
        }
        for (column, values) in [("ClientId", &self.client_ids), ("Type", &self.types)] {
            if values.is_empty() {
                continue;
            }
            let mut marks = Vec::new();
            for v in values {
                params.push(v);
                marks.push(format!("?{}", params.len()));
            }
            cond.push_str(&format!(r#" AND "{column}" IN ({})"#, marks.join(", ")));
        }
        (cond, params)
    }
}

/// The PostgreSQL condition: `$1` subject, `$2` session (NULL: any), `$3` clients, `$4`
/// types (empty arrays: any).
const PG_FILTER: &str = r#""SubjectId" = $1
    AND ($2::text IS NULL OR "SessionId" = $2::text)
    AND (cardinality($3::text[]) = 0 OR "ClientId" = ANY($3::text[]))
    AND (cardinality($4::text[]) = 0 OR "Type" = ANY($4::text[]))"#;

/// Whether RefToken's delete trigger is installed (and enabled) on `PersistedGrants`.
fn has_trigger(client: &mut postgres::Client) -> Result<bool, Failure> {
    let row = client
        .query_one(
            r#"SELECT EXISTS (SELECT 1 FROM pg_trigger
                 WHERE tgrelid = '"PersistedGrants"'::regclass
                   AND tgname = 'reftoken_revocation_on_delete' AND tgenabled <> 'D')"#,
            &[],
        )
        .map_err(pg_fail)?;
    row.try_get(0).map_err(pg_fail)
}

/// Publishes the keys of a batch as soon as it is committed.
struct Publish {
    publisher: reftoken::revocation::redis::Publisher,
    channel: String,
    keys: u64,
    subscribers: u64,
}

impl Publish {
    fn send(&mut self, keys: &[String]) -> Result<(), reftoken::Error> {
        for k in keys {
            self.subscribers += self.publisher.publish(Some(&self.channel), k)?;
            self.keys += 1;
        }
        Ok(())
    }
}

/// The `Key` column (NULL where a row has none) of the rows `sql` returns.
fn sqlite_keys(
    conn: &rusqlite::Connection,
    sql: &str,
    params: &[&str],
) -> Result<Vec<Option<String>>, Failure> {
    let mut stmt = conn.prepare_cached(sql).map_err(sqlite_err)?;
    stmt.query_map(rusqlite::params_from_iter(params), |r| r.get(0))
        .map_err(sqlite_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(sqlite_err)
}

/// `reftoken revoke ...`.
pub fn revoke(req: Request) -> Outcome {
    if req.filter.subject.is_empty() {
        return Err(Failure::Usage("--subject must not be empty".into()));
    }
    let mut publish = match &req.redis {
        Some((url, channel)) if !req.dry_run => {
            if channel.is_empty() {
                return Err(Failure::Usage("--channel must not be empty".into()));
            }
            Some(Publish {
                publisher: reftoken::revocation::redis::Publisher::new(url)?,
                channel: channel.clone(),
                keys: 0,
                subscribers: 0,
            })
        }
        _ => None,
    };
    let batch = i64::from(req.batch_size);
    let f = &req.filter;
    let mut rows = 0u64;
    let mut keys: Vec<String> = Vec::new();
    let trigger;
    let where_;

    // Each batch: the keys it deleted, or an error after `rows` rows were deleted.
    let mut on_batch = |deleted: Vec<Option<String>>,
                        rows: &mut u64,
                        keys: &mut Vec<String>|
     -> Result<(), Failure> {
        *rows += deleted.len() as u64;
        let batch_keys: Vec<String> = deleted.into_iter().flatten().collect();
        if let Some(p) = publish.as_mut() {
            p.send(&batch_keys).map_err(|e| {
                Failure::Run(format!(
                    "{} grants were deleted, but publishing their keys on Redis failed ({e}): \
                     nodes that were not told serve their cached tokens until the cache TTL",
                    *rows
                ))
            })?;
        }
        keys.extend(batch_keys);
        Ok(())
    };

    match &req.store {
        Location::Sqlite(path) => {
            where_ = path.display().to_string();
            trigger = false;
            let conn = store::open_sqlite(path, !req.dry_run)?;
            let (cond, params) = f.sqlite();
            if req.dry_run {
                let sql = format!(r#"SELECT "Key" FROM "PersistedGrants" WHERE {cond}"#);
                let found = sqlite_keys(&conn, &sql, &params)?;
                rows = found.len() as u64;
                keys = found.into_iter().flatten().collect();
            } else {
                let sql = format!(
                    r#"DELETE FROM "PersistedGrants" WHERE "Id" IN (
                         SELECT "Id" FROM "PersistedGrants" WHERE {cond} LIMIT {batch})
                       RETURNING "Key""#
                );
                loop {
                    let deleted = sqlite_keys(&conn, &sql, &params)?;
                    let n = deleted.len() as i64;
                    on_batch(deleted, &mut rows, &mut keys)?;
                    if n < batch {
                        break;
                    }
                }
            }
        }
        Location::Postgres(url) => {
            where_ = reftoken::redact::connection_string(url);
            let mut client = store::connect_postgres(url)?;
            trigger = has_trigger(&mut client)?;
            let session = f.session_id.as_deref();
            if req.dry_run {
                let sql = format!(r#"SELECT "Key" FROM "PersistedGrants" WHERE {PG_FILTER}"#);
                let found = client
                    .query(&sql, &[&f.subject, &session, &f.client_ids, &f.types])
                    .map_err(pg_fail)?;
                rows = found.len() as u64;
                for r in found {
                    if let Some(k) = r.try_get::<_, Option<String>>(0).map_err(pg_fail)? {
                        keys.push(k);
                    }
                }
            } else {
                // Not SKIP LOCKED: every matching row must go, so a row being written is waited
                // for. The trigger notifies each batch's keys when it commits.
                let sql = format!(
                    r#"DELETE FROM "PersistedGrants" WHERE "Id" IN (
                         SELECT "Id" FROM "PersistedGrants" WHERE {PG_FILTER}
                         LIMIT $5 FOR UPDATE)
                       RETURNING "Key""#
                );
                let stmt = client.prepare(&sql).map_err(pg_fail)?;
                loop {
                    let deleted = client
                        .query(
                            &stmt,
                            &[&f.subject, &session, &f.client_ids, &f.types, &batch],
                        )
                        .map_err(pg_fail)?
                        .into_iter()
                        .map(|r| r.try_get::<_, Option<String>>(0))
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(pg_fail)?;
                    let n = deleted.len() as i64;
                    on_batch(deleted, &mut rows, &mut keys)?;
                    if n < batch {
                        break;
                    }
                }
            }
        }
    }

    let told = match (trigger, &publish) {
        (true, Some(_)) => "the PostgreSQL trigger and Redis",
        (true, None) => "the PostgreSQL trigger",
        (false, Some(_)) => "Redis",
        (false, None) => "",
    };
    if told.is_empty() && !req.dry_run && !keys.is_empty() {
        eprintln!(
            "reftoken: warning: no node was told (the store has no RefToken revocation trigger \
             and no --redis was given): nodes serve their cached tokens until the cache TTL"
        );
    }
    let (published, subscribers) = publish.as_ref().map_or((0, 0), |p| (p.keys, p.subscribers));
    Ok(if req.json {
        json!({
            "dry_run": req.dry_run,
            "store": where_,
            "rows": rows,
            "keys": keys.len(),
            "store_keys": keys,
            "trigger": trigger,
            "published": published,
            "subscribers": subscribers,
            "channel": req.redis.as_ref().map(|(_, c)| c),
        })
        .to_string()
    } else if req.dry_run {
        format!(
            "would revoke {rows} grants ({} store keys) from {where_}",
            keys.len()
        )
    } else {
        let mut line = format!(
            "revoked {rows} grants ({} store keys) from {where_}",
            keys.len()
        );
        if !told.is_empty() {
            line.push_str(&format!("; nodes told by {told}"));
        }
        if let Some(p) = &publish {
            line.push_str(&format!(
                " ({} keys published on {}, {} deliveries)",
                p.keys, p.channel, p.subscribers
            ));
        }
        line
    })
}
