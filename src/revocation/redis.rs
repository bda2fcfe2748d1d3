//! Redis publish/subscribe as a revocation transport, for stores that cannot notify: the
//! node that revokes a grant calls [`publish`] with its store key after deleting the row,
//! and every node's listener (subscribed to the same channel) evicts it. Redis does not keep
//! messages for disconnected subscribers; the staleness bound covers what is lost.
//!
//! URLs: `redis://[user[:password]@]host[:port][/db]` (the database number does not matter
//! to publish/subscribe), `redis+unix:///path`. TLS (`rediss://`) is not built in.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use redis::{Client, PubSub};

use super::{DEFAULT_CHANNEL, Event, Link, Listener, Options, Target, Transport, connection_error};
use crate::Error;

/// Connects to Redis and `SUBSCRIBE`s.
pub(crate) struct Rd {
    client: Client,
    shown: String,
}

fn open(url: &str) -> Result<(Client, String), Error> {
    let shown = crate::redact::connection_string(url);
    let client =
        Client::open(url).map_err(|e| Error::malformed("Redis URL", format!("{e} ({shown})")))?;
    Ok((client, shown))
}

impl Rd {
    pub(crate) fn new(url: &str, opts: &Options) -> Result<Self, Error> {
        opts.check()?;
        let (client, shown) = open(url)?;
        Ok(Rd { client, shown })
    }
}

struct RdLink<'a> {
    ps: PubSub<'a>,
    shown: &'a str,
    read_timeout: Duration,
}

impl RdLink<'_> {
    fn set_read_timeout(&mut self, d: Duration) -> Result<(), Error> {
        let d = d.max(Duration::from_millis(1));
        if d != self.read_timeout {
            self.ps
                .set_read_timeout(Some(d))
                .map_err(|e| connection_error(self.shown, e))?;
            self.read_timeout = d;
        }
        Ok(())
    }

    /// The next message, `None` when the read timed out.
    fn message(&mut self) -> Result<Option<String>, Error> {
        match self.ps.get_message() {
            Ok(msg) => Ok(Some(
                String::from_utf8_lossy(msg.get_payload_bytes()).into_owned(),
            )),
            Err(e) if e.is_timeout() => Ok(None),
            Err(e) => Err(connection_error(self.shown, e)),
        }
    }
}

impl Link for RdLink<'_> {
    fn next(&mut self, timeout: Duration) -> Result<Option<String>, Error> {
        self.set_read_timeout(timeout)?;
        self.message()
    }

    fn heartbeat(&mut self, timeout: Duration, out: &mut Vec<String>) -> Result<(), Error> {
        // Redis writes to a connection in order: messages published before the PING was
        // read arrive before its answer; `ping` keeps them for `get_message`.
        self.set_read_timeout(timeout)?;
        self.ps
            .ping::<redis::Value>()
            .map_err(|e| connection_error(self.shown, e))?;
        self.set_read_timeout(Duration::from_millis(1))?;
        while let Some(m) = self.message()? {
            out.push(m);
        }
        Ok(())
    }
}

impl Transport for Rd {
    fn shown(&self) -> &str {
        &self.shown
    }

    fn run(
        &self,
        opts: &Options,
        session: &mut dyn FnMut(&mut dyn Link) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let io = opts.io_timeout();
        let err = |e: redis::RedisError| connection_error(&self.shown, e);
        let mut con = self.client.get_connection_with_timeout(io).map_err(err)?;
        con.set_write_timeout(Some(io)).map_err(err)?;
        con.set_read_timeout(Some(io)).map_err(err)?;
        let mut ps = con.as_pubsub();
        ps.subscribe(opts.channel.as_str()).map_err(err)?;
        session(&mut RdLink {
            ps,
            shown: &self.shown,
            read_timeout: io,
        })
    }
}

/// Starts a listener that evicts from `target` (a validator) the keys published on
/// `opts.channel` of the Redis server at `url`. Returns at once; the connection is made in
/// the background (see [`Listener::wait_listening`]). Fails only for a malformed URL or
/// invalid options.
pub fn listen<T: Target + 'static>(
    url: &str,
    target: Arc<T>,
    opts: Options,
) -> Result<Listener, Error> {
    let rd = Rd::new(url, &opts)?;
    Listener::spawn(rd, opts, target)
}

/// Listens on `opts.channel` in the calling thread and reports every event to `on_event`
/// until it returns `Break`, reconnecting with backoff after failures.
pub fn watch(
    url: &str,
    opts: &Options,
    mut on_event: impl FnMut(Event<'_>) -> ControlFlow<()>,
) -> Result<(), Error> {
    let rd = Rd::new(url, opts)?;
    super::watch_with(&rd, opts, &mut on_event)
}

/// Publishes `key` on `channel` (`None`: [`DEFAULT_CHANNEL`]) so that every subscribed node
/// evicts it: "evict this key on all nodes", for revocation paths whose store cannot
/// notify. Returns how many subscribers received it (the publishing node's own listener
/// included). One connection per call; a failure means the nodes were not told
/// (see [`Publisher`] for what to do then, and to keep a connection open).
pub fn publish(url: &str, channel: Option<&str>, key: &str) -> Result<u64, Error> {
    let mut p = Publisher::new(url)?;
    p.publish(channel, key)
}

/// The most revocations a [`Publisher`] keeps while Redis cannot be reached; past it they
/// are replaced by one [`FLUSH_ALL`](super::FLUSH_ALL), which covers them all.
pub const PENDING_MAX: usize = 65_536;

/// A connection for publishing revocations, reopened after a failure, that keeps what it
/// could not publish.
///
/// Subscribers confirm their own connection, not the publisher's: when the revoking node
/// cannot reach Redis while the validating nodes can, nothing tells them, and a cached token
/// is served until its cache entry's TTL ends, not within the listeners' staleness bound.
/// So a failed [`publish`](Self::publish) keeps the key, and every later `publish` or
/// [`flush`](Self::flush) sends what is pending first, in order. The caller's part: report
/// the failure, call `flush` until [`pending`](Self::pending) is zero (a timer does), and
/// choose the validators' cache TTL as the longest revocation delay it accepts while Redis
/// is cut off from the revoking node. Where the store can notify (the PostgreSQL trigger),
/// the notification is part of the deleting transaction and this gap does not exist.
pub struct Publisher {
    client: Client,
    shown: String,
    con: Option<redis::Connection>,
    timeout: Duration,
    /// `(channel, key)` not yet published, oldest first.
    pending: std::collections::VecDeque<(String, String)>,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("server", &self.shown)
            .field("pending", &self.pending.len())
            .finish()
    }
}

impl Publisher {
    /// A publisher for the Redis server at `url`; connects on first use, with a 5-second
    /// timeout on connecting and on each round trip.
    pub fn new(url: &str) -> Result<Self, Error> {
        Self::with_timeout(url, Duration::from_secs(5))
    }

    /// As [`new`](Self::new), with another timeout (at least 1 ms).
    pub fn with_timeout(url: &str, timeout: Duration) -> Result<Self, Error> {
        let (client, shown) = open(url)?;
        Ok(Publisher {
            client,
            shown,
            con: None,
            timeout: timeout.max(Duration::from_millis(1)),
            pending: Default::default(),
        })
    }

    /// Publishes `key` on `channel` (`None`: [`DEFAULT_CHANNEL`]) after whatever is pending;
    /// returns the number of subscribers that received `key`. A lost connection is reopened
    /// and the command tried once more. On failure (`Error::Network`) the key is kept, with
    /// what was pending, for the next `publish` or [`flush`](Self::flush): the nodes have
    /// not been told yet.
    pub fn publish(&mut self, channel: Option<&str>, key: &str) -> Result<u64, Error> {
        let channel = channel.unwrap_or(DEFAULT_CHANNEL);
        if channel.is_empty() || key.is_empty() {
            return Err(Error::InvalidArgument(
                "the channel and the key must not be empty",
            ));
        }
        self.keep(channel, key);
        let mut receivers = 0;
        self.send_pending(&mut receivers)?;
        Ok(receivers)
    }

    /// Publishes what earlier failures left pending; returns how many revocations it sent.
    /// On failure what is left stays pending.
    pub fn flush(&mut self) -> Result<usize, Error> {
        let before = self.pending.len();
        let mut receivers = 0;
        self.send_pending(&mut receivers)?;
        Ok(before)
    }

    /// Revocations not published yet.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    fn keep(&mut self, channel: &str, key: &str) {
        if self.pending.len() >= PENDING_MAX {
            // Evicting everything on every node covers whatever was lost, at the price of
            // one lookup per cached token.
            let channels: std::collections::BTreeSet<String> =
                self.pending.drain(..).map(|(c, _)| c).collect();
            self.pending.extend(
                channels
                    .into_iter()
                    .map(|c| (c, super::FLUSH_ALL.to_owned())),
            );
        }
        self.pending.push_back((channel.to_owned(), key.to_owned()));
    }

    /// Sends the pending revocations in order; `receivers` ends as the count for the last.
    fn send_pending(&mut self, receivers: &mut u64) -> Result<(), Error> {
        while let Some((channel, key)) = self.pending.front() {
            let cmd = redis::cmd("PUBLISH").arg(channel).arg(key).clone();
            *receivers = match self.query(&cmd) {
                Ok(n) => n,
                // A connection kept from before may have been closed by the server or a
                // middlebox while idle: one more try on a new one before reporting.
                Err((_, false)) => self.query(&cmd).map_err(|(e, _)| self.unsent(e))?,
                Err((e, true)) => return Err(self.unsent(e)),
            };
            self.pending.pop_front();
        }
        Ok(())
    }

    /// One command; the error says whether its connection was opened for it.
    fn query(&mut self, cmd: &redis::Cmd) -> Result<u64, (redis::RedisError, bool)> {
        let fresh = self.con.is_none();
        if fresh {
            let open = |p: &Self| -> Result<redis::Connection, redis::RedisError> {
                let con = p.client.get_connection_with_timeout(p.timeout)?;
                con.set_write_timeout(Some(p.timeout))?;
                con.set_read_timeout(Some(p.timeout))?;
                Ok(con)
            };
            self.con = Some(open(self).map_err(|e| (e, true))?);
        }
        let con = self.con.as_mut().expect("connected above");
        cmd.query::<u64>(con).map_err(|e| {
            self.con = None;
            (e, fresh)
        })
    }

    fn unsent(&self, e: redis::RedisError) -> Error {
        let n = self.pending.len();
        connection_error(
            &self.shown,
            format!("{e}; {n} revocation(s) not published yet, kept for the next attempt"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_urls_are_refused_before_connecting() {
        assert!(matches!(
            Rd::new("http://example.com/", &Options::default()),
            Err(Error::Malformed { .. })
        ));
        assert!(Rd::new("redis://127.0.0.1:1/", &Options::default()).is_ok());
        assert!(matches!(
            Publisher::new("nonsense"),
            Err(Error::Malformed { .. })
        ));
    }

    #[test]
    fn publishing_to_nothing_fails_with_an_io_error() {
        // Port 1 on loopback refuses at once.
        let e = publish("redis://127.0.0.1:1/", None, "KEY").unwrap_err();
        assert!(matches!(e, Error::Network { .. }), "{e}");
    }

    #[test]
    fn what_cannot_be_published_is_kept_in_order() {
        let mut p =
            Publisher::with_timeout("redis://127.0.0.1:1/", Duration::from_millis(200)).unwrap();
        for k in ["K1", "K2"] {
            let e = p.publish(None, k).unwrap_err();
            assert!(e.to_string().contains("not published yet"), "{e}");
        }
        assert!(p.publish(Some("other"), "K3").is_err());
        assert!(p.flush().is_err());
        let kept: Vec<_> = p.pending.iter().map(|(c, k)| format!("{c} {k}")).collect();
        assert_eq!(
            kept,
            [
                "reftoken_revocations K1",
                "reftoken_revocations K2",
                "other K3"
            ]
        );
        assert!(matches!(
            p.publish(None, ""),
            Err(Error::InvalidArgument(_))
        ));
        assert_eq!(p.pending(), 3);
    }

    #[test]
    fn past_the_limit_pending_keys_become_one_flush_per_channel() {
        let mut p = Publisher::new("redis://127.0.0.1:1/").unwrap();
        for i in 0..PENDING_MAX {
            p.keep(if i % 2 == 0 { "a" } else { "b" }, &format!("K{i}"));
        }
        p.keep("a", "LAST");
        let kept: Vec<_> = p.pending.iter().map(|(c, k)| format!("{c} {k}")).collect();
        assert_eq!(kept, ["a *", "b *", "a LAST"]);
    }
}
