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
/// included). One connection per call; use [`Publisher`] to keep one open.
pub fn publish(url: &str, channel: Option<&str>, key: &str) -> Result<u64, Error> {
    Publisher::new(url)?.publish(channel, key)
}

/// A connection for publishing revocations, reopened after a failure.
pub struct Publisher {
    client: Client,
    shown: String,
    con: Option<redis::Connection>,
    timeout: Duration,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("server", &self.shown)
            .finish()
    }
}

impl Publisher {
    /// A publisher for the Redis server at `url`; connects on first use.
    pub fn new(url: &str) -> Result<Self, Error> {
        let (client, shown) = open(url)?;
        Ok(Publisher {
            client,
            shown,
            con: None,
            timeout: Duration::from_secs(5),
        })
    }

    /// Publishes `key` on `channel` (`None`: [`DEFAULT_CHANNEL`]); returns the number of
    /// subscribers that received it. A failure (`Error::Network`) means the nodes may not have
    /// been told: they stop serving the token within their staleness bound regardless.
    pub fn publish(&mut self, channel: Option<&str>, key: &str) -> Result<u64, Error> {
        let channel = channel.unwrap_or(DEFAULT_CHANNEL);
        if channel.is_empty() || key.is_empty() {
            return Err(Error::InvalidArgument(
                "the channel and the key must not be empty",
            ));
        }
        let err = |e: redis::RedisError, shown: &str| connection_error(shown, e);
        if self.con.is_none() {
            let con = self
                .client
                .get_connection_with_timeout(self.timeout)
                .map_err(|e| err(e, &self.shown))?;
            con.set_write_timeout(Some(self.timeout))
                .map_err(|e| err(e, &self.shown))?;
            con.set_read_timeout(Some(self.timeout))
                .map_err(|e| err(e, &self.shown))?;
            self.con = Some(con);
        }
        let con = self.con.as_mut().expect("connected above");
        match redis::cmd("PUBLISH")
            .arg(channel)
            .arg(key)
            .query::<u64>(con)
        {
            Ok(n) => Ok(n),
            Err(e) => {
                self.con = None;
                Err(err(e, &self.shown))
            }
        }
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
}
