//! The store: IdentityServer's schema in a database of its own, and the rows written and
//! deleted as IdentityServer writes and deletes them.

use postgres::{Client, NoTls};
use reftoken::grant::{self, Claim, Token};

use super::*;

/// IdentityServer's `PersistedGrants` table as EF Core (Npgsql) creates it.
pub const PG_SCHEMA: &str = include_str!("../fixtures/persisted-grants-postgres.sql");

pub fn migration() -> String {
    std::fs::read_to_string(format!(
        "{}/migrations/postgres/0001_reftoken_revocation_notify.sql",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

pub fn with_dbname(url: &str, db: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a postgresql:// URL");
    let (main, query) = rest
        .split_once('?')
        .map_or((rest, None), |(m, q)| (m, Some(q)));
    let authority = main.split_once('/').map_or(main, |(a, _)| a);
    match query {
        Some(q) => format!("{scheme}://{authority}/{db}?{q}"),
        None => format!("{scheme}://{authority}/{db}"),
    }
}

pub fn connect(url: &str) -> Client {
    let mut cfg: postgres::Config = url.parse().unwrap();
    cfg.connect_timeout(Duration::from_secs(2));
    cfg.connect(NoTls)
        .unwrap_or_else(|e| panic!("connect to {url}: {e}"))
}

/// Connects, retrying while the server starts up.
pub fn connect_retrying(url: &str) -> Client {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut cfg: postgres::Config = url.parse().unwrap();
        cfg.connect_timeout(Duration::from_secs(1));
        match cfg.connect(NoTls) {
            Ok(c) => return c,
            Err(e) if Instant::now() > deadline => panic!("connect to {url}: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

pub struct TestDb {
    pub admin: String,
    pub name: String,
    pub url: String,
}

impl TestDb {
    pub fn create(admin: &str, tag: &str, notify: bool) -> TestDb {
        let name = format!("reftoken_rev_{tag}_{}", std::process::id());
        let mut c = connect_retrying(admin);
        c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .unwrap();
        c.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        let db = TestDb {
            admin: admin.to_owned(),
            url: with_dbname(admin, &name),
            name,
        };
        let mut c = connect(&db.url);
        c.batch_execute(PG_SCHEMA).unwrap();
        if notify {
            c.batch_execute(&migration()).unwrap();
        }
        db
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let mut cfg: postgres::Config = self.admin.parse().unwrap();
        cfg.connect_timeout(Duration::from_secs(2));
        if let Ok(mut c) = cfg.connect(NoTls) {
            let _ = c.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

#[derive(Clone)]
pub struct Issued {
    pub handle: String,
    pub key: String,
}

pub fn token_data(scope: &str) -> String {
    let t = Token {
        client_id: Some("c1".into()),
        issuer: Some("https://idp".into()),
        creation_time: At::from_unix_seconds(unix_now()),
        lifetime: 3600,
        claims: vec![
            Claim::new("client_id", "c1"),
            Claim::new("scope", scope),
            Claim::new("sub", "alice"),
        ],
        ..Token::default()
    };
    grant::seal_data(&t.to_json(), false)
}

/// Writes a reference token's row as IdentityServer does.
pub fn issue(pg: &mut Client) -> Issued {
    let handle = reftoken::handle::new_handle().unwrap().to_string();
    let key = reftoken::key::store_key(&handle, "reference_token")
        .unwrap()
        .to_string();
    pg.execute(
        r#"INSERT INTO "PersistedGrants" ("Key", "Type", "SubjectId", "ClientId", "CreationTime", "Expiration", "Data")
           VALUES ($1, 'reference_token', 'alice', 'c1', now(), now() + interval '1 hour', $2)"#,
        &[&key, &token_data("api1.read")],
    )
    .unwrap();
    Issued { handle, key }
}

/// Deletes a grant as IdentityServer's store does (`RemoveAsync(key)`); returns the time the
/// commit was acknowledged.
pub fn delete(pg: &mut Client, key: &str) -> u64 {
    let n = pg
        .execute(r#"DELETE FROM "PersistedGrants" WHERE "Key" = $1"#, &[&key])
        .unwrap();
    assert_eq!(n, 1);
    wall_ns()
}

/// A store in memory, for the tests that need no database: rows by store key, and a count of
/// the lookups that reached it.
#[derive(Default)]
pub struct MemStore {
    pub rows: Mutex<HashMap<String, StoredGrant>>,
    pub lookups: std::sync::atomic::AtomicU64,
}

impl MemStore {
    /// A validator over this store that keeps 10 tokens for an hour: only revocation and the
    /// staleness bound make it ask the store again.
    pub fn validator(self: &Arc<Self>) -> Arc<Validator<impl reftoken::validator::Lookup + use<>>> {
        let store = self.clone();
        Arc::new(Validator::new(
            move |k: &str| -> Result<Option<StoredGrant>, Error> {
                store
                    .lookups
                    .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Ok(store.rows.lock().unwrap().get(k).cloned())
            },
            None,
            CacheOptions {
                capacity: 10,
                ttl_seconds: 3600,
            },
        ))
    }

    /// Writes a new reference token's row.
    pub fn issue(&self) -> Issued {
        let handle = reftoken::handle::new_handle().unwrap().to_string();
        let key = reftoken::key::store_key(&handle, "reference_token")
            .unwrap()
            .to_string();
        self.restore(&key);
        Issued { handle, key }
    }

    /// Writes the row under `key` again.
    pub fn restore(&self, key: &str) {
        self.rows.lock().unwrap().insert(
            key.to_owned(),
            StoredGrant {
                grant_type: "reference_token".into(),
                data: token_data("api1.read"),
            },
        );
    }

    pub fn lookups(&self) -> u64 {
        self.lookups.load(std::sync::atomic::Ordering::SeqCst)
    }
}
