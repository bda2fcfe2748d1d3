//! Behaviour without .NET: key files in every form, loading rules, tampering, the key
//! lifecycle, arguments and limits.

use reftoken::dataprotection::{MAX_PAYLOAD_LEN, MAX_PURPOSES, base64url_encode};

use super::*;

#[test]
fn v1_payload_from_every_descriptor_form() {
    let v1 = |xml: String| ring(&[xml], Some("repro-app"));
    // The ring `r` opens `payload`; `form` names the case.
    let opens = |form: &str, r: &KeyRing, payload: &str| {
        let opened = r.unprotect_str(&["purpose"], payload);
        assert_eq!(
            &*opened.unwrap_or_else(|e| panic!("{form}: {e}")),
            "hello from 10.0.5",
            "{form}"
        );
    };
    let mk = master_key_element(V1_MASTER_KEY);
    opens("the current form", &v1(v1_key()), V1_PAYLOAD);
    // 1.x type names are forwarded to the current namespace.
    let legacy = "Microsoft.AspNet.DataProtection.AuthenticatedEncryption.ConfigurationModel.AuthenticatedEncryptorDescriptorDeserializer, Microsoft.AspNet.DataProtection, Version=1.0.0.0, Culture=neutral, PublicKeyToken=adb9793829ddae60";
    let r = v1(v1_key_with(
        legacy,
        &default_descriptor("AES_256_CBC", Some("HMACSHA256"), &mk),
    ));
    opens("1.x type names", &r, V1_PAYLOAD);
    // Master key as bare text, with white space and line breaks inside.
    let bare = format!(
        "<masterKey>\n  {}\n  {}\n</masterKey>",
        &V1_MASTER_KEY[..40],
        &V1_MASTER_KEY[40..]
    );
    let r = v1(v1_key_with(
        DEFAULT_DESERIALIZER,
        &default_descriptor("AES_256_CBC", Some("HMACSHA256"), &bare),
    ));
    opens("a bare master key", &r, V1_PAYLOAD);
    // NullXmlDecryptor: "encrypted" at rest without encryption.
    let null = format!(
        r#"<encryptedSecret decryptorType="Microsoft.AspNetCore.DataProtection.XmlEncryption.NullXmlDecryptor, Microsoft.AspNetCore.DataProtection, Version=10.0.0.0, Culture=neutral, PublicKeyToken=adb9793829ddae60" xmlns="http://schemas.asp.net/2015/03/dataProtection"><unencryptedKey xmlns=""><!-- This key is not encrypted. -->{mk}</unencryptedKey></encryptedSecret>"#
    );
    let r = v1(v1_key_with(
        DEFAULT_DESERIALIZER,
        &default_descriptor("AES_256_CBC", Some("HMACSHA256"), &null),
    ));
    opens("NullXmlDecryptor", &r, V1_PAYLOAD);
    // Managed (UseCustomCryptographicAlgorithms) form.
    let managed = "Microsoft.AspNetCore.DataProtection.AuthenticatedEncryption.ConfigurationModel.ManagedAuthenticatedEncryptorDescriptorDeserializer, Microsoft.AspNetCore.DataProtection, Version=8.0.0.0, Culture=neutral, PublicKeyToken=adb9793829ddae60";
    let inner = format!(
        r#"<descriptor><encryption algorithm="Aes" keyLength="256" /><validation algorithm="HMACSHA256" />{mk}</descriptor>"#
    );
    opens(
        "the managed form",
        &v1(v1_key_with(managed, &inner)),
        V1_PAYLOAD,
    );
    // CNG CBC form (Windows), same wire format.
    let cng_cbc = "Microsoft.AspNetCore.DataProtection.AuthenticatedEncryption.ConfigurationModel.CngCbcAuthenticatedEncryptorDescriptorDeserializer, Microsoft.AspNetCore.DataProtection, Version=8.0.0.0, Culture=neutral, PublicKeyToken=adb9793829ddae60";
    let inner = format!(
        r#"<descriptor><encryption algorithm="AES" keyLength="256" provider="" /><hash algorithm="SHA256" />{mk}</descriptor>"#
    );
    opens("CNG CBC", &v1(v1_key_with(cng_cbc, &inner)), V1_PAYLOAD);
    // CNG GCM form against the §16.2 AES-256-GCM vector.
    let cng_gcm = "Microsoft.AspNetCore.DataProtection.AuthenticatedEncryption.ConfigurationModel.CngGcmAuthenticatedEncryptorDescriptorDeserializer, Microsoft.AspNetCore.DataProtection, Version=8.0.0.0, Culture=neutral, PublicKeyToken=adb9793829ddae60";
    let inner =
        format!(r#"<descriptor><encryption algorithm="AES" keyLength="256" />{mk}</descriptor>"#);
    let r = v1(v1_key_with(cng_gcm, &inner));
    assert_eq!(
        r.keys().next().unwrap().algorithm,
        Some(Algorithm::Gcm {
            aes: AesKeySize::Aes256
        })
    );
    opens("CNG GCM", &r, V1_GCM_PAYLOAD);
    // The default form with GCM, and the wrong algorithm for the payload.
    let r = v1(v1_key_with(
        DEFAULT_DESERIALIZER,
        &default_descriptor("AES_256_GCM", None, &mk),
    ));
    opens("the default form with GCM", &r, V1_GCM_PAYLOAD);
    assert!(matches!(
        r.unprotect_str(&["purpose"], V1_PAYLOAD),
        Err(Error::Decrypt(_))
    ));
}

#[test]
fn unusable_keys_are_kept_and_reported() {
    let n = now();
    let id = "11111111-2222-3333-4444-555555555555";
    let dpapi = ring(&[dpapi_key(id, n, n, n.add_seconds(days(90.0)))], None);
    let key = dpapi.keys().next().unwrap();
    assert!(key.algorithm.is_none());
    assert!(
        key.problem
            .as_deref()
            .unwrap()
            .contains("DpapiXmlDecryptor")
    );
    // A payload naming that key fails with UnsupportedProtector before any cryptography.
    let mut payload = base64url_decode(V1_PAYLOAD).unwrap();
    payload[4..20].copy_from_slice(&Uuid::parse_str(id).unwrap().to_bytes_le());
    match dpapi.unprotect(&["p"], &payload) {
        Err(Error::UnsupportedProtector(m)) => {
            assert!(m.contains(id) && m.contains("DpapiXmlDecryptor"), "{m}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(dpapi.default_key_id(n), None);

    let unsupported = |inner: String, deserializer: &str| {
        let r = ring(&[v1_key_with(deserializer, &inner)], None);
        let p = r.keys().next().unwrap().problem.unwrap();
        (r, p)
    };
    let mk = master_key_element(V1_MASTER_KEY);
    for (inner, deser, what) in [
        (
            default_descriptor("AES_512_CBC", Some("HMACSHA256"), &mk),
            DEFAULT_DESERIALIZER,
            "AES_512_CBC",
        ),
        (
            default_descriptor("AES_256_CBC", Some("HMACMD5"), &mk),
            DEFAULT_DESERIALIZER,
            "HMACMD5",
        ),
        (
            default_descriptor("AES_256_CBC", Some("HMACSHA256"), &mk),
            "Contoso.MyDeserializer, Contoso",
            "Contoso.MyDeserializer",
        ),
        (
            default_descriptor(
                "AES_256_CBC",
                Some("HMACSHA256"),
                r#"<encryptedSecret decryptorType="Microsoft.AspNetCore.DataProtection.XmlEncryption.DpapiNGXmlDecryptor, Microsoft.AspNetCore.DataProtection" xmlns="http://schemas.asp.net/2015/03/dataProtection"><encryptedKey /></encryptedSecret>"#,
            ),
            DEFAULT_DESERIALIZER,
            "DpapiNGXmlDecryptor",
        ),
        (
            default_descriptor(
                "AES_256_CBC",
                Some("HMACSHA256"),
                r#"<x:encryptedSecret decryptorType="Azure.Extensions.AspNetCore.DataProtection.Keys.AzureKeyVaultXmlDecryptor, Azure.Extensions.AspNetCore.DataProtection.Keys" xmlns:x="http://schemas.asp.net/2015/03/dataProtection"><encryptedKey /></x:encryptedSecret>"#,
            ),
            DEFAULT_DESERIALIZER,
            "AzureKeyVaultXmlDecryptor",
        ),
    ] {
        let (r, p) = unsupported(inner, deser);
        assert!(p.contains(what) && p.contains(V1_ID), "{p}");
        assert!(
            matches!(
                r.unprotect_str(&["repro-app", "purpose"], V1_PAYLOAD),
                Err(Error::UnsupportedProtector(_))
            ),
            "{what}"
        );
    }
    // A master key that is not base64: the key is malformed, the ring loads.
    let (r, p) = unsupported(
        default_descriptor(
            "AES_256_CBC",
            Some("HMACSHA256"),
            &master_key_element("not base64!"),
        ),
        DEFAULT_DESERIALIZER,
    );
    assert!(p.contains("base64"), "{p}");
    assert!(matches!(
        r.unprotect_str(&["repro-app", "purpose"], V1_PAYLOAD),
        Err(Error::Malformed { .. })
    ));
    // Two <masterKey> elements.
    let (_, p) = unsupported(
        default_descriptor("AES_256_CBC", Some("HMACSHA256"), &format!("{mk}{mk}")),
        DEFAULT_DESERIALIZER,
    );
    assert!(p.contains("masterKey"), "{p}");
}

#[test]
fn key_ring_loading_rules() {
    let n = now();
    let k1 = "0f8fad5b-d9cb-469f-a165-70867728950e";
    let k2 = "7c9e6679-7425-40de-944b-e07fc1f90ae7";
    let good = active_key(k1, 5.0, 85.0);
    // BOM, declaration, comments, processing instructions and unknown root elements are fine.
    let commented = format!(
        "<!-- a comment -->\n<?pi data?>\n{}",
        active_key(k2, 1.0, 89.0)
            .trim_start_matches('\u{FEFF}')
            .replace("<?xml version=\"1.0\" encoding=\"utf-8\"?>", "")
    );
    let r = KeyRing::from_xml(&[
        good.clone(),
        commented.clone(),
        "<somethingElse><key id=\"x\"/></somethingElse>".into(),
    ])
    .unwrap();
    assert_eq!(r.keys().count(), 2);
    assert!(r.skipped().is_empty());
    // Element order does not matter.
    let r2 = KeyRing::from_xml(&[commented.clone(), good.clone()]).unwrap();
    assert_eq!(r.default_key_id(n), r2.default_key_id(n));
    // A namespaced <key> is not a key.
    assert_eq!(
        KeyRing::from_xml(&[good.replace("<key id", "<key xmlns=\"urn:x\" id")])
            .unwrap()
            .keys()
            .count(),
        0
    );
    // Duplicate ids fail the ring.
    assert!(matches!(
        KeyRing::from_xml(&[good.clone(), good.clone()]),
        Err(Error::Malformed { .. })
    ));
    // Not XML, and DTDs (entity expansion), fail the ring.
    for bad in [
        "<key id=",
        "not xml",
        "<?xml version=\"1.0\"?><!DOCTYPE key [<!ENTITY a \"aaaa\">]><key id=\"&a;\"/>",
    ] {
        assert!(
            matches!(
                KeyRing::from_xml(&[good.clone(), bad.into()]),
                Err(Error::Malformed { .. })
            ),
            "{bad}"
        );
    }
    // A key without a readable id or date is skipped, and recorded.
    let no_date = good
        .replace(k1, k2)
        .replace("<activationDate>", "<activationDate>yesterday");
    let bad_id = good.replace(k1, "not-a-guid");
    let r = KeyRing::from_xml(&[good.clone(), no_date, bad_id]).unwrap();
    assert_eq!(r.keys().count(), 1);
    assert_eq!(r.skipped().len(), 2, "{:?}", r.skipped());
    // A revocation that cannot be read fails the ring.
    for bad in ["<revocation version=\"1\"><revocationDate>2024-01-01T00:00:00Z</revocationDate></revocation>".to_owned(), revocation_xml("*", "soon"), revocation_xml("nope", "2024-01-01T00:00:00Z")] {
        assert!(matches!(KeyRing::from_xml(&[good.clone(), bad.clone()]), Err(Error::Malformed { .. })), "{bad}");
    }
    // A revocation of an unknown key is harmless.
    assert!(
        KeyRing::from_xml(&[good.clone(), revocation_xml(k2, "2024-01-01T00:00:00Z")])
            .unwrap()
            .keys()
            .all(|k| !k.revoked)
    );
    // Braced GUIDs (XmlConvert.ToGuid) in revocations and ids.
    let r = KeyRing::from_xml(&[
        good.clone(),
        revocation_xml(
            &format!("{{{}}}", k1.to_uppercase()),
            "2024-01-01T00:00:00Z",
        ),
    ])
    .unwrap();
    assert!(r.keys().next().unwrap().revoked);
    // Revoke-all compares instants, whatever the offset; only keys created strictly before.
    let created = instant::parse("2024-01-01T00:00:00Z").unwrap();
    let key = key_xml(
        k1,
        created,
        created,
        created.add_seconds(days(90.0)),
        &random_master_key(),
    );
    for (date, revoked) in [
        ("2024-01-01T01:00:00+02:00", false),
        ("2024-01-01T03:00:00+02:00", true),
        ("2024-01-01T00:00:00Z", false),
        ("2024-01-01T00:00:00.0000001Z", true),
        ("2023-12-31T19:00:00.5-05:00", true),
    ] {
        let r = KeyRing::from_xml(&[key.clone(), revocation_xml("*", date)]).unwrap();
        assert_eq!(r.keys().next().unwrap().revoked, revoked, "{date}");
    }
    // The latest revoke-all wins.
    let r = KeyRing::from_xml(&[
        key.clone(),
        revocation_xml("*", "2023-01-01T00:00:00Z"),
        revocation_xml("*", "2025-01-01T00:00:00Z"),
    ])
    .unwrap();
    assert!(r.keys().next().unwrap().revoked);
    // Key info.
    let info = KeyRing::from_xml(&[key]).unwrap().keys().next().unwrap();
    assert_eq!(info.id.to_string(), k1);
    assert_eq!(
        (info.creation, info.activation, info.expiration),
        (created, created, created.add_seconds(days(90.0)))
    );
    assert_eq!(info.algorithm, Some(Algorithm::DEFAULT));
    assert_eq!(Algorithm::DEFAULT.to_string(), "AES_256_CBC+HMACSHA256");
}

#[test]
fn key_ring_from_dir() {
    let dir = tempdir();
    let d = dir.path();
    std::fs::write(d.join("key-v1.xml"), v1_key()).unwrap();
    std::fs::write(d.join("notes.txt"), "not a key").unwrap();
    std::fs::write(d.join("key-v1.XML.bak"), "<").unwrap();
    std::fs::create_dir(d.join("sub.xml")).unwrap();
    std::fs::write(d.join("sub.xml").join("key.xml"), "<").unwrap();
    let r = KeyRing::from_dir(d)
        .unwrap()
        .with_application_name(Some("repro-app"));
    assert_eq!(
        &*r.unprotect_str(&["purpose"], V1_PAYLOAD).unwrap(),
        "hello from 10.0.5"
    );
    // UTF-16 with a byte-order mark.
    let utf16 = tempdir();
    let mut bytes = vec![0xFF, 0xFE];
    bytes.extend(
        v1_key()
            .trim_start_matches('\u{FEFF}')
            .replace("utf-8", "utf-16")
            .encode_utf16()
            .flat_map(u16::to_le_bytes),
    );
    std::fs::write(utf16.path().join("k.xml"), bytes).unwrap();
    let r = KeyRing::from_dir(utf16.path())
        .unwrap()
        .with_application_name(Some("repro-app"));
    assert_eq!(
        &*r.unprotect_str(&["purpose"], V1_PAYLOAD).unwrap(),
        "hello from 10.0.5"
    );
    // A broken file fails the ring; a missing directory is an I/O error; an empty one is empty.
    std::fs::write(d.join("broken.xml"), "<key").unwrap();
    assert!(matches!(KeyRing::from_dir(d), Err(Error::Malformed { .. })));
    assert!(matches!(
        KeyRing::from_dir(&d.join("missing")),
        Err(Error::Io { .. })
    ));
    let empty = tempdir();
    let r = KeyRing::from_dir(empty.path()).unwrap();
    assert_eq!(r.keys().count(), 0);
    assert!(matches!(
        r.protect_str(&["p"], "x", now()),
        Err(Error::NoActiveKey)
    ));
    assert!(matches!(
        r.unprotect_str(&["p"], V1_PAYLOAD),
        Err(Error::UnknownKey(_))
    ));
}

/// Two rings, one CBC key and one GCM key, both active now.
fn test_rings() -> Vec<KeyRing> {
    let n = now();
    let mk = |id: &str, enc: &str, val: Option<&str>| {
        let inner = default_descriptor(enc, val, &master_key_element(&random_master_key()));
        key_xml_full(
            id,
            n.add_seconds(-days(3.0)),
            n.add_seconds(-days(3.0)),
            n.add_seconds(days(87.0)),
            DEFAULT_DESERIALIZER,
            &inner,
        )
    };
    vec![
        ring(
            &[mk(
                "4b9c6bbf-3f43-4c35-a6e0-1c1d1d2a4a01",
                "AES_256_CBC",
                Some("HMACSHA256"),
            )],
            Some("app"),
        ),
        ring(
            &[mk(
                "4b9c6bbf-3f43-4c35-a6e0-1c1d1d2a4a02",
                "AES_128_GCM",
                None,
            )],
            Some("app"),
        ),
        ring(
            &[mk(
                "4b9c6bbf-3f43-4c35-a6e0-1c1d1d2a4a03",
                "AES_192_CBC",
                Some("HMACSHA512"),
            )],
            Some("app"),
        ),
    ]
}

#[test]
fn tampering_is_always_detected() {
    for r in test_rings() {
        let payload = r
            .protect(
                &["p"],
                b"a plaintext of a few blocks, long enough to span three AES blocks",
                now(),
            )
            .unwrap();
        assert_eq!(
            &*r.unprotect(&["p"], &payload).unwrap(),
            b"a plaintext of a few blocks, long enough to span three AES blocks"
        );
        for i in 0..payload.len() {
            for bit in [0x01u8, 0x80] {
                let mut t = payload.clone();
                t[i] ^= bit;
                match r.unprotect(&["p"], &t) {
                    Err(Error::UnknownKey(_)) if (4..20).contains(&i) => {}
                    Err(Error::Decrypt(_)) if !(4..20).contains(&i) => {}
                    other => panic!("byte {i} bit {bit:#x}: {other:?}"),
                }
            }
        }
        for len in 0..payload.len() {
            assert!(
                matches!(r.unprotect(&["p"], &payload[..len]), Err(Error::Decrypt(_))),
                "truncated to {len}"
            );
        }
        let mut longer = payload.clone();
        longer.push(0);
        assert!(matches!(
            r.unprotect(&["p"], &longer),
            Err(Error::Decrypt(_))
        ));
        // String form: every character replaced.
        let text = base64url_encode(&payload);
        for i in 0..text.len() {
            let mut t = text.clone().into_bytes();
            t[i] = if t[i] == b'A' { b'B' } else { b'A' };
            assert!(
                r.unprotect_str(&["p"], std::str::from_utf8(&t).unwrap())
                    .is_err(),
                "char {i}"
            );
        }
        assert!(r.unprotect_str(&["p"], &text[..text.len() - 1]).is_err());
        assert!(matches!(
            r.unprotect_str(&["p"], "not base64!"),
            Err(Error::Malformed { .. })
        ));
        assert!(matches!(
            r.unprotect_str(&["p"], ""),
            Err(Error::Decrypt(_))
        ));
        // Other purpose chains.
        for purposes in [&["P"][..], &["p", "q"], &[], &["", "p"], &["app", "p"]] {
            assert!(
                matches!(r.unprotect(purposes, &payload), Err(Error::Decrypt(_))),
                "{purposes:?}"
            );
        }
    }
    // Another application name, or none.
    let n = now();
    let key = active_key("9a3b7f3e-1111-4222-8333-944444444444", 3.0, 80.0);
    let key = std::slice::from_ref(&key);
    let payload = ring(key, Some("app")).protect_str(&["p"], "x", n).unwrap();
    assert!(matches!(
        ring(key, Some("App")).unprotect_str(&["p"], &payload),
        Err(Error::Decrypt(_))
    ));
    assert!(matches!(
        ring(key, None).unprotect_str(&["p"], &payload),
        Err(Error::Decrypt(_))
    ));
    // The app name is exactly a leading purpose.
    assert_eq!(
        &*ring(key, None)
            .unprotect_str(&["app", "p"], &payload)
            .unwrap(),
        "x"
    );
}

#[test]
fn key_lifecycle() {
    let n = now();
    let id = "5d0c5b3e-2f65-4b1a-9a8f-3c1e2d4f5a6b";
    let master = random_master_key();
    let mk = |c: f64, a: f64, e: f64| {
        key_xml(
            id,
            n.add_seconds(days(c)),
            n.add_seconds(days(a)),
            n.add_seconds(days(e)),
            &master,
        )
    };
    let active = ring(&[mk(-10.0, -10.0, 80.0)], Some("app"));
    let payload = active.protect_str(&["p"], "still readable", n).unwrap();
    assert_eq!(
        base64url_decode(&payload).unwrap()[4..20],
        Uuid::parse_str(id).unwrap().to_bytes_le()
    );
    // Expired, or not yet active: protects nothing new, still unprotects.
    for r in [
        ring(&[mk(-100.0, -100.0, -10.0)], Some("app")),
        ring(&[mk(-1.0, 10.0, 100.0)], Some("app")),
    ] {
        assert_eq!(r.default_key_id(n), None);
        assert!(matches!(
            r.protect_str(&["p"], "x", n),
            Err(Error::NoActiveKey)
        ));
        assert!(matches!(r.protected_len(1, n), Err(Error::NoActiveKey)));
        assert_eq!(
            &*r.unprotect_str(&["p"], &payload).unwrap(),
            "still readable"
        );
    }
    // Revoked: refused with KeyRevoked, whatever the rest of the payload.
    let revoked = ring(
        &[
            mk(-10.0, -10.0, 80.0),
            revocation_xml(id, "2020-01-01T00:00:00Z"),
        ],
        Some("app"),
    );
    assert!(
        matches!(revoked.unprotect_str(&["p"], &payload), Err(Error::KeyRevoked(k)) if k.to_string() == id)
    );
    assert!(matches!(
        revoked.unprotect_str(&["other"], &payload),
        Err(Error::KeyRevoked(_))
    ));
    assert_eq!(revoked.default_key_id(n), None);
    // Unknown key.
    let other = ring(
        &[active_key(
            "6e1d6c4f-3a76-4c2b-8b9a-4d2f3e5a6b7c",
            10.0,
            80.0,
        )],
        Some("app"),
    );
    assert!(
        matches!(other.unprotect_str(&["p"], &payload), Err(Error::UnknownKey(k)) if k.to_string() == id)
    );
}

#[test]
fn argument_rules_and_limits() {
    let r = &test_rings()[0];
    let n = now();
    // With an application name, an empty purpose list is the root protector itself.
    let p = r.protect_str(&[], "root", n).unwrap();
    assert_eq!(&*r.unprotect_str(&[], &p).unwrap(), "root");
    let bare = KeyRing::from_xml(&[active_key(
        "7f2e7d5a-4b87-4d3c-9cab-5e3f4a6b7c8d",
        3.0,
        80.0,
    )])
    .unwrap();
    assert!(matches!(
        bare.protect_str(&[], "x", n),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        bare.unprotect_str(&[], &p),
        Err(Error::InvalidArgument(_))
    ));
    let many = vec!["p"; MAX_PURPOSES + 1];
    assert!(matches!(
        r.protect_str(&many, "x", n),
        Err(Error::TooLarge { .. })
    ));
    assert!(r.protect_str(&many[1..], "x", n).is_ok());
    let big = vec![0u8; MAX_PAYLOAD_LEN + 1];
    assert!(matches!(
        r.protect(&["p"], &big, n),
        Err(Error::TooLarge { .. })
    ));
    assert!(matches!(
        r.unprotect(&["p"], &big),
        Err(Error::TooLarge { .. })
    ));
    // Binary plaintext that is not UTF-8 cannot come out of the string form.
    let p = base64url_encode(&r.protect(&["p"], &[0xFF, 0xFE], n).unwrap());
    assert!(matches!(
        r.unprotect_str(&["p"], &p),
        Err(Error::Decrypt(_))
    ));
    // Exact lengths.
    for len in [0, 1, 15, 16, 17, 1000] {
        for r in test_rings() {
            let pt = vec![7u8; len];
            assert_eq!(
                r.protect(&["p"], &pt, n).unwrap().len(),
                r.protected_len(len, n).unwrap()
            );
        }
    }
    // Padded and standard-alphabet input is read as ASP.NET Core reads it.
    let p = r.protect_str(&["p"], "lenient", n).unwrap();
    let padded = format!("{p}{}", "=".repeat((4 - p.len() % 4) % 4));
    assert_eq!(&*r.unprotect_str(&["p"], &padded).unwrap(), "lenient");
    if padded.contains(['-', '_']) {
        assert_eq!(
            &*r.unprotect_str(&["p"], &padded.replace('-', "+").replace('_', "/"))
                .unwrap(),
            "lenient"
        );
    }
    // Fresh randomness per payload.
    assert_ne!(
        r.protect_str(&["p"], "same", n).unwrap(),
        r.protect_str(&["p"], "same", n).unwrap()
    );
}

#[test]
fn shared_between_threads() {
    let rings = test_rings();
    let n = now();
    std::thread::scope(|scope| {
        for t in 0..4 {
            let rings = &rings;
            scope.spawn(move || {
                for i in 0..200 {
                    let r = &rings[(t + i) % rings.len()];
                    let text = format!("thread {t} message {i}");
                    let p = r.protect_str(&["p", &text], &text, n).unwrap();
                    assert_eq!(r.unprotect_str(&["p", &text], &p).unwrap().as_str(), text);
                }
            });
        }
    });
}
