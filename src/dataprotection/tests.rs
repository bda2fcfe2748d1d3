//! Known-answer tests from dataprotection.md §16 (Microsoft's vectors and derived ones).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use uuid::Uuid;

use super::encryptor::{AesKeySize, Algorithm, HmacAlgorithm, KeyCrypto};
use super::kdf::{self, Label};
use super::*;
use crate::Error;

fn b64(s: &str) -> Vec<u8> {
    STANDARD.decode(s).unwrap()
}

fn hexd(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

const V1_ID: &str = "ead9607a-7754-4369-a7f4-6696e5713ced";
const V1_MASTER_KEY: &str =
    "iEQ2XFkBUwAnEotfX5b+ZWrqKdJFlxJ4bDuJqljdR6KNolzKxa/1hro1PZg4tsb6CJsOZ/fCA/8VKGX+bXHq4Q==";
const V1_PAYLOAD: &str = "CfDJ8Hpg2epUd2lDp_RmluVxPO1RuoXCtT528WJ_4cy3XD_uhLBk9GBkYOQF-iIWlloCb4CP7rX609LnU7BiXXgZU1fKvNGfjwau5YJRIXcvDyXDnvn1kyRDojEYPc5Ic4WQgzBnpZrf2qiI4JrX9nkqCew";

/// The §12 key element, with the algorithms replaced.
fn v1_key_xml(encryption: &str, validation: Option<&str>) -> String {
    let validation = validation
        .map(|v| format!(r#"<validation algorithm="{v}" />"#))
        .unwrap_or_default();
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<key id="{V1_ID}" version="1">
  <creationDate>2026-04-16T16:40:09.6237156Z</creationDate>
  <activationDate>2026-04-16T16:40:09.6237156Z</activationDate>
  <expirationDate>2026-07-15T16:40:09.6237156Z</expirationDate>
  <descriptor deserializerType="Microsoft.AspNetCore.DataProtection.AuthenticatedEncryption.ConfigurationModel.AuthenticatedEncryptorDescriptorDeserializer, Microsoft.AspNetCore.DataProtection, Version=10.0.0.0, Culture=neutral, PublicKeyToken=adb9793829ddae60">
    <descriptor>
      <encryption algorithm="{encryption}" />
      {validation}
      <masterKey p4:requiresEncryption="true" xmlns:p4="http://schemas.asp.net/2015/03/dataProtection">
        <!-- Warning: the key below is in an unencrypted form. -->
        <value>{V1_MASTER_KEY}</value>
      </masterKey>
    </descriptor>
  </descriptor>
</key>"#
    )
}

fn v1_ring() -> KeyRing {
    KeyRing::from_xml(&[v1_key_xml("AES_256_CBC", Some("HMACSHA256"))])
        .unwrap()
        .with_application_name(Some("repro-app"))
}

#[test]
fn v1_unprotects_real_aspnetcore_output() {
    let ring = v1_ring();
    assert_eq!(
        &*ring.unprotect_str(&["purpose"], V1_PAYLOAD).unwrap(),
        "hello from 10.0.5"
    );
    let raw = base64url_decode(V1_PAYLOAD).unwrap();
    assert_eq!(raw.len(), 116);
    let id = Uuid::parse_str(V1_ID).unwrap().to_bytes_le();
    let label = Label::Purposes {
        key_id: &id,
        root: Some("repro-app"),
        purposes: &["purpose"],
    };
    assert_eq!(
        hex::encode(label.to_vec()),
        "09f0c9f07a60d9ea54776943a7f46696e5713ced0000000209726570726f2d61707007707572706f7365"
    );
    // Intermediate subkeys.
    let prf = kdf::prf(&b64(V1_MASTER_KEY));
    let mut keys = [0u8; 64];
    kdf::derive(
        &prf,
        label,
        Algorithm::DEFAULT.context_header(),
        &raw[20..36],
        &mut keys,
    );
    assert_eq!(
        hex::encode(&keys[..32]),
        "7638e8482c83e5cb75d9c553d0e8dcf3ca7ae16a27308a22ddbf662b2e8c2c29"
    );
    assert_eq!(
        hex::encode(&keys[32..]),
        "d733882ae270d45e3d19e6ef694f902dbfa735b8b0bdb1b3682f49a3c33d07a7"
    );
    assert_eq!(
        hex::encode(&raw[20..36]),
        "51ba85c2b53e76f1627fe1ccb75c3fee"
    );
    assert_eq!(
        hex::encode(&raw[84..]),
        "9ef9f5932443a231183dce48738590833067a59adfdaa888e09ad7f6792a09ec"
    );
}

fn sequential(from: u8, n: usize) -> Vec<u8> {
    (0..n).map(|i| from + i as u8).collect()
}

fn encrypt_known(alg: Algorithm, iv_len: usize) -> Vec<u8> {
    let crypto = KeyCrypto::new(alg, b"master key");
    let km: [u8; 16] = sequential(0, 16).try_into().unwrap();
    let mut out = Vec::new();
    crypto.encrypt(
        Label::Raw(&[6, 5, 4, 3]),
        &km,
        &sequential(16, iv_len),
        &[2, 3, 4],
        &mut out,
    );
    // And back.
    let mut body = out.clone();
    let range = crypto
        .decrypt_in_place(Label::Raw(&[6, 5, 4, 3]), &mut body)
        .unwrap();
    assert_eq!(&body[range], &[2, 3, 4]);
    assert!(
        crypto
            .decrypt_in_place(Label::Raw(&[6, 5, 4, 2]), &mut out.clone())
            .is_err()
    );
    out
}

#[test]
fn v2_cbc_encryptor_known_key() {
    let out = encrypt_known(Algorithm::DEFAULT, 16);
    assert_eq!(
        STANDARD.encode(&out),
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh+36j4yWJOjBgOJxmYDYwhLnYqFxw+9mNh/cudyPrWmJmw4d/dmGaLJLLut2udiAAA="
    );
    // The CNG variant: the same bytes between 3 leading and 4 trailing zero bytes.
    let cng = b64(
        "AAAAAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh+36j4yWJOjBgOJxmYDYwhLnYqFxw+9mNh/cudyPrWmJmw4d/dmGaLJLLut2udiAAAAAAAA",
    );
    assert_eq!(&cng[3..cng.len() - 4], &out[..]);
}

#[test]
fn v3_gcm_encryptor_known_key() {
    let out = encrypt_known(
        Algorithm::Gcm {
            aes: AesKeySize::Aes128,
        },
        12,
    );
    let expected = b64("AAAAAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaG0O2kY0NZtmh2UQtXY5B2jlgnOgAAAAA");
    assert_eq!(&expected[3..expected.len() - 4], &out[..]);
    assert_eq!(hex::encode(&out[28..31]), "43b691");
    assert_eq!(hex::encode(&out[31..]), "8d0d66d9a1d9442d5d8e41da39609ce8");
}

fn kdf_out(kdk: &[u8], label: &[u8], header: &[u8], context: &[u8], n: usize) -> String {
    let mut out = vec![0u8; n];
    kdf::derive(&kdf::prf(kdk), Label::Raw(label), header, context, &mut out);
    STANDARD.encode(out)
}

#[test]
fn v4_sp800_108() {
    let normal = [
        (
            63,
            "V47WmHzPSkdC2vkLAomIjCzZlDOAetll3yJLcSvon7LJFjJpEN+KnSNp+gIpeydKMsENkflbrIZ/3s6GkEaH",
        ),
        (
            64,
            "mVaFM4deXLl610CmnCteNzxgbM/VkmKznAlPauHcDBn0le06uOjAKLHx0LfoU2/Ttq9nd78Y6Nk6wArmdwJgJg==",
        ),
        (
            65,
            "GaHPeqdUxriFpjRtkYQYWr5/iqneD/+hPhVJQt4rXblxSpB1UUqGqL00DMU/FJkX0iMCfqUjQXtXyfks+p++Ev4=",
        ),
    ];
    for (n, expected) in normal {
        assert_eq!(
            kdf_out(b"kdk", b"label", b"contextHeader", b"context", n),
            expected,
            "{n}"
        );
    }
    let long_kdk: Vec<u8> = (0..50_000).map(|i| (i % 256) as u8).collect();
    let long = [
        (
            63,
            "rt2hM6kkQ8hAXmkHx0TU4o3Q+S7fie6b3S1LAq107k++P9v8uSYA2G+WX3pJf9ZkpYrTKD7WUIoLkgA1R9lk",
        ),
        (
            64,
            "RKiXmHSrWq5gkiRSyNZWNJrMR0jDyYHJMt9odOayRAE5wLSX2caINpQmfzTH7voJQi3tbn5MmD//dcspghfBiw==",
        ),
        (
            65,
            "KedXO0zAIZ3AfnPqY1NnXxpC3HDHIxefG4bwD3g6nWYEc5+q7pjbam71Yqj0zgHMNC9Z7BX3wS1/tajFocRWZUk=",
        ),
    ];
    for (n, expected) in long {
        assert_eq!(
            kdf_out(&long_kdk, b"label", b"contextHeader", b"context", n),
            expected,
            "long {n}"
        );
    }
    let empty = [
        (
            64,
            "fHGMWaDLmoncLsEKuKbZo8T+73paNohDeb5O7BSxbC8Gus8d/mUpa/9w2ss65OHlmFw1VZhIXzr5swMYVRndRw==",
        ),
        (
            96,
            "iXd0KuWopclbxtWf9dO8fnerBqLJvndOUs74pTcj7Ck8Ctsvz4QttXkCY1DPd4aDbOE/CCU8/bIQtzoU1Xu3ZQ1pV0qEZmzFll+Vpf+q7av7AGEqwh56a+NPt6gxC5CP",
        ),
    ];
    for (n, expected) in empty {
        assert_eq!(kdf_out(b"", b"", b"", b"", n), expected, "empty {n}");
    }
}

#[test]
fn v5_aad_template() {
    let purposes = [
        "my sample string",
        "©®±µ¶",
        "my other sample string",
        "CfDJ8H5oH_fp1QNBmvs-OWXxsVoV30hrXeI4-PI4p1VZytjsgd0DTstMdtTZbFtm2dKHvsBlDCv7TiEWKztZf8fb48pUgBgUE2SeYV3eOUXvSfNWU0D8SmHLy5KEnwKKkZKqudDhCnjQSIU7mhDliJJN1e4",
        ".",
    ];
    let label = Label::Purposes {
        key_id: &[0; 16],
        root: None,
        purposes: &purposes,
    };
    assert_eq!(
        STANDARD.encode(label.to_vec()),
        "CfDJ8AAAAAAAAAAAAAAAAAAAAAAAAAAFEG15IHNhbXBsZSBzdHJpbmcKwqnCrsKxwrXCthZteSBvdGhlciBzYW1wbGUgc3RyaW5nmwFDZkRKOEg1b0hfZnAxUU5CbXZzLU9XWHhzVm9WMzBoclhlSTQtUEk0cDFWWnl0anNnZDBEVHN0TWR0VFpiRnRtMmRLSHZzQmxEQ3Y3VGlFV0t6dFpmOGZiNDhwVWdCZ1VFMlNlWVYzZU9VWHZTZk5XVTBEOFNtSEx5NUtFbndLS2taS3F1ZERoQ25qUVNJVTdtaERsaUpKTjFlNAEu"
    );
    // The same template with an application name as root: one more purpose, first in chain.
    let with_root = Label::Purposes {
        key_id: &[0; 16],
        root: Some("."),
        purposes: &purposes[..4],
    };
    let mut expected = label.to_vec();
    expected[23] = 5;
    let tail = expected.split_off(24);
    expected.extend_from_slice(&[1, b'.']);
    expected.extend_from_slice(&tail[..tail.len() - 2]);
    assert_eq!(with_root.to_vec(), expected);
}

#[test]
fn v6_framing_and_aad() {
    let id = Uuid::parse_str("ba73c9ce-d322-4e45-af90-341307e11c38").unwrap();
    assert_eq!(
        hex::encode(id.to_bytes_le()),
        "cec973ba22d3454eaf90341307e11c38"
    );
    let idb = id.to_bytes_le();
    let label = Label::Purposes {
        key_id: &idb,
        root: None,
        purposes: &["single purpose"],
    };
    assert_eq!(
        hex::encode(label.to_vec()),
        "09f0c9f0cec973ba22d3454eaf90341307e11c38000000010e73696e676c6520707572706f7365"
    );
    let multi = Label::Purposes {
        key_id: &idb,
        root: Some("purpose1"),
        purposes: &["purpose2", "yet another purpose"],
    };
    let mut expected = hexd("09f0c9f0cec973ba22d3454eaf90341307e11c3800000003");
    for p in ["purpose1", "purpose2", "yet another purpose"] {
        expected.push(p.len() as u8);
        expected.extend_from_slice(p.as_bytes());
    }
    assert_eq!(multi.to_vec(), expected);
    let ead = Uuid::parse_str(V1_ID).unwrap();
    assert_eq!(
        hex::encode(ead.to_bytes_le()),
        "7a60d9ea54776943a7f46696e5713ced"
    );
}

#[test]
fn v6_header_checks() {
    let ring = v1_ring();
    let good = base64url_decode(V1_PAYLOAD).unwrap();
    assert_eq!(
        &*ring.unprotect(&["purpose"], &good).unwrap(),
        b"hello from 10.0.5"
    );
    let mut newer = good.clone();
    newer[3] += 1;
    assert!(
        matches!(ring.unprotect(&["purpose"], &newer), Err(Error::Decrypt(m)) if m.contains("newer"))
    );
    let mut bad = good.clone();
    bad[0] += 1;
    assert!(
        matches!(ring.unprotect(&["purpose"], &bad), Err(Error::Decrypt(m)) if m.contains("not protected"))
    );
    assert!(matches!(
        ring.unprotect(&["purpose"], &good[..19]),
        Err(Error::Decrypt(_))
    ));
}

#[test]
fn v7_context_headers() {
    use AesKeySize::*;
    use HmacAlgorithm::*;
    let table = [
        (
            Algorithm::Gcm { aes: Aes128 },
            "0001000000100000000C0000001000000010957C50FF692E388B9AD5C7689E4B9E2B",
        ),
        (
            Algorithm::Gcm { aes: Aes192 },
            "0001000000180000000C00000010000000100DAA013A950ADA2B798F5FF272FAD363",
        ),
        (
            Algorithm::Gcm { aes: Aes256 },
            "0001000000200000000C0000001000000010E7DCCE66DF855A323A6BB7BD7A59BE45",
        ),
        (
            Algorithm::Cbc {
                aes: Aes128,
                hmac: HmacSha256,
            },
            "0000000000100000001000000020000000204D199260677DCD65EEE55E807B9695128602E399BED6F9779A66796276FF025688001BDB49CC4A7F8F7A192BCD48F4E7",
        ),
        (
            Algorithm::Cbc {
                aes: Aes192,
                hmac: HmacSha256,
            },
            "000000000018000000100000002000000020F474B1872B3B53E4721DE19C0841DB6FD4791184B996092EE1202F36E8608FA8FBD98ABDFF5402F264B1D7211536220C",
        ),
        (
            Algorithm::Cbc {
                aes: Aes256,
                hmac: HmacSha256,
            },
            "000000000020000000100000002000000020EA10387AC9273B7FD5321177776F1530F946D3C71D60DD7B287366D81CB03FE5E5A701FA16F1554F1581FDDD576CE844",
        ),
        (
            Algorithm::Cbc {
                aes: Aes128,
                hmac: HmacSha512,
            },
            "0000000000100000001000000040000000409AB81CED848B6863D00AE7123A29C0187652C7419C28E39900570AD167D80698FC0807982BB1B2C198229631FCBBAEC7F0AFF234B37AC7E4DF163DA0219581299CC00A62952DDAB6E08E5187564FA678",
        ),
        (
            Algorithm::Cbc {
                aes: Aes192,
                hmac: HmacSha512,
            },
            "000000000018000000100000004000000040EFE457E327FEDE5C0E0C0C3CBB0868C36E8A6D2B27A0C59FF71E3F411BA769106307EF61E1221AB6DD608E52D4C147850A433C2975A9C7585C9CF109529C401DF351B09DB4E97B4C03478F23D2F95262",
        ),
        (
            Algorithm::Cbc {
                aes: Aes256,
                hmac: HmacSha512,
            },
            "000000000020000000100000004000000040376E17E169255362126076F9D90392039348C1B5A269A82F77BDBB68A38939E4B9C5C51277112840AE4BA315212C956A4D1F4BD74B0CDF5057B0E2D4AE5A014F5CF059F15AE95E484742E70707DD17D9",
        ),
    ];
    for (alg, expected) in table {
        assert_eq!(hex::encode_upper(alg.context_header()), expected, "{alg}");
        // Cached: the same bytes each time.
        assert_eq!(alg.context_header().as_ptr(), alg.context_header().as_ptr());
    }
    // Intermediate values from context-headers.md.
    let mut keys = [0u8; 56];
    kdf::derive(&kdf::prf(&[]), Label::Raw(&[]), &[], &[], &mut keys);
    assert_eq!(
        hex::encode_upper(&keys[..24]),
        "5BB6C9831378221D8E1073CACF658EB061624271CB8321DD"
    );
    assert_eq!(
        hex::encode_upper(&keys[24..]),
        "A04A05005BABC0A2496FA561E3E24987AA6355CD740ADAC4B7923DBF599000A9"
    );
    let mut k = [0u8; 32];
    kdf::derive(&kdf::prf(&[]), Label::Raw(&[]), &[], &[], &mut k);
    assert_eq!(
        hex::encode_upper(k),
        "22BC6F1B171C08C4AE2F27444AF8FC8B3087A90006CAEA91FDCFB47C1B8733B8"
    );
    // HMACSHA384 (custom managed descriptors): 18 + 16 + 48 bytes, shape only.
    let h384 = Algorithm::Cbc {
        aes: Aes256,
        hmac: HmacSha384,
    }
    .context_header();
    assert_eq!(h384.len(), 82);
    assert_eq!(
        hex::encode(&h384[..18]),
        "000000000020000000100000003000000030"
    );
}

#[test]
fn v8_discriminator_table() {
    assert_eq!(
        application_discriminator("app-path").as_deref(),
        Some("app-path/")
    );
    assert_eq!(
        application_discriminator("app-path ").as_deref(),
        Some("app-path/")
    );
    assert_eq!(
        application_discriminator("app-path\\").as_deref(),
        Some("app-path\\/")
    );
    assert_eq!(application_discriminator(" /").as_deref(), Some("/"));
    assert_eq!(application_discriminator("  "), None);
    assert_eq!(application_discriminator(""), None);
    assert_eq!(
        application_discriminator("/srv/app/").as_deref(),
        Some("/srv/app/")
    );
}

#[test]
fn leb128_prefixes() {
    let table: [(u32, &[u8]); 9] = [
        (0, &[0x00]),
        (1, &[0x01]),
        (127, &[0x7F]),
        (128, &[0x80, 0x01]),
        (255, &[0xFF, 0x01]),
        (300, &[0xAC, 0x02]),
        (16383, &[0xFF, 0x7F]),
        (16384, &[0x80, 0x80, 0x01]),
        (2_097_152, &[0x80, 0x80, 0x80, 0x01]),
    ];
    for (v, expected) in table {
        let mut buf = [0u8; 5];
        let n = kdf::leb128(v, &mut buf);
        assert_eq!(&buf[..n], expected, "{v}");
    }
    let mut buf = [0u8; 5];
    assert_eq!(kdf::leb128(u32::MAX, &mut buf), 5);
    assert_eq!(buf, [0xFF, 0xFF, 0xFF, 0xFF, 0x0F]);
}

/// §16.2: derived vectors, key modifier 00..0F and IV 10..1F (nonce 10..1B).
#[test]
fn derived_vectors() {
    let cases = [
        (
            "AES_256_CBC",
            Some("HMACSHA256"),
            "hello from 10.0.5",
            "CfDJ8Hpg2epUd2lDp_RmluVxPO0AAQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eH88PA1UkeLzo5eQPh9WlsuoXlmFqZsbKzDmFEs4FopY6JSPn6wTu0z4GtWicuMY9NNrFbr4zw01Av3RG-4jljH4",
        ),
        (
            "AES_256_CBC",
            Some("HMACSHA256"),
            "",
            "CfDJ8Hpg2epUd2lDp_RmluVxPO0AAQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHx9-zGbNNvWvZWa4v6CoiA2YppblVTrKR-4Y9FIP7s0YU60JZ3T7U_n-Lnrr054SZA",
        ),
        (
            "AES_256_CBC",
            Some("HMACSHA512"),
            "hello from 10.0.5",
            "CfDJ8Hpg2epUd2lDp_RmluVxPO0AAQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHw7n-RFiDGqvN_FVqolS90z9vwnTNPMciNZbaTeHI7dJrb2r8qkfyMjbmE7o6ssKmxRJ2sfTBj1v7BGW2_jXFD2pJbiv92k00N-9aY4HiGtaqwjeoO77m2vaBjHMyVwEQQ",
        ),
        (
            "AES_128_CBC",
            Some("HMACSHA256"),
            "hello from 10.0.5",
            "CfDJ8Hpg2epUd2lDp_RmluVxPO0AAQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHydcBwXPYNuZ5ybYsEYpGcvdyekmwaNLqJVLLL3zkrQJYsTxrCtOBeKGpS12yHcuDG0XiNCnkr44JY_Hk5nze9Q",
        ),
        (
            "AES_256_GCM",
            None,
            "hello from 10.0.5",
            "CfDJ8Hpg2epUd2lDp_RmluVxPO0AAQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHv-GIF-TsrF20gixJYkLtZA1tvaDOmVgAqLE2-FOVuxc",
        ),
    ];
    let km: [u8; 16] = sequential(0, 16).try_into().unwrap();
    for (enc, val, pt, expected) in cases {
        let ring = KeyRing::from_xml(&[v1_key_xml(enc, val)])
            .unwrap()
            .with_application_name(Some("repro-app"));
        let key = &ring.keys[0];
        let crypto = key.crypto.as_ref().unwrap();
        let iv = sequential(16, crypto.alg.iv_len());
        let out = ring.protect_with(key, crypto, &["purpose"], pt.as_bytes(), &km, &iv);
        assert_eq!(base64url_encode(&out), expected, "{enc} {val:?} {pt:?}");
        assert_eq!(&*ring.unprotect_str(&["purpose"], expected).unwrap(), pt);
        assert_eq!(
            ring.protected_len(pt.len(), key.activation).unwrap(),
            out.len()
        );
    }
    // With a GCM key the <validation> element is ignored even when present.
    let ring = KeyRing::from_xml(&[v1_key_xml("AES_256_GCM", Some("bogus"))]).unwrap();
    assert_eq!(
        ring.keys().next().unwrap().algorithm,
        Some(Algorithm::Gcm {
            aes: AesKeySize::Aes256
        })
    );
}

#[test]
fn base64url_leniency() {
    assert_eq!(base64url_decode("").unwrap(), b"");
    assert_eq!(base64url_decode("AQID").unwrap(), [1, 2, 3]);
    assert_eq!(base64url_decode("AQI").unwrap(), [1, 2]);
    assert_eq!(base64url_decode("AQI=").unwrap(), [1, 2]);
    assert_eq!(base64url_decode("-_8").unwrap(), [0xFB, 0xFF]);
    assert_eq!(base64url_decode("+/8=").unwrap(), [0xFB, 0xFF]);
    assert_eq!(base64url_decode("+/9=").unwrap(), [0xFB, 0xFF]);
    assert_eq!(base64url_decode("AQ=").unwrap(), [1]);
    assert_eq!(base64url_decode("AQ=\n=").unwrap(), [1]);
    assert_eq!(base64url_decode(" A Q\r\nID").unwrap(), [1, 2, 3]);
    for bad in [
        "AR",
        "AR==",
        "AQI==",
        "AQID=",
        "=",
        "+/8",
        "+/8==",
        "AQ_=",
        "A===",
        "AQ\u{b}ID",
        "AQ\u{a0}ID",
    ] {
        assert!(base64url_decode(bad).is_err(), "{bad:?}");
    }
    assert!(base64url_decode("A").is_err());
    assert!(base64url_decode("-/8").is_err());
    assert!(base64url_decode("AQ*D").is_err());
}
