//! IdentityServer's grant stores for the operator tests (`reftoken cleanup`, `revoke`):
//! copies of the Duende fixture databases (EF Core's SQLite schema), PostgreSQL databases of
//! their own (Npgsql's schema with RefToken's migrations), rows inserted with each store's own
//! clock, and the notifications a listener received.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{PG_SCHEMA, fixtures, with_dbname};

// ---------------------------------------------------------------------------------------
// SQLite

/// A copy of the Duende fixture database (EF Core's SQLite schema, written by IdentityServer)
/// with its rows, or emptied.
pub fn sqlite_copy(dir: &Path, file: &str, empty: bool) -> PathBuf {
    let path = dir.join(file);
    std::fs::copy(fixtures().join(file), &path).unwrap();
    if empty {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute(r#"DELETE FROM "PersistedGrants""#, []).unwrap();
    }
    path
}

/// Adds the configuration store's `Clients` table (the columns the CLI reads, as EF Core
/// names them) with the fixture's clients.
pub fn sqlite_clients(db: &Path) {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.execute_batch(
        r#"CREATE TABLE "Clients" (
               "Id" INTEGER NOT NULL CONSTRAINT "PK_Clients" PRIMARY KEY AUTOINCREMENT,
               "Enabled" INTEGER NOT NULL,
               "ClientId" TEXT NOT NULL,
               "AllowOfflineAccess" INTEGER NOT NULL);
           CREATE UNIQUE INDEX "IX_Clients_ClientId" ON "Clients" ("ClientId");"#,
    )
    .unwrap();
    for (id, enabled, offline) in super::clients() {
        conn.execute(
            r#"INSERT INTO "Clients" ("Enabled", "ClientId", "AllowOfflineAccess") VALUES (?1, ?2, ?3)"#,
            rusqlite::params![enabled, id, offline],
        )
        .unwrap();
    }
}

/// Inserts `n` rows whose Expiration and ConsumedTime are SQLite time expressions relative to
/// now (`None`: NULL), in EF Core's text format (SQLite's own clock and formatting).
pub fn sqlite_rows(
    c: &rusqlite::Connection,
    n: u32,
    sub: &str,
    expiration: Option<&str>,
    consumed: Option<&str>,
) {
    let t = |m: Option<&str>| {
        m.map_or("NULL".to_owned(), |m| {
            format!("strftime('%Y-%m-%d %H:%M:%f', 'now', '{m}')")
        })
    };
    c.execute(
        &format!(
            r#"WITH RECURSIVE i(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM i WHERE x < {n})
               INSERT INTO "PersistedGrants" ("Key", "Type", "SubjectId", "ClientId", "CreationTime",
                   "Expiration", "ConsumedTime", "Data")
               SELECT hex(randomblob(32)), 'reference_token', ?1, 'c1',
                   strftime('%Y-%m-%d %H:%M:%f', 'now', '-2 days'), {}, {}, '{{}}' FROM i"#,
            t(expiration),
            t(consumed)
        ),
        [sub],
    )
    .unwrap();
}

/// Rows of `PersistedGrants` where `cond` holds.
pub fn count(c: &rusqlite::Connection, cond: &str) -> i64 {
    c.query_row(
        &format!(r#"SELECT count(*) FROM "PersistedGrants" WHERE {cond}"#),
        [],
        |r| r.get(0),
    )
    .unwrap()
}

// ---------------------------------------------------------------------------------------
// PostgreSQL

/// A database of its own with IdentityServer's table and the migrations up to `migrations`,
/// dropped afterwards.
pub struct GrantsDb {
    pub admin: String,
    pub name: String,
    pub url: String,
}

impl GrantsDb {
    pub fn create(admin: &str, tag: &str, migrations: &[&str]) -> GrantsDb {
        let name = format!("reftoken_ops_{tag}_{}", std::process::id());
        let mut c = postgres::Client::connect(admin, postgres::NoTls).expect("connect");
        c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .unwrap();
        c.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        let db = GrantsDb {
            admin: admin.to_owned(),
            url: with_dbname(admin, &name),
            name,
        };
        let mut c = db.connect();
        c.batch_execute(PG_SCHEMA).unwrap();
        for m in migrations {
            let sql = std::fs::read_to_string(format!(
                "{}/../migrations/postgres/{m}.sql",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap();
            c.batch_execute(&sql).unwrap();
        }
        db
    }

    pub fn connect(&self) -> postgres::Client {
        postgres::Client::connect(&self.url, postgres::NoTls).expect("connect")
    }
}

impl Drop for GrantsDb {
    fn drop(&mut self) {
        if let Ok(mut c) = postgres::Client::connect(&self.admin, postgres::NoTls) {
            let _ = c.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

/// RefToken's PostgreSQL migrations, in order.
pub const MIGRATIONS: &[&str] = &[
    "0001_reftoken_revocation_notify",
    "0002_reftoken_revocation_skip_expired",
];

/// `n` rows for `sub` expiring at `now() + expiration`, keys `{prefix}{i}`.
pub fn pg_rows(c: &mut postgres::Client, n: i32, prefix: &str, sub: &str, expiration: &str) {
    c.execute(
        &format!(
            r#"INSERT INTO "PersistedGrants" ("Key", "Type", "SubjectId", "ClientId", "CreationTime", "Expiration", "Data")
               SELECT $1 || i, 'reference_token', $2, 'c1', now() - interval '2 days',
                      now() + interval '{expiration}', '{{}}'
               FROM generate_series(1, $3) i"#
        ),
        &[&prefix, &sub, &n],
    )
    .unwrap();
}

/// Rows of `PersistedGrants`.
pub fn pg_count(c: &mut postgres::Client) -> i64 {
    c.query_one(r#"SELECT count(*) FROM "PersistedGrants""#, &[])
        .unwrap()
        .get(0)
}

/// Notifications received on `c` (which LISTENs) within `d`.
pub fn notified(c: &mut postgres::Client, d: Duration) -> Vec<String> {
    use postgres::fallible_iterator::FallibleIterator;
    let mut out = Vec::new();
    let mut n = c.notifications();
    let mut it = n.timeout_iter(d);
    while let Some(m) = it.next().unwrap() {
        out.push(m.payload().to_owned());
    }
    out
}
