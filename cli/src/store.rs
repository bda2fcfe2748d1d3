//! IdentityServer's Entity Framework Core operational store (`PersistedGrants`), and its
//! configuration store's `Clients` table when the same database holds it, in SQLite or
//! PostgreSQL. The [`Store`] readers never write; `cleanup` and `revoke` open their own
//! writable connections with [`open_sqlite`] and [`connect_postgres`].

use std::path::{Path, PathBuf};

use reftoken::validation::StoredGrant;

use crate::Failure;

/// Where a database is, as the command line names it.
pub enum Location {
    Sqlite(PathBuf),
    Postgres(String),
}

/// Opens an SQLite database file that must exist (read-only unless `write`).
pub fn open_sqlite(path: &Path, write: bool) -> Result<rusqlite::Connection, Failure> {
    let shown = path.display().to_string();
    if !path.is_file() {
        return Err(Failure::Run(format!("{shown}: no such database file")));
    }
    let access = if write {
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE
    } else {
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
    };
    let conn = rusqlite::Connection::open_with_flags(
        path,
        access | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| Failure::Run(format!("{shown}: {e}")))?;
    // A database that IdentityServer (or a migration, or another cleanup) is writing may be
    // briefly locked.
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(|e| Failure::Run(format!("{shown}: {e}")))?;
    if write {
        // Batched deletes touch a page of the table and of each of its five indexes per row;
        // SQLite's default cache (2 MiB) rereads them for every batch. 64 MiB, this
        // connection's only.
        conn.pragma_update(None, "cache_size", -65_536)
            .map_err(|e| Failure::Run(format!("{shown}: {e}")))?;
    }
    Ok(conn)
}

/// Connects with a URL (`postgresql://user@host:port/db`) or a key=value string. TLS is not
/// used: connect through a local socket, a loopback address or a tunnel.
pub fn connect_postgres(url: &str) -> Result<postgres::Client, Failure> {
    postgres::Client::connect(url, postgres::NoTls).map_err(|e| {
        // The driver's own message ("error connecting to server") names neither the server
        // nor the cause.
        Failure::Run(format!(
            "cannot connect to PostgreSQL at {}: {}",
            reftoken::redact::connection_string(url),
            reftoken::error::with_causes(&e)
        ))
    })
}

/// A database holding IdentityServer's `PersistedGrants` table.
pub trait Store {
    /// The `Type` and `Data` of the row whose `Key` is `key`.
    fn lookup(&mut self, key: &str) -> Result<Option<StoredGrant>, Failure>;

    /// A flag of the client `client_id` in the configuration store's `Clients` table (false
    /// for a client that is not there), or `None` when the database has no such table.
    fn client_flag(&mut self, client_id: &str, flag: ClientFlag) -> Result<Option<bool>, Failure>;
}

/// The columns of the `Clients` table IdentityServer's introspection consults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientFlag {
    /// `Enabled`: `FindEnabledClientByIdAsync` finds only enabled clients.
    Enabled,
    /// `AllowOfflineAccess`: whether the client may still use refresh tokens.
    AllowOfflineAccess,
}

impl ClientFlag {
    fn sqlite(self) -> &'static str {
        match self {
            ClientFlag::Enabled => r#"SELECT "Enabled" FROM "Clients" WHERE "ClientId" = ?1"#,
            ClientFlag::AllowOfflineAccess => {
                r#"SELECT "AllowOfflineAccess" FROM "Clients" WHERE "ClientId" = ?1"#
            }
        }
    }

    fn postgres(self) -> &'static str {
        match self {
            ClientFlag::Enabled => r#"SELECT "Enabled" FROM "Clients" WHERE "ClientId" = $1"#,
            ClientFlag::AllowOfflineAccess => {
                r#"SELECT "AllowOfflineAccess" FROM "Clients" WHERE "ClientId" = $1"#
            }
        }
    }
}

/// An SQLite database, opened read-only.
pub struct Sqlite {
    conn: rusqlite::Connection,
    path: String,
    has_clients: Option<bool>,
}

impl Sqlite {
    pub fn open(path: &Path) -> Result<Self, Failure> {
        Ok(Sqlite {
            conn: open_sqlite(path, false)?,
            path: path.display().to_string(),
            has_clients: None,
        })
    }

    fn err(&self, e: rusqlite::Error) -> Failure {
        Failure::Run(format!("{}: {e}", self.path))
    }
}

impl Store for Sqlite {
    fn lookup(&mut self, key: &str) -> Result<Option<StoredGrant>, Failure> {
        let mut stmt = self
            .conn
            .prepare_cached(r#"SELECT "Type", "Data" FROM "PersistedGrants" WHERE "Key" = ?1"#)
            .map_err(|e| self.err(e))?;
        let mut rows = stmt.query([key]).map_err(|e| self.err(e))?;
        match rows.next().map_err(|e| self.err(e))? {
            None => Ok(None),
            Some(r) => Ok(Some(StoredGrant {
                grant_type: r.get(0).map_err(|e| self.err(e))?,
                data: r.get(1).map_err(|e| self.err(e))?,
            })),
        }
    }

    fn client_flag(&mut self, client_id: &str, flag: ClientFlag) -> Result<Option<bool>, Failure> {
        if self.has_clients.is_none() {
            let n: i64 = self
                .conn
                .query_row(
                    "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'Clients'",
                    [],
                    |r| r.get(0),
                )
                .map_err(|e| self.err(e))?;
            self.has_clients = Some(n > 0);
        }
        if self.has_clients != Some(true) {
            return Ok(None);
        }
        let mut stmt = self
            .conn
            .prepare_cached(flag.sqlite())
            .map_err(|e| self.err(e))?;
        let mut rows = stmt.query([client_id]).map_err(|e| self.err(e))?;
        match rows.next().map_err(|e| self.err(e))? {
            None => Ok(Some(false)),
            Some(r) => Ok(Some(r.get::<_, bool>(0).map_err(|e| self.err(e))?)),
        }
    }
}

/// A PostgreSQL database (Npgsql's schema: quoted, PascalCase identifiers).
pub struct Postgres {
    client: postgres::Client,
    has_clients: Option<bool>,
}

impl Postgres {
    /// Connects as [`connect_postgres`] does.
    pub fn connect(url: &str) -> Result<Self, Failure> {
        Ok(Postgres {
            client: connect_postgres(url)?,
            has_clients: None,
        })
    }
}

fn pg_err(e: postgres::Error) -> Failure {
    Failure::Run(format!("PostgreSQL: {e}"))
}

/// A PostgreSQL error with its causes (the server's own message is a cause of "db error").
pub fn pg_fail(e: postgres::Error) -> Failure {
    Failure::Run(format!("PostgreSQL: {}", reftoken::error::with_causes(&e)))
}

pub fn sqlite_err(e: rusqlite::Error) -> Failure {
    Failure::Run(format!("SQLite: {e}"))
}

/// A time as EF Core's SQLite provider stores a `DateTime` (`yyyy-MM-dd HH:mm:ss.FFFFFFF`):
/// such texts compare in time order, so a text comparison is the time comparison.
pub fn sqlite_time(t: reftoken::instant::Instant) -> String {
    let mut s = String::new();
    reftoken::instant::format(t, &mut s);
    s.pop(); // the `Z`
    s.replacen('T', " ", 1)
}

/// A time as a PostgreSQL `timestamptz` literal (ISO 8601, UTC).
pub fn postgres_time(t: reftoken::instant::Instant) -> String {
    let mut s = String::new();
    reftoken::instant::format(t, &mut s);
    s
}

impl Store for Postgres {
    fn lookup(&mut self, key: &str) -> Result<Option<StoredGrant>, Failure> {
        let rows = self
            .client
            .query(
                r#"SELECT "Type", "Data" FROM "PersistedGrants" WHERE "Key" = $1"#,
                &[&key],
            )
            .map_err(pg_err)?;
        match rows.first() {
            None => Ok(None),
            Some(r) => Ok(Some(StoredGrant {
                grant_type: r.try_get(0).map_err(pg_err)?,
                data: r.try_get(1).map_err(pg_err)?,
            })),
        }
    }

    fn client_flag(&mut self, client_id: &str, flag: ClientFlag) -> Result<Option<bool>, Failure> {
        if self.has_clients.is_none() {
            let row = self
                .client
                .query_one(r#"SELECT to_regclass('"Clients"') IS NOT NULL"#, &[])
                .map_err(pg_err)?;
            self.has_clients = Some(row.try_get(0).map_err(pg_err)?);
        }
        if self.has_clients != Some(true) {
            return Ok(None);
        }
        let rows = self
            .client
            .query(flag.postgres(), &[&client_id])
            .map_err(pg_err)?;
        match rows.first() {
            None => Ok(Some(false)),
            Some(r) => Ok(Some(r.try_get::<_, bool>(0).map_err(pg_err)?)),
        }
    }
}
