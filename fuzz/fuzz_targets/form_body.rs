//! `application/x-www-form-urlencoded` bodies as the introspection endpoint reads them:
//! `Form::parse`, the parameters, the post-body credentials, and the same through
//! `reftoken_introspection_form_parse` / `_credentials` / `_decide`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reftoken::endpoint::{self, Form, ParamError};
use reftoken_ffi::{self as ffi, reftoken_credentials, reftoken_endpoint_answer, reftoken_status};
use reftoken_fuzz::is_known_status;

fuzz_target!(|data: &[u8]| {
    let form = Form::parse(data);
    if let Ok(f) = &form {
        // Every key and value is text; keys found by `first` are found by `values`.
        for (k, _) in f.pairs() {
            assert_eq!(f.first(k).is_some(), f.values(k).next().is_some());
        }
        match endpoint::introspection_params(f) {
            Ok(p) => assert!(!p.token.trim().is_empty()),
            Err(ParamError::MissingToken | ParamError::Repeated(_)) => {}
        }
        if let Ok(Some(c)) = endpoint::post_body_credentials(f) {
            assert!(!c.client_id.trim().is_empty());
        }
    }
    let mut req = std::ptr::null_mut();
    let st = unsafe { ffi::reftoken_introspection_form_parse(data.as_ptr(), data.len(), &mut req) };
    assert!(is_known_status(st));
    assert_eq!(st, reftoken_status::REFTOKEN_OK);
    unsafe {
        let mut c: reftoken_credentials = std::mem::zeroed();
        assert_eq!(
            ffi::reftoken_introspection_request_credentials(req, &mut c),
            reftoken_status::REFTOKEN_OK
        );
        for auth in [false, true] {
            let mut a: reftoken_endpoint_answer = std::mem::zeroed();
            assert_eq!(
                ffi::reftoken_introspection_request_decide(req, auth, &mut a),
                reftoken_status::REFTOKEN_OK
            );
            assert!(matches!(a.status, 200 | 400 | 401), "{}", a.status);
            if form.is_err() {
                assert_eq!(a.status, 400);
            }
            if a.introspect {
                let token = std::slice::from_raw_parts(a.token.ptr.cast::<u8>(), a.token.len);
                assert!(std::str::from_utf8(token).is_ok());
            }
        }
        ffi::reftoken_introspection_request_free(req);
    }
});
