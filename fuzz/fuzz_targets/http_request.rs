//! A whole introspection request (method, content type, `Authorization`, `Accept`, body) as
//! `IntrospectionRequest::parse` and `reftoken_introspection_request_parse` read it, and the
//! answer with and without an authenticated caller: always one of IdentityServer's statuses,
//! and the C ABI's answer is the core's.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use reftoken::endpoint::{self, Decision, HttpRequest, IntrospectionRequest};
use reftoken_ffi::{
    self as ffi, reftoken_endpoint_answer, reftoken_http_request, reftoken_status, reftoken_str,
};

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    post: bool,
    method: &'a str,
    content_type: Option<&'a str>,
    form_content_type: bool,
    authorization: Option<&'a str>,
    accept: Option<&'a str>,
    body: &'a [u8],
}

fn s(v: Option<&str>) -> reftoken_str {
    match v {
        Some(v) => reftoken_str {
            ptr: v.as_ptr().cast(),
            len: v.len(),
        },
        None => reftoken_str {
            ptr: std::ptr::null(),
            len: 0,
        },
    }
}

fuzz_target!(|input: Input<'_>| {
    let method = if input.post { "POST" } else { input.method };
    let ct = if input.form_content_type {
        Some("application/x-www-form-urlencoded")
    } else {
        input.content_type
    };
    let _ = endpoint::form_content_type(input.content_type.unwrap_or(""));
    let req = HttpRequest {
        method,
        content_type: ct,
        authorization: input.authorization,
        accept: input.accept,
        body: input.body,
    };
    let parsed = IntrospectionRequest::parse(&req);
    let c_req = reftoken_http_request {
        method: s(Some(method)),
        content_type: s(ct),
        authorization: s(input.authorization),
        accept: s(input.accept),
        body: input.body.as_ptr(),
        body_len: input.body.len(),
    };
    let mut c = std::ptr::null_mut();
    assert_eq!(
        unsafe { ffi::reftoken_introspection_request_parse(&c_req, &mut c) },
        reftoken_status::REFTOKEN_OK
    );
    for auth in [false, true] {
        let (status, body) = match parsed.decide(auth) {
            Decision::Respond(r) => {
                if !r.body.is_empty() {
                    reftoken_fuzz::assert_json("error body", &r.body);
                }
                (r.status, r.body)
            }
            Decision::Introspect { params, .. } => {
                assert!(auth);
                assert!(!params.token.trim().is_empty());
                (200, String::new())
            }
        };
        assert!(matches!(status, 200 | 400 | 401 | 405 | 415), "{status}");
        let mut a: reftoken_endpoint_answer = unsafe { std::mem::zeroed() };
        assert_eq!(
            unsafe { ffi::reftoken_introspection_request_decide(c, auth, &mut a) },
            reftoken_status::REFTOKEN_OK
        );
        assert_eq!(a.status, status);
        if !a.introspect && a.body.len > 0 {
            let b = unsafe { std::slice::from_raw_parts(a.body.ptr.cast::<u8>(), a.body.len) };
            assert_eq!(b, body.as_bytes());
        }
    }
    unsafe { ffi::reftoken_introspection_request_free(c) };
});
