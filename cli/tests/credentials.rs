//! Connection strings in errors: every credential form the PostgreSQL and Redis drivers accept
//! is masked in what `reftoken watch` and the store verbs print. Nothing listens on port 1 of
//! loopback, so each connection fails at once and the error names the server.

mod common;

use common::reftoken;

const SECRET: &str = "S3CRET";

/// The PostgreSQL forms: URL userinfo and query, libpq key=value with spaces around `=` and
/// quoted values with spaces and escapes.
const POSTGRES: &[&str] = &[
    "postgresql://u:S3CRET@127.0.0.1:1/db",
    "postgres://u:S3/CR?ET@127.0.0.1:1/db",
    "postgresql://u@127.0.0.1:1/db?password=S3CRET",
    "postgresql://127.0.0.1:1/db?sslmode=disable&PASSWORD=S3CRET",
    "host=127.0.0.1 port=1 password=S3CRET",
    "host=127.0.0.1 port=1 password = S3CRET",
    "host=127.0.0.1 port=1 password='with S3CRET spaces'",
    r"host=127.0.0.1 port=1 password='it\'s S3CRET'",
];

/// The Redis forms: password-only and user:password userinfo, TLS, and Unix sockets with
/// `?pass=`.
const REDIS: &[&str] = &[
    "redis://:S3CRET@127.0.0.1:1/",
    "redis://user:S3CRET@127.0.0.1:1/0",
    "rediss://user:S3CRET@127.0.0.1:1/",
    "redis+unix:///nonexistent/redis.sock?pass=S3CRET",
    "unix:///nonexistent/redis.sock?db=0&pass=S3CRET",
];

fn assert_masked(args: &[&str], url: &str) {
    let run = reftoken(args, None);
    assert_ne!(run.code, 0, "{args:?} should fail: {run:?}");
    assert!(
        !run.stderr.contains(SECRET) && !run.stdout.contains(SECRET),
        "{url}: the password is shown: {}",
        run.stderr
    );
    // The error still says which server it could not reach, or which string is malformed.
    assert!(
        run.stderr.contains("127.0.0.1:1")
            || run.stderr.contains("port=1")
            || run.stderr.contains("redis.sock"),
        "{url}: {}",
        run.stderr
    );
}

#[test]
fn watch_masks_postgres_passwords() {
    for url in POSTGRES {
        assert_masked(&["watch", "--postgres", url], url);
    }
}

#[test]
fn watch_masks_redis_passwords() {
    for url in REDIS {
        assert_masked(&["watch", "--redis", url], url);
    }
}

#[test]
fn introspect_masks_postgres_passwords() {
    for url in POSTGRES {
        assert_masked(
            &["introspect", "--client", "c", "--postgres", url, "H-1"],
            url,
        );
    }
}
