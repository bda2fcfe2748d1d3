//! Memory hygiene: secrets are wiped before their memory is given back.

use std::ffi::c_char;
use std::hint::black_box;

use reftoken::endpoint::{self, Form, HttpRequest, IntrospectionRequest};

use super::*;
use crate::common::{c_fixture_keyring, c_keyring_from_dir};

/// A plaintext marker that cannot occur by chance, one for each test: memory that another
/// test freed without wiping (its inputs, a control) may be handed to this test's allocations
/// still holding that test's marker, and must not count as a copy this test's call left.
fn marker(test: &str) -> Vec<u8> {
    format!("zeroize-marker-5f1c2a9e0d7b4c36-{test}").into_bytes()
}

#[test]
fn unprotected_plaintext_is_wiped_when_dropped() {
    let marker = marker("unprotected");
    let marker = marker.as_slice();
    let ring = fixture_ring();
    let mut pt = b"{\"secret\":\"".to_vec();
    pt.extend_from_slice(marker);
    pt.extend_from_slice(b"\"}");
    let text = std::str::from_utf8(&pt).unwrap().to_owned();
    let bytes_payload = ring.protect(&["p"], &pt, key_time()).unwrap();
    let str_payload = ring.protect_str(&["p"], &text, key_time()).unwrap();
    // Control: an ordinary Vec holding the marker is found when freed.
    let copy = pt.clone();
    assert_eq!(freed_with_marker(marker, || drop(black_box(copy))), 1);
    let found = freed_with_marker(marker, || {
        let p = ring.unprotect(&["p"], &bytes_payload).unwrap();
        assert!(contains(&p, marker));
        drop(p);
        let s = ring.unprotect_str(&["p"], &str_payload).unwrap();
        assert!(contains(s.as_bytes(), marker));
        drop(s);
    });
    assert_eq!(found, 0, "plaintext left in freed memory");
    // Through the C ABI: the library's own copies are wiped, also when the buffer is too small
    // (the payload is decrypted to learn the length). The ring is made before the watched
    // calls and freed after them.
    let c_ring = c_fixture_keyring();
    let purpose = rs(b"p");
    let mut out = vec![0u8; pt.len() + 1];
    let found = freed_with_marker(marker, || unsafe {
        let mut len = 0;
        for cap in [out.len(), 3] {
            reftoken_unprotect(
                c_ring.ptr(),
                &purpose,
                1,
                str_payload.as_ptr().cast(),
                str_payload.len(),
                out.as_mut_ptr().cast(),
                cap,
                &mut len,
            );
            reftoken_unprotect_bytes(
                c_ring.ptr(),
                &purpose,
                1,
                bytes_payload.as_ptr(),
                bytes_payload.len(),
                out.as_mut_ptr(),
                cap,
                &mut len,
            );
        }
    });
    drop(c_ring);
    assert_eq!(
        found, 0,
        "plaintext left in freed memory by the C entry points"
    );
}

#[test]
fn protect_wipes_its_copy_of_the_plaintext() {
    let marker = marker("protect");
    let marker = marker.as_slice();
    let ring = fixture_ring();
    let mut pt = vec![b'.'; 200];
    pt.extend_from_slice(marker);
    let found = freed_with_marker(marker, || {
        let p = ring.protect(&["p"], &pt, key_time()).unwrap();
        drop(p);
    });
    assert_eq!(found, 0);
}

/// The SHA-512 chaining value after HMAC-SHA512's first block (`key XOR ipad`): what a keyed
/// HMAC holds instead of the key, as the `u64` words lie in memory.
fn hmac_sha512_inner_state(key: &[u8]) -> Vec<u8> {
    let mut block = [0x36u8; 128];
    for (b, k) in block.iter_mut().zip(key) {
        *b ^= k;
    }
    let mut state: [u64; 8] = [
        0x6a09e667f3bcc908,
        0xbb67ae8584caa73b,
        0x3c6ef372fe94f82b,
        0xa54ff53a5f1d36f1,
        0x510e527fade682d1,
        0x9b05688c2b3e6c1f,
        0x1f83d9abfb41bd6b,
        0x5be0cd19137e2179,
    ];
    sha2::block_api::compress512(&mut state, &[block]);
    state.iter().flat_map(|w| w.to_ne_bytes()).collect()
}

#[test]
fn key_ring_master_keys_and_derived_state_are_wiped_when_dropped() {
    use hmac::{Hmac, KeyInit};
    let master: Vec<u8> = (0..64u8).map(|i| i.wrapping_mul(73) ^ 0xC3).collect();
    let xml = key_xml(
        "11111111-2222-4333-8444-555555555555",
        "AES_256_CBC",
        Some("HMACSHA256"),
        &master,
    );
    // The master key itself: decoded from base64 while loading, never left behind.
    let found = freed_with_marker(&master, || {
        let ring = KeyRing::from_xml(&[xml.as_str()]).unwrap();
        let p = ring
            .with_application_name(Some("a"))
            .protect(&["p"], b"x", key_time())
            .unwrap();
        drop(p);
    });
    assert_eq!(found, 0, "the master key was left in freed memory");
    // What the ring keeps instead: HMAC-SHA512 keyed with the master key (every payload key is
    // derived from it). Control: a keyed HMAC really holds `state` in its memory, and a plain
    // copy of it is found when freed.
    let state = hmac_sha512_inner_state(&master);
    let mac = Box::new(<Hmac<sha2::Sha512> as KeyInit>::new_from_slice(&master).unwrap());
    // SAFETY: reading the bytes of our own live allocation.
    let mac_bytes = unsafe {
        std::slice::from_raw_parts(
            (mac.as_ref() as *const Hmac<sha2::Sha512>).cast::<u8>(),
            std::mem::size_of::<Hmac<sha2::Sha512>>(),
        )
    };
    assert!(
        contains(mac_bytes, &state),
        "the marker is not what an HMAC key holds"
    );
    let copy = mac_bytes.to_vec();
    assert_eq!(freed_with_marker(&state, || drop(black_box(copy))), 1);
    assert_eq!(
        freed_with_marker(&state, || drop(mac)),
        0,
        "HMAC state is not zeroized on drop"
    );
    // The ring's keyed state is wiped when the ring is dropped.
    let ring = KeyRing::from_xml(&[xml.as_str()]).unwrap();
    let found = freed_with_marker(&state, || drop(ring));
    assert_eq!(
        found, 0,
        "the key ring's derived key state was left in freed memory"
    );
}

#[test]
fn key_ring_state_is_not_left_behind_when_the_ring_grows_while_loading() {
    // Loading keys one by one into a growing vector would move (copy) each key's HMAC state
    // into a new allocation and free the old one unwiped.
    let masters: Vec<Vec<u8>> = (0..9u8)
        .map(|k| (0..64u8).map(|i| i ^ k.wrapping_mul(17)).collect())
        .collect();
    let xml: Vec<String> = masters
        .iter()
        .enumerate()
        .map(|(i, m)| {
            key_xml(
                &format!("11111111-2222-4333-8444-{i:012}"),
                "AES_256_CBC",
                Some("HMACSHA256"),
                m,
            )
        })
        .collect();
    let state = hmac_sha512_inner_state(&masters[0]);
    let mut ring = None;
    let found = freed_with_marker(&state, || ring = Some(KeyRing::from_xml(&xml).unwrap()));
    assert_eq!(
        found, 0,
        "a copy of a key's derived state was freed unwiped while loading"
    );
    assert_eq!(freed_with_marker(&state, || drop(ring)), 0);
}

#[test]
fn key_ring_files_are_wiped_after_loading() {
    let dir = tempfile::tempdir().unwrap();
    let master: Vec<u8> = (0..64u8).map(|i| i.wrapping_mul(29) ^ 0x5A).collect();
    let xml = key_xml(
        "11111111-2222-4333-8444-666666666666",
        "AES_128_GCM",
        None,
        &master,
    );
    std::fs::write(dir.path().join("key-1.xml"), &xml).unwrap();
    let b64 = STANDARD.encode(&master);
    for marker in [master.as_slice(), b64.as_bytes()] {
        let found = freed_with_marker(marker, || {
            let (ring, st) = c_keyring_from_dir(dir.path(), Some("a"));
            assert_eq!(st, reftoken_status::REFTOKEN_OK);
            drop(ring);
        });
        assert_eq!(found, 0, "key file contents left in freed memory");
    }
}

#[test]
fn client_secrets_are_wiped_after_parsing() {
    let marker = marker("client-secret");
    let marker = marker.as_slice();
    let secret = std::str::from_utf8(marker).unwrap();
    let header = format!("Basic {}", STANDARD.encode(format!("api1:{secret}")));
    let body = format!("token=T&client_id=api1&client_secret={secret}").into_bytes();
    let found = freed_with_marker(marker, || {
        let c = endpoint::parse_basic(&header).unwrap();
        assert_eq!(c.secret.as_deref().map(|s| s.as_str()), Some(secret));
        drop(c);
        let f = Form::parse(&body).unwrap();
        drop(f);
        let r = IntrospectionRequest::parse(&HttpRequest {
            method: "POST",
            content_type: Some("application/x-www-form-urlencoded"),
            authorization: Some(&header),
            accept: None,
            body: &body,
        });
        drop(r);
        let mut req = null_mut();
        unsafe {
            reftoken_introspection_form_parse(body.as_ptr(), body.len(), &mut req);
            reftoken_introspection_request_free(req);
        }
        let (mut id, mut sec) = ([0 as c_char; 128], [0 as c_char; 128]);
        let (mut il, mut sl, mut has) = (0, 0, false);
        unsafe {
            reftoken_basic_parse(
                header.as_ptr().cast(),
                header.len(),
                id.as_mut_ptr(),
                128,
                &mut il,
                sec.as_mut_ptr(),
                128,
                &mut sl,
                &mut has,
            );
        }
    });
    assert_eq!(found, 0, "a client secret was left in freed memory");
}

#[test]
fn grant_plaintext_is_wiped_when_the_token_is_dropped() {
    let marker = marker("grant");
    let marker = marker.as_slice();
    // The token read from a protected row: its JSON, and the claims parsed from it.
    let ring = fixture_ring();
    let secret = std::str::from_utf8(marker).unwrap();
    let mut t = Token::from_json(&token_json(0)).unwrap();
    t.claims.push(grant::Claim::new("session_secret", secret));
    let json = t.to_json();
    let row = grant::seal_data(
        &ring
            .protect_str(&[grant::DATA_PROTECTION_PURPOSE], &json, key_time())
            .unwrap(),
        true,
    );
    drop(t);
    let found = freed_with_marker(marker, || {
        let token = reftoken::validation::read_token(&row, Some(&ring)).unwrap();
        assert_eq!(token.claim("session_secret"), Some(secret));
        drop(token);
    });
    assert_eq!(found, 0, "grant plaintext left in freed memory");
}

#[test]
fn handles_are_not_left_in_freed_memory() {
    // `reftoken_handle_new` writes into the caller's buffer; the library keeps no copy and
    // its generator's output buffer is wiped as it is handed out.
    let mut out = [0u8; 67];
    let mut len = 0;
    unsafe { reftoken_handle_new(out.as_mut_ptr().cast(), out.len(), &mut len) };
    let h = reftoken::handle::new_handle().unwrap();
    let found = freed_with_marker(&h.as_bytes()[..64], || {
        let k = reftoken::key::store_key(&h, "reference_token").unwrap();
        black_box(k);
    });
    assert_eq!(found, 0);
}
