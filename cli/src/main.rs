//! `reftoken`: IdentityServer's reference-token machinery for operators and scripts.
//!
//! The verbs and flags are a contract (DESIGN.md, "The `reftoken` command line"): output goes
//! to stdout followed by one newline (`watch` prints one line per revoked key until stopped);
//! errors go to stderr with exit code 2 for usage errors and 1 for everything else; `-` or a
//! missing positional argument reads the value from stdin (one trailing line ending removed,
//! no further than the verb's size limit, and empty only where empty means something).

mod cleanup;
mod commands;
mod input;
mod keyring_check;
mod revoke;
mod store;
mod watch;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgGroup, Args, Parser, Subcommand};

/// How a command failed: a usage error (exit 2) or anything else (exit 1).
#[derive(Debug)]
pub enum Failure {
    /// The command line asks for something impossible (exit 2).
    Usage(String),
    /// The command could not be carried out (exit 1).
    Run(String),
    /// The command ran and its report (printed on stdout) shows a problem, named on stderr
    /// (exit 1): `keyring check`.
    Report { output: String, problem: String },
}

impl From<reftoken::Error> for Failure {
    fn from(e: reftoken::Error) -> Self {
        Failure::Run(e.to_string())
    }
}

/// The result of a command: its output line, or why there is none.
pub type Outcome = Result<String, Failure>;

#[derive(Parser)]
#[command(
    name = "reftoken",
    version,
    about = "Duende IdentityServer reference tokens: handles, store keys, grant data, \
             ASP.NET Core Data Protection, introspection and revocation",
    long_about = None,
    arg_required_else_help = true,
    after_help = "Output goes to stdout followed by one newline (`watch`: one line per revoked \
                  key, until stopped); errors go to stderr (exit 2 for usage errors, 1 \
                  otherwise). Where a value is a positional argument, `-` or leaving it out \
                  reads it from stdin (one trailing line ending is removed; from a terminal, end \
                  it with Ctrl-D). Stdin larger than the verb's limit is an error, and so is an \
                  empty one, except for `protect`."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// A new handle, as IdentityServer's handle generation service makes it.
    #[command(long_about = "A new handle from a CSPRNG, as IdentityServer's \
        IHandleGenerationService makes it: N random bytes as uppercase hex. For N = 32 (the \
        default) the handle IdentityServer hands to clients: 64 hex digits and the suffix `-1`; \
        for other N, 2N hex digits without a suffix.")]
    Handle {
        /// Random bytes (1 to 65536).
        #[arg(long, value_name = "N", default_value_t = 32,
              value_parser = clap::value_parser!(u32).range(1..=65536))]
        length: u32,
    },

    /// The PersistedGrants key of a handle.
    #[command(
        long_about = "The PersistedGrants `Key` IdentityServer stores a grant under: \
        SHA-256 of `HANDLE:T`, as 64 uppercase hex digits for handles ending in `-1`, else as \
        padded base64 (IdentityServer4 and Duende 5 handles)."
    )]
    Key {
        /// The handle (`-` or absent: read from stdin, at most 4096 bytes).
        #[arg(value_name = "HANDLE")]
        handle: Option<String>,
        /// The grant type the key is for.
        #[arg(long, value_name = "T", default_value = reftoken::key::REFERENCE_TOKEN)]
        grant_type: String,
    },

    /// The payload of a Data column, as JSON.
    #[command(
        long_about = "The payload of a PersistedGrants `Data` column, as JSON: the \
        container's payload (version 1) or the column itself (version 0, IdentityServer4). A \
        payload protected with ASP.NET Core Data Protection is unprotected with the key ring \
        in DIR under the purposes [NAME,] PersistentGrantSerializer: NAME is the host's \
        application name (SetApplicationName; ASP.NET Core's default is the host's content root \
        path), and a payload protected under another one cannot be read."
    )]
    Decode {
        /// Folder of the key ring's `key-*.xml` files (for protected payloads).
        #[arg(long, value_name = "DIR")]
        keyring: Option<PathBuf>,
        /// The application name (or discriminator) the host's Data Protection uses
        /// (SetApplicationName; ASP.NET Core's default: the host's content root path).
        #[arg(long, value_name = "NAME")]
        app_name: Option<String>,
        /// The Data column (`-` or absent: read from stdin, at most 1 MiB).
        #[arg(value_name = "DATA")]
        data: Option<String>,
    },

    /// ASP.NET Core Data Protection: unprotect a payload.
    #[command(
        long_about = "`IDataProtector.Unprotect(string)`: the plaintext of a protected \
        payload (base64url, `CfDJ8...`), for the purpose chain [NAME,] P..., with any key of \
        the key ring in DIR. NAME is the host's application name (SetApplicationName; ASP.NET \
        Core's default is the host's content root path); IdentityServer's grants use the chain \
        NAME, PersistentGrantSerializer."
    )]
    Unprotect {
        #[command(flatten)]
        chain: PurposeChain,
        /// The protected payload (`-` or absent: read from stdin, at most 1398104 bytes: the
        /// base64url of 1 MiB).
        #[arg(value_name = "PAYLOAD")]
        payload: Option<String>,
    },

    /// ASP.NET Core Data Protection: protect a text.
    #[command(
        long_about = "`IDataProtector.Protect(string)`: TEXT protected with the key \
        ring's current default key, for the purpose chain [NAME,] P..., in ASP.NET Core's \
        string form (base64url, no padding). TEXT may be empty, as in ASP.NET Core."
    )]
    Protect {
        #[command(flatten)]
        chain: PurposeChain,
        /// The plaintext (`-` or absent: read from stdin, at most 1 MiB; may be empty).
        #[arg(value_name = "TEXT")]
        text: Option<String>,
    },

    /// The value IdentityServer stores for a shared secret.
    #[command(long_about = "The value IdentityServer stores for a shared secret: \
        `\"secret\".Sha256()` (or `.Sha512()`), the padded base64 of the digest of its UTF-8 \
        bytes. An empty or white-space SECRET argument gives an empty line, as in IdentityServer; \
        an empty stdin is an error.")]
    SecretHash {
        /// `.Sha512()` instead of `.Sha256()`.
        #[arg(long)]
        sha512: bool,
        /// The secret (`-` or absent: read from stdin, at most 1 MiB).
        #[arg(value_name = "SECRET")]
        secret: Option<String>,
    },

    /// The introspection response for a handle (or a Data column).
    #[command(long_about = INTROSPECT_ABOUT, override_usage = INTROSPECT_USAGE)]
    Introspect(IntrospectArgs),

    /// Print the store key of every grant revoked, as it is revoked.
    #[command(long_about = WATCH_ABOUT)]
    Watch(WatchArgs),

    /// Delete expired (and, with --consumed, consumed) grants in bounded batches.
    #[command(long_about = CLEANUP_ABOUT)]
    Cleanup(CleanupArgs),

    /// Delete the grants of a subject (a session, a client, a type) and tell every node.
    #[command(long_about = REVOKE_ABOUT)]
    Revoke(RevokeArgs),

    /// Key ring diagnostics.
    #[command(subcommand)]
    Keyring(KeyringCommand),
}

#[derive(Subcommand)]
enum KeyringCommand {
    /// The key ring's health and, with a store, which key protects which grants.
    #[command(long_about = KEYRING_CHECK_ABOUT)]
    Check(KeyringCheckArgs),
}

const CLEANUP_ABOUT: &str = "Deletes the PersistedGrants rows whose Expiration is past, as \
IdentityServer's TokenCleanupService does (rows without an Expiration are kept), and with \
--consumed also those whose ConsumedTime is older than --consumed-delay seconds \
(RemoveConsumedTokens, ConsumedTokenCleanupDelay); then, when the schema has those tables, \
expired DeviceCodes and stale PushedAuthorizationRequests. Rows go in batches of at most --batch-size, \
oldest first, one statement and one transaction each, so no statement holds locks for long; \
the cutoff is taken once, when the command starts.

On a terminal a progress bar is drawn on stderr; the summary line goes to stdout. --dry-run \
counts what would go and deletes nothing.

PostgreSQL: one cleanup at a time per database, across machines (a session advisory lock, \
released when the connection ends), so every node's timer may run it. When another cleanup \
holds the lock, the command waits up to --wait seconds (default 0) for it and otherwise does \
nothing and says so (exit 0: the other one does the work). Rows another transaction holds are \
skipped, not waited for. RefToken's revocation trigger does not notify rows already expired \
(migrations/postgres/0002_reftoken_revocation_skip_expired.sql): every validator refuses an \
expired token, cached or not, so there is nothing to evict. Without that migration each \
deleted key is notified, and the command says so on stderr.

SQLite: batches are serialised by SQLite's own write lock; two cleanups at once share the work.";

#[derive(Args)]
#[command(group(ArgGroup::new("store").required(true).args(["sqlite", "postgres"])))]
struct CleanupArgs {
    /// An SQLite database with IdentityServer's PersistedGrants table.
    #[arg(long, value_name = "FILE")]
    sqlite: Option<PathBuf>,
    /// A PostgreSQL connection URL (or key=value string) of a database with PersistedGrants.
    #[arg(long, value_name = "URL")]
    postgres: Option<String>,
    /// Most rows deleted by one statement (default: 100 on SQLite, as IdentityServer's
    /// TokenCleanupBatchSize; 1000 on PostgreSQL).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    batch_size: Option<u32>,
    /// Also delete consumed grants (ConsumedTime set), as RemoveConsumedTokens does.
    #[arg(long)]
    consumed: bool,
    /// Only consumed grants whose ConsumedTime is at least this many seconds old
    /// (ConsumedTokenCleanupDelay; default 0).
    #[arg(long, value_name = "SECONDS", requires = "consumed",
          value_parser = clap::value_parser!(u32))]
    consumed_delay: Option<u32>,
    /// Count what would be deleted; delete nothing.
    #[arg(long)]
    dry_run: bool,
    /// PostgreSQL: wait up to this many seconds for another cleanup's lock (default 0).
    #[arg(long, value_name = "SECONDS", default_value_t = 0,
          value_parser = clap::value_parser!(u32).range(0..=86_400))]
    wait: u32,
    /// The summary as one JSON object.
    #[arg(long)]
    json: bool,
}

const REVOKE_ABOUT: &str = "Deletes the PersistedGrants rows of subject S, narrowed to a \
session, to clients and to grant types when given (IdentityServer's RemoveAllAsync with a \
PersistedGrantFilter), in batches of at most --batch-size, and reports how many rows and \
store keys went.

Every node's cache must then forget those keys. On PostgreSQL with RefToken's revocation \
trigger (migrations/postgres/0001_reftoken_revocation_notify.sql) the trigger notifies each \
deleted key when its batch commits. Otherwise give --redis: each deleted key is published on \
the channel the nodes' Redis listeners use. With neither, stderr says that nodes serve cached \
tokens until their cache TTL. --dry-run counts the rows and keys and deletes nothing.";

#[derive(Args)]
#[command(group(ArgGroup::new("store").required(true).args(["sqlite", "postgres"])))]
struct RevokeArgs {
    /// The subject (SubjectId) whose grants go.
    #[arg(long, value_name = "S", required = true)]
    subject: String,
    /// Only the grants of this session (SessionId).
    #[arg(long, value_name = "ID")]
    session_id: Option<String>,
    /// Only the grants of this client (ClientId); repeat for several.
    #[arg(long = "client-id", value_name = "C")]
    client_ids: Vec<String>,
    /// Only grants of this type (reference_token, refresh_token, ...); repeat for several.
    #[arg(long = "type", value_name = "T")]
    types: Vec<String>,
    /// An SQLite database with IdentityServer's PersistedGrants table.
    #[arg(long, value_name = "FILE")]
    sqlite: Option<PathBuf>,
    /// A PostgreSQL connection URL (or key=value string) of a database with PersistedGrants.
    #[arg(long, value_name = "URL")]
    postgres: Option<String>,
    /// A Redis server to publish each deleted key on: redis://[user[:password]@]host[:port][/db].
    #[arg(long, value_name = "URL")]
    redis: Option<String>,
    /// The Redis channel the nodes listen on.
    #[arg(long, value_name = "NAME", requires = "redis",
          default_value = reftoken::revocation::DEFAULT_CHANNEL)]
    channel: String,
    /// Most rows deleted by one statement (default: 100 on SQLite, 1000 on PostgreSQL).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    batch_size: Option<u32>,
    /// Count what would be deleted; delete nothing, publish nothing.
    #[arg(long)]
    dry_run: bool,
    /// The summary as one JSON object (with the keys).
    #[arg(long)]
    json: bool,
}

/// The key ring and purpose chain [NAME,] P... of `unprotect` and `protect`.
#[derive(Args)]
pub struct PurposeChain {
    /// Folder of the key ring's `key-*.xml` files.
    #[arg(long, value_name = "DIR", required = true)]
    keyring: PathBuf,
    /// The application name (or discriminator): the first purpose.
    #[arg(long, value_name = "NAME")]
    app_name: Option<String>,
    /// A purpose, after the application name; repeat for a chain.
    #[arg(long = "purpose", value_name = "P")]
    purposes: Vec<String>,
}

const KEYRING_CHECK_ABOUT: &str = "The health of the ASP.NET Core Data Protection key ring in \
DIR: the default key ASP.NET Core's DefaultKeyResolver picks now, keys expiring within \
--expiring-within days, expired and revoked keys, keys this library cannot use (for example a \
master key encrypted with Windows DPAPI or a certificate), and key files that were skipped.

With a store (--sqlite or --postgres), every protected Data column is attributed to the key \
whose id its payload header carries, and counted by grant type; payloads that no key of the \
ring can read are counted by reason (key not in the ring, key revoked, key unusable, or the \
payload does not authenticate, most often another application name). Rows are only read.

Exit 1 (after the report on stdout, with the reason on stderr) when there is no default key or \
a grant cannot be read; exit 0 otherwise, warnings included (a default key expiring within the \
window with no key to take over, unusable keys, skipped files).";

#[derive(Args)]
struct KeyringCheckArgs {
    /// Folder of the key ring's `key-*.xml` files.
    #[arg(long, value_name = "DIR", required = true)]
    keyring: PathBuf,
    /// The application name (or discriminator) the host's Data Protection uses
    /// (SetApplicationName; ASP.NET Core's default: the host's content root path).
    #[arg(long, value_name = "NAME", required = true)]
    app_name: String,
    /// An SQLite database with IdentityServer's PersistedGrants table (opened read-only).
    #[arg(long, value_name = "FILE", conflicts_with = "postgres")]
    sqlite: Option<PathBuf>,
    /// A PostgreSQL connection URL (or key=value string) of a database with PersistedGrants.
    #[arg(long, value_name = "URL")]
    postgres: Option<String>,
    /// A key expiring within this many days counts as expiring soon.
    #[arg(long, value_name = "DAYS", default_value_t = 14,
          value_parser = clap::value_parser!(u32).range(0..=36_500))]
    expiring_within: u32,
    /// The report as one JSON object.
    #[arg(long)]
    json: bool,
}

const WATCH_ABOUT: &str = "Prints the store key (PersistedGrants `Key`) of every grant revoked, \
one per line and flushed, as the notifications arrive; `*` when the table is truncated \
(\"forget every token\"). Runs until killed or until its output is closed (exit 0).

--postgres listens on the database that holds IdentityServer's PersistedGrants table with \
RefToken's triggers (migrations/postgres/0001_reftoken_revocation_notify.sql), which notify the \
key of every deleted or changed row when its transaction commits (with 0002, not rows deleted \
after they expired: no validator serves those). --redis subscribes to the \
channel on which revoking nodes publish keys (reftoken_revocation_publish_redis).

The first connection must succeed, or the command fails with the connection error (exit 1). Once \
listening, it says so on stderr; a lost connection is reported on stderr and made again with \
backoff, and keys revoked while it was down are not printed (stderr says so when it listens \
again). Only keys are ever sent, never grant data.";

#[derive(Args)]
#[command(group(ArgGroup::new("server").required(true).args(["postgres", "redis"])))]
struct WatchArgs {
    /// A PostgreSQL connection URL (or key=value string) of the database with PersistedGrants.
    #[arg(long, value_name = "URL")]
    postgres: Option<String>,
    /// A Redis server URL: redis://[user[:password]@]host[:port][/db].
    #[arg(long, value_name = "URL")]
    redis: Option<String>,
    /// The channel to listen on (PostgreSQL: at most 63 bytes).
    #[arg(long, value_name = "NAME", default_value = reftoken::revocation::DEFAULT_CHANNEL)]
    channel: String,
}

const INTROSPECT_ABOUT: &str = "The RFC 7662 response IdentityServer's introspection \
endpoint returns, byte for byte, for a reference-token HANDLE looked up in a PersistedGrants \
table (SQLite FILE or PostgreSQL URL, IdentityServer's Entity Framework Core schema), or for a \
Data column given with --data.

The caller is an API resource (--api with its scopes: the token is active for it only if it \
carries one of them, and `scope` lists only those) or a client (--client: active only for its \
own tokens; with a stored handle, also for its own refresh tokens, tried when the handle is no \
reference token active for it). When the database also holds IdentityServer's configuration \
store (a `Clients` table), a token whose client is missing or disabled is inactive, and a \
refresh token whose client may no longer use them (`AllowOfflineAccess`) too, as \
IdentityServer answers; otherwise every client counts as enabled. Rows protected with Data \
Protection need the host's key ring and application name (--keyring with --app-name). \
Nothing is ever written to the store.

--scope takes one scope, or several in one argument separated by spaces (`--scope 'a b'`); \
repeat it for more (`--scope a --scope b`). An unquoted `--scope a b` makes `b` the HANDLE.

With --explain (or -v, --verbose), an inactive answer ({\"active\":false}) is explained on \
stderr, one `reftoken: inactive:` line per grant type IdentityServer tries: unknown handle, \
another row type, unreadable Data (with a hint when the application name is likely wrong), \
expired at T, client unknown or disabled, no scope of this API, another client's token, or \
why a refresh token is not valid. stdout stays exactly the response.";

/// The usage line: `[OPTIONS]` would hide how --scope repeats.
const INTROSPECT_USAGE: &str = "reftoken introspect (--api NAME --scope S [--scope S]... | \
--client ID) [--now UNIX_SECONDS] [--keyring DIR --app-name NAME] [--explain] (--data DATA | \
(--sqlite FILE | --postgres URL) [HANDLE])";

#[derive(Args)]
#[command(group(ArgGroup::new("caller").required(true).args(["api", "client"])))]
#[command(group(ArgGroup::new("source").required(true).args(["data", "sqlite", "postgres"])))]
struct IntrospectArgs {
    /// The calling API resource's name.
    #[arg(long, value_name = "NAME", requires = "scope")]
    api: Option<String>,
    /// A scope of the API; several in one argument separated by spaces (`--scope 'a b'`), or
    /// repeat the flag (`--scope a --scope b`).
    // One value per flag: taking several (`num_args(1..)`) would swallow a HANDLE after them.
    #[arg(long, value_name = "S", requires = "api")]
    scope: Vec<String>,
    /// The calling client's id.
    #[arg(long, value_name = "ID")]
    client: Option<String>,
    /// The time to introspect at, in Unix seconds (default: now).
    #[arg(long, value_name = "UNIX_SECONDS", allow_negative_numbers = true)]
    now: Option<i64>,
    /// Folder of the key ring's `key-*.xml` files (for protected rows; needs --app-name).
    // Checked in `commands::introspect`, to say what the application name is.
    #[arg(long, value_name = "DIR")]
    keyring: Option<PathBuf>,
    /// The application name (or discriminator) the host's Data Protection uses
    /// (SetApplicationName; ASP.NET Core's default: the host's content root path).
    #[arg(long, value_name = "NAME", requires = "keyring")]
    app_name: Option<String>,
    /// On an inactive answer, say on stderr why the token is inactive.
    #[arg(short = 'v', long, visible_alias = "verbose")]
    explain: bool,
    /// A Data column to introspect instead of a stored handle (`-`: read from stdin, at most
    /// 1 MiB).
    #[arg(long, value_name = "DATA")]
    data: Option<String>,
    /// The presented handle (`-` or absent: read from stdin, at most 4096 bytes).
    #[arg(value_name = "HANDLE", conflicts_with = "data")]
    handle: Option<String>,
    /// An SQLite database with IdentityServer's PersistedGrants table (opened read-only).
    #[arg(long, value_name = "FILE")]
    sqlite: Option<PathBuf>,
    /// A PostgreSQL connection URL (or key=value string) of a database with PersistedGrants.
    #[arg(long, value_name = "URL")]
    postgres: Option<String>,
}

/// Runs a command: the line to print, or `None` for `watch`, which prints as it goes.
fn run(command: Command) -> Result<Option<String>, Failure> {
    let outcome: Outcome = match command {
        Command::Handle { length } => commands::handle(length),
        Command::Key { handle, grant_type } => commands::key(handle, &grant_type),
        Command::Decode {
            keyring,
            app_name,
            data,
        } => commands::decode(keyring, app_name, data),
        Command::Unprotect { chain, payload } => commands::unprotect(&chain, payload),
        Command::Protect { chain, text } => commands::protect(&chain, text),
        Command::SecretHash { sha512, secret } => commands::secret_hash(sha512, secret),
        Command::Introspect(a) => {
            let source = match (a.data, a.sqlite, a.postgres) {
                (Some(d), None, None) => commands::Source::Data(d),
                (None, Some(f), None) => commands::Source::Sqlite(a.handle, f),
                (None, None, Some(u)) => commands::Source::Postgres(a.handle, u),
                _ => {
                    return Err(Failure::Usage(
                        "give one of --data, --sqlite, --postgres".into(),
                    ));
                }
            };
            let caller = match (a.api, a.client) {
                (Some(name), None) => commands::CallerArg::Api {
                    name,
                    scopes: a.scope,
                },
                (None, Some(id)) => commands::CallerArg::Client { id },
                _ => return Err(Failure::Usage("give one of --api, --client".into())),
            };
            commands::introspect(caller, a.now, a.keyring, a.app_name, a.explain, source)
        }
        Command::Watch(a) => {
            let server = match (a.postgres, a.redis) {
                (Some(url), None) => watch::Server::Postgres(url),
                (None, Some(url)) => watch::Server::Redis(url),
                _ => return Err(Failure::Usage("give one of --postgres, --redis".into())),
            };
            return watch::watch(server, a.channel).map(|()| None);
        }
        Command::Cleanup(a) => {
            let (store, batch_size) = store_and_batch(a.sqlite, a.postgres, a.batch_size)?;
            cleanup::cleanup(cleanup::Request {
                store,
                batch_size,
                consumed_delay: a.consumed.then(|| a.consumed_delay.unwrap_or(0)),
                dry_run: a.dry_run,
                wait: std::time::Duration::from_secs(a.wait.into()),
                json: a.json,
            })
        }
        Command::Revoke(a) => {
            let (store, batch_size) = store_and_batch(a.sqlite, a.postgres, a.batch_size)?;
            revoke::revoke(revoke::Request {
                store,
                batch_size,
                filter: revoke::Filter {
                    subject: a.subject,
                    session_id: a.session_id,
                    client_ids: a.client_ids,
                    types: a.types,
                },
                redis: a.redis.map(|url| (url, a.channel)),
                dry_run: a.dry_run,
                json: a.json,
            })
        }
        Command::Keyring(KeyringCommand::Check(a)) => {
            let store = match (a.sqlite, a.postgres) {
                (None, None) => None,
                (s, p) => Some(store_arg(s, p)?),
            };
            keyring_check::check(keyring_check::Request {
                dir: a.keyring,
                app_name: a.app_name,
                store,
                expiring_within_days: a.expiring_within,
                json: a.json,
            })
        }
    };
    outcome.map(Some)
}

fn store_arg(
    sqlite: Option<PathBuf>,
    postgres: Option<String>,
) -> Result<store::Location, Failure> {
    match (sqlite, postgres) {
        (Some(f), None) => Ok(store::Location::Sqlite(f)),
        (None, Some(u)) => Ok(store::Location::Postgres(u)),
        _ => Err(Failure::Usage("give one of --sqlite, --postgres".into())),
    }
}

/// The store of `cleanup` and `revoke`, and their `--batch-size` or the store's default.
fn store_and_batch(
    sqlite: Option<PathBuf>,
    postgres: Option<String>,
    batch_size: Option<u32>,
) -> Result<(store::Location, u32), Failure> {
    let store = store_arg(sqlite, postgres)?;
    let batch_size = batch_size.unwrap_or_else(|| cleanup::default_batch_size(&store));
    Ok((store, batch_size))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(None) => ExitCode::SUCCESS,
        Ok(Some(line)) => {
            let mut out = std::io::stdout().lock();
            match writeln!(out, "{line}").and_then(|()| out.flush()) {
                Ok(()) => ExitCode::SUCCESS,
                // A closed pipe (`reftoken handle | head -c0`) is not worth a message.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::from(1),
                Err(e) => {
                    eprintln!("reftoken: error: cannot write the output: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Err(Failure::Usage(msg)) => {
            eprintln!("reftoken: error: {msg}\n\nFor more information, try '--help'.");
            ExitCode::from(2)
        }
        Err(Failure::Run(msg)) => {
            eprintln!("reftoken: error: {msg}");
            ExitCode::from(1)
        }
        Err(Failure::Report { output, problem }) => {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{output}").and_then(|()| out.flush());
            eprintln!("reftoken: error: {problem}");
            ExitCode::from(1)
        }
    }
}
