//! Shared pieces of RefToken's fuzz targets: fixed key rings (the real Duende fixture key and
//! one key per other algorithm), a fixed clock, and the invariants several targets check.
//!
//! Everything here is deterministic, so a crash found by one run reproduces in the next.

use std::sync::OnceLock;

use reftoken::dataprotection::KeyRing;
use reftoken_ffi::reftoken_status;
use reftoken::instant::{self, Instant};

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
