//! `reftoken cleanup`: expired (and consumed) grants deleted in bounded batches, as
//! IdentityServer's `TokenCleanupService` selects them, one leader at a time on PostgreSQL.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant as Clock};

use serde_json::json;

use crate::store::{self, Location, pg_fail, sqlite_err};
use crate::{Failure, Outcome};

/// Rows per statement on PostgreSQL. IdentityServer's default is 100; on a million-row table
/// 1000 deletes about a fifth more rows per second with statements of tens of milliseconds,
/// which lock only their own rows (benches/cleanup).
pub const POSTGRES_BATCH_SIZE: u32 = 1000;

/// Rows per statement on SQLite: IdentityServer's 100. An SQLite statement holds the lock of
/// the whole database, so every writer (IdentityServer issuing tokens) waits for it: 1000
/// rows took 243-675 ms there, 100 rows 72-95 ms (benches/cleanup, a busy 2-core machine).
pub const SQLITE_BATCH_SIZE: u32 = 100;

/// The default batch size of a store.
pub fn default_batch_size(store: &Location) -> u32 {
    match store {
        Location::Sqlite(_) => SQLITE_BATCH_SIZE,
        Location::Postgres(_) => POSTGRES_BATCH_SIZE,
    }
}

/// The advisory lock's first key ("RTKC"); the second is the table's oid, so that each
/// `PersistedGrants` table (one per schema) has a leader of its own.
const LOCK_CLASS: i32 = 0x5254_4B43;

/// How often a waiting cleanup tries the lock again.
const LOCK_POLL: Duration = Duration::from_millis(200);

pub struct Request {
    pub store: Location,
    pub batch_size: u32,
    /// `Some(delay)`: also delete grants consumed at least `delay` seconds ago.
    pub consumed_delay: Option<u32>,
    pub dry_run: bool,
    /// How long to wait for another cleanup's lock (PostgreSQL).
    pub wait: Duration,
    pub json: bool,
}

/// Which rows a pass deletes: those of `table` whose `column` is before the pass's cutoff,
/// oldest first, identified by `id`. The passes of IdentityServer's `TokenCleanupService`, in
/// its order.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Pass {
    table: &'static str,
    id: &'static str,
    column: &'static str,
    /// The consumed-grants pass (its cutoff is now minus the delay).
    consumed: bool,
}

impl Pass {
    /// A pass whose cutoff is now (every pass but the consumed grants').
    const fn expired(table: &'static str, id: &'static str, column: &'static str) -> Pass {
        Pass {
            table,
            id,
            column,
            consumed: false,
        }
    }
}

const EXPIRED: Pass = Pass::expired("PersistedGrants", "Id", "Expiration");
const CONSUMED: Pass = Pass {
    consumed: true,
    ..Pass::expired("PersistedGrants", "Id", "ConsumedTime")
};
/// Expired device flow codes (`DeviceFlowCodes`, whose key is the user code).
const DEVICE_CODES: Pass = Pass::expired("DeviceCodes", "UserCode", "Expiration");
/// Stale pushed authorization requests (Duende 7).
const PUSHED_REQUESTS: Pass = Pass::expired("PushedAuthorizationRequests", "Id", "ExpiresAtUtc");

/// What a run did.
#[derive(Default)]
struct Tally {
    expired: u64,
    consumed: u64,
    device_codes: u64,
    pushed_requests: u64,
    batches: u64,
    longest: Duration,
}

impl Tally {
    fn add(&mut self, pass: Pass, n: u64) {
        *match pass {
            p if p == EXPIRED => &mut self.expired,
            p if p == CONSUMED => &mut self.consumed,
            p if p == DEVICE_CODES => &mut self.device_codes,
            _ => &mut self.pushed_requests,
        } += n;
    }

    fn grants(&self) -> u64 {
        self.expired + self.consumed
    }
}

/// A database being cleaned.
enum Db {
    Sqlite(rusqlite::Connection),
    Postgres(postgres::Client),
}

/// The cutoffs, in each store's own time format.
struct Cutoffs {
    expired: String,
    consumed: Option<String>,
}

impl Cutoffs {
    fn of(&self, pass: Pass) -> Option<&String> {
        if pass.consumed {
            self.consumed.as_ref()
        } else {
            Some(&self.expired)
        }
    }
}

impl Db {
    /// Whether the database has `table` (device codes and pushed authorization requests are
    /// optional: older schemas, or a store that keeps only grants).
    fn has_table(&mut self, table: &str) -> Result<bool, Failure> {
        match self {
            Db::Sqlite(conn) => conn
                .query_row(
                    "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
                    [table],
                    |r| r.get::<_, i64>(0),
                )
                .map(|n| n > 0)
                .map_err(sqlite_err),
            Db::Postgres(client) => client
                .query_one("SELECT to_regclass(quote_ident($1)) IS NOT NULL", &[&table])
                .and_then(|r| r.try_get(0))
                .map_err(pg_fail),
        }
    }

    /// Rows of `pass` left. A consumed grant that has also expired counts as expired only.
    fn count(&mut self, pass: Pass, c: &Cutoffs) -> Result<u64, Failure> {
        let Some(cutoff) = c.of(pass) else {
            return Ok(0);
        };
        let (table, column) = (pass.table, pass.column);
        match self {
            Db::Sqlite(conn) => {
                let also = if pass.consumed {
                    r#" AND ("Expiration" IS NULL OR "Expiration" >= ?2)"#
                } else {
                    ""
                };
                let sql = format!(r#"SELECT count(*) FROM "{table}" WHERE "{column}" < ?1{also}"#);
                let n: i64 = if pass.consumed {
                    conn.query_row(&sql, [cutoff, &c.expired], |r| r.get(0))
                } else {
                    conn.query_row(&sql, [cutoff], |r| r.get(0))
                }
                .map_err(sqlite_err)?;
                Ok(n as u64)
            }
            Db::Postgres(client) => {
                let also = if pass.consumed {
                    r#" AND ("Expiration" IS NULL OR "Expiration" >= $2::text::timestamptz)"#
                } else {
                    ""
                };
                let sql = format!(
                    r#"SELECT count(*) FROM "{table}" WHERE "{column}" < $1::text::timestamptz{also}"#
                );
                let row = if pass.consumed {
                    client.query_one(&sql, &[cutoff, &c.expired])
                } else {
                    client.query_one(&sql, &[cutoff])
                }
                .map_err(pg_fail)?;
                Ok(row.try_get::<_, i64>(0).map_err(pg_fail)? as u64)
            }
        }
    }

    /// Deletes one batch of `pass`, oldest first; returns the rows deleted.
    fn delete_batch(&mut self, pass: Pass, c: &Cutoffs, batch: u32) -> Result<u64, Failure> {
        let Some(cutoff) = c.of(pass) else {
            return Ok(0);
        };
        let (table, id, column) = (pass.table, pass.id, pass.column);
        let batch = i64::from(batch);
        match self {
            // One statement is one transaction: SQLite's write lock is held for this batch only.
            Db::Sqlite(conn) => {
                let sql = format!(
                    r#"DELETE FROM "{table}" WHERE "{id}" IN (
                         SELECT "{id}" FROM "{table}" WHERE "{column}" < ?1
                         ORDER BY "{column}" LIMIT ?2)"#
                );
                let mut stmt = conn.prepare_cached(&sql).map_err(sqlite_err)?;
                let n = stmt
                    .execute(rusqlite::params![cutoff, batch])
                    .map_err(sqlite_err)?;
                Ok(n as u64)
            }
            // SKIP LOCKED: a row IdentityServer (or its own cleanup) is writing is left for the
            // next run rather than waited for, so the cleanup never queues behind a request.
            Db::Postgres(client) => {
                let sql = format!(
                    r#"DELETE FROM "{table}" WHERE "{id}" IN (
                         SELECT "{id}" FROM "{table}" WHERE "{column}" < $1::text::timestamptz
                         ORDER BY "{column}" LIMIT $2 FOR UPDATE SKIP LOCKED)"#
                );
                client.execute(&sql, &[cutoff, &batch]).map_err(pg_fail)
            }
        }
    }
}

/// Takes the cleanup lock of this database's `PersistedGrants`, waiting up to `wait`.
/// Returns whether it was taken. The lock is the session's: it goes when the connection
/// does, however the command ends.
fn take_lock(client: &mut postgres::Client, wait: Duration) -> Result<bool, Failure> {
    let deadline = Clock::now() + wait;
    loop {
        let row = client
            .query_one(
                r#"SELECT pg_try_advisory_lock($1, '"PersistedGrants"'::regclass::oid::int4)"#,
                &[&LOCK_CLASS],
            )
            .map_err(pg_fail)?;
        if row.try_get::<_, bool>(0).map_err(pg_fail)? {
            return Ok(true);
        }
        let left = deadline.saturating_duration_since(Clock::now());
        if left.is_zero() {
            return Ok(false);
        }
        std::thread::sleep(left.min(LOCK_POLL));
    }
}

/// Whether the revocation trigger of 0001 is installed without 0002's exemption for
/// expired rows (each deleted row would then be notified).
fn trigger_notifies_expired(client: &mut postgres::Client) -> Result<bool, Failure> {
    let row = client
        .query_one(
            r#"SELECT EXISTS (SELECT 1 FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
                 WHERE t.tgrelid = '"PersistedGrants"'::regclass AND t.tgenabled <> 'D'
                   AND t.tgname = 'reftoken_revocation_on_delete'
                   AND position('Expiration' in p.prosrc) = 0)"#,
            &[],
        )
        .map_err(pg_fail)?;
    row.try_get(0).map_err(pg_fail)
}

/// A progress bar on stderr, drawn only on a terminal, at most ten times a second.
struct Progress {
    on: bool,
    total: u64,
    done: u64,
    started: Clock,
    drawn: Option<Clock>,
}

impl Progress {
    fn new(total: u64) -> Progress {
        Progress {
            on: std::io::stderr().is_terminal() && total > 0,
            total,
            done: 0,
            started: Clock::now(),
            drawn: None,
        }
    }

    fn add(&mut self, n: u64) {
        self.done += n;
        if !self.on
            || self
                .drawn
                .is_some_and(|t| t.elapsed() < Duration::from_millis(100))
        {
            return;
        }
        self.drawn = Some(Clock::now());
        const WIDTH: u64 = 30;
        let shown = self.done.min(self.total);
        let filled = (shown * WIDTH / self.total) as usize;
        let rate = rate(self.done, self.started.elapsed());
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\rreftoken: cleanup [{}{}] {shown}/{} rows, {rate} rows/s ",
            "#".repeat(filled),
            "-".repeat(WIDTH as usize - filled),
            self.total
        );
        let _ = err.flush();
    }

    fn finish(&self) {
        if self.on && self.drawn.is_some() {
            // Clear the line: the summary goes to stdout.
            let _ = write!(std::io::stderr().lock(), "\r\x1b[2K");
        }
    }
}

fn rate(rows: u64, took: Duration) -> u64 {
    let s = took.as_secs_f64();
    if s > 0.0 { (rows as f64 / s) as u64 } else { 0 }
}

/// `reftoken cleanup ...`.
pub fn cleanup(req: Request) -> Outcome {
    let now = crate::commands::now_precise();
    let cutoffs = |fmt: fn(reftoken::instant::Instant) -> String| Cutoffs {
        expired: fmt(now),
        consumed: req
            .consumed_delay
            .map(|d| fmt(now.add_seconds(-i64::from(d)))),
    };
    let (mut db, c, where_) = match &req.store {
        Location::Sqlite(path) => (
            Db::Sqlite(store::open_sqlite(path, !req.dry_run)?),
            cutoffs(store::sqlite_time),
            path.display().to_string(),
        ),
        Location::Postgres(url) => (
            Db::Postgres(store::connect_postgres(url)?),
            cutoffs(store::postgres_time),
            reftoken::redact::connection_string(url),
        ),
    };
    let started = Clock::now();

    // IdentityServer's order: expired grants, consumed grants, device codes, pushed
    // authorization requests (the last two when the schema has them).
    let mut passes = vec![EXPIRED];
    if req.consumed_delay.is_some() {
        passes.push(CONSUMED);
    }
    for p in [DEVICE_CODES, PUSHED_REQUESTS] {
        if db.has_table(p.table)? {
            passes.push(p);
        }
    }

    if req.dry_run {
        let mut t = Tally::default();
        for &p in &passes {
            let n = db.count(p, &c)?;
            t.add(p, n);
        }
        return Ok(if req.json {
            json!({
                "dry_run": true,
                "store": where_,
                "cutoff": c.expired,
                "consumed_cutoff": c.consumed,
                "expired": t.expired,
                "consumed": t.consumed,
                "total": t.grants(),
                "device_codes": t.device_codes,
                "pushed_authorization_requests": t.pushed_requests,
            })
            .to_string()
        } else {
            format!(
                "would delete {} grants ({} expired, {} consumed){} from {where_}",
                t.grants(),
                t.expired,
                t.consumed,
                others(&t)
            )
        });
    }

    if let Db::Postgres(client) = &mut db {
        if !take_lock(client, req.wait)? {
            let waited = req.wait.as_secs();
            return Ok(if req.json {
                json!({
                    "dry_run": false,
                    "store": where_,
                    "locked": true,
                    "waited_seconds": waited,
                    "expired": 0,
                    "consumed": 0,
                    "total": 0,
                    "device_codes": 0,
                    "pushed_authorization_requests": 0,
                })
                .to_string()
            } else {
                format!(
                    "another cleanup holds the lock on {where_} (waited {waited} s): nothing \
                     deleted here"
                )
            });
        }
        if trigger_notifies_expired(client)? {
            eprintln!(
                "reftoken: note: the revocation trigger notifies every deleted key, expired or \
                 not; apply migrations/postgres/0002_reftoken_revocation_skip_expired.sql so that \
                 cleanup does not flood the listeners"
            );
        }
    }

    // Counting first costs one index scan; only the progress bar needs it.
    let total = if std::io::stderr().is_terminal() {
        let mut t = 0;
        for &p in &passes {
            t += db.count(p, &c)?;
        }
        t
    } else {
        0
    };
    let mut progress = Progress::new(total);
    let mut tally = Tally::default();
    for &pass in &passes {
        loop {
            let t = Clock::now();
            let n = db.delete_batch(pass, &c, req.batch_size);
            let took = t.elapsed();
            let n = match n {
                Ok(n) => n,
                Err(Failure::Run(m)) => {
                    progress.finish();
                    return Err(Failure::Run(format!(
                        "{m} (after deleting {} expired and {} consumed grants)",
                        tally.expired, tally.consumed
                    )));
                }
                Err(f) => return Err(f),
            };
            tally.longest = tally.longest.max(took);
            if n > 0 {
                tally.batches += 1;
            }
            tally.add(pass, n);
            progress.add(n);
            // As IdentityServer: a short batch means the rest is gone (or held by others).
            if n < u64::from(req.batch_size) {
                break;
            }
        }
    }
    progress.finish();
    let took = started.elapsed();
    let total = tally.grants();
    let rows = total + tally.device_codes + tally.pushed_requests;
    let longest_ms = tally.longest.as_secs_f64() * 1000.0;
    Ok(if req.json {
        json!({
            "dry_run": false,
            "store": where_,
            "locked": false,
            "cutoff": c.expired,
            "consumed_cutoff": c.consumed,
            "expired": tally.expired,
            "consumed": tally.consumed,
            "total": total,
            "device_codes": tally.device_codes,
            "pushed_authorization_requests": tally.pushed_requests,
            "batches": tally.batches,
            "batch_size": req.batch_size,
            "seconds": (took.as_secs_f64() * 1000.0).round() / 1000.0,
            "rows_per_second": rate(rows, took),
            "longest_statement_ms": (longest_ms * 1000.0).round() / 1000.0,
        })
        .to_string()
    } else {
        format!(
            "deleted {total} grants ({} expired, {} consumed){} from {where_} in {} batches of \
             at most {} in {:.3} s ({} rows/s; longest statement {longest_ms:.1} ms)",
            tally.expired,
            tally.consumed,
            others(&tally),
            tally.batches,
            req.batch_size,
            took.as_secs_f64(),
            rate(rows, took),
        )
    })
}

/// The device codes and pushed authorization requests of a summary line, when there are any.
fn others(t: &Tally) -> String {
    let mut s = String::new();
    if t.device_codes > 0 {
        s.push_str(&format!(", {} device codes", t.device_codes));
    }
    if t.pushed_requests > 0 {
        s.push_str(&format!(
            ", {} pushed authorization requests",
            t.pushed_requests
        ));
    }
    s
}
