//! `reftoken watch`: the store key of every grant revoked, one per line, as it is revoked.

use std::io::{ErrorKind, Write};
use std::ops::ControlFlow;

use reftoken::Error;
use reftoken::revocation::{self, Event, Options};

use crate::Failure;

/// Where revocations are published.
pub enum Server {
    /// A PostgreSQL database with the triggers of `migrations/postgres/`.
    Postgres(String),
    /// A Redis server on which revoking nodes publish store keys.
    Redis(String),
}

/// `reftoken watch (--postgres URL | --redis URL) [--channel NAME]`.
///
/// Prints each key on stdout as it arrives, flushed (`*` when the table is truncated). The
/// first connection must succeed: a failure ends the command with its error. After that a
/// lost connection is reported on stderr and made again with backoff. Runs until killed or
/// until stdout is closed (which ends it successfully).
pub fn watch(server: Server, channel: String) -> Result<(), Failure> {
    let opts = Options {
        channel,
        ..Options::default()
    };
    let mut out = std::io::stdout().lock();
    let mut listening = false;
    let mut first_error = None;
    let mut write_error = None;
    let mut on_event = |e: Event<'_>| {
        let line = match e {
            Event::Revoked(key) => key,
            Event::FlushAll => revocation::FLUSH_ALL,
            Event::Listening { reconnected } => {
                if reconnected {
                    eprintln!(
                        "reftoken: listening again on {}; keys revoked while disconnected were not printed",
                        opts.channel
                    );
                } else {
                    eprintln!("reftoken: listening on {}", opts.channel);
                }
                listening = true;
                return ControlFlow::Continue(());
            }
            Event::Disconnected(err) if !listening => {
                first_error = Some(connection_failure(err));
                return ControlFlow::Break(());
            }
            Event::Disconnected(err) => {
                eprintln!("reftoken: {}; reconnecting", connection_failure(err));
                return ControlFlow::Continue(());
            }
        };
        match writeln!(out, "{line}").and_then(|()| out.flush()) {
            Ok(()) => ControlFlow::Continue(()),
            // The reader went away (`reftoken watch ... | head -1`): the watch is over.
            Err(e) if e.kind() == ErrorKind::BrokenPipe => ControlFlow::Break(()),
            Err(e) => {
                write_error = Some(e);
                ControlFlow::Break(())
            }
        }
    };
    match &server {
        Server::Postgres(url) => revocation::postgres::watch(url, &opts, &mut on_event)?,
        Server::Redis(url) => revocation::redis::watch(url, &opts, &mut on_event)?,
    }
    if let Some(e) = first_error {
        return Err(Failure::Run(e));
    }
    if let Some(e) = write_error {
        return Err(Failure::Run(format!("cannot write the output: {e}")));
    }
    Ok(())
}

/// A connection error as the watch reports it.
fn connection_failure(e: &Error) -> String {
    match e {
        Error::Network { server, detail } => format!("cannot connect to {server}: {detail}"),
        other => other.to_string(),
    }
}
