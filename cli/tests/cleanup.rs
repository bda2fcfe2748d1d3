//! `reftoken cleanup` on IdentityServer's own schema: SQLite (the EF Core schema of the Duende
//! fixtures) and PostgreSQL (the Npgsql schema with RefToken's migrations, a listener counting
//! what the revocation trigger notifies).
//!
//! Servers: the tests that need them are named `servers_*` and ignored by a plain `cargo test`
//! (see watch.rs): `eval "$(scripts/test-servers.sh start)"`, then `scripts/test-rust.sh`.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant as Clock};

use common::stores::{
    GrantsDb, MIGRATIONS, count, notified, pg_count, pg_rows, sqlite_copy, sqlite_rows,
};
use common::{Run, json, reftoken, server, spawn, unix_now};
use serde_json::Value;

// ---------------------------------------------------------------------------------------
// SQLite

/// `reftoken cleanup --sqlite DB MORE...`.
fn sqlite_cleanup(db: &str, more: &[&str]) -> Run {
    let mut args = vec!["cleanup", "--sqlite", db];
    args.extend_from_slice(more);
    reftoken(&args, None)
}

#[test]
fn cleanup_sqlite_deletes_what_identityserver_would_in_bounded_batches() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_copy(dir.path(), "persisted-grants-unprotected.db", true);
    let c = rusqlite::Connection::open(&db).unwrap();
    sqlite_rows(&c, 1234, "old", Some("-1 hour"), None);
    sqlite_rows(&c, 7, "just", Some("-2 seconds"), None);
    sqlite_rows(
        &c,
        300,
        "consumed-long-ago",
        Some("+1 hour"),
        Some("-2 hours"),
    );
    sqlite_rows(
        &c,
        40,
        "consumed-recently",
        Some("+1 hour"),
        Some("-10 minutes"),
    );
    sqlite_rows(&c, 500, "live", Some("+1 hour"), None);
    sqlite_rows(&c, 9, "no-expiration", None, None);
    let db_s = db.to_str().unwrap();

    // Dry runs count and delete nothing.
    let r = sqlite_cleanup(db_s, &["--dry-run", "--json"]);
    let j = json(&r);
    assert_eq!(
        (j["expired"].as_u64(), j["consumed"].as_u64()),
        (Some(1241), Some(0))
    );
    let r = sqlite_cleanup(
        db_s,
        &["--dry-run", "--consumed", "--consumed-delay", "3600"],
    );
    assert!(
        r.line()
            .starts_with("would delete 1541 grants (1241 expired, 300 consumed) from "),
        "{}",
        r.stdout
    );
    assert_eq!(count(&c, "1"), 2090);

    // Batches of at most 100: 1241 rows are 13 statements; the summary says so, and nothing
    // but the expired rows went.
    let r = sqlite_cleanup(db_s, &["--batch-size", "100", "--json"]);
    assert!(
        r.stderr.is_empty(),
        "no progress bar off a terminal: {}",
        r.stderr
    );
    let j = json(&r);
    assert_eq!(j["expired"], 1241);
    assert_eq!(j["consumed"], 0);
    assert_eq!(j["batches"], 13);
    assert_eq!(j["locked"], false);
    assert!(j["longest_statement_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(count(&c, "1"), 849);
    assert_eq!(count(&c, r#""SubjectId" IN ('old', 'just')"#), 0);

    // Consumed grants older than the delay (ConsumedTokenCleanupDelay), not the recent ones.
    let r = sqlite_cleanup(db_s, &["--consumed", "--consumed-delay", "3600"]);
    assert!(
        r.line()
            .starts_with("deleted 300 grants (0 expired, 300 consumed) from ")
            && r.line().contains(" in 3 batches of at most 100 "),
        "{}",
        r.stdout
    );
    assert_eq!(count(&c, "1"), 549);
    assert_eq!(count(&c, r#""SubjectId" = 'consumed-recently'"#), 40);
    assert_eq!(count(&c, r#""Expiration" IS NULL"#), 9);

    // Nothing left to do: a clean summary, exit 0.
    let j = json(&sqlite_cleanup(db_s, &["--json"]));
    assert_eq!(
        (j["total"].as_u64(), j["batches"].as_u64()),
        (Some(0), Some(0))
    );
}

#[test]
fn cleanup_sqlite_also_removes_stale_device_codes_and_pushed_requests() {
    // TokenCleanupService's other two passes, on the tables EF Core creates beside the grants.
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_copy(dir.path(), "persisted-grants-unprotected.db", true);
    let c = rusqlite::Connection::open(&db).unwrap();
    for (code, when) in [("A", "-1 hour"), ("B", "-1 day"), ("C", "+5 minutes")] {
        c.execute(
            &format!(
                r#"INSERT INTO "DeviceCodes" ("UserCode", "DeviceCode", "ClientId", "CreationTime", "Expiration", "Data")
                   VALUES (?1, ?1 || 'dev', 'c1', strftime('%Y-%m-%d %H:%M:%f', 'now', '-2 hours'),
                           strftime('%Y-%m-%d %H:%M:%f', 'now', '{when}'), '{{}}')"#
            ),
            [code],
        )
        .unwrap();
    }
    for (i, when) in ["-10 seconds", "+1 minute"].iter().enumerate() {
        c.execute(
            &format!(
                r#"INSERT INTO "PushedAuthorizationRequests" ("ReferenceValueHash", "ExpiresAtUtc", "Parameters")
                   VALUES ('h{i}', strftime('%Y-%m-%d %H:%M:%f', 'now', '{when}'), 'p')"#
            ),
            [],
        )
        .unwrap();
    }
    sqlite_rows(&c, 3, "old", Some("-1 hour"), None);
    let db_s = db.to_str().unwrap();
    let j = json(&sqlite_cleanup(db_s, &["--dry-run", "--json"]));
    assert_eq!(
        (
            j["total"].as_u64(),
            j["device_codes"].as_u64(),
            j["pushed_authorization_requests"].as_u64()
        ),
        (Some(3), Some(2), Some(1))
    );
    let r = sqlite_cleanup(db_s, &["--batch-size", "1"]);
    assert!(
        r.line().starts_with(
            "deleted 3 grants (3 expired, 0 consumed), 2 device codes, 1 pushed authorization requests from "
        ) && r.line().contains(" in 6 batches of at most 1 "),
        "{}",
        r.stdout
    );
    let left = |sql: &str| -> String { c.query_row(sql, [], |r| r.get(0)).unwrap() };
    assert_eq!(
        left(r#"SELECT group_concat("UserCode") FROM "DeviceCodes""#),
        "C"
    );
    assert_eq!(
        left(r#"SELECT group_concat("ReferenceValueHash") FROM "PushedAuthorizationRequests""#),
        "h1"
    );
}

#[test]
fn cleanup_of_duende_written_rows_removes_exactly_the_expired_ones() {
    // The fixture rows carry the times IdentityServer wrote; grants.json records them.
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_copy(dir.path(), "persisted-grants.db", false);
    let now = unix_now();
    let grants = common::load("grants.json");
    let mine: Vec<&Value> = grants
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["db"] == "persisted-grants.db")
        .collect();
    let unix = |s: &str| {
        // "yyyy-MM-dd HH:mm:ss": days from the civil date (Howard Hinnant's algorithm).
        let (y, m, d): (i64, i64, i64) = (
            s[0..4].parse().unwrap(),
            s[5..7].parse().unwrap(),
            s[8..10].parse().unwrap(),
        );
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        let (h, mi, se): (i64, i64, i64) = (
            s[11..13].parse().unwrap(),
            s[14..16].parse().unwrap(),
            s[17..19].parse().unwrap(),
        );
        days * 86_400 + h * 3600 + mi * 60 + se
    };
    let expired = mine
        .iter()
        .filter(|g| g["expiration"].as_str().is_some_and(|e| unix(e) < now))
        .count();
    assert!(expired > 0);
    let r = sqlite_cleanup(db.to_str().unwrap(), &["--json"]);
    assert_eq!(json(&r)["expired"], expired as u64);
    let c = rusqlite::Connection::open(&db).unwrap();
    assert_eq!(count(&c, "1") as usize, mine.len() - expired);
}

// ---------------------------------------------------------------------------------------
// Exit codes

mod usage_errors {
    crate::exits! { 2 =>
        no_store: ["cleanup"];
        two_stores: ["cleanup", "--sqlite", "a.db", "--postgres", "postgresql://h/db"];
        batch_size_0: ["cleanup", "--sqlite", "a.db", "--batch-size", "0"];
        consumed_delay_without_consumed: ["cleanup", "--sqlite", "a.db", "--consumed-delay", "10"];
        negative_wait: ["cleanup", "--sqlite", "a.db", "--wait", "-1"];
    }
}

mod store_errors {
    crate::exits! { 1 =>
        missing_sqlite_file: ["cleanup", "--sqlite", "/nonexistent/grants.db"];
        unreachable_postgres_password_masked: [
            "cleanup",
            "--postgres",
            "postgresql://nobody:hunter2@127.0.0.1:1/none",
        ];
    }
}

// ---------------------------------------------------------------------------------------
// PostgreSQL

#[test]
#[ignore = "needs PostgreSQL (REFTOKEN_TEST_POSTGRES): eval \"$(scripts/test-servers.sh start)\", then scripts/test-rust.sh"]
fn servers_two_cleanups_at_once_one_leader_no_notification_flood() {
    let admin = server(
        "REFTOKEN_TEST_POSTGRES",
        "servers_two_cleanups_at_once_one_leader_no_notification_flood",
    );
    let db = GrantsDb::create(&admin, "cleanup", MIGRATIONS);
    let mut c = db.connect();
    pg_rows(&mut c, 30_000, "old", "u", "-1 hour");
    pg_rows(&mut c, 3, "recent", "u", "-10 seconds");
    pg_rows(&mut c, 100, "live", "u", "1 hour");
    let mut listen = db.connect();
    listen.batch_execute("LISTEN reftoken_revocations").unwrap();

    // Two cleanups started together: both exit 0; one deletes everything, the other either
    // found the lock taken or (started after the first was done) nothing left.
    let args = [
        "cleanup",
        "--postgres",
        &db.url,
        "--batch-size",
        "100",
        "--json",
    ];
    let (a, b) = (spawn(&args, Stdio::null()), spawn(&args, Stdio::null()));
    let mut deleted = 0;
    let mut locked = 0;
    for child in [a, b] {
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let j: Value = serde_json::from_slice(&out.stdout).unwrap();
        deleted += j["expired"].as_u64().unwrap();
        if j["locked"] == true {
            locked += 1;
            assert_eq!(j["expired"], 0);
        } else {
            assert!(j["batches"].as_u64().unwrap() <= 301);
        }
    }
    eprintln!("{locked} of the two cleanups found the lock taken");
    assert_eq!(deleted, 30_003);
    assert_eq!(pg_count(&mut c), 100);
    // 0002: rows expired for a minute or more are not notified; the three that expired
    // seconds ago still are (validators with slow clocks may still serve them).
    let mut keys = notified(&mut listen, Duration::from_millis(500));
    keys.sort();
    assert_eq!(keys, ["recent1", "recent2", "recent3"]);

    // A cleanup that finds the lock held waits up to --wait, then leaves it to the holder.
    pg_rows(&mut c, 50, "later", "u", "-1 hour");
    let mut holder = db.connect();
    holder
        .batch_execute(
            r#"SELECT pg_advisory_lock(1381256003, '"PersistedGrants"'::regclass::oid::int4)"#,
        )
        .unwrap();
    let t = Clock::now();
    let r = reftoken(&["cleanup", "--postgres", &db.url, "--wait", "1"], None);
    assert!(t.elapsed() >= Duration::from_millis(900));
    assert!(
        r.line().starts_with("another cleanup holds the lock on "),
        "{}",
        r.stdout
    );
    assert_eq!(pg_count(&mut c), 150);
    // Released while the next one waits: it takes over and does the work.
    let waiter = spawn(
        &["cleanup", "--postgres", &db.url, "--wait", "20", "--json"],
        Stdio::null(),
    );
    std::thread::sleep(Duration::from_millis(500));
    drop(holder);
    let out = waiter.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let j: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (j["locked"].as_bool(), j["expired"].as_u64()),
        (Some(false), Some(50))
    );
}

#[test]
#[ignore = "needs PostgreSQL (REFTOKEN_TEST_POSTGRES): eval \"$(scripts/test-servers.sh start)\", then scripts/test-rust.sh"]
fn servers_cleanup_without_0002_notifies_and_says_so() {
    let admin = server(
        "REFTOKEN_TEST_POSTGRES",
        "servers_cleanup_without_0002_notifies_and_says_so",
    );
    let db = GrantsDb::create(&admin, "cleanup0001", &MIGRATIONS[..1]);
    let mut c = db.connect();
    pg_rows(&mut c, 5, "old", "u", "-1 hour");
    let mut listen = db.connect();
    listen.batch_execute("LISTEN reftoken_revocations").unwrap();
    let r = reftoken(&["cleanup", "--postgres", &db.url, "--dry-run"], None);
    assert!(
        r.line()
            .starts_with("would delete 5 grants (5 expired, 0 consumed)")
    );
    let r = reftoken(&["cleanup", "--postgres", &db.url], None);
    assert!(r.line().starts_with("deleted 5 grants"), "{}", r.stdout);
    assert!(
        r.stderr
            .contains("0002_reftoken_revocation_skip_expired.sql"),
        "{}",
        r.stderr
    );
    assert_eq!(notified(&mut listen, Duration::from_millis(500)).len(), 5);
    // The down migration of 0002 restores this behaviour.
    let db2 = GrantsDb::create(&admin, "cleanupdown", MIGRATIONS);
    let down = std::fs::read_to_string(format!(
        "{}/../migrations/postgres/0002_reftoken_revocation_skip_expired.down.sql",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let mut c2 = db2.connect();
    c2.batch_execute(&down).unwrap();
    pg_rows(&mut c2, 2, "old", "u", "-1 hour");
    let r = reftoken(&["cleanup", "--postgres", &db2.url], None);
    assert!(
        r.stderr
            .contains("0002_reftoken_revocation_skip_expired.sql"),
        "{}",
        r.stderr
    );
}
