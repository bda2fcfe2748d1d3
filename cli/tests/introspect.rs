//! `reftoken introspect` against the rows a real Duende IdentityServer 7.4.8 wrote
//! (tests/fixtures/duende): from its SQLite databases, from the same rows copied into
//! PostgreSQL, and from the Data column itself. Every body must be the one Duende returned.

mod common;

use std::path::Path;

use common::stores::{GrantsDb, sqlite_clients, sqlite_copy};
use common::{
    APP_NAME, Case, cases, clients, db_file, fixture, introspect_args, needs_client_config,
    reftoken, server, with_dbname, without,
};

/// Runs every case against `store_args(case)`; returns the cases whose body differed.
fn compare_all(
    cases: &[Case],
    store_args: impl Fn(&Case) -> Vec<String>,
) -> (usize, usize, Vec<String>) {
    let (mut same, mut failed_as_duende, mut differ) = (0, 0, Vec::new());
    for case in cases {
        let mut args = introspect_args(case);
        args.extend(store_args(case));
        args.push(case.handle.clone());
        let r = reftoken(&args, None);
        if case.status == 500 {
            // IdentityServer's endpoint threw; the CLI fails the same way instead of guessing.
            assert_eq!(r.code, 1, "{}: {r:?}", case.name);
            assert!(r.stderr.contains("500"), "{}: {}", case.name, r.stderr);
            failed_as_duende += 1;
        } else if r.code == 0 && r.stdout.strip_suffix('\n') == Some(case.body.as_str()) {
            same += 1;
        } else {
            differ.push(format!(
                "{}: exit {} {} {}\n  Duende: {}",
                case.name,
                r.code,
                r.stdout.trim_end(),
                r.stderr.trim_end(),
                case.body
            ));
        }
    }
    (same, failed_as_duende, differ)
}

fn copied_fixture_dbs(dir: &Path, with_clients: bool) -> [std::path::PathBuf; 2] {
    ["protected", "unprotected"].map(|db| {
        let to = sqlite_copy(dir, db_file(db), false);
        if with_clients {
            sqlite_clients(&to);
        }
        to
    })
}

#[test]
fn every_sqlite_row_introspects_as_duende_answered() {
    let all = cases();
    let with_rows = all.iter().filter(|c| c.has_row).count();
    assert!(
        all.len() >= 165 && with_rows >= 160,
        "{} cases, {with_rows} with a row",
        all.len()
    );

    // The fixture databases as Duende left them: only the operational store, so the client
    // configuration is unknown and every client counts as enabled.
    let (same, errors, differ) =
        compare_all(&all, |c| vec!["--sqlite".into(), fixture(db_file(&c.db))]);
    let expected_differ: Vec<&Case> = all.iter().filter(|c| needs_client_config(c)).collect();
    assert_eq!(differ.len(), expected_differ.len(), "{}", differ.join("\n"));
    for d in &differ {
        assert!(
            expected_differ
                .iter()
                .any(|c| d.starts_with(&format!("{}:", c.name))),
            "{d}"
        );
    }
    assert!(errors >= 4, "{errors} IdentityServer errors");
    assert_eq!(same + errors + differ.len(), all.len());

    // With the configuration store's Clients table in the same database, every case matches.
    let tmp = tempfile::tempdir().unwrap();
    let [p, u] = copied_fixture_dbs(tmp.path(), true);
    let (same, errors, differ) = compare_all(&all, |c| {
        vec![
            "--sqlite".into(),
            if c.db == "protected" { &p } else { &u }
                .to_str()
                .unwrap()
                .to_owned(),
        ]
    });
    assert!(differ.is_empty(), "{}", differ.join("\n"));
    assert_eq!(same + errors, all.len());
    println!(
        "sqlite: {same} bodies identical to Duende's, {errors} IdentityServer errors reproduced"
    );
}

#[test]
fn data_column_introspects_as_the_stored_handle() {
    // `--data` with the row's Data gives what the handle gives (no client configuration).
    let grants = common::load("grants.json");
    let mut n = 0;
    for case in cases().iter().filter(|c| {
        c.grant_type == "reference_token" && c.has_row && c.status == 200 && !needs_client_config(c)
    }) {
        let key = reftoken(&["key", &case.handle], None).line().to_owned();
        let want_db = db_file(&case.db);
        let Some(row) = grants
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["key"] == key.as_str() && g["db"] == want_db)
        else {
            panic!("{}: no row", case.name)
        };
        if row["type"] != "reference_token" || row["payload"].is_null() {
            continue; // the handle finds no readable reference token: nothing to compare
        }
        let mut args = introspect_args(case);
        args.extend(["--data".into(), "-".into()]);
        let r = reftoken(&args, Some(row["data"].as_str().unwrap().as_bytes()));
        assert_eq!(r.line(), case.body, "{}", case.name);
        n += 1;
    }
    assert!(n >= 120, "{n}");
}

#[test]
fn handle_from_stdin_and_defaults() {
    let all = cases();
    let basic = all.iter().find(|c| c.name == "basic/api1").unwrap();
    let mut args = introspect_args(basic);
    args.extend(["--sqlite".into(), fixture(db_file("protected"))]);
    let from_stdin = reftoken(&args, Some(format!("{}\n", basic.handle).as_bytes()));
    assert_eq!(from_stdin.line(), basic.body);
    args.push("-".into());
    assert_eq!(
        reftoken(&args, Some(basic.handle.as_bytes())).line(),
        basic.body
    );

    // `--scope` may list several scopes in one value.
    let r = reftoken(
        &[
            "introspect",
            "--api",
            "api1",
            "--scope",
            "api1.read api1.write",
            "--now",
            "1740830400",
            "--keyring",
            &fixture("keyring"),
            "--app-name",
            APP_NAME,
            "--sqlite",
            &fixture(db_file("protected")),
            &basic.handle,
        ],
        None,
    );
    assert_eq!(r.line(), basic.body);

    // `args`, then the fixture database `db` and `handle`.
    let on = |mut args: Vec<String>, db: &str, handle: &str| {
        args.extend(["--sqlite".into(), fixture(db_file(db)), handle.to_owned()]);
        reftoken(&args, None)
    };
    let without_ring = |c: &Case| without(without(introspect_args(c), "--keyring"), "--app-name");

    // Without --now the current time is used: the fixture tokens expired long ago.
    let r = on(
        without(introspect_args(basic), "--now"),
        "protected",
        &basic.handle,
    );
    assert_eq!(r.line(), r#"{"active":false}"#);
    // A long-lived token created at 11:59 is active now only until its expiry.
    let long = all
        .iter()
        .find(|c| c.name.starts_with("long_lifetime/api1"))
        .unwrap();
    let mut args = without(introspect_args(long), "--now");
    args.extend(["--now".into(), (1740830400 + 366 * 86400).to_string()]);
    assert_eq!(
        on(args, "protected", &long.handle).line(),
        r#"{"active":false}"#
    );

    // Protected rows need the key ring: an error, not a silent "inactive".
    let r = on(without_ring(basic), "protected", &basic.handle);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("--keyring"), "{}", r.stderr);
    // Unprotected rows do not.
    let plain = all
        .iter()
        .find(|c| c.name == "unprotected/basic/api1")
        .unwrap();
    let r = on(without_ring(plain), "unprotected", &plain.handle);
    assert_eq!(r.line(), plain.body);

    // With --explain, inactive answers say why on stderr; stdout stays the exact body.
    for (handle, why) in [
        ("not a handle!", "not a reference-token handle"),
        (
            &format!("{}-1", "A".repeat(64)) as &str,
            "no reference_token row",
        ),
    ] {
        let r = reftoken(
            &[
                "introspect",
                "--client",
                "client1",
                "--now",
                "1740830400",
                "--explain",
                "--sqlite",
                &fixture(db_file("unprotected")),
                handle,
            ],
            None,
        );
        assert_eq!(r.line(), r#"{"active":false}"#);
        assert!(r.stderr.contains(why), "{}", r.stderr);
    }
}

#[test]
fn revoked_and_expired_rows_are_rejected() {
    let tmp = tempfile::tempdir().unwrap();
    let [p, _] = copied_fixture_dbs(tmp.path(), true);
    let all = cases();
    let run = |case: &Case| {
        let mut args = introspect_args(case);
        args.extend([
            "--sqlite".into(),
            p.to_str().unwrap().to_owned(),
            case.handle.clone(),
        ]);
        reftoken(&args, None)
    };
    let basic = all.iter().find(|c| c.name == "basic/api1").unwrap();
    assert!(run(basic).line().contains(r#""active":true"#));
    // Revocation deletes the row: the same handle is inactive at once.
    let key = reftoken(&["key", &basic.handle], None).line().to_owned();
    let conn = rusqlite::Connection::open(&p).unwrap();
    assert_eq!(
        conn.execute(r#"DELETE FROM "PersistedGrants" WHERE "Key" = ?1"#, [&key])
            .unwrap(),
        1
    );
    let r = run(basic);
    assert_eq!(r.line(), r#"{"active":false}"#);
    assert!(r.stderr.is_empty(), "quiet without --explain: {}", r.stderr);
    // Expired: inactive, and the row stays (RefToken never deletes).
    for name in [
        "expired/api1",
        "one_second_past_expiry/api1",
        "half_second_past_expiry/api1",
        "one_tick_past_expiry/api1",
    ] {
        let c = all
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("{name}"));
        assert_eq!(run(c).line(), r#"{"active":false}"#, "{name}");
        let k = reftoken(&["key", &c.handle], None).line().to_owned();
        let n: i64 = conn
            .query_row(
                r#"SELECT count(*) FROM "PersistedGrants" WHERE "Key" = ?1"#,
                [&k],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 1, "{name}: the row is not deleted");
    }
    // Exactly at expiry it is still active.
    let at = all.iter().find(|c| c.name == "at_expiry/api1").unwrap();
    assert!(run(at).line().contains(r#""active":true"#));
    // A disabled client's token, once the client is re-enabled, is active.
    let dis = all
        .iter()
        .find(|c| c.name == "disabled_client_token/api1")
        .unwrap();
    assert_eq!(run(dis).line(), r#"{"active":false}"#);
    conn.execute(r#"UPDATE "Clients" SET "Enabled" = 1"#, [])
        .unwrap();
    assert!(run(dis).line().contains(r#""active":true"#));
}

// ---- PostgreSQL ----------------------------------------------------------------------------

// The test that needs PostgreSQL is named `servers_*` and ignored by a plain `cargo test`;
// `scripts/test-rust.sh` runs it as a second pass once `eval "$(scripts/test-servers.sh start)"`
// has set `REFTOKEN_TEST_POSTGRES` (any PostgreSQL URL will do).

/// Copies every row of both fixture databases into `PersistedGrants` at `url` (their keys
/// are distinct), and the fixture's clients into a `Clients` table when `with_clients`.
fn copy_rows(url: &str, with_clients: bool) -> usize {
    let mut pg = postgres::Client::connect(url, postgres::NoTls).unwrap();
    pg.batch_execute("SET TIME ZONE 'UTC'").unwrap();
    let insert = pg
        .prepare(
            r#"INSERT INTO "PersistedGrants" ("Key", "Type", "SubjectId", "SessionId", "ClientId", "Description",
                   "CreationTime", "Expiration", "ConsumedTime", "Data")
               VALUES ($1, $2, $3, $4, $5, $6, $7::text::timestamptz, $8::text::timestamptz, $9::text::timestamptz, $10)"#,
        )
        .unwrap();
    let mut n = 0;
    for db in ["protected", "unprotected"] {
        let lite = rusqlite::Connection::open_with_flags(
            fixture(db_file(db)),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap();
        let mut q = lite
            .prepare(r#"SELECT "Key", "Type", "SubjectId", "SessionId", "ClientId", "Description", "CreationTime", "Expiration", "ConsumedTime", "Data" FROM "PersistedGrants""#)
            .unwrap();
        let rows = q
            .query_map([], |r| {
                (0..10)
                    .map(|i| r.get::<_, Option<String>>(i))
                    .collect::<Result<Vec<_>, _>>()
            })
            .unwrap();
        for row in rows {
            let row = row.unwrap();
            let params: Vec<&(dyn postgres::types::ToSql + Sync)> = row
                .iter()
                .map(|v| v as &(dyn postgres::types::ToSql + Sync))
                .collect();
            pg.execute(&insert, &params).unwrap();
            n += 1;
        }
    }
    if with_clients {
        pg.batch_execute(
            r#"CREATE TABLE "Clients" ("Id" integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
                                       "Enabled" boolean NOT NULL, "ClientId" character varying(200) NOT NULL,
                                       "AllowOfflineAccess" boolean NOT NULL);
               CREATE UNIQUE INDEX "IX_Clients_ClientId" ON "Clients" ("ClientId");"#,
        )
        .unwrap();
        for (id, enabled, offline) in clients() {
            pg.execute(
                r#"INSERT INTO "Clients" ("Enabled", "ClientId", "AllowOfflineAccess") VALUES ($1, $2, $3)"#,
                &[&enabled, &id, &offline],
            )
            .unwrap();
        }
    }
    n
}

#[test]
#[ignore = "needs PostgreSQL (REFTOKEN_TEST_POSTGRES): eval \"$(scripts/test-servers.sh start)\", then scripts/test-rust.sh"]
fn servers_every_postgres_row_introspects_as_duende_answered() {
    let admin = server(
        "REFTOKEN_TEST_POSTGRES",
        "servers_every_postgres_row_introspects_as_duende_answered",
    );
    let all = cases();

    let db = GrantsDb::create(&admin, "cli_grants", &[]);
    assert!(copy_rows(&db.url, false) >= 100);
    let (same, errors, differ) = compare_all(&all, |_| vec!["--postgres".into(), db.url.clone()]);
    assert_eq!(
        differ.len(),
        all.iter().filter(|c| needs_client_config(c)).count(),
        "{}",
        differ.join("\n")
    );
    assert_eq!(same + errors + differ.len(), all.len());

    let db2 = GrantsDb::create(&admin, "cli_config", &[]);
    copy_rows(&db2.url, true);
    let (same, errors, differ) = compare_all(&all, |_| vec!["--postgres".into(), db2.url.clone()]);
    assert!(differ.is_empty(), "{}", differ.join("\n"));
    assert_eq!(same + errors, all.len());
    println!(
        "postgres: {same} bodies identical to Duende's, {errors} IdentityServer errors reproduced"
    );

    // Revocation: delete the row, the handle is inactive at once.
    let basic = all.iter().find(|c| c.name == "basic/api1").unwrap();
    let key = reftoken(&["key", &basic.handle], None).line().to_owned();
    let mut pg = postgres::Client::connect(&db2.url, postgres::NoTls).unwrap();
    assert_eq!(
        pg.execute(r#"DELETE FROM "PersistedGrants" WHERE "Key" = $1"#, &[&key])
            .unwrap(),
        1
    );
    let mut args = introspect_args(basic);
    args.extend(["--postgres".into(), db2.url.clone(), basic.handle.clone()]);
    assert_eq!(reftoken(&args, None).line(), r#"{"active":false}"#);
}

#[test]
fn dbname_substitution() {
    assert_eq!(
        with_dbname("postgresql://postgres@127.0.0.1:5432/postgres", "x"),
        "postgresql://postgres@127.0.0.1:5432/x"
    );
    assert_eq!(
        with_dbname("postgres://u:p@h/db?sslmode=disable", "x"),
        "postgres://u:p@h/x?sslmode=disable"
    );
    assert_eq!(with_dbname("postgresql://h:1", "x"), "postgresql://h:1/x");
    assert_eq!(with_dbname("host=h user=u", "x"), "host=h user=u dbname=x");
}
