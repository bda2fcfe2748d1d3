//! Round trip of the grant writer: any token RefToken can hold, written as IdentityServer's
//! serializer writes it (bare, in the container, protected in the container, and built through
//! the C ABI's `reftoken_grant_new`/`_add_*`/`_set_*` then `reftoken_grant_data`), reads back
//! as the same token.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use reftoken_ffi::{self as ffi, reftoken_grant, reftoken_status};
use reftoken::grant::{self, Claim, Token};
use reftoken::instant::{self, Instant};
use reftoken::validation;
use reftoken_fuzz::{fixture_ring, now};

#[derive(Arbitrary, Debug)]
struct Input {
    algs: Vec<String>,
    confirmation: Option<String>,
    audiences: Vec<String>,
    issuer: Option<String>,
    creation: i64,
    lifetime: i32,
    token_type: Option<String>,
    client_id: Option<String>,
    access_token_type: i32,
    description: Option<String>,
    include_jwt_id: bool,
    claims: Vec<(String, String, Option<String>)>,
    version: i32,
}

/// .NET's `DateTime` range: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.9999999Z.
fn clamp_instant(t: i64) -> Instant {
    let min = instant::parse("0001-01-01T00:00:00Z").unwrap().0;
    let max = instant::parse("9999-12-31T23:59:59.9999999Z").unwrap().0;
    Instant(min + t.rem_euclid(max - min + 1))
}

fuzz_target!(|input: Input| {
    let token = Token {
        allowed_signing_algorithms: input.algs,
        confirmation: input.confirmation,
        audiences: input.audiences,
        issuer: input.issuer,
        creation_time: clamp_instant(input.creation),
        lifetime: input.lifetime,
        token_type: input.token_type,
        client_id: input.client_id,
        access_token_type: input.access_token_type,
        description: input.description,
        include_jwt_id: input.include_jwt_id,
        claims: input
            .claims
            .into_iter()
            .map(|(t, v, vt)| match vt {
                Some(vt) => Claim::typed(t, v, vt),
                None => Claim::new(t, v),
            })
            .collect(),
        version: input.version,
        null_member: None,
    };
    let json = token.to_json();
    let back = Token::from_json(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
    assert_eq!(back, token);
    assert_eq!(
        grant::read_token(&grant::seal_data(&json, false)).unwrap(),
        token
    );
    let ring = fixture_ring();
    let p = ring
        .protect_str(&[grant::DATA_PROTECTION_PURPOSE], &json, now())
        .unwrap();
    let row = grant::seal_data(&p, true);
    assert_eq!(validation::read_token(&row, Some(ring)).unwrap(), token);

    // Through the C ABI: the builder covers issuer, client id, time, lifetime, claims,
    // audiences and description (the other members keep IdentityServer's defaults).
    let (Some(client), Some(issuer)) = (&token.client_id, &token.issuer) else {
        return;
    };
    let secs = token.creation_time.unix_seconds();
    let mut g: *mut reftoken_grant = std::ptr::null_mut();
    let st = unsafe {
        ffi::reftoken_grant_new(
            client.as_ptr().cast(),
            client.len(),
            issuer.as_ptr().cast(),
            issuer.len(),
            secs,
            token.lifetime,
            &mut g,
        )
    };
    if st != reftoken_status::REFTOKEN_OK {
        assert!(token.lifetime < 0 || g.is_null(), "{st:?}");
        return;
    }
    let mut expected = Token {
        audiences: token.audiences.clone(),
        issuer: token.issuer.clone(),
        creation_time: Instant::from_unix_seconds(secs),
        lifetime: token.lifetime,
        client_id: token.client_id.clone(),
        description: token.description.clone().filter(|d| !d.is_empty()),
        claims: token.claims.clone(),
        ..Token::default()
    };
    unsafe {
        for c in &token.claims {
            let vt = c.value_type.as_deref().unwrap_or("");
            let st = ffi::reftoken_grant_add_claim(
                g,
                c.claim_type.as_ptr().cast(),
                c.claim_type.len(),
                c.value.as_ptr().cast(),
                c.value.len(),
                vt.as_ptr().cast(),
                vt.len(),
            );
            assert_eq!(st, reftoken_status::REFTOKEN_OK);
        }
        for a in &token.audiences {
            assert_eq!(
                ffi::reftoken_grant_add_audience(g, a.as_ptr().cast(), a.len()),
                reftoken_status::REFTOKEN_OK
            );
        }
        if let Some(d) = &token.description {
            assert_eq!(
                ffi::reftoken_grant_set_description(g, d.as_ptr().cast(), d.len()),
                reftoken_status::REFTOKEN_OK
            );
        }
        let mut len = 0usize;
        let st = ffi::reftoken_grant_data(g, std::ptr::null_mut(), 0, &mut len);
        assert!(
            st == reftoken_status::REFTOKEN_BUFFER_TOO_SMALL
                || (st == reftoken_status::REFTOKEN_OK && len == 0)
        );
        let mut buf = vec![0u8; len + 1];
        let st = ffi::reftoken_grant_data(g, buf.as_mut_ptr().cast(), buf.len(), &mut len);
        assert_eq!(st, reftoken_status::REFTOKEN_OK);
        assert_eq!(buf[len], 0, "NUL after the text");
        ffi::reftoken_grant_free(g);
        let data = std::str::from_utf8(&buf[..len]).expect("UTF-8 out");
        let read = grant::read_token(data).expect("the C builder's row reads back");
        expected.token_type = read.token_type.clone();
        assert_eq!(read, expected);
    }
});
