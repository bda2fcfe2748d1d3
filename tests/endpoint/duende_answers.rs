//! The endpoint against Duende's answers (tests/fixtures/duende/introspection.json), its
//! decisions and caller authentication, and the request flow through the C ABI.

use std::sync::LazyLock;

use reftoken::dataprotection::KeyRing;
use reftoken::endpoint::{
    AuthFailure, CredentialSource, Decision, HttpRequest, IntrospectionRequest, JwtSettings,
    TokenTypeHint,
};
use reftoken::introspection::Options;
use reftoken::jwt::{self, Algorithm, SigningKey, VerifyingKey};
use reftoken::validation::StoredGrant;

use crate::common::{fixture_case, fixture_keyring, fixture_rows, opt_rs, rs_text};

use super::*;

/// What the answers are checked against, loaded once per test process.
struct Fixture {
    cfg: Config,
    rows: HashMap<(String, String), StoredGrant>,
    ring: KeyRing,
    key: SigningKey,
    verifier: VerifyingKey,
    public_jwk: Value,
    cases: Value,
}

fn fixture() -> &'static Fixture {
    static F: LazyLock<Fixture> = LazyLock::new(|| {
        let (private_jwk, public_jwk) = fixture_signing_jwk();
        let key = SigningKey::from_jwk(&private_jwk, None, None).expect("the fixture key");
        assert_eq!(key.kid(), Some("reftoken-fixtures-es256"));
        assert_eq!(key.algorithm(), Algorithm::ES256);
        Fixture {
            cfg: config(),
            rows: fixture_rows(),
            ring: fixture_keyring(),
            key,
            verifier: VerifyingKey::from_jwk(&public_jwk.to_string(), None).unwrap(),
            public_jwk,
            cases: load("introspection.json"),
        }
    });
    &F
}

struct Answer {
    response: endpoint::HttpResponse,
    refresh_hint: Option<Option<TokenTypeHint>>,
}

fn run_fixture_case(
    c: &Value,
    cfg: &Config,
    rows: &HashMap<(String, String), StoredGrant>,
    ring: &KeyRing,
    key: &SigningKey,
) -> Answer {
    let req = &c["request"];
    let request = HttpRequest {
        method: s(&req["method"]).unwrap(),
        content_type: s(&req["content_type"]),
        authorization: s(&req["authorization"]),
        accept: s(&req["accept"]),
        body: s(&req["form"]).unwrap().as_bytes(),
    };
    let now = Instant::from_unix_seconds(c["now_unix"].as_i64().unwrap());
    let db = s(&c["db"]).unwrap().to_owned();
    let enabled = |id: &str| cfg.clients.get(id).is_some_and(|c| c.enabled);
    let opts = Options {
        client_enabled: Some(&enabled),
        ..Options::default()
    };
    let mut refresh_hint = None;
    let introspect = |p: &endpoint::IntrospectionParams, caller: &endpoint::AuthenticatedCaller| {
        if s(&c["grant_type"]) == Some("refresh_token") {
            // Refresh-token introspection is not in the core: check that the request got this
            // far with the right caller and hint, and hand back Duende's body.
            assert_eq!(caller.name(), s(&c["caller"]["id"]).unwrap());
            assert_eq!(p.token.as_str(), s(&c["handle"]).unwrap());
            refresh_hint = Some(p.token_type_hint);
            return Ok(s(&c["body"]).unwrap().to_owned());
        }
        let lookup = |k: &str| Ok(rows.get(&(db.clone(), k.to_owned())).cloned());
        endpoint::reference_token_introspector(
            lookup,
            Some(ring as &dyn reftoken::validation::Unprotect),
            &opts,
            now,
        )(p, caller)
    };
    let response = endpoint::process(
        &request,
        now,
        |name| cfg.apis.get(name).cloned(),
        |id| cfg.clients.get(id).cloned(),
        introspect,
        Some(&JwtSettings {
            key,
            issuer: "https://idsvr.test",
        }),
    )
    .unwrap_or_else(|e| panic!("{}: {e}", c["name"]));
    Answer {
        response,
        refresh_hint,
    }
}

/// Runs the fixture case `name` through `endpoint::process` and checks the answer against
/// Duende's: status, content type, caching headers, body (a JWT's header and payload). Returns
/// the JWTs, RefToken's and Duende's, for a JWT answer.
fn answers_as_duende(name: &str) -> Option<[String; 2]> {
    let f = fixture();
    let c = fixture_case(&f.cases, name);
    let a = run_fixture_case(&c, &f.cfg, &f.rows, &f.ring, &f.key);
    let r = &a.response;
    assert_eq!(i64::from(r.status), c["status"].as_i64().unwrap(), "{name}");
    assert_eq!(r.content_type, s(&c["content_type"]), "{name}");
    assert_eq!(
        r.headers().find(|h| h.0 == "Cache-Control").map(|h| h.1),
        s(&c["cache_control"]),
        "{name}"
    );
    assert_eq!(
        r.headers().any(|h| h == ("Pragma", "no-cache")),
        r.no_store,
        "{name}"
    );
    if c["grant_type"] == "refresh_token" {
        assert!(a.refresh_hint.is_some(), "{name}: not introspected");
    }
    if let Some(hint) = a.refresh_hint {
        let form = s(&c["request"]["form"]).unwrap();
        let want = if form.contains("token_type_hint=refresh_token") {
            Some(TokenTypeHint::RefreshToken)
        } else {
            Some(TokenTypeHint::AccessToken)
        };
        assert_eq!(hint, want, "{name}");
    }
    if r.content_type != Some(endpoint::JWT_CONTENT_TYPE) {
        assert_eq!(r.body, s(&c["body"]).unwrap(), "{name}");
        return None;
    }
    // Header and payload exactly as Duende wrote them; ES256 signatures are random.
    let (h, p) = jwt_parts(&r.body);
    assert_eq!(h, s(&c["jwt_header"]).unwrap(), "{name}");
    assert_eq!(p, s(&c["jwt_payload"]).unwrap(), "{name}");
    let ours = jwt::verify(&r.body, &f.verifier)
        .unwrap()
        .expect("our signature verifies");
    assert_eq!((ours.header, ours.payload), (h, p));
    // Duende's own JWT verifies with RefToken's verifier too.
    let theirs = s(&c["body"]).unwrap();
    let v = jwt::verify(theirs, &f.verifier)
        .unwrap()
        .expect("Duende's signature verifies");
    assert_eq!(v.payload, s(&c["jwt_payload"]).unwrap());
    Some([r.body.clone(), theirs.to_owned()])
}

/// One test per endpoint-level case of introspection.json (the names starting `auth/`,
/// `error/`, `hint/` and `jwt/`), and the list checked against the file.
mod endpoint_answers_as_duende_does {
    use super::*;

    macro_rules! duende_cases {
        ($($test:ident: $name:literal,)*) => {
            $(
                #[test]
                fn $test() {
                    answers_as_duende($name);
                }
            )*
            /// The cases, as introspection.json names them.
            const CASES: &[&str] = &[$($name),*];
        };
    }

    duende_cases! {
        auth_api1_form_body_credentials: "auth/api1_form_body_credentials",
        auth_client1_form_body_credentials: "auth/client1_form_body_credentials",
        auth_api2_sha512_secret_basic: "auth/api2_sha512_secret_basic",
        auth_disabled_client3_caller: "auth/disabled_client3_caller",
        hint_client1_access_token_hint: "hint/client1_access_token_hint",
        hint_client1_refresh_token_hint_on_access_token: "hint/client1_refresh_token_hint_on_access_token",
        hint_client1_unknown_hint: "hint/client1_unknown_hint",
        hint_ropc_refresh_token_hint: "hint/ropc_refresh_token_hint",
        hint_ropc_access_token_hint_on_refresh_token: "hint/ropc_access_token_hint_on_refresh_token",
        hint_api1_refresh_token_hint: "hint/api1_refresh_token_hint",
        jwt_basic_api1: "jwt/basic/api1",
        jwt_token_endpoint_client_credentials_client1: "jwt/token_endpoint_client_credentials/client1",
        jwt_unknown_handle_api1: "jwt/unknown_handle/api1",
        jwt_typed_json_api1: "jwt/typed_json/api1",
        jwt_accept_with_json_too_api1: "jwt/accept_with_json_too/api1",
        error_api1_wrong_secret: "error/api1_wrong_secret",
        error_client1_wrong_secret: "error/client1_wrong_secret",
        error_unknown_api_or_client: "error/unknown_api_or_client",
        error_no_credentials: "error/no_credentials",
        error_api1_missing_token: "error/api1_missing_token",
        error_client1_missing_token: "error/client1_missing_token",
        error_api1_empty_token: "error/api1_empty_token",
        error_api1_token_too_long: "error/api1_token_too_long",
        error_api1_jwt_looking_garbage: "error/api1_jwt_looking_garbage",
        error_get_method: "error/get_method",
        error_json_content_type: "error/json_content_type",
    }

    /// Every endpoint-level case of introspection.json has its test above, and there are as
    /// many of each kind as the fixtures were made with.
    #[test]
    fn every_case_has_a_test() {
        let cases = &fixture().cases;
        let in_file: Vec<&str> = cases
            .as_array()
            .unwrap()
            .iter()
            .map(|c| s(&c["name"]).unwrap())
            .filter(|n| ["auth", "error", "hint", "jwt"].contains(&n.split('/').next().unwrap()))
            .collect();
        assert_eq!(in_file, CASES, "the cases of introspection.json");
        let count = |prefix: &str| CASES.iter().filter(|n| n.starts_with(prefix)).count();
        assert!(
            count("auth/") >= 4
                && count("error/") >= 9
                && count("hint/") >= 6
                && count("jwt/") >= 5,
            "{CASES:?}"
        );
        let refresh = CASES
            .iter()
            .filter(|n| fixture_case(cases, n)["grant_type"] == "refresh_token")
            .count();
        assert_eq!(refresh, 2, "refresh-token introspections");
    }

    /// .NET's ECDsa agrees on every signature, Duende's and RefToken's.
    #[test]
    fn jwts_verify_with_dotnet() {
        let jwts: Vec<String> = CASES
            .iter()
            .filter_map(|name| answers_as_duende(name))
            .flatten()
            .collect();
        assert_eq!(jwts.len(), 8);
        let public_jwk = &fixture().public_jwk;
        let ops: Vec<Value> = jwts
            .iter()
            .map(|t| json!({"op": "verify", "jwt": t, "alg": "ES256", "jwk": public_jwk}))
            .collect();
        for (op, r) in ops.iter().zip(oracle(&ops)) {
            assert_eq!(ok(op, &r)["valid"], true, "{op}");
        }
    }
}

fn form_request(body: &[u8], authorization: Option<&str>) -> IntrospectionRequest {
    IntrospectionRequest::parse(&HttpRequest {
        method: "POST",
        content_type: Some("application/x-www-form-urlencoded"),
        authorization,
        accept: None,
        body,
    })
}

fn decided_status(r: &IntrospectionRequest, authenticated: bool) -> (u16, String) {
    match r.decide(authenticated) {
        Decision::Respond(resp) => (resp.status, resp.body),
        Decision::Introspect { params, .. } => (200, params.token.to_string()),
    }
}

/// The endpoint's decisions, one test per rule (and per case of the tabled rules).
mod endpoint_decisions {
    use super::*;

    /// Repeated parameters: refused after authentication (Duende joins them).
    #[test]
    fn repeated_parameters() {
        let api1 = basic(b"api1:api1-secret");
        let r = form_request(b"token=a&token=b", Some(&api1));
        assert_eq!(decided_status(&r, false).0, 401);
        assert_eq!(
            decided_status(&r, true),
            (400, "{\"error\":\"invalid_request\",\"error_description\":\"the token parameter is repeated\"}".into())
        );
        let r = form_request(
            b"token=a&token_type_hint=access_token&token_type_hint=x",
            Some(&api1),
        );
        assert_eq!(decided_status(&r, true).0, 400);
        let r = form_request(b"token=a&token=+&token=", Some(&api1));
        assert_eq!(decided_status(&r, true), (200, "a".into()));
    }

    /// Missing token after authentication; 401 first.
    #[test]
    fn missing_token() {
        let r = form_request(b"token=%20", Some(&basic(b"api1:api1-secret")));
        assert_eq!(decided_status(&r, false).0, 401);
        assert_eq!(
            decided_status(&r, true),
            (400, "{\"error\":\"missing_token\"}".into())
        );
    }

    /// An unreadable form: with Basic credentials IdentityServer reads it after authenticating
    /// the caller; without, while parsing the post body (before).
    #[test]
    fn unreadable_form() {
        let r = form_request(b"token=%00", Some(&basic(b"api1:api1-secret")));
        assert_eq!(r.rejection(), None);
        assert_eq!(decided_status(&r, false), (401, String::new()));
        assert_eq!(decided_status(&r, true), (400, String::new()));
        let r = form_request(b"token=%00&client_id=api1&client_secret=api1-secret", None);
        assert_eq!(r.rejection(), Some(endpoint::Rejection::UnreadableForm));
        assert_eq!(decided_status(&r, true), (400, String::new()));
        let r = form_request(&vec![b'a'; endpoint::MAX_FORM_LEN + 1], None);
        assert!(matches!(r.form_error(), Some(Error::TooLarge { .. })));
    }

    /// Method and content type come first: the status of an authenticated request.
    fn method_and_content_type(method: &str, ct: Option<&str>, want: u16) {
        let r = IntrospectionRequest::parse(&HttpRequest {
            method,
            content_type: ct,
            authorization: None,
            accept: None,
            body: b"token=t",
        });
        assert_eq!(decided_status(&r, true).0, want, "{method} {ct:?}");
    }

    const FORM: Option<&str> = Some("application/x-www-form-urlencoded");

    test_cases!(method_and_content_type {
        get_is_405: ("GET", FORM, 405),
        post_in_lower_case_is_read: ("post", FORM, 200),
        no_content_type_is_415: ("POST", None, 415),
        text_plain_is_415: ("POST", Some("text/plain"), 415),
        another_charset_is_415: (
            "POST",
            Some("application/x-www-form-urlencoded; charset=iso-8859-1"),
            415
        ),
        utf8_is_read: (
            "POST",
            Some("application/x-www-form-urlencoded; charset=utf-8"),
            200
        ),
    });

    /// Credentials: Basic with a secret wins; a Basic id without one yields to the body's;
    /// a broken header does not stop the body's.
    #[test]
    fn credentials() {
        let c = |r: &IntrospectionRequest| {
            r.credentials().map(|c| {
                (
                    c.client_id.clone(),
                    c.secret.as_ref().map(|s| s.to_string()),
                    c.source,
                )
            })
        };
        let body = b"token=t&client_id=c2&client_secret=s2";
        assert_eq!(
            c(&form_request(body, Some(&basic(b"c1:s1")))),
            Some(("c1".into(), Some("s1".into()), CredentialSource::Basic))
        );
        assert_eq!(
            c(&form_request(body, Some(&basic(b"c1:")))),
            Some(("c2".into(), Some("s2".into()), CredentialSource::PostBody))
        );
        assert_eq!(
            c(&form_request(b"token=t", Some(&basic(b"c1:")))),
            Some(("c1".into(), None, CredentialSource::Basic))
        );
        let r = form_request(body, Some("Basic !!"));
        assert!(r.basic_error().is_some());
        assert_eq!(
            c(&r),
            Some(("c2".into(), Some("s2".into()), CredentialSource::PostBody))
        );
        let long = format!("token=t&client_id={}&client_secret=s", "x".repeat(101));
        let r = form_request(long.as_bytes(), Some(&basic(b"c1:")));
        assert!(matches!(r.post_body_error(), Some(Error::TooLarge { .. })));
        assert_eq!(c(&r), Some(("c1".into(), None, CredentialSource::Basic)));
        assert_eq!(
            c(&form_request(b"token=t&client_id=c3", None)),
            Some(("c3".into(), None, CredentialSource::PostBody))
        );
        assert_eq!(c(&form_request(b"token=t", None)), None);
    }

    /// Accept: exactly the RFC 9701 type, ignoring case.
    fn accept(accept: &str, jwt: bool) {
        let r = IntrospectionRequest::parse(&HttpRequest {
            method: "POST",
            content_type: FORM,
            authorization: None,
            accept: Some(accept),
            body: b"token=t",
        });
        assert_eq!(r.jwt_requested(), jwt, "{accept}");
    }

    test_cases!(accept {
        accept_the_jwt_type: ("application/token-introspection+jwt", true),
        accept_the_jwt_type_in_other_case: ("APPLICATION/Token-Introspection+JWT", true),
        accept_a_list: (
            "application/token-introspection+jwt, application/json",
            false
        ),
        accept_with_a_leading_space: (" application/token-introspection+jwt", false),
        accept_with_a_parameter: ("application/token-introspection+jwt;q=1", false),
        accept_json: ("application/json", false),
    });
}

/// `endpoint::authenticate` of a caller presenting `presented` (`None`: no credentials;
/// `Some(None)`: an id without a secret) when the store holds `api` and `client` under its id.
fn authenticates(
    presented: Option<Option<&str>>,
    api: Option<ApiResource>,
    client: Option<Client>,
    want: Result<&str, AuthFailure>,
) {
    let now = Instant::from_unix_seconds(1_000);
    let creds = presented.map(|secret| endpoint::Credentials {
        client_id: "shared".into(),
        secret: secret.map(|s| zeroize::Zeroizing::new(s.to_owned())),
        source: CredentialSource::Basic,
    });
    let got = endpoint::authenticate(creds.as_ref(), |_| api, |_| client, now).map(|c| match c {
        endpoint::AuthenticatedCaller::Api(_) => "api",
        endpoint::AuthenticatedCaller::Client(_) => "client",
    });
    assert_eq!(got, want);
}

/// Caller authentication, one test per case: APIs first, then clients, secrets and their
/// expiration, disabled callers and clients that need no secret.
mod caller_authentication {
    use super::*;

    fn stored(secret: &str, exp: Option<i64>) -> StoredSecret {
        StoredSecret {
            value: secret::hash_secret(secret, HashAlgorithm::Sha256).to_string(),
            expiration: exp.map(Instant::from_unix_seconds),
        }
    }

    fn api(enabled: bool, exp: Option<i64>) -> Option<ApiResource> {
        Some(ApiResource {
            name: "shared".into(),
            enabled,
            scopes: vec!["s".into()],
            secrets: vec![stored("api-secret", exp)],
        })
    }

    fn client(enabled: bool, require: bool) -> Option<Client> {
        Some(Client {
            client_id: "shared".into(),
            enabled,
            require_client_secret: require,
            secrets: vec![stored("client-secret", None)],
        })
    }

    /// An enabled client whose first stored secret is not a hash.
    fn broken_client() -> Option<Client> {
        let mut broken = client(true, true).unwrap();
        broken.secrets.insert(0, StoredSecret::new("QQ==".into()));
        Some(broken)
    }

    use AuthFailure::*;

    test_cases!(authenticates {
        no_credentials: (None, api(true, None), None, Err(NoCredentials)),
        the_api_secret_makes_an_api: (
            Some(Some("api-secret")),
            api(true, None),
            client(true, true),
            Ok("api")
        ),
        the_client_secret_makes_a_client: (
            Some(Some("client-secret")),
            api(true, None),
            client(true, true),
            Ok("client")
        ),
        a_disabled_api: (
            Some(Some("api-secret")),
            api(false, None),
            None,
            Err(Disabled)
        ),
        an_expired_api_secret: (
            Some(Some("api-secret")),
            api(true, Some(999)),
            None,
            Err(WrongSecret)
        ),
        an_api_secret_at_its_expiration: (
            Some(Some("api-secret")),
            api(true, Some(1000)),
            None,
            Ok("api")
        ),
        an_api_without_a_secret_presented: (Some(None), api(true, None), None, Err(MissingSecret)),
        an_unknown_caller: (Some(Some("x")), None, None, Err(UnknownCaller)),
        a_disabled_client: (
            Some(Some("client-secret")),
            None,
            client(false, true),
            Err(Disabled)
        ),
        a_wrong_client_secret: (
            Some(Some("wrong")),
            None,
            client(true, true),
            Err(WrongSecret)
        ),
        // A client that needs no secret is accepted with any secret or none.
        a_client_needing_no_secret_without_one: (
            Some(None),
            None,
            client(true, false),
            Ok("client")
        ),
        a_client_needing_no_secret_with_a_wrong_one: (
            Some(Some("wrong")),
            None,
            client(true, false),
            Ok("client")
        ),
        a_malformed_stored_secret: (
            Some(Some("client-secret")),
            None,
            broken_client(),
            Err(MalformedStoredSecret)
        ),
    });
}

/// The fixture case `name` through the C ABI as a host drives it: parse the request, read the
/// credentials, check them (an API first, then a client, with `reftoken_secret_verify`),
/// decide, and compare the answer with Duende's.
fn request_flows_through_the_c_abi(name: &str) {
    let cfg = config();
    let c = fixture_case(&fixture().cases, name);
    let req = &c["request"];
    let body = s(&req["form"]).unwrap();
    let http = ffi::reftoken_http_request {
        method: opt_rs(s(&req["method"])),
        content_type: opt_rs(s(&req["content_type"])),
        authorization: opt_rs(s(&req["authorization"])),
        accept: opt_rs(s(&req["accept"])),
        body: body.as_ptr(),
        body_len: body.len(),
    };
    let mut r = std::ptr::null_mut();
    assert_eq!(
        unsafe { ffi::reftoken_introspection_request_parse(&http, &mut r) },
        reftoken_status::REFTOKEN_OK
    );
    let mut creds = std::mem::MaybeUninit::<ffi::reftoken_credentials>::uninit();
    assert_eq!(
        unsafe { ffi::reftoken_introspection_request_credentials(r, creds.as_mut_ptr()) },
        reftoken_status::REFTOKEN_OK
    );
    let creds = unsafe { creds.assume_init() };
    // The host's own check: an API first, then a client, with reftoken_secret_verify.
    let authenticated = creds.kind == ffi::REFTOKEN_CREDENTIALS_SHARED_SECRET && {
        let id = rs_text(creds.client_id).unwrap();
        let stored: Option<(bool, &Vec<StoredSecret>)> = cfg
            .apis
            .get(&id)
            .map(|a| (a.enabled, &a.secrets))
            .into_iter()
            .chain(cfg.clients.get(&id).map(|c| (c.enabled, &c.secrets)))
            .find(|(enabled, secrets)| {
                let strs: Vec<reftoken_str> =
                    secrets.iter().map(|s| opt_rs(Some(&s.value))).collect();
                let mut valid = false;
                let st = unsafe {
                    ffi::reftoken_secret_verify(
                        creds.secret.ptr,
                        creds.secret.len,
                        strs.as_ptr(),
                        std::ptr::null(),
                        strs.len(),
                        c["now_unix"].as_i64().unwrap(),
                        &mut valid,
                        std::ptr::null_mut(),
                    )
                };
                assert_eq!(st, reftoken_status::REFTOKEN_OK);
                *enabled && valid
            });
        stored.is_some()
    };
    if creds.kind == ffi::REFTOKEN_CREDENTIALS_SHARED_SECRET && !name.contains("wrong") {
        let id = rs_text(creds.client_id).unwrap();
        assert_eq!(
            rs_text(creds.secret),
            cfg.plaintext.get(&id).cloned(),
            "{name}"
        );
    }
    let mut answer = std::mem::MaybeUninit::<ffi::reftoken_endpoint_answer>::uninit();
    assert_eq!(
        unsafe {
            ffi::reftoken_introspection_request_decide(r, authenticated, answer.as_mut_ptr())
        },
        reftoken_status::REFTOKEN_OK
    );
    let a = unsafe { answer.assume_init() };
    assert_eq!(i64::from(a.status), c["status"].as_i64().unwrap(), "{name}");
    assert_eq!(
        rs_text(a.content_type).as_deref(),
        s(&c["content_type"]),
        "{name}"
    );
    assert_eq!(a.no_store, c["cache_control"].is_string(), "{name}");
    if a.introspect {
        assert_eq!(rs_text(a.token).as_deref(), s(&c["handle"]), "{name}");
        assert_eq!(a.jwt_requested, name.starts_with("jwt/"));
        let hint = if name.starts_with("hint/ropc_refresh") {
            ffi::REFTOKEN_HINT_REFRESH_TOKEN
        } else {
            ffi::REFTOKEN_HINT_NONE
        };
        assert_eq!(a.token_type_hint, hint, "{name}");
    } else {
        assert_eq!(rs_text(a.body).unwrap(), s(&c["body"]).unwrap(), "{name}");
    }
    unsafe { ffi::reftoken_introspection_request_free(r) };
}

/// One test per fixture case driven through the C ABI, and the requests it refuses.
mod request_flow_through_the_c_abi {
    use super::*;

    test_cases!(request_flows_through_the_c_abi {
        auth_api1_form_body_credentials: ("auth/api1_form_body_credentials"),
        auth_client1_form_body_credentials: ("auth/client1_form_body_credentials"),
        auth_api2_sha512_secret_basic: ("auth/api2_sha512_secret_basic"),
        auth_disabled_client3_caller: ("auth/disabled_client3_caller"),
        error_api1_wrong_secret: ("error/api1_wrong_secret"),
        error_no_credentials: ("error/no_credentials"),
        error_api1_missing_token: ("error/api1_missing_token"),
        error_get_method: ("error/get_method"),
        error_json_content_type: ("error/json_content_type"),
        hint_ropc_refresh_token_hint: ("hint/ropc_refresh_token_hint"),
        jwt_basic_api1: ("jwt/basic/api1"),
    });

    /// A form body alone; a repeated token; NULL arguments; a header that is not UTF-8.
    #[test]
    fn a_form_body_alone_and_refused_arguments() {
        unsafe { ffi::reftoken_introspection_request_free(std::ptr::null_mut()) };
        let body = b"token=a&token=b&client_id=c&client_secret=s";
        let mut r = std::ptr::null_mut();
        assert_eq!(
            unsafe { ffi::reftoken_introspection_form_parse(body.as_ptr(), body.len(), &mut r) },
            reftoken_status::REFTOKEN_OK
        );
        let mut answer = std::mem::MaybeUninit::<ffi::reftoken_endpoint_answer>::uninit();
        assert_eq!(
            unsafe { ffi::reftoken_introspection_request_decide(r, true, answer.as_mut_ptr()) },
            reftoken_status::REFTOKEN_OK
        );
        let a = unsafe { answer.assume_init() };
        assert_eq!((a.status, a.introspect), (400, false));
        assert!(rs_text(a.body).unwrap().contains("invalid_request"));
        let mut creds = std::mem::MaybeUninit::<ffi::reftoken_credentials>::uninit();
        assert_eq!(
            unsafe { ffi::reftoken_introspection_request_credentials(r, creds.as_mut_ptr()) },
            reftoken_status::REFTOKEN_OK
        );
        let creds = unsafe { creds.assume_init() };
        assert_eq!(
            (creds.kind, creds.source),
            (
                ffi::REFTOKEN_CREDENTIALS_SHARED_SECRET,
                ffi::REFTOKEN_CREDENTIALS_FROM_POST_BODY
            )
        );
        unsafe { ffi::reftoken_introspection_request_free(r) };
        assert_eq!(
            unsafe {
                ffi::reftoken_introspection_request_decide(
                    std::ptr::null(),
                    true,
                    answer.as_mut_ptr(),
                )
            },
            reftoken_status::REFTOKEN_NULL_ARGUMENT
        );
        assert_eq!(
            unsafe { ffi::reftoken_introspection_request_parse(std::ptr::null(), &mut r) },
            reftoken_status::REFTOKEN_NULL_ARGUMENT
        );
        let bad = [0xffu8];
        let http = ffi::reftoken_http_request {
            method: opt_rs(Some("POST")),
            content_type: crate::common::rs(&bad),
            authorization: opt_rs(None),
            accept: opt_rs(None),
            body: std::ptr::null(),
            body_len: 0,
        };
        assert_eq!(
            unsafe { ffi::reftoken_introspection_request_parse(&http, &mut r) },
            reftoken_status::REFTOKEN_INVALID_UTF8
        );
        assert!(r.is_null());
    }
}
