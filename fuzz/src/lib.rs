//! Shared pieces of RefToken's fuzz targets: fixed key rings (the real Duende fixture key and
//! one key per other algorithm), a fixed clock, and the invariants several targets check.
//!
//! Everything here is deterministic, so a crash found by one run reproduces in the next.

use std::sync::OnceLock;

use reftoken::dataprotection::KeyRing;
use reftoken::instant::{self, Instant};
use reftoken::jwt::{Algorithm, SigningKey, VerifyingKey};
use reftoken_ffi::{reftoken_signing_key, reftoken_status, reftoken_str};

/// The application name of the Duende fixtures (`SetApplicationName("reftoken-fixtures")`).
pub const FIXTURE_APP: &str = "reftoken-fixtures";
/// The purpose IdentityServer's persisted-grant serializer protects with.
pub const GRANT_PURPOSE: &str = "PersistentGrantSerializer";

/// The real key a Duende IdentityServer 7.4.8 host wrote (tests/fixtures/duende/keyring).
pub const FIXTURE_KEY_XML: &str = include_str!(
    "../../tests/fixtures/duende/keyring/key-3e8fa111-b37f-4806-a7d7-20ddc589534f.xml"
);

/// An instant at which every key of [`rings`] is active.
pub fn now() -> Instant {
    instant::parse("2026-12-01T00:00:00Z").expect("a valid date")
}

const DEFAULT_DESERIALIZER: &str = "Microsoft.AspNetCore.DataProtection.AuthenticatedEncryption.ConfigurationModel.AuthenticatedEncryptorDescriptorDeserializer, Microsoft.AspNetCore.DataProtection, Version=10.0.0.0, Culture=neutral, PublicKeyToken=adb9793829ddae60";
const MANAGED_DESERIALIZER: &str = "Microsoft.AspNetCore.DataProtection.AuthenticatedEncryption.ConfigurationModel.ManagedAuthenticatedEncryptorDescriptorDeserializer, Microsoft.AspNetCore.DataProtection, Version=10.0.0.0, Culture=neutral, PublicKeyToken=adb9793829ddae60";

/// A key element in the form ASP.NET Core writes, with a fixed (test-only) master key.
pub fn key_xml(id: &str, deserializer: &str, inner: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<key id=\"{id}\" version=\"1\">\n  <creationDate>2026-11-20T00:00:00Z</creationDate>\n  <activationDate>2026-11-20T00:00:00Z</activationDate>\n  <expirationDate>2027-02-18T00:00:00Z</expirationDate>\n  <descriptor deserializerType=\"{deserializer}\">\n    {inner}\n  </descriptor>\n</key>"
    )
}

fn master_key(fill: u8) -> String {
    use base64::Engine;
    let k: Vec<u8> = (0..64u8).map(|i| i.wrapping_mul(31) ^ fill).collect();
    let b64 = base64::engine::general_purpose::STANDARD.encode(k);
    format!(
        r#"<masterKey p4:requiresEncryption="true" xmlns:p4="http://schemas.asp.net/2015/03/dataProtection"><!-- Warning: the key below is in an unencrypted form. --><value>{b64}</value></masterKey>"#
    )
}

/// Key elements covering every algorithm family: the fixture (AES-256-CBC + HMAC-SHA256),
/// AES-128-GCM, AES-192-CBC + HMAC-SHA512, and a managed AES-128-CBC + HMAC-SHA384 key.
pub fn key_elements() -> Vec<String> {
    vec![
        FIXTURE_KEY_XML.to_owned(),
        key_xml(
            "4b9c6bbf-3f43-4c35-a6e0-1c1d1d2a4a02",
            DEFAULT_DESERIALIZER,
            &format!(
                r#"<descriptor><encryption algorithm="AES_128_GCM" />{}</descriptor>"#,
                master_key(2)
            ),
        ),
        key_xml(
            "4b9c6bbf-3f43-4c35-a6e0-1c1d1d2a4a03",
            DEFAULT_DESERIALIZER,
            &format!(
                r#"<descriptor><encryption algorithm="AES_192_CBC" /><validation algorithm="HMACSHA512" />{}</descriptor>"#,
                master_key(3)
            ),
        ),
        key_xml(
            "4b9c6bbf-3f43-4c35-a6e0-1c1d1d2a4a04",
            MANAGED_DESERIALIZER,
            &format!(
                r#"<descriptor><encryption algorithm="System.Security.Cryptography.Aes, System.Security.Cryptography, Version=10.0.0.0" keyLength="128" /><validation algorithm="System.Security.Cryptography.HMACSHA384, System.Security.Cryptography, Version=10.0.0.0" />{}</descriptor>"#,
                master_key(4)
            ),
        ),
    ]
}

/// The Duende fixture key ring with its application name: it opens the fixtures' protected
/// `Data` columns.
pub fn fixture_ring() -> &'static KeyRing {
    static RING: OnceLock<KeyRing> = OnceLock::new();
    RING.get_or_init(|| {
        KeyRing::from_xml(&[FIXTURE_KEY_XML])
            .expect("fixture key ring")
            .with_application_name(Some(FIXTURE_APP))
    })
}

/// One single-key ring per algorithm family (see [`key_elements`]), each with an application
/// name, so that the default key at [`now`] is that key.
pub fn rings() -> &'static [KeyRing] {
    static RINGS: OnceLock<Vec<KeyRing>> = OnceLock::new();
    RINGS.get_or_init(|| {
        key_elements()
            .iter()
            .map(|k| {
                KeyRing::from_xml(std::slice::from_ref(k))
                    .expect("test key ring")
                    .with_application_name(Some(FIXTURE_APP))
            })
            .collect()
    })
}

/// The fixture key ring as the C ABI holds it (created once with
/// `reftoken_keyring_new_from_xml`, never freed).
pub fn fixture_c_ring() -> *const reftoken_ffi::reftoken_keyring {
    static RING: OnceLock<usize> = OnceLock::new();
    *RING.get_or_init(|| {
        let el = reftoken_ffi::reftoken_str {
            ptr: FIXTURE_KEY_XML.as_ptr().cast(),
            len: FIXTURE_KEY_XML.len(),
        };
        let mut out = std::ptr::null_mut();
        let st = unsafe {
            reftoken_ffi::reftoken_keyring_new_from_xml(
                &el,
                1,
                FIXTURE_APP.as_ptr().cast(),
                FIXTURE_APP.len(),
                &mut out,
            )
        };
        assert_eq!(st, reftoken_status::REFTOKEN_OK);
        out as usize
    }) as *const reftoken_ffi::reftoken_keyring
}

/// Every status a C entry point may return; anything else is a bug.
pub fn is_known_status(s: reftoken_status) -> bool {
    // The enum is `#[repr(u32)]`; a value outside it would already be undefined behaviour,
    // so check the panic status separately: no input may make the library panic.
    s != reftoken_status::REFTOKEN_INTERNAL_PANIC
}

/// `token` as its serialized form reads back: a claim whose value type is spelled out as
/// `ClaimValueTypes.String` (IdentityServer4 wrote it) is written without it, which means the
/// same (see `Claim::value_type`).
pub fn normalized(token: &reftoken::grant::Token) -> reftoken::grant::Token {
    let mut t = token.clone();
    for c in &mut t.claims {
        if c.value_type.as_deref() == Some(reftoken::grant::STRING_VALUE_TYPE) {
            c.value_type = None;
        }
    }
    t
}

/// A `reftoken_str` over each of `items`, valid while they are.
pub fn c_strs<S: AsRef<[u8]>>(items: &[S]) -> Vec<reftoken_str> {
    items
        .iter()
        .map(|i| {
            let b = i.as_ref();
            reftoken_str {
                ptr: b.as_ptr().cast(),
                len: b.len(),
            }
        })
        .collect()
}

/// Every part as text, or `None` when one is not UTF-8 (which the C ABI refuses).
pub fn all_utf8<'a>(parts: &[&'a [u8]]) -> Option<Vec<&'a str>> {
    parts.iter().map(|p| std::str::from_utf8(p).ok()).collect()
}

/// The algorithms a signing-key target picks from with a byte `sel` (`sel % 4`, as the C ABI's
/// `alg` argument numbers them: default, RS256, PS256, ES256).
const ALGS: [Option<Algorithm>; 4] = [
    None,
    Some(Algorithm::RS256),
    Some(Algorithm::PS256),
    Some(Algorithm::ES256),
];

/// `reftoken_signing_key_new_from_pem` or `_from_jwk`, which take the same arguments.
pub type NewSigningKey = unsafe extern "C" fn(
    *const std::ffi::c_char,
    usize,
    u32,
    *const std::ffi::c_char,
    usize,
    *mut *mut reftoken_signing_key,
) -> reftoken_status;

/// `new` of `text` with the algorithm `alg` and the key id `kid` (empty: none): the status
/// and the key (NULL unless made; the caller frees it).
pub fn c_signing_key(
    new: NewSigningKey,
    text: &[u8],
    alg: u32,
    kid: &str,
) -> (reftoken_status, *mut reftoken_signing_key) {
    let kid_ptr = if kid.is_empty() {
        std::ptr::null()
    } else {
        kid.as_ptr().cast()
    };
    let mut key = std::ptr::null_mut();
    let st = unsafe {
        new(
            text.as_ptr().cast(),
            text.len(),
            alg,
            kid_ptr,
            kid.len(),
            &mut key,
        )
    };
    (st, key)
}

/// A text form of keys.
#[derive(Clone, Copy)]
pub enum KeyText {
    Pem,
    Jwk,
}

/// The signing-key targets: the first byte of `data` picks the algorithm, the rest is a key in
/// the text form `form` (a PEM key is given the key id "kid", a JWK none). The C ABI says what
/// the core says; a key that loads gives its public JWK, signs, and its public JWK verifies
/// the signature.
pub fn check_key_text(data: &[u8], form: KeyText) {
    type Signing = fn(&str, Option<Algorithm>, Option<&str>) -> Result<SigningKey, reftoken::Error>;
    type Verifying = fn(&str, Option<Algorithm>) -> Result<VerifyingKey, reftoken::Error>;
    let (c_new, kid, signing, verifying): (NewSigningKey, _, Signing, Verifying) = match form {
        KeyText::Pem => (
            reftoken_ffi::reftoken_signing_key_new_from_pem,
            "kid",
            SigningKey::from_pem,
            VerifyingKey::from_pem,
        ),
        KeyText::Jwk => (
            reftoken_ffi::reftoken_signing_key_new_from_jwk,
            "",
            SigningKey::from_jwk,
            VerifyingKey::from_jwk,
        ),
    };
    let Some((&sel, text)) = data.split_first() else {
        return;
    };
    let alg = ALGS[sel as usize % 4];
    let (st, key) = c_signing_key(c_new, text, sel as u32 % 4, kid);
    assert!(is_known_status(st));
    if st == reftoken_status::REFTOKEN_OK {
        let mut out = vec![0u8; 4096];
        let mut len = 0;
        let st = unsafe {
            reftoken_ffi::reftoken_signing_key_public_jwk(
                key,
                out.as_mut_ptr().cast(),
                out.len(),
                &mut len,
            )
        };
        assert!(matches!(
            st,
            reftoken_status::REFTOKEN_OK | reftoken_status::REFTOKEN_BUFFER_TOO_SMALL
        ));
    }
    unsafe { reftoken_ffi::reftoken_signing_key_free(key) };
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let _ = verifying(text, alg);
    match signing(text, alg, (!kid.is_empty()).then_some(kid)) {
        Ok(k) => {
            assert_eq!(st, reftoken_status::REFTOKEN_OK);
            check_key(&k, sel);
        }
        Err(e) => assert_eq!(st, reftoken_status::from(&e), "{e}"),
    }
}

/// Signs with the key (RSA only for one input in eight: RSA signing is slow and the parse is
/// what is fuzzed) and verifies with the key's public JWK.
fn check_key(k: &SigningKey, sel: u8) {
    let jwk = k.public_jwk();
    let v = VerifyingKey::from_jwk(&jwk, None).unwrap_or_else(|e| panic!("{e}: {jwk}"));
    assert_eq!(v.algorithm(), k.algorithm());
    if k.algorithm() != Algorithm::ES256 && sel & 0xE0 != 0 {
        return;
    }
    let sig = match k.sign(b"header.payload") {
        Ok(s) => s,
        // A key whose components do not fit together may fail to sign: never panic.
        Err(reftoken::Error::InvalidArgument(_)) => return,
        Err(e) => panic!("{e}"),
    };
    assert!(v.verify_signature(b"header.payload", &sig));
}

/// Splits fuzz input into `n` parts at `0xFF` bytes (never valid UTF-8, so a part can still
/// be any UTF-8 text); missing parts are empty.
pub fn split_parts(data: &[u8], n: usize) -> Vec<&[u8]> {
    let mut parts: Vec<&[u8]> = data.splitn(n, |&b| b == 0xFF).collect();
    parts.resize(n, &[]);
    parts
}

/// Asserts that `text` is one JSON value (the invariant of every JSON writer here) and returns
/// it as a `serde_json::Value` when serde_json can hold it: it refuses numbers beyond `f64`
/// (`1E400`), which JSON and System.Text.Json allow and RefToken copies verbatim from `json`
/// claims.
pub fn assert_json(what: &str, text: &str) -> Option<serde_json::Value> {
    if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(text) {
        panic!("{what} wrote invalid JSON ({e}): {text}");
    }
    serde_json::from_str::<serde_json::Value>(text).ok()
}

/// A `Token` read by serde_json, the general parser the fast path is checked against (within
/// the claim limit). A member given twice takes its last value, as in System.Text.Json
/// (tests/field_exactness.rs asks .NET): serde's derived reader refuses duplicates, so those
/// go through a `serde_json::Value`, whose maps keep the last.
pub fn serde_reference(json: &str) -> Option<reftoken::grant::Token> {
    use reftoken::grant::Token;
    serde_json::from_str::<Token>(json)
        .ok()
        .or_else(|| {
            let v = serde_json::from_str::<serde_json::Value>(json).ok()?;
            <Token as serde::Deserialize>::deserialize(&v).ok()
        })
        .filter(|t| t.claims.len() <= reftoken::limits::MAX_CLAIMS)
}

/// `fast`, what the one-pass reader made of the token JSON `json`, is what serde_json makes of
/// it ([`serde_reference`]), for a JSON object within the depth limit.
pub fn assert_serde_agrees(json: &str, fast: Option<&reftoken::grant::Token>) {
    if json.starts_with('{') && reftoken::json::depth_within_limit(json) {
        let general = serde_reference(json);
        assert_eq!(fast, general.as_ref(), "fast path and serde differ");
    }
}
