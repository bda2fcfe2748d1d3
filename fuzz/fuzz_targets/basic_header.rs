//! The `Authorization: Basic` header, through `endpoint::parse_basic` and
//! `reftoken_basic_parse` (with output buffers of every size): what parses is a client id of
//! 1 to 100 UTF-16 code units that is not white space, and a secret of at most 100; the C ABI
//! writes exactly those bytes, or nothing when a buffer is too small.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reftoken::endpoint::{self, CredentialSource};
use reftoken_ffi::{self as ffi, reftoken_status};
use reftoken_fuzz::is_known_status;

fn utf16_len(s: &str) -> usize {
    s.encode_utf16().count()
}

fuzz_target!(|data: &[u8]| {
    let Some((&caps, header)) = data.split_first() else {
        return;
    };
    let (id_cap, secret_cap) = ((caps & 0x0F) as usize * 20, (caps >> 4) as usize * 20);
    let mut id = vec![0xA5u8; id_cap];
    let mut secret = vec![0xA5u8; secret_cap];
    let (mut id_len, mut secret_len, mut has_secret) = (0usize, 0usize, false);
    let st = unsafe {
        ffi::reftoken_basic_parse(
            header.as_ptr().cast(),
            header.len(),
            id.as_mut_ptr().cast(),
            id_cap,
            &mut id_len,
            secret.as_mut_ptr().cast(),
            secret_cap,
            &mut secret_len,
            &mut has_secret,
        )
    };
    assert!(is_known_status(st));
    // The length is checked against the limit (3 bytes per UTF-16 unit) before any byte is read.
    if header.len() > 3 * endpoint::MAX_AUTHORIZATION_LEN {
        assert_eq!(st, reftoken_status::REFTOKEN_INPUT_TOO_LARGE);
        return;
    }
    let Ok(text) = std::str::from_utf8(header) else {
        assert_eq!(st, reftoken_status::REFTOKEN_INVALID_UTF8);
        return;
    };
    match endpoint::parse_basic(text) {
        Ok(c) => {
            assert_eq!(c.source, CredentialSource::Basic);
            assert!(!c.client_id.trim().is_empty() && utf16_len(&c.client_id) <= 100);
            if let Some(s) = &c.secret {
                assert!(!s.trim().is_empty() && utf16_len(s) <= 100);
            }
            let s = c.secret.as_deref().map_or("", |s| s.as_str());
            if c.client_id.len() <= id_cap && s.len() <= secret_cap {
                assert_eq!(st, reftoken_status::REFTOKEN_OK);
                assert_eq!(&id[..id_len], c.client_id.as_bytes());
                assert_eq!(&secret[..secret_len], s.as_bytes());
                assert_eq!(has_secret, c.secret.is_some());
            } else {
                assert_eq!(st, reftoken_status::REFTOKEN_BUFFER_TOO_SMALL);
                assert_eq!((id_len, secret_len), (c.client_id.len(), s.len()));
                assert!(
                    id.iter().chain(&secret).all(|&b| b == 0xA5),
                    "written although too small"
                );
            }
        }
        Err(e) => assert_eq!(st, reftoken_status::from(&e), "{e}"),
    }
});
