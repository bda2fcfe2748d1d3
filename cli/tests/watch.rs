//! `reftoken watch`: revoked store keys printed as they are revoked, from a real PostgreSQL
//! (IdentityServer's `PersistedGrants` table with the revocation migration's triggers) and a
//! real Redis; and its errors.
//!
//! Servers: the tests that need them are named `servers_*` and ignored by a plain `cargo test`
//! (which lists them as ignored, with what they need). `eval "$(scripts/test-servers.sh start)"`
//! sets `REFTOKEN_TEST_POSTGRES_NOTIFY` and `REFTOKEN_TEST_REDIS`; `scripts/test-rust.sh` then
//! runs them as a second pass (`-- --ignored servers_`), and fails under `CI=true` without the
//! variables. Run on their own, without the variables, they fail.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::Duration;

use common::stores::GrantsDb;
use common::{new_handle, reftoken, server, spawn};

const PATIENCE: Duration = Duration::from_secs(20);

/// A running `reftoken watch`, killed when dropped.
struct Watch {
    child: Child,
    stdout: Option<Receiver<String>>,
    stderr: Receiver<String>,
}

fn lines<R: std::io::Read + Send + 'static>(r: R) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(r).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

impl Watch {
    /// Starts `reftoken watch ARGS...` and waits until it says it listens.
    fn start(args: &[&str]) -> Watch {
        let mut child = spawn(&[&["watch"], args].concat(), Stdio::null());
        let stdout: ChildStdout = child.stdout.take().unwrap();
        let w = Watch {
            stdout: Some(lines(stdout)),
            stderr: lines(child.stderr.take().unwrap()),
            child,
        };
        let said = w
            .stderr
            .recv_timeout(PATIENCE)
            .unwrap_or_else(|e| panic!("watch {args:?} said nothing on stderr: {e}"));
        assert!(said.starts_with("reftoken: listening on "), "{said}");
        w
    }

    /// The next line on stdout.
    fn next(&self) -> String {
        self.stdout
            .as_ref()
            .unwrap()
            .recv_timeout(PATIENCE)
            .expect("a line on stdout")
    }

    /// Whether stdout stays quiet for `d`.
    fn quiet_for(&self, d: Duration) -> bool {
        self.stdout.as_ref().unwrap().recv_timeout(d).is_err()
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A reference token's row under the key of a new handle; returns the key.
fn insert(c: &mut postgres::Client) -> String {
    let (_, key) = new_handle();
    c.execute(
        r#"INSERT INTO "PersistedGrants" ("Key", "Type", "SubjectId", "ClientId", "CreationTime", "Expiration", "Data")
           VALUES ($1, 'reference_token', 'alice', 'client1', now(), now() + interval '1 hour', '{}')"#,
        &[&key],
    )
    .unwrap();
    key
}

#[test]
#[ignore = "needs PostgreSQL (REFTOKEN_TEST_POSTGRES_NOTIFY): eval \"$(scripts/test-servers.sh start)\", then scripts/test-rust.sh"]
fn servers_prints_the_keys_of_deleted_grants_as_they_go() {
    let admin = server(
        "REFTOKEN_TEST_POSTGRES_NOTIFY",
        "servers_prints_the_keys_of_deleted_grants_as_they_go",
    );
    let db = GrantsDb::create(&admin, "watch_pg", &["0001_reftoken_revocation_notify"]);
    let mut c = db.connect();
    let (a, b, kept) = (insert(&mut c), insert(&mut c), insert(&mut c));
    let watch = Watch::start(&["--postgres", &db.url]);
    let other = Watch::start(&["--postgres", &db.url, "--channel", "another_channel"]);

    // IdentityServer revokes a token: it deletes the row.
    let n = c
        .execute(r#"DELETE FROM "PersistedGrants" WHERE "Key" = $1"#, &[&a])
        .unwrap();
    assert_eq!(n, 1);
    assert_eq!(watch.next(), a);

    // An update that changes the row is a revocation too; one that changes nothing is not.
    c.execute(
        r#"UPDATE "PersistedGrants" SET "Data" = "Data" WHERE "Key" = $1"#,
        &[&kept],
    )
    .unwrap();
    c.execute(
        r#"UPDATE "PersistedGrants" SET "ConsumedTime" = now() WHERE "Key" = $1"#,
        &[&b],
    )
    .unwrap();
    assert_eq!(watch.next(), b);

    // Several rows in one transaction: their keys at commit, in order. Then TRUNCATE: "*".
    let d = insert(&mut c);
    let mut t = c.transaction().unwrap();
    for key in [&d, &b] {
        t.execute(r#"DELETE FROM "PersistedGrants" WHERE "Key" = $1"#, &[key])
            .unwrap();
    }
    assert!(watch.quiet_for(Duration::from_millis(200)));
    t.commit().unwrap();
    assert_eq!([watch.next(), watch.next()], [d, b]);
    c.batch_execute(r#"TRUNCATE "PersistedGrants""#).unwrap();
    assert_eq!(watch.next(), "*");
    assert!(watch.quiet_for(Duration::from_millis(300)));

    // The trigger notifies its own channel only.
    assert!(other.quiet_for(Duration::from_millis(300)));
}

#[test]
#[ignore = "needs Redis (REFTOKEN_TEST_REDIS): eval \"$(scripts/test-servers.sh start)\", then scripts/test-rust.sh"]
fn servers_prints_the_keys_published_on_redis_and_ends_when_its_output_closes() {
    let url = server(
        "REFTOKEN_TEST_REDIS",
        "servers_prints_the_keys_published_on_redis_and_ends_when_its_output_closes",
    );
    let channel = format!("reftoken-watch-{}", std::process::id());
    let mut watch = Watch::start(&["--redis", &url, "--channel", &channel]);
    let publish = |key: &str| reftoken::revocation::redis::publish(&url, Some(&channel), key);
    let key = reftoken::key::store_key(&reftoken::handle::new_handle().unwrap(), "refresh_token")
        .unwrap()
        .to_string();
    assert_eq!(publish(&key).unwrap(), 1);
    assert_eq!(watch.next(), key);
    assert_eq!(publish("*").unwrap(), 1);
    assert_eq!(watch.next(), "*");
    // Another channel is not heard.
    reftoken::revocation::redis::publish(&url, None, "ELSEWHERE").unwrap();
    assert!(watch.quiet_for(Duration::from_millis(300)));

    // The reader goes away: the next key ends the watch, successfully and silently.
    drop(watch.stdout.take());
    thread::sleep(Duration::from_millis(100));
    publish("K1").unwrap();
    let mut status = None;
    for _ in 0..200 {
        if let Some(s) = watch.child.try_wait().unwrap() {
            status = Some(s);
            break;
        }
        // A key written into the pipe before the reader's end closed is not an error.
        let _ = publish("K2");
        thread::sleep(Duration::from_millis(50));
    }
    let status = status.expect("watch ended once its output was closed");
    assert_eq!(status.code(), Some(0));
    assert!(watch.stderr.try_recv().is_err(), "nothing more on stderr");
}

#[test]
fn errors_are_clear_and_exit_non_zero() {
    // Usage (exit 2): no server, both, an unknown flag.
    for args in [
        &["watch"][..],
        &["watch", "--channel", "c"],
        &[
            "watch",
            "--postgres",
            "postgresql://h/db",
            "--redis",
            "redis://h/",
        ],
        &["watch", "--postgres"],
        &["watch", "--bogus", "x", "--redis", "redis://h/"],
    ] {
        let r = reftoken(args, None);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stdout.is_empty());
        assert!(r.stderr.starts_with("error: "), "{}", r.stderr);
    }

    // Malformed URLs and channels (exit 1), before any connection.
    let cases: [(&[&str], &str); 4] = [
        (
            &["--postgres", "postgresql://h:notaport/db"],
            "malformed PostgreSQL connection string",
        ),
        (&["--redis", "http://example.com/"], "Redis"),
        (
            &["--redis", "redis://127.0.0.1:1/", "--channel", ""],
            "channel",
        ),
        (
            &[
                "--postgres",
                "postgresql://h/db",
                "--channel",
                &"c".repeat(64),
            ],
            "at most 63 bytes",
        ),
    ];
    for (args, says) in cases {
        let mut all = vec!["watch"];
        all.extend_from_slice(args);
        let r = reftoken(&all, None);
        assert_eq!(r.code, 1, "{args:?}: {}", r.stderr);
        assert!(r.stdout.is_empty());
        assert!(
            r.stderr.starts_with("reftoken: error: ") && r.stderr.contains(says),
            "{args:?}: {}",
            r.stderr
        );
    }

    // A server that cannot be reached (port 1 refuses at once): the first connection fails, the
    // command says why, without the password.
    for url in [
        "postgresql://nobody:hunter2@127.0.0.1:1/none",
        "redis://:hunter2@127.0.0.1:1/",
    ] {
        let flag = if url.starts_with("redis") {
            "--redis"
        } else {
            "--postgres"
        };
        let r = reftoken(&["watch", flag, url], None);
        assert_eq!(r.code, 1, "{url}: {}", r.stderr);
        assert!(r.stdout.is_empty());
        assert!(
            r.stderr.starts_with("reftoken: error: cannot connect to ")
                && r.stderr.contains("127.0.0.1:1")
                && r.stderr.to_lowercase().contains("refused")
                && !r.stderr.contains("hunter2"),
            "{url}: {}",
            r.stderr
        );
    }
}
