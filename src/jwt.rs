//! RFC 9701 JWT introspection responses, as IdentityServer 7.3 and later sign them.
//!
//! When a caller's `Accept` header is `application/token-introspection+jwt`, IdentityServer
//! answers with a compact JWS: header `{"alg":..,"kid":..,"typ":"token-introspection+jwt"}`,
//! payload `{"iss":..,"iat":now,"aud":caller,"token_introspection":{..the JSON response..}}`.
//! RefToken writes the same header and payload bytes (System.Text.Json escaping, same member
//! order) and signs them with RS256 (RSASSA-PKCS1-v1_5), PS256 (RSASSA-PSS, MGF1, salt of 32
//! bytes) or ES256 (ECDSA P-256, RFC 6979 deterministic nonces, `r || s`).
//!
//! Keys are given as PEM (PKCS#8 `PRIVATE KEY`, PKCS#1 `RSA PRIVATE KEY`, SEC1 `EC PRIVATE
//! KEY`) or as a private JWK (RFC 7517/7518). RSA keys must have at least 2048 bits, as
//! Microsoft.IdentityModel (which IdentityServer signs with) requires.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::signature::{Signer, Verifier};
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::traits::PublicKeyParts;
use rsa::{BoxedUint, Pkcs1v15Sign, Pss};
use serde_json::Value;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::instant::Instant;
use crate::{Error, json, limits, rng};

/// The JWS `typ` of an introspection response.
pub const INTROSPECTION_JWT_TYP: &str = "token-introspection+jwt";
/// Smallest RSA modulus accepted, in bits.
pub const MIN_RSA_BITS: usize = 2048;
/// Largest key text (PEM or JWK) accepted, in bytes.
pub const MAX_KEY_TEXT_LEN: usize = 65_536;

/// A JWS signing algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PSS with SHA-256, MGF1 with SHA-256, a 32-byte salt.
    PS256,
    /// ECDSA on P-256 with SHA-256.
    ES256,
}

impl Algorithm {
    /// The JWS `alg` name.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::RS256 => "RS256",
            Algorithm::PS256 => "PS256",
            Algorithm::ES256 => "ES256",
        }
    }

    /// The algorithm named `name` (exact match).
    pub fn from_name(name: &str) -> Option<Algorithm> {
        match name {
            "RS256" => Some(Algorithm::RS256),
            "PS256" => Some(Algorithm::PS256),
            "ES256" => Some(Algorithm::ES256),
            _ => None,
        }
    }

    fn is_rsa(self) -> bool {
        !matches!(self, Algorithm::ES256)
    }
}

/// The library's CSPRNG for RSA blinding and PSS salts.
struct LibRng;

impl rsa::rand_core::TryRng for LibRng {
    type Error = Error;

    fn try_next_u32(&mut self) -> Result<u32, Error> {
        let mut b = [0u8; 4];
        rng::fill(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, Error> {
        let mut b = [0u8; 8];
        rng::fill(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Error> {
        rng::fill(dst)
    }
}

impl rsa::rand_core::TryCryptoRng for LibRng {}

enum PrivateKey {
    Rsa(Box<rsa::PrivateKey>),
    Ec(Box<p256::ecdsa::SigningKey>),
}

enum PublicKey {
    Rsa(Box<rsa::PublicKey>),
    Ec(Box<p256::ecdsa::VerifyingKey>),
}

/// A private key that signs introspection responses, with its algorithm and key id.
pub struct SigningKey {
    alg: Algorithm,
    kid: Option<String>,
    key: PrivateKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

fn bad_key(detail: impl std::fmt::Display) -> Error {
    Error::malformed("signing key", detail)
}

fn check_rsa(key: rsa::PrivateKey) -> Result<PrivateKey, Error> {
    let bits = key.n().bit_width() as usize;
    if bits < MIN_RSA_BITS {
        return Err(Error::InvalidArgument(
            "RSA signing keys must have at least 2048 bits",
        ));
    }
    Ok(PrivateKey::Rsa(Box::new(key)))
}

fn ec_from_secret(secret: p256::SecretKey) -> PrivateKey {
    PrivateKey::Ec(Box::new(p256::ecdsa::SigningKey::from(secret)))
}

/// The label of the first PEM block in `pem`.
fn pem_label(pem: &str) -> Option<&str> {
    let start = pem.find("-----BEGIN ")? + "-----BEGIN ".len();
    let rest = &pem[start..];
    Some(&rest[..rest.find("-----")?])
}

const OID_RSA: &str = "1.2.840.113549.1.1.1";
const OID_EC: &str = "1.2.840.10045.2.1";
const OID_P256: &str = "1.2.840.10045.3.1.7";

fn pkcs8_key(pem: &str) -> Result<PrivateKey, Error> {
    let (_, doc) = pkcs8::SecretDocument::from_pem(pem).map_err(bad_key)?;
    let info = pkcs8::PrivateKeyInfoRef::try_from(doc.as_bytes()).map_err(bad_key)?;
    let oid = info.algorithm.oid.to_string();
    if oid == OID_RSA {
        check_rsa(rsa::PrivateKey::from_pkcs8_der(doc.as_bytes()).map_err(bad_key)?)
    } else if oid == OID_EC {
        let curve = info
            .algorithm
            .parameters_oid()
            .map(|o| o.to_string())
            .unwrap_or_default();
        if curve != OID_P256 {
            return Err(Error::InvalidArgument(
                "only P-256 elliptic-curve keys are supported (ES256)",
            ));
        }
        Ok(ec_from_secret(
            p256::SecretKey::from_pkcs8_der(doc.as_bytes()).map_err(bad_key)?,
        ))
    } else {
        Err(Error::InvalidArgument(
            "only RSA and P-256 keys are supported",
        ))
    }
}

fn b64url_field(jwk: &Value, name: &'static str) -> Result<Option<Zeroizing<Vec<u8>>>, Error> {
    match jwk.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => URL_SAFE_NO_PAD
            .decode(s.trim_end_matches('='))
            .map(|v| Some(Zeroizing::new(v)))
            .map_err(|_| bad_key(format_args!("JWK member `{name}` is not base64url"))),
        Some(_) => Err(bad_key(format_args!("JWK member `{name}` is not a string"))),
    }
}

fn required(jwk: &Value, name: &'static str) -> Result<Zeroizing<Vec<u8>>, Error> {
    b64url_field(jwk, name)?.ok_or_else(|| bad_key(format_args!("JWK member `{name}` is missing")))
}

/// A big-endian unsigned integer (leading zero bytes allowed) with `bits` of precision.
fn uint(bytes: &[u8], bits: u32) -> Result<BoxedUint, Error> {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    BoxedUint::from_be_slice(&bytes[start..], bits)
        .map_err(|_| bad_key("an RSA parameter is too large"))
}

/// Bits of precision for an integer of `bytes` (leading zeros not counted), at least 8.
fn precision(bytes: &[u8]) -> u32 {
    let significant = bytes.iter().skip_while(|&&b| b == 0).count().max(1);
    u32::try_from(significant * 8).unwrap_or(u32::MAX)
}

fn rsa_from_jwk(jwk: &Value) -> Result<PrivateKey, Error> {
    let n = required(jwk, "n")?;
    let e = required(jwk, "e")?;
    let d = required(jwk, "d")?;
    let bits = precision(&n);
    if bits > 8192 {
        return Err(bad_key("the RSA modulus has an unsupported size"));
    }
    if (bits as usize) < MIN_RSA_BITS {
        return Err(Error::InvalidArgument(
            "RSA signing keys must have at least 2048 bits",
        ));
    }
    // rsa's prime recovery computes `d * e - 1` and panics on underflow when `d` is zero.
    if d.iter().all(|&b| b == 0) {
        return Err(bad_key("JWK member `d` is zero"));
    }
    let n_int = uint(&n, bits)?;
    let e_int = uint(&e, precision(&e))?;
    let d_int = uint(&d, bits)?;
    let mut primes = Vec::new();
    if let (Some(p), Some(q)) = (b64url_field(jwk, "p")?, b64url_field(jwk, "q")?) {
        primes.push(uint(&p, bits)?);
        primes.push(uint(&q, bits)?);
    }
    let key = rsa::PrivateKey::from_components(n_int, e_int, d_int, primes)
        .map_err(|e| bad_key(format_args!("invalid RSA key: {e}")))?;
    check_rsa(key)
}

fn ec_from_jwk(jwk: &Value) -> Result<PrivateKey, Error> {
    if jwk.get("crv").and_then(Value::as_str) != Some("P-256") {
        return Err(Error::InvalidArgument(
            "only P-256 elliptic-curve keys are supported (ES256)",
        ));
    }
    let d = required(jwk, "d")?;
    if d.len() != 32 {
        return Err(bad_key("JWK member `d` must be 32 bytes for P-256"));
    }
    let secret = p256::SecretKey::from_slice(&d).map_err(|_| bad_key("invalid P-256 key"))?;
    let key = ec_from_secret(secret);
    // A JWK's public coordinates, when present, must belong to its private key.
    if let PrivateKey::Ec(k) = &key {
        let point = k.verifying_key().to_sec1_point(false);
        for (name, want) in [("x", point.x()), ("y", point.y())] {
            if let Some(have) = b64url_field(jwk, name)? {
                if Some(have.as_slice()) != want.map(|w| w.as_slice()) {
                    return Err(bad_key("the JWK's x and y do not match its d"));
                }
            }
        }
    }
    Ok(key)
}

fn choose_alg(key: &PrivateKey, alg: Option<Algorithm>) -> Result<Algorithm, Error> {
    match (key, alg) {
        (PrivateKey::Rsa(_), None) => Ok(Algorithm::RS256),
        (PrivateKey::Ec(_), None) => Ok(Algorithm::ES256),
        (PrivateKey::Rsa(_), Some(a)) if a.is_rsa() => Ok(a),
        (PrivateKey::Ec(_), Some(Algorithm::ES256)) => Ok(Algorithm::ES256),
        _ => Err(Error::InvalidArgument(
            "the algorithm does not fit the key (RS256/PS256 need RSA, ES256 needs P-256)",
        )),
    }
}

impl SigningKey {
    /// A signing key from PEM text: PKCS#8 (`PRIVATE KEY`, RSA or P-256), PKCS#1 (`RSA PRIVATE
    /// KEY`) or SEC1 (`EC PRIVATE KEY`, P-256). `alg` defaults to RS256 for RSA keys and
    /// ES256 for P-256 keys; `kid` goes into the JWS header when given.
    ///
    /// Errors: [`Error::TooLarge`] (over 64 KiB); [`Error::Malformed`] (not PEM, not a key);
    /// [`Error::InvalidArgument`] (encrypted, public-only, another key type or curve, RSA
    /// under 2048 bits, an algorithm that does not fit the key).
    pub fn from_pem(pem: &str, alg: Option<Algorithm>, kid: Option<&str>) -> Result<Self, Error> {
        Error::check_len("signing key PEM", pem.len(), MAX_KEY_TEXT_LEN)?;
        let key = match pem_label(pem) {
            Some("PRIVATE KEY") => pkcs8_key(pem)?,
            Some("RSA PRIVATE KEY") => {
                check_rsa(rsa::PrivateKey::from_pkcs1_pem(pem).map_err(bad_key)?)?
            }
            Some("EC PRIVATE KEY") => {
                ec_from_secret(p256::SecretKey::from_sec1_pem(pem).map_err(|_| {
                    bad_key("not a P-256 SEC1 key (only P-256 elliptic-curve keys are supported)")
                })?)
            }
            Some("ENCRYPTED PRIVATE KEY") => {
                return Err(Error::InvalidArgument(
                    "encrypted private keys are not supported; decrypt the key first",
                ));
            }
            Some("PUBLIC KEY" | "RSA PUBLIC KEY" | "CERTIFICATE") => {
                return Err(Error::InvalidArgument(
                    "a private key is needed to sign, not a public key or certificate",
                ));
            }
            Some(_) => return Err(bad_key("unknown PEM label")),
            None => return Err(bad_key("no PEM block")),
        };
        let alg = choose_alg(&key, alg)?;
        Ok(SigningKey {
            alg,
            kid: kid.map(str::to_owned),
            key,
        })
    }

    /// A signing key from a private JWK (`kty` `RSA` with `n`, `e`, `d` and optionally `p`,
    /// `q`; or `kty` `EC`, `crv` `P-256` with `d` and optionally `x`, `y`). The algorithm is
    /// `alg`, else the JWK's `alg`, else RS256 / ES256; `kid` overrides the JWK's `kid`.
    ///
    /// Errors as [`SigningKey::from_pem`]; also [`Error::InvalidArgument`] when `alg` and the
    /// JWK's `alg` differ.
    pub fn from_jwk(jwk: &str, alg: Option<Algorithm>, kid: Option<&str>) -> Result<Self, Error> {
        Error::check_len("signing key JWK", jwk.len(), MAX_KEY_TEXT_LEN)?;
        if !json::validate(jwk) {
            return Err(bad_key("not JSON"));
        }
        let v: Value = serde_json::from_str(jwk).map_err(bad_key)?;
        if !v.is_object() {
            return Err(bad_key("a JWK is a JSON object"));
        }
        let jwk_alg = match v.get("alg") {
            None | Some(Value::Null) => None,
            Some(Value::String(a)) => Some(Algorithm::from_name(a).ok_or(
                Error::InvalidArgument("the JWK's alg is not RS256, PS256 or ES256"),
            )?),
            Some(_) => return Err(bad_key("JWK member `alg` is not a string")),
        };
        if let (Some(a), Some(j)) = (alg, jwk_alg) {
            if a != j {
                return Err(Error::InvalidArgument(
                    "the requested algorithm differs from the JWK's alg",
                ));
            }
        }
        let key = match v.get("kty").and_then(Value::as_str) {
            Some("RSA") => rsa_from_jwk(&v)?,
            Some("EC") => ec_from_jwk(&v)?,
            Some(_) => {
                return Err(Error::InvalidArgument(
                    "only RSA and P-256 keys are supported",
                ));
            }
            None => return Err(bad_key("JWK member `kty` is missing")),
        };
        let alg = choose_alg(&key, alg.or(jwk_alg))?;
        let kid = kid
            .map(str::to_owned)
            .or_else(|| v.get("kid").and_then(Value::as_str).map(str::to_owned));
        Ok(SigningKey { alg, kid, key })
    }

    /// The algorithm this key signs with.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// The key id written into the header, if any.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// Signs `input` (the JWS signing input) and returns the raw signature.
    pub fn sign(&self, input: &[u8]) -> Result<Vec<u8>, Error> {
        let rsa_err = |e: rsa::Error| match e {
            rsa::Error::Rng => Error::Rng("while signing".into()),
            _ => Error::InvalidArgument("RSA signing failed: the key is unusable"),
        };
        match (&self.key, self.alg) {
            (PrivateKey::Rsa(k), Algorithm::RS256) => k
                .sign_with_rng(
                    &mut LibRng,
                    Pkcs1v15Sign::new::<Sha256>(),
                    &Sha256::digest(input),
                )
                .map_err(rsa_err),
            (PrivateKey::Rsa(k), Algorithm::PS256) => k
                .sign_with_rng(&mut LibRng, Pss::<Sha256>::new(), &Sha256::digest(input))
                .map_err(rsa_err),
            (PrivateKey::Ec(k), Algorithm::ES256) => {
                let sig: p256::ecdsa::Signature = k.sign(input);
                Ok(sig.to_bytes().to_vec())
            }
            _ => unreachable!("the algorithm was checked against the key"),
        }
    }

    /// The public key to verify this key's signatures.
    pub fn verifying_key(&self) -> VerifyingKey {
        VerifyingKey {
            alg: self.alg,
            key: match &self.key {
                PrivateKey::Rsa(k) => PublicKey::Rsa(Box::new(k.to_public_key())),
                PrivateKey::Ec(k) => PublicKey::Ec(Box::new(*k.verifying_key())),
            },
        }
    }

    /// The public key as a JWK for a JWKS document: `kty`, `use` `sig`, `kid` (when set),
    /// `alg`, then `e` and `n`, or `x`, `y` and `crv`, as IdentityServer publishes it.
    pub fn public_jwk(&self) -> String {
        self.verifying_key().to_jwk(self.kid.as_deref())
    }
}

/// A public key that verifies introspection responses.
pub struct VerifyingKey {
    alg: Algorithm,
    key: PublicKey,
}

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl VerifyingKey {
    /// A verifying key from a public (or private) JWK; the algorithm as in
    /// [`SigningKey::from_jwk`].
    pub fn from_jwk(jwk: &str, alg: Option<Algorithm>) -> Result<Self, Error> {
        Error::check_len("JWK", jwk.len(), MAX_KEY_TEXT_LEN)?;
        let v: Value = serde_json::from_str(jwk).map_err(bad_key)?;
        let alg = alg.or_else(|| {
            v.get("alg")
                .and_then(Value::as_str)
                .and_then(Algorithm::from_name)
        });
        match v.get("kty").and_then(Value::as_str) {
            Some("RSA") => {
                let n = required(&v, "n")?;
                let e = required(&v, "e")?;
                let key = rsa::PublicKey::new(uint(&n, precision(&n))?, uint(&e, precision(&e))?)
                    .map_err(|e| bad_key(format_args!("invalid RSA key: {e}")))?;
                let alg = alg.unwrap_or(Algorithm::RS256);
                if !alg.is_rsa() {
                    return Err(Error::InvalidArgument("ES256 needs a P-256 key"));
                }
                Ok(VerifyingKey {
                    alg,
                    key: PublicKey::Rsa(Box::new(key)),
                })
            }
            Some("EC") => {
                if v.get("crv").and_then(Value::as_str) != Some("P-256") {
                    return Err(Error::InvalidArgument("only P-256 is supported"));
                }
                let (x, y) = (required(&v, "x")?, required(&v, "y")?);
                if x.len() != 32 || y.len() != 32 {
                    return Err(bad_key("P-256 coordinates are 32 bytes"));
                }
                let mut sec1 = [0u8; 65];
                sec1[0] = 4;
                sec1[1..33].copy_from_slice(&x);
                sec1[33..].copy_from_slice(&y);
                let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1)
                    .map_err(|_| bad_key("not a point on P-256"))?;
                if alg.is_some_and(|a| a != Algorithm::ES256) {
                    return Err(Error::InvalidArgument("RS256 and PS256 need an RSA key"));
                }
                Ok(VerifyingKey {
                    alg: Algorithm::ES256,
                    key: PublicKey::Ec(Box::new(key)),
                })
            }
            _ => Err(Error::InvalidArgument(
                "only RSA and P-256 keys are supported",
            )),
        }
    }

    /// A verifying key from a PEM `PUBLIC KEY` (SubjectPublicKeyInfo); RSA keys verify
    /// `alg` (RS256 when `None`).
    pub fn from_pem(pem: &str, alg: Option<Algorithm>) -> Result<Self, Error> {
        Error::check_len("public key PEM", pem.len(), MAX_KEY_TEXT_LEN)?;
        if let Ok(k) = rsa::PublicKey::from_public_key_pem(pem) {
            let alg = alg.unwrap_or(Algorithm::RS256);
            if !alg.is_rsa() {
                return Err(Error::InvalidArgument("ES256 needs a P-256 key"));
            }
            return Ok(VerifyingKey {
                alg,
                key: PublicKey::Rsa(Box::new(k)),
            });
        }
        let k = p256::ecdsa::VerifyingKey::from_public_key_pem(pem)
            .map_err(|_| bad_key("not an RSA or P-256 public key"))?;
        if alg.is_some_and(|a| a != Algorithm::ES256) {
            return Err(Error::InvalidArgument("RS256 and PS256 need an RSA key"));
        }
        Ok(VerifyingKey {
            alg: Algorithm::ES256,
            key: PublicKey::Ec(Box::new(k)),
        })
    }

    /// The algorithm this key verifies.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    fn to_jwk(&self, kid: Option<&str>) -> String {
        let mut out = String::from("{\"kty\":");
        out.push_str(match self.key {
            PublicKey::Rsa(_) => "\"RSA\"",
            PublicKey::Ec(_) => "\"EC\"",
        });
        out.push_str(",\"use\":\"sig\"");
        if let Some(kid) = kid {
            out.push_str(",\"kid\":");
            json::write_str(&mut out, kid);
        }
        out.push_str(",\"alg\":\"");
        out.push_str(self.alg.name());
        out.push('"');
        match &self.key {
            PublicKey::Rsa(k) => {
                let e = k.e().to_be_bytes_trimmed_vartime();
                let n = k.n().to_be_bytes_trimmed_vartime();
                out.push_str(",\"e\":\"");
                out.push_str(&URL_SAFE_NO_PAD.encode(&e));
                out.push_str("\",\"n\":\"");
                out.push_str(&URL_SAFE_NO_PAD.encode(&n));
                out.push('"');
            }
            PublicKey::Ec(k) => {
                let p = k.to_sec1_point(false);
                out.push_str(",\"x\":\"");
                out.push_str(&URL_SAFE_NO_PAD.encode(p.x().expect("uncompressed")));
                out.push_str("\",\"y\":\"");
                out.push_str(&URL_SAFE_NO_PAD.encode(p.y().expect("uncompressed")));
                out.push_str("\",\"crv\":\"P-256\"");
            }
        }
        out.push('}');
        out
    }

    /// Checks `signature` over `input`.
    pub fn verify_signature(&self, input: &[u8], signature: &[u8]) -> bool {
        match (&self.key, self.alg) {
            (PublicKey::Rsa(k), Algorithm::RS256) => k
                .verify(
                    Pkcs1v15Sign::new::<Sha256>(),
                    &Sha256::digest(input),
                    signature,
                )
                .is_ok(),
            (PublicKey::Rsa(k), Algorithm::PS256) => k
                .verify(Pss::<Sha256>::new(), &Sha256::digest(input), signature)
                .is_ok(),
            (PublicKey::Ec(k), Algorithm::ES256) => p256::ecdsa::Signature::from_slice(signature)
                .is_ok_and(|s| k.verify(input, &s).is_ok()),
            _ => false,
        }
    }
}

/// A JWS whose signature was verified: its header and payload as JSON text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedJwt {
    /// The decoded header.
    pub header: String,
    /// The decoded payload.
    pub payload: String,
}

/// Verifies a compact JWS with `key`: the header's `alg` must be the key's algorithm.
/// `Ok(None)` when the signature (or `alg`) does not verify; [`Error::Malformed`] when `jwt`
/// is not a compact JWS with a JSON header and UTF-8 payload.
pub fn verify(jwt: &str, key: &VerifyingKey) -> Result<Option<VerifiedJwt>, Error> {
    let malformed = |d: &str| Error::malformed("JWT", d);
    let mut parts = jwt.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed("not three dot-separated parts"));
    };
    let dec = |x: &str| {
        URL_SAFE_NO_PAD
            .decode(x)
            .map_err(|_| malformed("not base64url"))
    };
    let header = String::from_utf8(dec(h)?).map_err(|_| malformed("header is not UTF-8"))?;
    let payload = String::from_utf8(dec(p)?).map_err(|_| malformed("payload is not UTF-8"))?;
    let signature = dec(s)?;
    let hv: Value = serde_json::from_str(&header).map_err(|_| malformed("header is not JSON"))?;
    if hv.get("alg").and_then(Value::as_str) != Some(key.alg.name()) {
        return Ok(None);
    }
    let signed = &jwt[..h.len() + 1 + p.len()];
    Ok(key
        .verify_signature(signed.as_bytes(), &signature)
        .then_some(VerifiedJwt { header, payload }))
}

/// The JWS header IdentityServer writes for an introspection response signed with `key`.
pub fn introspection_header(key: &SigningKey) -> String {
    let mut h = String::from("{\"alg\":\"");
    h.push_str(key.alg.name());
    h.push('"');
    if let Some(kid) = &key.kid {
        h.push_str(",\"kid\":");
        json::write_str(&mut h, kid);
    }
    h.push_str(",\"typ\":\"");
    h.push_str(INTROSPECTION_JWT_TYP);
    h.push_str("\"}");
    h
}

/// The JWT payload IdentityServer writes: `iss`, `iat` (now, Unix seconds), `aud` (the
/// caller's name), `token_introspection` (the introspection response, re-written compactly
/// with System.Text.Json escaping). [`Error::Malformed`] when `response` is not a JSON object.
pub fn introspection_payload(
    issuer: &str,
    audience: &str,
    now: Instant,
    response: &str,
) -> Result<String, Error> {
    Error::check_len(
        "introspection response",
        response.len(),
        limits::MAX_DATA_LEN,
    )?;
    if !response.trim_start().starts_with('{') || !json::validate(response) {
        return Err(Error::malformed(
            "introspection response",
            "not a JSON object",
        ));
    }
    let mut out = String::with_capacity(response.len() + issuer.len() + audience.len() + 64);
    out.push_str("{\"iss\":");
    json::write_str(&mut out, issuer);
    out.push_str(",\"iat\":");
    json::write_i64(&mut out, now.unix_seconds());
    out.push_str(",\"aud\":");
    json::write_str(&mut out, audience);
    out.push_str(",\"token_introspection\":");
    json::write_raw(&mut out, response);
    out.push('}');
    Ok(out)
}

/// The RFC 9701 response body: `response` (the introspection JSON) signed by `key` for the
/// caller `audience`, issued by `issuer` at `now`, as IdentityServer 7.3+ writes it.
pub fn introspection_jwt(
    key: &SigningKey,
    issuer: &str,
    audience: &str,
    now: Instant,
    response: &str,
) -> Result<String, Error> {
    let payload = introspection_payload(issuer, audience, now, response)?;
    let header = introspection_header(key);
    let mut out = String::with_capacity(payload.len() * 4 / 3 + 400);
    URL_SAFE_NO_PAD.encode_string(header.as_bytes(), &mut out);
    out.push('.');
    URL_SAFE_NO_PAD.encode_string(payload.as_bytes(), &mut out);
    let signature = key.sign(out.as_bytes())?;
    out.push('.');
    URL_SAFE_NO_PAD.encode_string(&signature, &mut out);
    Ok(out)
}
