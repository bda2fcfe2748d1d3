//! Basic credentials: every header read as .NET reads it; the C ABI's two halves.

use reftoken::endpoint::CredentialSource;

use super::*;

fn basic_headers() -> Vec<String> {
    let mut h = vec![
        basic(b"api1:api1-secret"),
        format!("basic {}", STANDARD.encode("api1:api1-secret")),
        format!("BASIC {}", STANDARD.encode("api1:api1-secret")),
        format!("Basic  {}", STANDARD.encode("api1:api1-secret")),
        format!("Basic\t{}", STANDARD.encode("api1:api1-secret")),
        format!("Bearer {}", STANDARD.encode("api1:api1-secret")),
        "Basic".into(),
        "Basic ".into(),
        "".into(),
        "   ".into(),
        // Form-url-encoding of id and secret.
        basic(b"my+client:my+secret"),
        basic(b"my%20client:my%20secret"),
        basic(b"a%3Ab:c%3Ad"),
        basic(b"a%2Bb:c%2bd"),
        basic(b"id:se:cr:et"),
        basic(b"%C3%A9t%C3%A9:%F0%9F%98%80"),
        basic("été:😀 raw".as_bytes()),
        basic(b"bad%FFescape:%E2%82%41%C0%AF%ED%A0%80"),
        basic(b"trunc%2:%4"),
        basic(b"pct%%41:%G0"),
        basic(b"nul:%00secret"),
        // Empty parts.
        basic(b"api1:"),
        basic(b"api1: "),
        basic(b"api1:%20"),
        basic(b"api1:+"),
        basic(b":secret"),
        basic(b" :secret"),
        basic(b"%20:secret"),
        basic(b"+:secret"),
        basic(b":"),
        basic(b"no-colon"),
        basic(b""),
        // Base64 as .NET reads it.
        "Basic !!!!".into(),
        "Basic YQ".into(),
        "Basic YQ=".into(),
        "Basic YQ=Q=".into(),
        "Basic YXBp MTph cGkx LXNl Y3Jl dA==".into(),
        "Basic YXBpMTphcGkxLXNlY3JldA==\r\n".into(),
        "Basic YXBpMTphcGkxLXNlY3JldB==".into(),
        "Basic YXBpMTphcGkxLXNlY3JldA".into(),
        "Basic YXBpMTphcGkxLXNlY3JldA=\u{a0}".into(),
        // Not UTF-8 (RefToken refuses; .NET decodes with U+FFFD).
        basic(b"\xff\xfe:x"),
        basic(b"id:\xc3"),
        // Lengths: 100 UTF-16 code units pass, 101 do not; astral characters count twice.
        basic(format!("{}:s", "i".repeat(100)).as_bytes()),
        basic(format!("{}:s", "i".repeat(101)).as_bytes()),
        basic(format!("{}:s", "é".repeat(100)).as_bytes()),
        basic(format!("{}:s", "😀".repeat(50)).as_bytes()),
        basic(format!("{}:s", "😀".repeat(51)).as_bytes()),
        basic(format!("id:{}", "s".repeat(100)).as_bytes()),
        basic(format!("id:{}", "s".repeat(101)).as_bytes()),
        basic(format!("id:{}", "%41".repeat(100)).as_bytes()),
        basic(format!("id:{}", "%41".repeat(101)).as_bytes()),
    ];
    // The header limit: 810 UTF-16 code units in all (base64 whitespace pads it out).
    let core = basic(b"api1:api1-secret");
    h.push(format!("{core}{}", " ".repeat(810 - core.len())));
    h.push(format!("{core}{}", " ".repeat(811 - core.len())));
    h
}

/// Every header of [`basic_headers`] is read as .NET reads it (one failure per header).
#[test]
fn basic_credentials_match_dotnet() {
    let mut refused_non_utf8 = 0;
    check_with_oracle(
        &basic_headers(),
        |h| json!({"op": "basic", "header": h}),
        |h, r| {
            let ours = endpoint::parse_basic(h);
            match (&r["parsed"], &ours) {
                (Value::Null, Err(e)) => {
                    let reason = s(&r["reason"]).unwrap();
                    let too_large = reason.ends_with("too_long");
                    assert_eq!(
                        matches!(e, Error::TooLarge { .. }),
                        too_large,
                        ".NET says {reason}, RefToken {e}"
                    );
                }
                (Value::Object(p), Ok(c)) => {
                    assert_eq!(c.client_id, s(&p["id"]).unwrap());
                    assert_eq!(c.secret.as_deref().map(|x| x.as_str()), s(&p["secret"]));
                    assert_eq!(c.secret.is_some(), p["type"] == "SharedSecret");
                    assert_eq!(c.source, CredentialSource::Basic);
                }
                (Value::Object(_), Err(e)) => {
                    // The one deliberate difference: credentials that are not UTF-8.
                    let pair = s(&r["pair"]).unwrap();
                    assert!(pair.contains('\u{fffd}'), ".NET parsed it, RefToken: {e}");
                    assert!(e.to_string().contains("not UTF-8"), "{e}");
                    refused_non_utf8 += 1;
                }
                (p, Ok(c)) => panic!(".NET found nothing ({p}), RefToken found {c:?}"),
                (p, Err(e)) => panic!("unexpected oracle answer {p} (RefToken: {e})"),
            }
        },
    );
    assert_eq!(refused_non_utf8, 2);
}

/// What `reftoken_basic_parse` wrote.
struct BasicParsed {
    status: reftoken_status,
    id: [c_char; 16],
    id_len: usize,
    secret: [c_char; 16],
    secret_len: usize,
    has_secret: bool,
}

impl BasicParsed {
    /// Status, lengths and whether there was a secret.
    fn summary(&self) -> (reftoken_status, usize, usize, bool) {
        (self.status, self.id_len, self.secret_len, self.has_secret)
    }
}

/// `reftoken_basic_parse` of `header` into a buffer of 16 bytes for the id and one of
/// `secret_cap` bytes for the secret (`None`: NULL and 0). Called twice, over outputs holding
/// other values before: where it answers with lengths, they and whether there was a secret
/// must not depend on those values (it writes them).
fn c_basic_parse(header: &str, secret_cap: Option<usize>) -> BasicParsed {
    let run = |before: bool| {
        let stale = if before { usize::MAX } else { 0 };
        let mut p = BasicParsed {
            status: reftoken_status::REFTOKEN_OK,
            id: [0; 16],
            id_len: stale,
            secret: [0; 16],
            secret_len: stale,
            has_secret: before,
        };
        let (secret, cap) = match secret_cap {
            Some(cap) => (p.secret.as_mut_ptr(), cap.min(16)),
            None => (std::ptr::null_mut(), 0),
        };
        p.status = unsafe {
            ffi::reftoken_basic_parse(
                header.as_ptr().cast(),
                header.len(),
                p.id.as_mut_ptr(),
                16,
                &mut p.id_len,
                secret,
                cap,
                &mut p.secret_len,
                &mut p.has_secret,
            )
        };
        p
    };
    let (p, q) = (run(false), run(true));
    if matches!(
        p.status,
        reftoken_status::REFTOKEN_OK | reftoken_status::REFTOKEN_BUFFER_TOO_SMALL
    ) {
        assert_eq!(
            p.summary(),
            q.summary(),
            "{header}: outputs left as they were"
        );
    }
    p
}

/// Headers `reftoken_basic_parse` refuses, with the status, one test each.
mod basic_parse_refuses_through_the_c_abi {
    use super::*;

    fn refused(header: String, want: reftoken_status) {
        assert_eq!(c_basic_parse(&header, Some(16)).status, want, "{header}");
    }

    test_cases!(refused {
        no_colon: (
            basic(b"no-colon"),
            reftoken_status::REFTOKEN_MALFORMED_INPUT
        ),
        a_secret_too_long: (
            basic(format!("id:{}", "s".repeat(101)).as_bytes()),
            reftoken_status::REFTOKEN_INPUT_TOO_LARGE
        ),
        another_scheme: (
            "Bearer x".to_owned(),
            reftoken_status::REFTOKEN_MALFORMED_INPUT
        ),
    });
}

#[test]
fn basic_parse_writes_both_halves_or_neither_through_the_c_abi() {
    let h = basic(b"my+client:s%3Acret");
    let p = c_basic_parse(&h, Some(16));
    assert_eq!(p.summary(), (reftoken_status::REFTOKEN_OK, 9, 6, true));
    let text = |b: &[c_char], n: usize| {
        String::from_utf8(b[..n].iter().map(|&c| c as u8).collect()).unwrap()
    };
    assert_eq!(
        (text(&p.id, 9), text(&p.secret, 6)),
        ("my client".into(), "s:cret".into())
    );
    assert_eq!((p.id[9], p.secret[6]), (0, 0), "NUL-terminated");
    assert_eq!(
        c_basic_parse(&h, Some(3)).summary(),
        (reftoken_status::REFTOKEN_BUFFER_TOO_SMALL, 9, 6, false)
    );
    let h = basic(b"public:");
    assert_eq!(
        c_basic_parse(&h, None).summary(),
        (reftoken_status::REFTOKEN_OK, 6, 0, false)
    );
    let (mut id, mut sec) = ([0 as c_char; 16], [0 as c_char; 16]);
    let (mut sec_len, mut has) = (0usize, false);
    let st = unsafe {
        ffi::reftoken_basic_parse(
            h.as_ptr().cast(),
            h.len(),
            id.as_mut_ptr(),
            16,
            std::ptr::null_mut(),
            sec.as_mut_ptr(),
            16,
            &mut sec_len,
            &mut has,
        )
    };
    assert_eq!(st, reftoken_status::REFTOKEN_NULL_ARGUMENT);
}
