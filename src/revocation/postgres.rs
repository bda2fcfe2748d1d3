//! PostgreSQL `LISTEN`/`NOTIFY` as a revocation transport.
//!
//! Install `migrations/postgres/0001_reftoken_revocation_notify.sql` in the database that
//! holds IdentityServer's `PersistedGrants` table: its triggers `pg_notify` the `Key` of every
//! deleted or changed row (never its data) on [`DEFAULT_CHANNEL`](super::DEFAULT_CHANNEL).
//! Notifications stay within one database, so connect to that database. The listener uses
//! its own connection (not one from a pool), with `application_name=reftoken-revocation`
//! unless the URL names one. TLS is not supported on this connection; the payloads are
//! store keys, which reveal no usable handle.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, Config, NoTls};

use super::{Event, Link, Listener, Options, Target, Transport, connection_error};
use crate::Error;

/// Connects to PostgreSQL and `LISTEN`s.
pub(crate) struct Pg {
    config: Config,
    shown: String,
}

/// `name` as a quoted SQL identifier.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl Pg {
    pub(crate) fn new(url: &str, opts: &Options) -> Result<Self, Error> {
        opts.check()?;
        if opts.channel.len() > 63 {
            return Err(Error::InvalidArgument(
                "a PostgreSQL channel name is at most 63 bytes",
            ));
        }
        let shown = crate::redact::connection_string(url);
        let mut config: Config = url.parse().map_err(|e| {
            Error::malformed("PostgreSQL connection string", format!("{e} ({shown})"))
        })?;
        if config.get_application_name().is_none() {
            config.application_name("reftoken-revocation");
        }
        let io = opts.io_timeout();
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(io);
        }
        // A peer that vanishes without closing the socket is noticed by the heartbeat's
        // timeout; keepalives and the user timeout also end the connection at the OS level.
        config.keepalives(true);
        config.keepalives_idle(Duration::from_secs(5).max(io));
        config.tcp_user_timeout(io * 2);
        Ok(Pg { config, shown })
    }
}

/// A connection error with its causes: the driver's own message ("error connecting to
/// server", "db error") names none of them.
fn pg_error(shown: &str, e: &postgres::Error) -> Error {
    connection_error(shown, crate::error::with_causes(e))
}

struct PgLink<'a> {
    client: &'a mut Client,
    shown: &'a str,
}

impl Link for PgLink<'_> {
    fn next(&mut self, timeout: Duration) -> Result<Option<String>, Error> {
        let r = {
            let mut n = self.client.notifications();
            if timeout.is_zero() {
                n.iter().next()
            } else {
                n.timeout_iter(timeout).next()
            }
        };
        match r {
            Ok(Some(note)) => Ok(Some(note.payload().to_owned())),
            Ok(None) if self.client.is_closed() => Err(connection_error(
                self.shown,
                "the server closed the connection",
            )),
            Ok(None) => Ok(None),
            Err(e) => Err(pg_error(self.shown, &e)),
        }
    }

    fn heartbeat(&mut self, timeout: Duration, out: &mut Vec<String>) -> Result<(), Error> {
        // The backend sends every notification committed before the query ran ahead of the
        // query's completion, so once this returns they are all in the client's buffer.
        self.client
            .is_valid(timeout)
            .map_err(|e| pg_error(self.shown, &e))?;
        let mut n = self.client.notifications();
        let mut it = n.iter();
        while let Some(note) = it.next().map_err(|e| pg_error(self.shown, &e))? {
            out.push(note.payload().to_owned());
        }
        Ok(())
    }
}

impl Transport for Pg {
    fn shown(&self) -> &str {
        &self.shown
    }

    fn run(
        &self,
        opts: &Options,
        session: &mut dyn FnMut(&mut dyn Link) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let mut client = self
            .config
            .connect(NoTls)
            .map_err(|e| pg_error(&self.shown, &e))?;
        client
            .batch_execute(&format!("LISTEN {}", quote_ident(&opts.channel)))
            .map_err(|e| pg_error(&self.shown, &e))?;
        session(&mut PgLink {
            client: &mut client,
            shown: &self.shown,
        })
    }
}

/// Starts a listener that evicts from `target` (a validator) the keys published on
/// `opts.channel` of the PostgreSQL database at `url` (a `postgresql://` URL or a
/// `key=value` connection string). Returns at once; the connection is made in the background
/// (see [`Listener::wait_listening`]). Fails only for a malformed URL or invalid options.
pub fn listen<T: Target + 'static>(
    url: &str,
    target: Arc<T>,
    opts: Options,
) -> Result<Listener, Error> {
    let pg = Pg::new(url, &opts)?;
    Listener::spawn(pg, opts, target)
}

/// Listens on `opts.channel` in the calling thread and reports every event to `on_event`
/// until it returns `Break`, reconnecting with backoff after failures. Returns an error
/// only for a malformed URL or invalid options. This is `reftoken watch --postgres URL`.
pub fn watch(
    url: &str,
    opts: &Options,
    mut on_event: impl FnMut(Event<'_>) -> ControlFlow<()>,
) -> Result<(), Error> {
    let pg = Pg::new(url, opts)?;
    super::watch_with(&pg, opts, &mut on_event)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(
            quote_ident("reftoken_revocations"),
            "\"reftoken_revocations\""
        );
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }

    #[test]
    fn bad_urls_and_channels_are_refused_before_connecting() {
        let o = Options::default();
        assert!(matches!(
            Pg::new("postgresql://h:notaport/db", &o),
            Err(Error::Malformed { .. })
        ));
        let long = Options {
            channel: "c".repeat(64),
            ..Options::default()
        };
        assert!(matches!(
            Pg::new("postgresql://h/db", &long),
            Err(Error::InvalidArgument(_))
        ));
        assert!(Pg::new("host=127.0.0.1 port=5432 user=postgres", &o).is_ok());
    }
}
