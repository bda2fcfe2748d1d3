//! `WebEncoders.Base64UrlDecode` as RefToken reads Data Protection strings: whatever decodes
//! re-encodes canonically and decodes to the same bytes; standard base64 (with `+` or `/`)
//! and base64url agree on the same bytes.
#![no_main]

use base64::Engine;
use libfuzzer_sys::fuzz_target;
use reftoken::dataprotection::{base64url_decode, base64url_encode};

fuzz_target!(|data: &[u8]| {
    let decoded = std::str::from_utf8(data)
        .ok()
        .and_then(|s| Some((s, base64url_decode(s).ok()?)));
    if let Some((s, bytes)) = decoded {
        let canon = base64url_encode(&bytes);
        assert_eq!(base64url_decode(&canon).unwrap(), bytes);
        assert!(
            canon
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        // Decoding never yields more than three bytes per four characters.
        assert!(bytes.len() <= s.len() / 4 * 3 + 2);
    }
    // Encoding any bytes and decoding gives them back, in both alphabets.
    let url = base64url_encode(data);
    assert_eq!(base64url_decode(&url).unwrap(), data);
    assert_eq!(
        url,
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
    );
    let std_padded = base64::engine::general_purpose::STANDARD.encode(data);
    if std_padded.contains(['+', '/']) {
        assert_eq!(base64url_decode(&std_padded).unwrap(), data);
    }
});
