//! The revoking node cut off from Redis while the validating nodes are not: the publisher
//! reports the failure and keeps the key, the validators go on serving their cached entry
//! (their own connection is healthy, so the staleness bound does not cover this), and the
//! key reaches them as soon as the publisher can send it again.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};

use reftoken::validator::Found;

use super::*;

/// A TCP relay to Redis that can be cut (every relayed connection closed, new ones refused
/// by closing them at once) and restored, standing in for a network partition.
struct Relay {
    port: u16,
    cut: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl Relay {
    fn to(redis_url: &str) -> Relay {
        let upstream = redis_url
            .trim_start_matches("redis://")
            .split(['/', '?'])
            .next()
            .unwrap()
            .rsplit('@')
            .next()
            .unwrap()
            .to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(AtomicBool::new(false));
        let open: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (c, o) = (cut.clone(), open.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if c.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                let mut kept = o.lock().unwrap();
                kept.push(client.try_clone().unwrap());
                kept.push(server.try_clone().unwrap());
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 4096];
                        while let Ok(n @ 1..) = from.read(&mut buf) {
                            if to.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                        let _ = to.shutdown(Shutdown::Both);
                    });
                }
            }
        });
        Relay { port, cut, open }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for s in self.open.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

#[test]
#[ignore = "needs PostgreSQL and Redis: eval \"$(scripts/test-servers.sh start)\", then scripts/test-rust.sh"]
fn servers_redis_partition_of_the_publisher_is_reported_and_healed() {
    let (s, _serial) = servers("servers_redis_partition_of_the_publisher_is_reported_and_healed");
    let store = Arc::new(MemStore::default());
    let v = store.validator();
    let bound = Duration::from_millis(200);
    // The validating node reaches Redis directly; only the revoking node goes through the relay.
    let listener =
        revocation::redis::listen(&s.redis, v.clone(), Options::with_stale_bound(bound)).unwrap();
    listener.wait_listening(Duration::from_secs(5)).unwrap();

    let Issued { handle, key } = store.issue();
    let now = At::from_unix_seconds(unix_now());
    assert!(matches!(v.find(&handle, now).unwrap(), Found::Token(_)));

    let relay = Relay::to(&s.redis);
    let mut publisher =
        revocation::redis::Publisher::with_timeout(&relay.url(), Duration::from_millis(500))
            .unwrap();
    assert!(publisher.publish(None, "unrelated").unwrap() >= 1);

    // The partition: the row goes, the publish cannot be sent, and says so.
    relay.cut();
    store.rows.lock().unwrap().clear();
    let e = publisher.publish(None, &key).unwrap_err();
    assert!(matches!(e, Error::Network { .. }), "{e}");
    assert!(
        e.to_string().contains("1 revocation(s) not published yet"),
        "{e}"
    );
    assert_eq!(publisher.pending(), 1);
    assert!(publisher.flush().is_err());
    assert_eq!(publisher.pending(), 1);

    // The documented gap: the listener confirms its own healthy connection, so the cached
    // entry is still served past the bound (until its TTL), without asking the store.
    std::thread::sleep(bound * 3);
    assert!(listener.is_listening());
    assert!(matches!(v.find(&handle, now).unwrap(), Found::Token(_)));
    assert_eq!(store.lookups(), 1);

    // Healed: the pending key goes first, and the node forgets the token at once.
    relay.restore();
    assert_eq!(publisher.flush().unwrap(), 1);
    assert_eq!(publisher.pending(), 0);
    let deadline = Instant::now() + Duration::from_secs(2);
    while matches!(v.find(&handle, now).unwrap(), Found::Token(_)) {
        assert!(
            Instant::now() < deadline,
            "the healed publish did not evict"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(store.lookups(), 2);
}
