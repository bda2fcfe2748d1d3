//! Introspection of any token by any caller under every IdentityServer version, through the
//! core and through `reftoken_introspect` / `reftoken_evaluate` / `reftoken_introspect_data`:
//! the response is one JSON object whose `active` agrees with the verdict, or (for tokens
//! IdentityServer cannot answer for either) `Error::Malformed`; the C ABI says the same.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use reftoken_ffi::{
    self as ffi, reftoken_caller, reftoken_grant, reftoken_options, reftoken_status, reftoken_str,
    reftoken_verdict,
};
use reftoken::grant::{self, Claim, Token};
use reftoken::instant::Instant;
use reftoken::introspection::{self, Caller, IdentityServerVersion, Options};
use reftoken_fuzz::assert_json;

#[derive(Arbitrary, Debug)]
enum ValueType {
    Plain,
    Integer,
    Integer32,
    Integer64,
    Double,
    Boolean,
    Json,
    JsonUpper,
    Other(String),
}

#[derive(Arbitrary, Debug)]
struct Input {
    confirmation: Option<String>,
    audiences: Vec<String>,
    issuer: Option<String>,
    creation: i32,
    lifetime: i32,
    client_id: Option<String>,
    claims: Vec<(u8, String, ValueType)>,
    api: bool,
    caller: String,
    scopes: Vec<String>,
    version: u8,
    now: i32,
}

const TYPES: [&str; 12] = [
    "sub",
    "client_id",
    "scope",
    "iss",
    "nbf",
    "iat",
    "exp",
    "aud",
    "cnf",
    "jti",
    "amr",
    "active",
];

fuzz_target!(|input: Input| {
    let claims: Vec<Claim> = input
        .claims
        .iter()
        .map(|(t, v, vt)| {
            let ty = TYPES[*t as usize % TYPES.len()];
            let vt = match vt {
                ValueType::Plain => "",
                ValueType::Integer => introspection::VT_INTEGER,
                ValueType::Integer32 => introspection::VT_INTEGER32,
                ValueType::Integer64 => introspection::VT_INTEGER64,
                ValueType::Double => introspection::VT_DOUBLE,
                ValueType::Boolean => introspection::VT_BOOLEAN,
                ValueType::Json => "json",
                ValueType::JsonUpper => "JSON",
                ValueType::Other(s) => s,
            };
            Claim::typed(ty, v.clone(), vt)
        })
        .collect();
    let token = Token {
        confirmation: input.confirmation.clone(),
        audiences: input.audiences.clone(),
        issuer: input.issuer.clone(),
        creation_time: Instant::from_unix_seconds(1_700_000_000 + i64::from(input.creation)),
        lifetime: input.lifetime,
        client_id: input.client_id.clone(),
        claims,
        ..Token::default()
    };
    let versions = [
        (IdentityServerVersion::IdentityServer4, 40000u32),
        (IdentityServerVersion::Duende5_0, 50000),
        (IdentityServerVersion::Duende6_1, 60100),
        (IdentityServerVersion::Duende6_3, 60300),
        (IdentityServerVersion::Duende7_1, 70100),
        (IdentityServerVersion::Duende7_3, 70300),
    ];
    let (version, c_version) = versions[input.version as usize % versions.len()];
    let scopes: Vec<&str> = input.scopes.iter().map(String::as_str).collect();
    let caller = if input.api {
        Caller::Api {
            name: &input.caller,
            scopes: &scopes,
        }
    } else {
        Caller::Client { id: &input.caller }
    };
    let opts = Options {
        version,
        ..Options::default()
    };
    let now = Instant::from_unix_seconds(1_700_000_000 + i64::from(input.now));
    let verdict = introspection::evaluate(&token, &caller, now, &opts);
    let body = match introspection::respond(&token, &caller, now, &opts) {
        Ok(body) => {
            // Where respond answers, evaluate decides too (it refuses only where respond does).
            let verdict = verdict
                .as_ref()
                .expect("respond answered, so evaluate must");
            if let Some(v) = assert_json("respond", &body) {
                assert_eq!(v["active"].as_bool(), Some(verdict.active()), "{body}");
            }
            assert_eq!(body.contains("\"active\":true"), verdict.active(), "{body}");
            Some(body)
        }
        Err(reftoken::Error::Malformed { .. }) => None,
        Err(e) => panic!("unexpected {e}"),
    };

    // The same through the C ABI, from the row IdentityServer would store.
    let data = grant::seal_data(&token.to_json(), false);
    // Scopes joined by spaces cannot carry scopes with spaces: compare only when they match.
    if input.scopes.iter().any(|s| s.is_empty() || s.contains(' ')) {
        return;
    }
    let joined = input.scopes.join(" ");
    let c_caller = reftoken_caller {
        kind: if input.api { 1 } else { 2 },
        name: reftoken_str {
            ptr: input.caller.as_ptr().cast(),
            len: input.caller.len(),
        },
        scopes: reftoken_str {
            ptr: joined.as_ptr().cast(),
            len: joined.len(),
        },
    };
    // Zeroed: no callbacks (every client enabled); newer fields keep their zero defaults.
    let mut c_opts: reftoken_options = unsafe { std::mem::zeroed() };
    c_opts.identityserver_version = c_version;
    let mut out = vec![0u8; body.as_ref().map_or(64, |b| b.len() + 1)];
    let mut len = 0usize;
    let st = unsafe {
        ffi::reftoken_introspect_data(
            data.as_ptr().cast(),
            data.len(),
            std::ptr::null(),
            &c_caller,
            now.unix_seconds(),
            &c_opts,
            out.as_mut_ptr().cast(),
            out.len(),
            &mut len,
        )
    };
    match &body {
        Some(b) => {
            assert_eq!(st, reftoken_status::REFTOKEN_OK);
            assert_eq!(&out[..len], b.as_bytes());
        }
        None => assert_eq!(st, reftoken_status::REFTOKEN_MALFORMED_INPUT),
    }
    let mut g: *mut reftoken_grant = std::ptr::null_mut();
    unsafe {
        assert_eq!(
            ffi::reftoken_grant_parse(data.as_ptr().cast(), data.len(), &mut g),
            reftoken_status::REFTOKEN_OK
        );
        let mut v: reftoken_verdict = std::mem::zeroed();
        let st = ffi::reftoken_evaluate(g, &c_caller, now.unix_seconds(), &c_opts, &mut v);
        match &verdict {
            Ok(verdict) => {
                assert_eq!(st, reftoken_status::REFTOKEN_OK);
                assert_eq!(v.active, verdict.active());
                assert_eq!(v.expiration, verdict.expiration);
            }
            Err(_) => assert_eq!(st, reftoken_status::REFTOKEN_MALFORMED_INPUT),
        }
        ffi::reftoken_grant_free(g);
    }
});
