//! Prints the store key of every grant revoked, as it is revoked: what
//! `reftoken watch --postgres URL` does.
//!
//! ```sh
//! cargo run --release --example revocation_watch -- --postgres postgresql://user@host/identityserver
//! cargo run --release --example revocation_watch -- --redis redis://127.0.0.1:6379/ [--channel C]
//! ```
//!
//! One key per line on stdout (`*` when the table is truncated); connection problems go to
//! stderr and are retried with backoff; the watch runs until killed or stdout closes.

use std::io::Write;
use std::ops::ControlFlow;
use std::process::ExitCode;

use reftoken::revocation::{self, Event, Options};

fn watch(
    postgres: Option<String>,
    redis: Option<String>,
    channel: Option<String>,
) -> Result<(), reftoken::Error> {
    let mut opts = Options::default();
    if let Some(c) = channel {
        opts.channel = c;
    }
    let mut out = std::io::stdout().lock();
    let mut on_event = |e: Event<'_>| {
        let line = match e {
            Event::Revoked(key) => key,
            Event::FlushAll => revocation::FLUSH_ALL,
            Event::Listening { reconnected: false } => return ControlFlow::Continue(()),
            Event::Listening { reconnected: true } => {
                eprintln!(
                    "reftoken: listening again; revocations made while disconnected were missed"
                );
                return ControlFlow::Continue(());
            }
            Event::Disconnected(err) => {
                eprintln!("reftoken: {err}; reconnecting");
                return ControlFlow::Continue(());
            }
        };
        // A closed stdout (`| head -1`) ends the watch.
        if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    };
    match (postgres, redis) {
        (Some(url), None) => revocation::postgres::watch(&url, &opts, &mut on_event),
        (None, Some(url)) => revocation::redis::watch(&url, &opts, &mut on_event),
        _ => unreachable!("checked by main"),
    }
}

fn main() -> ExitCode {
    let (mut postgres, mut redis, mut channel) = (None, None, None);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let slot = match a.as_str() {
            "--postgres" => &mut postgres,
            "--redis" => &mut redis,
            "--channel" => &mut channel,
            _ => {
                eprintln!(
                    "usage: revocation_watch (--postgres URL | --redis URL) [--channel NAME]"
                );
                return ExitCode::from(2);
            }
        };
        *slot = args.next();
    }
    if postgres.is_some() == redis.is_some() {
        eprintln!("usage: revocation_watch (--postgres URL | --redis URL) [--channel NAME]");
        return ExitCode::from(2);
    }
    match watch(postgres, redis, channel) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("reftoken: {e}");
            ExitCode::FAILURE
        }
    }
}
