//! Revocation across validator processes, with real servers: PostgreSQL NOTIFY and Redis
//! reach every process, outages never serve a stale positive beyond the bound, and `watch`
//! reports revoked keys. Named `servers_*` and ignored without servers (see `main.rs`).

use std::ops::ControlFlow;
use std::sync::mpsc;

use reftoken::revocation::Event;

use super::*;

/// A fresh database `tag` holding `N` new grants, and a validator process of each of `kinds`
/// over it, told of revocations through `redis` or else the database (which then has the
/// NOTIFY trigger), with every grant cached: the database (dropped last), a connection to it,
/// the grants and the processes.
fn cluster<const N: usize>(
    s: &Servers,
    tag: &str,
    kinds: &[&str],
    redis: Option<&str>,
    bound: Duration,
    backoff_ms: u64,
) -> (TestDb, postgres::Client, [Issued; N], Vec<Node>) {
    let db = TestDb::create(&s.pg, tag, redis.is_none());
    let mut pg = connect(&db.url);
    let grants: [Issued; N] = std::array::from_fn(|_| issue(&mut pg));
    let notify = redis.unwrap_or(&db.url);
    let bound_ms = bound.as_millis() as u64;
    let mut nodes = spawn_all(kinds, &db.url, notify, bound_ms, backoff_ms);
    cache_everywhere(&mut nodes, &grants.each_ref());
    (db, pg, grants, nodes)
}

#[test]
#[ignore = "needs PostgreSQL and Redis: eval \"$(scripts/test-servers.sh start)\", then scripts/test-rust.sh"]
fn servers_postgres_notify_reaches_every_validator_process() {
    let (s, _serial) = servers("servers_postgres_notify_reaches_every_validator_process");
    // Long TTL and bound: only a notification can make a node forget a cached token.
    let kinds = ["rust-postgres", "rust-postgres", "c-postgres"];
    let (_db, mut pg, [a, b, c], mut nodes) =
        cluster(&s, "pg", &kinds, None, Duration::from_secs(60), 100);

    // A grant deleted through IdentityServer's schema is rejected by every process.
    delete(&mut pg, &a.key);
    for n in &mut nodes {
        let took = n.until(&a.handle, "unknown", Duration::from_secs(5));
        eprintln!("{}: rejected the deleted grant after {took:?}", n.name);
        // Only that key was evicted: b is still served from the cache.
        let before = n.validate(&c.handle).lookups;
        assert_eq!(n.validate(&b.handle).lookups, before);
    }

    // A changed grant (its Data rewritten with another scope) is re-read everywhere.
    pg.execute(
        r#"UPDATE "PersistedGrants" SET "Data" = $2 WHERE "Key" = $1"#,
        &[&b.key, &token_data("api2.read")],
    )
    .unwrap();
    for n in &mut nodes {
        n.until(&b.handle, "inactive", Duration::from_secs(5));
    }

    // Duplicate, late and foreign payloads are harmless: c is looked up again at most once
    // and stays active; nothing else happens.
    let base: Vec<u64> = nodes
        .iter_mut()
        .map(|n| n.validate(&c.handle).lookups)
        .collect();
    pg.batch_execute(&format!(
        "SELECT pg_notify('reftoken_revocations', '{a}'), pg_notify('reftoken_revocations', 'not a key'), \
         pg_notify('reftoken_revocations', repeat('x', 7000)); \
         SELECT pg_notify('reftoken_revocations', '{c}'); SELECT pg_notify('reftoken_revocations', '{c}');",
        a = a.key,
        c = c.key
    ))
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    for (n, base) in nodes.iter_mut().zip(base) {
        let r = n.validate(&c.handle);
        assert_eq!(r.state, "active");
        assert!(
            r.lookups <= base + 1,
            "{}: {} lookups after duplicates",
            n.name,
            r.lookups - base
        );
        assert_eq!(n.validate(&a.handle).state, "unknown");
    }

    // TRUNCATE forgets everything.
    let d = issue(&mut pg);
    for n in &mut nodes {
        assert_eq!(n.validate(&d.handle).state, "active");
    }
    pg.batch_execute(r#"TRUNCATE "PersistedGrants""#).unwrap();
    for n in &mut nodes {
        n.until(&d.handle, "unknown", Duration::from_secs(5));
        n.until(&c.handle, "unknown", Duration::from_secs(5));
    }
}

#[test]
#[ignore = "needs PostgreSQL and Redis: eval \"$(scripts/test-servers.sh start)\", then scripts/test-rust.sh"]
fn servers_redis_publish_reaches_every_validator_process() {
    let (s, _serial) = servers("servers_redis_publish_reaches_every_validator_process");
    // Notified through Redis: the store has no trigger and cannot notify.
    let kinds = ["rust-redis", "rust-redis", "c-redis"];
    let redis = Some(s.redis.as_str());
    let (_db, mut pg, [a, b, c], mut nodes) =
        cluster(&s, "redis", &kinds, redis, Duration::from_secs(60), 100);

    // Deleting the row alone reaches no cache...
    delete(&mut pg, &a.key);
    std::thread::sleep(Duration::from_millis(200));
    for n in &mut nodes {
        assert_eq!(
            n.validate(&a.handle).state,
            "active",
            "{}: the cache still serves it",
            n.name
        );
    }
    // ...publishing its key ("evict this key on all nodes") reaches every one.
    assert_eq!(
        revocation::redis::publish(&s.redis, None, &a.key).unwrap(),
        3
    );
    for n in &mut nodes {
        n.until(&a.handle, "unknown", Duration::from_secs(5));
    }

    // The same through the C ABI.
    delete(&mut pg, &b.key);
    let mut receivers = 0u64;
    let st = unsafe {
        reftoken_revocation_publish_redis(
            s.redis.as_ptr().cast(),
            s.redis.len(),
            std::ptr::null(),
            0,
            b.key.as_ptr().cast(),
            b.key.len(),
            &mut receivers,
        )
    };
    assert_eq!(st, REFTOKEN_OK, "{}", last_error());
    assert_eq!(receivers, 3);
    for n in &mut nodes {
        n.until(&b.handle, "unknown", Duration::from_secs(5));
    }

    // Duplicates and foreign payloads are harmless.
    let mut p = revocation::redis::Publisher::new(&s.redis).unwrap();
    for k in [
        a.key.as_str(),
        "garbage",
        a.key.as_str(),
        c.key.as_str(),
        c.key.as_str(),
    ] {
        p.publish(None, k).unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    for n in &mut nodes {
        assert_eq!(n.validate(&c.handle).state, "active");
        assert_eq!(n.validate(&a.handle).state, "unknown");
    }
}

#[test]
#[ignore = "needs PostgreSQL and Redis: eval \"$(scripts/test-servers.sh start)\", then scripts/test-rust.sh"]
fn servers_postgres_outage_never_serves_a_stale_positive_beyond_the_bound() {
    let test = "servers_postgres_outage_never_serves_a_stale_positive_beyond_the_bound";
    let (s, _serial) = own_servers(test);
    let bound = Duration::from_millis(1000);
    // Reconnection waits 1 to 2 s after a loss: long enough to lose notifications.
    let kinds = ["rust-postgres", "rust-postgres"];
    let (db, pg, [t1, t2, t3], mut nodes) = cluster(&s, "pgfault", &kinds, None, bound, 2000);

    // The database crashes and comes back; the listeners are away for a while. Fresh cache
    // entries are made, then t1 is deleted while no listener hears it.
    drop(pg);
    Outage::begin("postgres").end();
    let mut pg = connect_retrying(&db.url);
    for n in &mut nodes {
        n.until(&t1.handle, "active", Duration::from_secs(10));
    }
    let deleted = delete(&mut pg, &t1.key);
    let what = format!("{test}: after the restart");
    let during = bound + Duration::from_millis(700);
    never_stale_beyond(&what, &mut nodes, &t1, deleted, bound, during);
    for n in &mut nodes {
        n.until(&t1.handle, "unknown", Duration::from_secs(1));
        n.wait_listening();
        assert_eq!(n.validate(&t2.handle).state, "active");
    }

    // The listeners' own connections are killed while the database stays up; a delete
    // right then is missed as well.
    for n in &mut nodes {
        assert_eq!(n.validate(&t3.handle).state, "active");
    }
    pg.batch_execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'reftoken-revocation' AND datname = current_database()")
        .unwrap();
    let deleted = delete(&mut pg, &t3.key);
    let what = format!("{test}: after the listeners were cut off");
    let during = bound + Duration::from_millis(500);
    never_stale_beyond(&what, &mut nodes, &t3, deleted, bound, during);
    for n in &mut nodes {
        n.until(&t3.handle, "unknown", Duration::from_secs(1));
        // They come back, and notifications work again.
        n.wait_listening();
    }
    delete(&mut pg, &t2.key);
    for n in &mut nodes {
        n.until(&t2.handle, "unknown", Duration::from_millis(900));
    }
}

#[test]
#[ignore = "needs PostgreSQL and Redis: eval \"$(scripts/test-servers.sh start)\", then scripts/test-rust.sh"]
fn servers_redis_outage_never_serves_a_stale_positive_beyond_the_bound() {
    let test = "servers_redis_outage_never_serves_a_stale_positive_beyond_the_bound";
    let (s, _serial) = own_servers(test);
    let bound = Duration::from_millis(1000);
    let kinds = ["rust-redis", "rust-redis"];
    let redis = Some(s.redis.as_str());
    let (_db, mut pg, [t1, t2], mut nodes) = cluster(&s, "redisfault", &kinds, redis, bound, 300);

    // Redis dies: the revocation of t1 cannot be published and is lost.
    let outage = Outage::begin("redis");
    let deleted = delete(&mut pg, &t1.key);
    assert!(revocation::redis::publish(&s.redis, None, &t1.key).is_err());
    let what = format!("{test}: with Redis down");
    let during = bound + Duration::from_millis(300);
    never_stale_beyond(&what, &mut nodes, &t1, deleted, bound, during);
    for n in &mut nodes {
        // Past the bound the cache stops serving old entries: the store says no.
        assert_eq!(n.validate(&t1.handle).state, "unknown");
        // Tokens not revoked stay valid (looked up again).
        assert_eq!(n.validate(&t2.handle).state, "active");
    }

    // Redis comes back: the listeners reconnect, resynchronise, and revocations flow again.
    outage.end();
    for n in &mut nodes {
        n.wait_listening();
        assert_eq!(n.validate(&t2.handle).state, "active");
    }
    delete(&mut pg, &t2.key);
    let mut published = 0;
    let t0 = Instant::now();
    while published < 2 {
        published = revocation::redis::publish(&s.redis, None, &t2.key).unwrap();
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "the listeners did not resubscribe"
        );
    }
    for n in &mut nodes {
        n.until(&t2.handle, "unknown", Duration::from_millis(900));
    }
}

#[test]
#[ignore = "needs PostgreSQL and Redis: eval \"$(scripts/test-servers.sh start)\", then scripts/test-rust.sh"]
fn servers_watch_reports_keys_as_they_are_revoked() {
    let (s, _serial) = servers("servers_watch_reports_keys_as_they_are_revoked");
    let db = TestDb::create(&s.pg, "watch", true);
    let mut pg = connect(&db.url);
    let a = issue(&mut pg);
    let (tx, rx) = mpsc::channel();
    let url = db.url.clone();
    let watcher = std::thread::spawn(move || {
        let mut listening = false;
        revocation::postgres::watch(&url, &Options::default(), |e| match e {
            Event::Listening { .. } => {
                listening = true;
                tx.send("listening".to_owned()).unwrap();
                ControlFlow::Continue(())
            }
            Event::Revoked(k) => {
                tx.send(k.to_owned()).unwrap();
                ControlFlow::Break(())
            }
            _ => ControlFlow::Continue(()),
        })
        .unwrap();
        listening
    });
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(10)).unwrap(),
        "listening"
    );
    delete(&mut pg, &a.key);
    assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), a.key);
    assert!(watcher.join().unwrap());

    // Redis likewise.
    let (tx, rx) = mpsc::channel();
    let url = s.redis.clone();
    let opts = Options {
        channel: format!("reftoken_watch_{}", std::process::id()),
        ..Options::default()
    };
    let chan = opts.channel.clone();
    let watcher = std::thread::spawn(move || {
        revocation::redis::watch(&url, &opts, |e| match e {
            Event::Listening { .. } => {
                tx.send(String::new()).unwrap();
                ControlFlow::Continue(())
            }
            Event::Revoked(k) => {
                tx.send(k.to_owned()).unwrap();
                ControlFlow::Break(())
            }
            _ => ControlFlow::Continue(()),
        })
        .unwrap()
    });
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), "");
    assert_eq!(
        revocation::redis::publish(&s.redis, Some(&chan), "K123").unwrap(),
        1
    );
    assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), "K123");
    watcher.join().unwrap();
}
