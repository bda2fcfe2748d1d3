//! Connection strings made safe to show: every credential form libpq and the Redis driver
//! accept is replaced by `***` before a server's address goes into a message, a log line or
//! `reftoken_last_error`.
//!
//! Forms covered: URL userinfo (`scheme://user:secret@host`, where the secret may itself hold
//! `/`, `?`, `#` or `@`), query parameters (`?password=`, `&sslpassword=`, Redis's `?pass=`,
//! keys compared without case and after percent-decoding), and libpq's `key = value` strings
//! (spaces around `=`, single-quoted values with `\'` escapes). What cannot be parsed is not
//! shown at all, so a mistyped string never leaks the secret it was meant to hold.

/// Parameter names whose values are secrets, in either string form.
const SECRET_KEYS: &[&str] = &["password", "pass", "sslpassword"];

const MASK: &str = "***";

fn is_secret_key(key: &str) -> bool {
    let key = percent_decode(key.trim());
    SECRET_KEYS.iter().any(|k| key.eq_ignore_ascii_case(k))
}

/// `%XX` sequences decoded (invalid ones kept); enough to compare a parameter name.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// `s`, a PostgreSQL or Redis connection string (URL or libpq `key=value` form), with every
/// credential replaced by `***`.
pub fn connection_string(s: &str) -> String {
    match s.split_once("://") {
        Some((scheme, rest)) if !scheme.is_empty() && !scheme.contains(char::is_whitespace) => {
            url(scheme, rest)
        }
        _ => key_values(s),
    }
}

fn url(scheme: &str, rest: &str) -> String {
    // The userinfo ends at the last '@': a password may hold '/', '?' or '@' unescaped, and
    // masking a little too much is the safe side.
    let (userinfo, after) = match rest.rfind('@') {
        Some(i) => (Some(&rest[..i]), &rest[i + 1..]),
        None => (None, rest),
    };
    let mut out = format!("{scheme}://");
    if let Some(u) = userinfo {
        match u.split_once(':') {
            Some((user, _)) => {
                out.push_str(&query(user));
                out.push(':');
                out.push_str(MASK);
            }
            // No ':' means no password in the userinfo, but what looked like one may be a
            // path and query that held an '@'.
            None => out.push_str(&query(u)),
        }
        out.push('@');
    }
    // An '@' inside the query (`?options=a@b&password=...`) leaves the rest of the query after it.
    if userinfo.is_some_and(|u| u.contains('?')) {
        out.push_str(&params(after));
    } else {
        out.push_str(&query(after));
    }
    out
}

/// `s` with the value of every secret query parameter masked (`?`, `&` and `;` separate them).
fn query(s: &str) -> String {
    let Some(q) = s.find('?') else {
        return s.to_owned();
    };
    let (path, rest) = s.split_at(q + 1);
    let mut out = path.to_owned();
    out.push_str(&params(rest));
    out
}

/// Query parameters (`a=1&b=2#fragment`) with every secret value masked.
fn params(s: &str) -> String {
    let (mut rest, fragment) = match s.find('#') {
        Some(f) => s.split_at(f),
        None => (s, ""),
    };
    let mut out = String::with_capacity(s.len());
    loop {
        let end = rest.find(['&', ';']).unwrap_or(rest.len());
        let (part, tail) = rest.split_at(end);
        match part.split_once('=') {
            Some((k, _)) if is_secret_key(k) => {
                out.push_str(k);
                out.push('=');
                out.push_str(MASK);
            }
            _ => out.push_str(part),
        }
        let Some(sep) = tail.chars().next() else {
            break;
        };
        out.push(sep);
        rest = &tail[1..];
    }
    out.push_str(fragment);
    out
}

/// libpq's `key = value ...` form. Values are bare words or single-quoted with backslash
/// escapes; spaces may surround `=`.
fn key_values(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    let skip_ws = |i: &mut usize| {
        while *i < b.len() && b[*i].is_ascii_whitespace() {
            *i += 1;
        }
    };
    loop {
        skip_ws(&mut i);
        if i >= b.len() {
            return out;
        }
        let key_start = i;
        while i < b.len() && b[i] != b'=' && !b[i].is_ascii_whitespace() {
            i += 1;
        }
        let key = &s[key_start..i];
        skip_ws(&mut i);
        if i >= b.len() || b[i] != b'=' || key.is_empty() {
            // Not a key=value string libpq would take: show none of the rest.
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(MASK);
            return out;
        }
        i += 1;
        skip_ws(&mut i);
        let value_start = i;
        let mut closed = true;
        if i < b.len() && b[i] == b'\'' {
            i += 1;
            closed = false;
            while i < b.len() {
                match b[i] {
                    b'\\' => i += 2,
                    b'\'' => {
                        i += 1;
                        closed = true;
                        break;
                    }
                    _ => i += 1,
                }
            }
        } else {
            while i < b.len() && !b[i].is_ascii_whitespace() {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
        }
        let i_end = i.min(b.len());
        i = i_end;
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(key);
        out.push('=');
        if is_secret_key(key) || !closed {
            out.push_str(MASK);
        } else {
            out.push_str(&s[value_start..i_end]);
        }
        if !closed {
            return out;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::connection_string as r;

    #[test]
    fn url_userinfo() {
        assert_eq!(
            r("postgresql://u:secret@h:5432/db?sslmode=disable"),
            "postgresql://u:***@h:5432/db?sslmode=disable"
        );
        assert_eq!(
            r("redis://:pw@127.0.0.1:6379/0"),
            "redis://:***@127.0.0.1:6379/0"
        );
        assert_eq!(r("rediss://user:pw@h/"), "rediss://user:***@h/");
        assert_eq!(r("redis://127.0.0.1/"), "redis://127.0.0.1/");
        assert_eq!(r("postgresql://u@h/db"), "postgresql://u@h/db");
    }

    #[test]
    fn url_userinfo_with_reserved_characters() {
        for url in [
            "redis://:S3/CRET@h/",
            "redis://:S3?CRET@h/",
            "redis://:S3#CRET@h/",
            "redis://:S3@CRET@h/",
            "postgresql://u:S3/C?R#E@T@h:1/db",
        ] {
            let shown = r(url);
            assert!(!shown.contains("S3"), "{url} -> {shown}");
            assert!(
                shown.ends_with("@h/") || shown.ends_with("@h:1/db"),
                "{url} -> {shown}"
            );
        }
    }

    #[test]
    fn url_query() {
        assert_eq!(
            r("postgresql://h/db?user=u&password=x"),
            "postgresql://h/db?user=u&password=***"
        );
        assert_eq!(
            r("redis+unix:///sock?pass=S3CRET"),
            "redis+unix:///sock?pass=***"
        );
        assert_eq!(
            r("unix:///sock?db=1&pass=S3CRET"),
            "unix:///sock?db=1&pass=***"
        );
        assert_eq!(
            r("postgresql:///db?host=/run&PassWord=S3CRET"),
            "postgresql:///db?host=/run&PassWord=***"
        );
        assert_eq!(
            r("postgresql:///db?pass%77ord=S3CRET"),
            "postgresql:///db?pass%77ord=***"
        );
        assert_eq!(
            r("postgresql:///db?sslpassword=S3CRET#x"),
            "postgresql:///db?sslpassword=***#x"
        );
        assert!(!r("postgresql://h/db?options=a@b&password=S3CRET").contains("S3CRET"));
    }

    #[test]
    fn key_value_strings() {
        assert_eq!(r("host=h password=x user=u"), "host=h password=*** user=u");
        assert_eq!(
            r("host=h password = S3CRET user=u"),
            "host=h password=*** user=u"
        );
        assert_eq!(r("password= S3CRET"), "password=***");
        assert_eq!(
            r("host=h password='with spaces' user=u"),
            "host=h password=*** user=u"
        );
        assert_eq!(r(r"password='it\'s secret' user=u"), "password=*** user=u");
        assert_eq!(
            r("application_name='a b' host=h"),
            "application_name='a b' host=h"
        );
        assert_eq!(r("PASSWORD=S3CRET"), "PASSWORD=***");
        assert_eq!(r("sslpassword=S3CRET"), "sslpassword=***");
    }

    #[test]
    fn what_cannot_be_parsed_is_not_shown() {
        assert_eq!(r("host=h password S3CRET"), "host=h ***");
        assert_eq!(r("password='S3CRET unterminated"), "password=***");
        assert_eq!(r("S3CRET"), "***");
        assert_eq!(r(""), "");
    }
}
