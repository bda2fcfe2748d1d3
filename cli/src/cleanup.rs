//! `reftoken cleanup`: expired (and consumed) grants deleted in bounded batches, as
//! IdentityServer's `TokenCleanupService` selects them, one leader at a time on PostgreSQL.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant as Clock};

use serde_json::json;

use crate::store::{self, Location, pg_fail, sqlite_err};
use crate::{Failure, Outcome};

/// Rows per statement. IdentityServer's default is 100; 1000 keeps each PostgreSQL and SQLite
/// statement in the low milliseconds on an indexed table (see cli/bench/cleanup.sh) while
/// needing a tenth of the round trips.
pub const DEFAULT_BATCH_SIZE: u32 = 1000;

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

/// Which rows a pass deletes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pass {
    /// `Expiration < cutoff`.
    Expired,
    /// `ConsumedTime < threshold`, and not expired (those went in the first pass).
    Consumed,
}

/// What a run did.
#[derive(Default)]
struct Tally {
    expired: u64,
    consumed: u64,
    batches: u64,
    longest: Duration,
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

impl Db {
    /// Rows of `pass` left.
    fn count(&mut self, pass: Pass, c: &Cutoffs) -> Result<u64, Failure> {
        let Some(consumed) = cutoff(pass, c) else {
            return Ok(0);
        };
        match self {
            Db::Sqlite(conn) => {
                let sql = match pass {
                    Pass::Expired => {
                        r#"SELECT count(*) FROM "PersistedGrants" WHERE "Expiration" < ?1"#
                    }
                    Pass::Consumed => {
                        r#"SELECT count(*) FROM "PersistedGrants" WHERE "ConsumedTime" < ?2
                           AND ("Expiration" IS NULL OR "Expiration" >= ?1)"#
                    }
                };
                let n: i64 = if pass == Pass::Expired {
                    conn.query_row(sql, [&c.expired], |r| r.get(0))
                } else {
                    conn.query_row(sql, [&c.expired, consumed], |r| r.get(0))
                }
                .map_err(sqlite_err)?;
                Ok(n as u64)
            }
            Db::Postgres(client) => {
                let row = match pass {
                    Pass::Expired => client.query_one(
                        r#"SELECT count(*) FROM "PersistedGrants"
                           WHERE "Expiration" < $1::text::timestamptz"#,
                        &[&c.expired],
                    ),
                    Pass::Consumed => client.query_one(
                        r#"SELECT count(*) FROM "PersistedGrants"
                           WHERE "ConsumedTime" < $2::text::timestamptz
                           AND ("Expiration" IS NULL OR "Expiration" >= $1::text::timestamptz)"#,
                        &[&c.expired, consumed],
                    ),
                }
                .map_err(pg_fail)?;
                Ok(row.try_get::<_, i64>(0).map_err(pg_fail)? as u64)
            }
        }
    }

    /// Deletes one batch of `pass`, oldest first; returns the rows deleted.
    fn delete_batch(&mut self, pass: Pass, c: &Cutoffs, batch: u32) -> Result<u64, Failure> {
        let Some(consumed) = cutoff(pass, c) else {
            return Ok(0);
        };
        let batch = i64::from(batch);
        match self {
            // One statement is one transaction: SQLite's write lock is held for this batch only.
            Db::Sqlite(conn) => {
                let n = match pass {
                    Pass::Expired => conn.execute(
                        r#"DELETE FROM "PersistedGrants" WHERE "Id" IN (
                             SELECT "Id" FROM "PersistedGrants" WHERE "Expiration" < ?1
                             ORDER BY "Expiration" LIMIT ?2)"#,
                        rusqlite::params![c.expired, batch],
                    ),
                    Pass::Consumed => conn.execute(
                        r#"DELETE FROM "PersistedGrants" WHERE "Id" IN (
                             SELECT "Id" FROM "PersistedGrants" WHERE "ConsumedTime" < ?2
                             ORDER BY "ConsumedTime" LIMIT ?3)"#,
                        rusqlite::params![c.expired, consumed, batch],
                    ),
                }
                .map_err(sqlite_err)?;
                Ok(n as u64)
            }
            // SKIP LOCKED: a row IdentityServer (or its own cleanup) is writing is left for the
            // next run rather than waited for, so the cleanup never queues behind a request.
            Db::Postgres(client) => {
                let n = match pass {
                    Pass::Expired => client.execute(
                        r#"DELETE FROM "PersistedGrants" WHERE "Id" IN (
                             SELECT "Id" FROM "PersistedGrants"
                             WHERE "Expiration" < $1::text::timestamptz
                             ORDER BY "Expiration" LIMIT $2 FOR UPDATE SKIP LOCKED)"#,
                        &[&c.expired, &batch],
                    ),
                    Pass::Consumed => client.execute(
                        r#"DELETE FROM "PersistedGrants" WHERE "Id" IN (
                             SELECT "Id" FROM "PersistedGrants"
                             WHERE "ConsumedTime" < $1::text::timestamptz
                             ORDER BY "ConsumedTime" LIMIT $2 FOR UPDATE SKIP LOCKED)"#,
                        &[consumed, &batch],
                    ),
                }
                .map_err(pg_fail)?;
                Ok(n)
            }
        }
    }
}

fn cutoff<'a>(pass: Pass, c: &'a Cutoffs) -> Option<&'a String> {
    match pass {
        Pass::Expired => Some(&c.expired),
        Pass::Consumed => c.consumed.as_ref(),
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

    let passes: &[Pass] = if req.consumed_delay.is_some() {
        &[Pass::Expired, Pass::Consumed]
    } else {
        &[Pass::Expired]
    };

    if req.dry_run {
        let expired = db.count(Pass::Expired, &c)?;
        let consumed = db.count(Pass::Consumed, &c)?;
        return Ok(if req.json {
            json!({
                "dry_run": true,
                "store": where_,
                "cutoff": c.expired,
                "consumed_cutoff": c.consumed,
                "expired": expired,
                "consumed": consumed,
                "total": expired + consumed,
            })
            .to_string()
        } else {
            format!(
                "would delete {} grants ({expired} expired, {consumed} consumed) from {where_}",
                expired + consumed
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
        for &p in passes {
            t += db.count(p, &c)?;
        }
        t
    } else {
        0
    };
    let mut progress = Progress::new(total);
    let mut tally = Tally::default();
    for &pass in passes {
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
            match pass {
                Pass::Expired => tally.expired += n,
                Pass::Consumed => tally.consumed += n,
            }
            progress.add(n);
            // As IdentityServer: a short batch means the rest is gone (or held by others).
            if n < u64::from(req.batch_size) {
                break;
            }
        }
    }
    progress.finish();
    let took = started.elapsed();
    let total = tally.expired + tally.consumed;
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
            "batches": tally.batches,
            "batch_size": req.batch_size,
            "seconds": (took.as_secs_f64() * 1000.0).round() / 1000.0,
            "rows_per_second": rate(total, took),
            "longest_statement_ms": (longest_ms * 1000.0).round() / 1000.0,
        })
        .to_string()
    } else {
        format!(
            "deleted {total} grants ({} expired, {} consumed) from {where_} in {} batches of at \
             most {} in {:.3} s ({} rows/s; longest statement {longest_ms:.1} ms)",
            tally.expired,
            tally.consumed,
            tally.batches,
            req.batch_size,
            took.as_secs_f64(),
            rate(total, took),
        )
    })
}
