//! The key ring: loading `<key>` and `<revocation>` elements as ASP.NET Core's `XmlKeyManager`
//! does (§12), and choosing the default key as `DefaultKeyResolver` does (§13).

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use base64::Engine;
use roxmltree::{Document, Node, ParsingOptions};
use uuid::Uuid;
use zeroize::{Zeroize, Zeroizing};

use super::encryptor::{AesKeySize, Algorithm, HmacAlgorithm, KeyCrypto};
use super::{MAX_KEY_RING_ELEMENTS, MAX_KEYS, MAX_XML_LEN, MAX_XML_NODES};
use crate::Error;
use crate::instant::{self, Instant, TICKS_PER_SECOND};

/// Namespace of `requiresEncryption` and `encryptedSecret` (XmlConstants).
const DP_NS: &str = "http://schemas.asp.net/2015/03/dataProtection";
/// Keys created this long before `now` have reached every instance (KeyManagementOptions).
const KEY_PROPAGATION_WINDOW: i64 = 2 * 24 * 3600 * TICKS_PER_SECOND;
/// Tolerated clock skew between servers (KeyManagementOptions).
const MAX_CLOCK_SKEW: i64 = 5 * 60 * TICKS_PER_SECOND;

/// What one key in the ring looks like from outside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    /// The key id (`<key id="…">`).
    pub id: Uuid,
    /// `<creationDate>`.
    pub creation: Instant,
    /// `<activationDate>`: the key may protect new payloads from then on.
    pub activation: Instant,
    /// `<expirationDate>`: the key protects no new payloads from then on, but still unprotects.
    pub expiration: Instant,
    /// Revoked by a `<revocation>` element (for this id, or for every key created before a date).
    pub revoked: bool,
    /// The algorithm its descriptor names, when the descriptor could be read.
    pub algorithm: Option<Algorithm>,
    /// Why the key cannot be used (for example a master key encrypted with Windows DPAPI).
    pub problem: Option<String>,
}

/// Why a key that was found cannot be used.
#[derive(Debug, Clone)]
pub(crate) enum KeyProblem {
    /// The master key is encrypted at rest, or the descriptor uses an algorithm or
    /// deserializer this library does not implement.
    Unsupported(String),
    /// The descriptor is not what its deserializer expects.
    Malformed(String),
}

impl KeyProblem {
    pub(crate) fn to_error(&self) -> Error {
        match self {
            KeyProblem::Unsupported(m) => Error::UnsupportedProtector(m.clone()),
            KeyProblem::Malformed(m) => Error::malformed("key descriptor", m),
        }
    }

    fn message(&self) -> &str {
        match self {
            KeyProblem::Unsupported(m) | KeyProblem::Malformed(m) => m,
        }
    }
}

#[derive(Debug)]
pub(crate) struct Key {
    pub(crate) id: Uuid,
    /// The id in .NET `Guid.ToByteArray()` order, as payloads carry it.
    pub(crate) id_le: [u8; 16],
    pub(crate) creation: Instant,
    pub(crate) activation: Instant,
    pub(crate) expiration: Instant,
    pub(crate) revoked: bool,
    pub(crate) crypto: Result<KeyCrypto, KeyProblem>,
}

/// A set of ASP.NET Core Data Protection keys, immutable once loaded, with the application
/// name that roots every purpose chain. Safe to share between threads.
#[derive(Debug)]
pub struct KeyRing {
    pub(crate) keys: Vec<Key>,
    index: HashMap<[u8; 16], usize>,
    pub(crate) root: Option<Box<str>>,
    skipped: Vec<String>,
    policy: DefaultKeyPolicy,
}

impl KeyRing {
    /// Loads every `*.xml` file at the top level of `dir`, as ASP.NET Core's
    /// `PersistKeysToFileSystem(dir)` reads them. Files are read in name order; names are
    /// otherwise ignored. A file that is not well-formed XML, a revocation that cannot be read
    /// and two keys with one id fail the whole ring; a `<key>` whose id or dates cannot be read
    /// is skipped (see [`KeyRing::skipped`]); a key whose descriptor cannot be used stays in
    /// the ring with [`KeyInfo::problem`] set. A missing directory is an [`Error::Io`].
    pub fn from_dir(dir: &Path) -> Result<KeyRing, Error> {
        let io = |source: std::io::Error, path: &Path| Error::Io {
            path: path.display().to_string(),
            source,
        };
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(|e| io(e, dir))? {
            let entry = entry.map_err(|e| io(e, dir))?;
            let path = entry.path();
            if !path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(".xml"))
            {
                continue;
            }
            // Follows symbolic links, as .NET does.
            if !std::fs::metadata(&path)
                .map_err(|e| io(e, &path))?
                .is_file()
            {
                continue;
            }
            files.push(path);
            Error::check_len(
                "key ring directory (files)",
                files.len(),
                MAX_KEY_RING_ELEMENTS,
            )?;
        }
        files.sort();
        let mut texts = Vec::with_capacity(files.len());
        for path in &files {
            texts.push((
                path.display().to_string(),
                read_xml_file(path).map_err(|e| match e {
                    ReadError::Io(source) => io(source, path),
                    ReadError::Other(e) => e,
                })?,
            ));
        }
        KeyRing::load(
            texts
                .iter()
                .map(|(name, text)| (name.as_str(), text.as_str())),
        )
    }

    /// Loads a key ring from XML elements as a database or cache holds them (Entity Framework
    /// Core's `DataProtectionKeys.Xml` column, a Redis list, …): each string is one `<key>` or
    /// `<revocation>` element, with or without an XML declaration. Same rules as
    /// [`KeyRing::from_dir`].
    pub fn from_xml<S: AsRef<str>>(elements: &[S]) -> Result<KeyRing, Error> {
        Error::check_len("key ring (elements)", elements.len(), MAX_KEY_RING_ELEMENTS)?;
        KeyRing::load(
            elements
                .iter()
                .enumerate()
                .map(|(i, s)| (ElementIndex(i), s.as_ref())),
        )
    }

    fn load<'a, N: std::fmt::Display>(
        docs: impl Iterator<Item = (N, &'a str)>,
    ) -> Result<KeyRing, Error> {
        // Room for every key at once: growing the vector would move keys (and their keyed
        // HMAC state) into a new allocation and free the old one unwiped.
        let mut keys: Vec<Key> = Vec::with_capacity(docs.size_hint().0.min(MAX_KEYS) + 1);
        let mut index = HashMap::new();
        let mut skipped = Vec::new();
        let mut revoked_ids = Vec::new();
        let mut revoke_before: Option<Instant> = None;
        for (name, text) in docs {
            Error::check_len("key ring XML element", text.len(), MAX_XML_LEN)?;
            let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
            // One byte-order mark at most: roxmltree would skip a second one.
            if text.starts_with('\u{FEFF}') {
                return Err(Error::malformed(
                    "key ring XML",
                    format!("{name}: more than one byte-order mark"),
                ));
            }
            let options = ParsingOptions {
                allow_dtd: false,
                nodes_limit: MAX_XML_NODES,
                ..Default::default()
            };
            let doc = Document::parse_with_options(text, options).map_err(|e| match e {
                roxmltree::Error::NodesLimitReached => Error::TooLarge {
                    what: "key ring XML element (nodes)",
                    len: MAX_XML_NODES as usize + 1,
                    max: MAX_XML_NODES as usize,
                },
                e => Error::malformed("key ring XML", format!("{name}: {e}")),
            })?;
            let root = doc.root_element();
            if is_named(root, "key") {
                match parse_key(root) {
                    Ok(key) => {
                        if index.insert(key.id_le, keys.len()).is_some() {
                            return Err(Error::malformed(
                                "key ring",
                                format!("the key {{{}}} appears more than once", key.id),
                            ));
                        }
                        keys.push(key);
                        Error::check_len("key ring (keys)", keys.len(), MAX_KEYS)?;
                    }
                    Err(why) => skipped.push(format!("{name}: {why}")),
                }
            } else if is_named(root, "revocation") {
                match parse_revocation(root)
                    .map_err(|why| Error::malformed("key revocation", format!("{name}: {why}")))?
                {
                    Revocation::Key(id) => revoked_ids.push(id),
                    Revocation::CreatedBefore(date) => {
                        revoke_before = Some(revoke_before.map_or(date, |d| d.max(date)));
                    }
                }
            }
            // Other root elements are skipped, as XmlKeyManager does.
        }
        for id in revoked_ids {
            if let Some(&i) = index.get(&id.to_bytes_le()) {
                keys[i].revoked = true;
            }
        }
        if let Some(date) = revoke_before {
            for key in &mut keys {
                if key.creation < date {
                    key.revoked = true;
                }
            }
        }
        Ok(KeyRing {
            keys,
            index,
            root: None,
            skipped,
            policy: DefaultKeyPolicy::default(),
        })
    }

    /// Sets the application name that roots every purpose chain (ASP.NET Core's
    /// `SetApplicationName`, or the application discriminator, see
    /// [`super::application_discriminator`]). `None` or `""`: no root purpose.
    pub fn with_application_name(mut self, name: Option<&str>) -> KeyRing {
        self.root = name.filter(|n| !n.is_empty()).map(Into::into);
        self
    }

    /// The application name set with [`KeyRing::with_application_name`].
    pub fn application_name(&self) -> Option<&str> {
        self.root.as_deref()
    }

    /// The keys, in load order.
    pub fn keys(&self) -> impl Iterator<Item = KeyInfo> + '_ {
        self.keys.iter().map(|k| KeyInfo {
            id: k.id,
            creation: k.creation,
            activation: k.activation,
            expiration: k.expiration,
            revoked: k.revoked,
            algorithm: k.crypto.as_ref().ok().map(|c| c.alg),
            problem: k.crypto.as_ref().err().map(|p| p.message().to_owned()),
        })
    }

    /// Elements that looked like keys but were skipped because their id or dates could not be
    /// read, with the reason.
    pub fn skipped(&self) -> &[String] {
        &self.skipped
    }

    pub(crate) fn key_by_id(&self, id_le: &[u8]) -> Option<&Key> {
        let id: [u8; 16] = id_le.try_into().ok()?;
        self.index.get(&id).map(|&i| &self.keys[i])
    }

    /// Chooses how [`KeyRing::default_key_id`] picks the key for new payloads.
    pub fn with_default_key_policy(mut self, policy: DefaultKeyPolicy) -> KeyRing {
        self.policy = policy;
        self
    }

    /// The key ASP.NET Core would protect new payloads with at `now` (its `DefaultKeyResolver`,
    /// see [`DefaultKeyPolicy`]): the preferred key among those activated by `now` + 5 minutes,
    /// if it is not revoked, not expired and usable. `None` where ASP.NET Core would create a
    /// new key.
    pub fn default_key_id(&self, now: Instant) -> Option<Uuid> {
        self.default_key(now).map(|k| k.id)
    }

    pub(crate) fn default_key(&self, now: Instant) -> Option<&Key> {
        let latest_activation = Instant(now.0.saturating_add(MAX_CLOCK_SKEW));
        let activated = || {
            self.keys
                .iter()
                .filter(move |k| k.activation <= latest_activation)
        };
        // Later activation first; equal activations: the smaller id (Guid.CompareTo order,
        // which is uuid's order).
        let newest = |a: &&Key, b: &&Key| a.activation.cmp(&b.activation).then(b.id.cmp(&a.id));
        let preferred = match self.policy {
            DefaultKeyPolicy::MostRecentlyActivated => activated().max_by(newest),
            DefaultKeyPolicy::PreferPropagated => {
                let cutoff = Instant(now.0.saturating_sub(KEY_PROPAGATION_WINDOW));
                activated()
                    .filter(|k| k.creation <= cutoff)
                    .max_by(newest)
                    .or_else(|| {
                        activated()
                            .filter(|k| k.creation > cutoff)
                            .min_by(|a, b| a.activation.cmp(&b.activation).then(a.id.cmp(&b.id)))
                    })
            }
        }?;
        (!preferred.revoked && preferred.expiration > now && preferred.crypto.is_ok())
            .then_some(preferred)
    }
}

/// How [`KeyRing::default_key_id`] chooses the key that protects new payloads. Either way
/// the chosen key must also be unrevoked, unexpired and usable, or there is no default key
/// (ASP.NET Core would create one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DefaultKeyPolicy {
    /// ASP.NET Core 2.x to 10.0 (checked against 10.0.12 in tests/dataprotection.rs): the
    /// most recently activated key among those activated by `now` + 5 minutes; equal
    /// activation dates: the smaller key id.
    #[default]
    MostRecentlyActivated,
    /// The rule in dotnet/aspnetcore's main branch after PR #54309 (not in any release up to
    /// 10.0.12): prefer the most recently activated key created at least 2 days before `now`
    /// (so that every instance has seen it); failing that, the *earliest* activated newer key.
    PreferPropagated,
}

/// Names an element of [`KeyRing::from_xml`] in messages.
struct ElementIndex(usize);

impl std::fmt::Display for ElementIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "element {}", self.0)
    }
}

enum ReadError {
    Io(std::io::Error),
    Other(Error),
}

/// Reads a key file into a buffer that is wiped when dropped (it holds master keys). UTF-8,
/// with or without a byte-order mark; UTF-16 with a byte-order mark.
fn read_xml_file(path: &Path) -> Result<Zeroizing<String>, ReadError> {
    let mut file = std::fs::File::open(path).map_err(ReadError::Io)?;
    let len = file.metadata().map_err(ReadError::Io)?.len();
    Error::check_len(
        "key ring XML file",
        usize::try_from(len).unwrap_or(usize::MAX),
        MAX_XML_LEN,
    )
    .map_err(ReadError::Other)?;
    // One allocation large enough that reading never reallocates (and leaves copies behind).
    let mut bytes = Zeroizing::new(Vec::with_capacity(MAX_XML_LEN.min(len as usize) + 1));
    (&mut file)
        .take(MAX_XML_LEN as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    Error::check_len("key ring XML file", bytes.len(), MAX_XML_LEN).map_err(ReadError::Other)?;
    let bad = |why: &str| {
        ReadError::Other(Error::malformed(
            "key ring XML",
            format!("{}: {why}", path.display()),
        ))
    };
    let utf16 = |units: &mut dyn Iterator<Item = u16>| -> Result<Zeroizing<String>, ReadError> {
        let mut s = Zeroizing::new(String::with_capacity(bytes.len()));
        for c in char::decode_utf16(units) {
            s.push(c.map_err(|_| bad("invalid UTF-16"))?);
        }
        Ok(s)
    };
    if bytes.len() % 2 == 0 && bytes.starts_with(&[0xFF, 0xFE]) {
        return utf16(
            &mut bytes[2..]
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]])),
        );
    }
    if bytes.len() % 2 == 0 && bytes.starts_with(&[0xFE, 0xFF]) {
        return utf16(
            &mut bytes[2..]
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]])),
        );
    }
    // A UTF-8 byte-order mark is the file's encoding signature, as the UTF-16 ones above are:
    // decoding consumes it, so a file reads as the text `from_xml` would be given.
    if bytes.starts_with(b"\xEF\xBB\xBF") {
        bytes.drain(..3);
    }
    match String::from_utf8(std::mem::take(&mut *bytes)) {
        Ok(s) => Ok(Zeroizing::new(s)),
        Err(e) => {
            e.into_bytes().zeroize();
            Err(bad("not UTF-8"))
        }
    }
}

/// An element with this local name in no namespace (`xmlns=""` included).
fn is_named(node: Node<'_, '_>, name: &str) -> bool {
    node.is_element()
        && node.tag_name().name() == name
        && node.tag_name().namespace().is_none_or(str::is_empty)
}

/// The first child element with this (un-namespaced) name, as XLinq's `Element(name)`.
fn child<'a, 'i>(node: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    node.children().find(|c| is_named(*c, name))
}

/// XLinq's `(string)element`: all descendant text (comments excluded).
fn text_of(node: Node<'_, '_>) -> Zeroizing<String> {
    let mut s = Zeroizing::new(String::new());
    for t in node.descendants().filter(|n| n.is_text()) {
        s.push_str(t.text().unwrap_or(""));
    }
    s
}

fn is_xml_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn parse_date(node: Node<'_, '_>, name: &str) -> Result<Instant, String> {
    let el = child(node, name).ok_or_else(|| format!("no <{name}>"))?;
    let text = text_of(el);
    instant::parse_xml(text.trim_matches(is_xml_space)).map_err(|e| format!("<{name}>: {e}"))
}

/// `XmlConvert.ToGuid`: `D`, `N` and `B` forms, surrounding white space ignored.
fn parse_guid(s: &str) -> Result<Uuid, String> {
    Uuid::parse_str(s.trim()).map_err(|_| format!("{s:?} is not a GUID"))
}

fn parse_key(el: Node<'_, '_>) -> Result<Key, String> {
    let id = parse_guid(el.attribute("id").ok_or("no id attribute")?)?;
    let creation = parse_date(el, "creationDate")?;
    let activation = parse_date(el, "activationDate")?;
    let expiration = parse_date(el, "expirationDate")?;
    let crypto = parse_descriptor(el, id).map(|(alg, master_key)| KeyCrypto::new(alg, &master_key));
    Ok(Key {
        id,
        id_le: id.to_bytes_le(),
        creation,
        activation,
        expiration,
        revoked: false,
        crypto,
    })
}

enum Revocation {
    Key(Uuid),
    CreatedBefore(Instant),
}

fn parse_revocation(el: Node<'_, '_>) -> Result<Revocation, String> {
    let id = child(el, "key")
        .and_then(|k| k.attribute("id"))
        .ok_or("no <key id=\"…\">")?;
    if id == "*" {
        Ok(Revocation::CreatedBefore(parse_date(el, "revocationDate")?))
    } else {
        Ok(Revocation::Key(parse_guid(id)?))
    }
}

/// The type name of an assembly-qualified name, with the 1.x namespace mapped to the current
/// one as .NET's `TypeForwardingActivator` does.
fn type_name(aqn: &str) -> String {
    let name = aqn.split(',').next().unwrap_or("").trim();
    match name.strip_prefix("Microsoft.AspNet.DataProtection.") {
        Some(rest) => format!("Microsoft.AspNetCore.DataProtection.{rest}"),
        None => name.to_owned(),
    }
}

const CONFIG_NS: &str =
    "Microsoft.AspNetCore.DataProtection.AuthenticatedEncryption.ConfigurationModel.";
const XMLENC_NS: &str = "Microsoft.AspNetCore.DataProtection.XmlEncryption.";

/// Replaces an `<encryptedSecret>` element by what it protects, as `DecryptElement` does.
/// Only `NullXmlDecryptor` (no encryption at all) can be undone here.
fn resolve<'a, 'i>(node: Node<'a, 'i>, key: Uuid) -> Result<Node<'a, 'i>, KeyProblem> {
    if !(node.tag_name().name() == "encryptedSecret" && node.tag_name().namespace() == Some(DP_NS))
    {
        return Ok(node);
    }
    let malformed = |why: &str| KeyProblem::Malformed(format!("key {{{key}}}: {why}"));
    let decryptor = node
        .attribute("decryptorType")
        .ok_or_else(|| malformed("<encryptedSecret> has no decryptorType"))?;
    let decryptor = type_name(decryptor);
    match decryptor.strip_prefix(XMLENC_NS) {
        Some("NullXmlDecryptor") => {
            let wrapper = single_element(node)
                .ok_or_else(|| malformed("<encryptedSecret> must hold one element"))?;
            single_element(wrapper)
                .ok_or_else(|| malformed("<unencryptedKey> must hold one element"))
        }
        _ => {
            let how = match decryptor.strip_prefix(XMLENC_NS) {
                Some("DpapiXmlDecryptor") => " (Windows DPAPI)",
                Some("DpapiNGXmlDecryptor") => " (Windows DPAPI-NG)",
                Some("EncryptedXmlDecryptor") => " (X.509 certificate, XML encryption)",
                _ => "",
            };
            Err(KeyProblem::Unsupported(format!(
                "the master key of key {{{key}}} is encrypted at rest with {decryptor}{how}, which this library cannot decrypt"
            )))
        }
    }
}

fn single_element<'a, 'i>(node: Node<'a, 'i>) -> Option<Node<'a, 'i>> {
    let mut it = node.children().filter(Node::is_element);
    let first = it.next()?;
    it.next().is_none().then_some(first)
}

/// The child elements of a descriptor, each `<encryptedSecret>` replaced by its content.
fn children<'a, 'i>(
    node: Node<'a, 'i>,
    key: Uuid,
    name: &str,
) -> Result<Vec<Node<'a, 'i>>, KeyProblem> {
    let mut found = Vec::new();
    for c in node.children().filter(Node::is_element) {
        let c = resolve(c, key)?;
        if is_named(c, name) {
            found.push(c);
        }
    }
    Ok(found)
}

fn parse_descriptor(
    el: Node<'_, '_>,
    key: Uuid,
) -> Result<(Algorithm, Zeroizing<Vec<u8>>), KeyProblem> {
    let malformed = |why: String| KeyProblem::Malformed(format!("key {{{key}}}: {why}"));
    let outer = child(el, "descriptor").ok_or_else(|| malformed("no <descriptor>".into()))?;
    let deserializer = type_name(
        outer
            .attribute("deserializerType")
            .ok_or_else(|| malformed("no deserializerType".into()))?,
    );
    let inner = single_element(outer)
        .ok_or_else(|| malformed("<descriptor> must hold one element".into()))?;
    let inner = resolve(inner, key)?;
    let first = |name: &str| -> Result<Node<'_, '_>, KeyProblem> {
        children(inner, key, name)?
            .into_iter()
            .next()
            .ok_or_else(|| malformed(format!("no <{name}>")))
    };
    let attr = |node: Node<'_, '_>, name: &str| -> Result<String, KeyProblem> {
        node.attribute(name).map(str::to_owned).ok_or_else(|| {
            malformed(format!(
                "<{}> has no {name} attribute",
                node.tag_name().name()
            ))
        })
    };
    let unsupported = |what: String| KeyProblem::Unsupported(format!("key {{{key}}}: {what}"));
    let key_bits = |node: Node<'_, '_>| -> Result<AesKeySize, KeyProblem> {
        let bits = attr(node, "keyLength")?;
        let bits: u32 = bits
            .trim()
            .parse()
            .map_err(|_| malformed(format!("keyLength {bits:?} is not a number")))?;
        AesKeySize::from_bits(bits).ok_or_else(|| unsupported(format!("AES key length {bits}")))
    };
    let kind = deserializer.strip_prefix(CONFIG_NS).unwrap_or("");
    let (alg, master_key) = match kind {
        "AuthenticatedEncryptorDescriptorDeserializer" => {
            let enc = attr(first("encryption")?, "algorithm")?;
            let alg = match enum_value(
                &enc,
                &[
                    "AES_128_CBC",
                    "AES_192_CBC",
                    "AES_256_CBC",
                    "AES_128_GCM",
                    "AES_192_GCM",
                    "AES_256_GCM",
                ],
            ) {
                Some(i) => {
                    let aes = [AesKeySize::Aes128, AesKeySize::Aes192, AesKeySize::Aes256][i % 3];
                    if i >= 3 {
                        Algorithm::Gcm { aes }
                    } else {
                        let val = attr(first("validation")?, "algorithm")?;
                        let hmac = match enum_value(&val, &["HMACSHA256", "HMACSHA512"]) {
                            Some(0) => HmacAlgorithm::HmacSha256,
                            Some(_) => HmacAlgorithm::HmacSha512,
                            None => {
                                return Err(unsupported(format!("validation algorithm {val:?}")));
                            }
                        };
                        Algorithm::Cbc { aes, hmac }
                    }
                }
                None => return Err(unsupported(format!("encryption algorithm {enc:?}"))),
            };
            let keys = children(inner, key, "masterKey")?;
            if keys.len() != 1 {
                return Err(malformed(format!("{} <masterKey> elements", keys.len())));
            }
            (alg, keys[0])
        }
        "ManagedAuthenticatedEncryptorDescriptorDeserializer" => {
            let enc = first("encryption")?;
            let name = attr(enc, "algorithm")?;
            if !matches!(
                type_name(&name).as_str(),
                "Aes"
                    | "System.Security.Cryptography.Aes"
                    | "System.Security.Cryptography.AesManaged"
                    | "System.Security.Cryptography.AesCng"
                    | "System.Security.Cryptography.AesCryptoServiceProvider"
            ) {
                return Err(unsupported(format!(
                    "managed encryption algorithm {name:?}"
                )));
            }
            let aes = key_bits(enc)?;
            let val = attr(first("validation")?, "algorithm")?;
            let hmac = match type_name(&val).trim_start_matches("System.Security.Cryptography.") {
                "HMACSHA256" => HmacAlgorithm::HmacSha256,
                "HMACSHA384" => HmacAlgorithm::HmacSha384,
                "HMACSHA512" => HmacAlgorithm::HmacSha512,
                _ => return Err(unsupported(format!("managed validation algorithm {val:?}"))),
            };
            (Algorithm::Cbc { aes, hmac }, first("masterKey")?)
        }
        "CngCbcAuthenticatedEncryptorDescriptorDeserializer"
        | "CngGcmAuthenticatedEncryptorDescriptorDeserializer" => {
            let enc = first("encryption")?;
            let name = attr(enc, "algorithm")?;
            if !name.eq_ignore_ascii_case("AES") {
                return Err(unsupported(format!("CNG encryption algorithm {name:?}")));
            }
            let aes = key_bits(enc)?;
            let alg = if kind.starts_with("CngGcm") {
                Algorithm::Gcm { aes }
            } else {
                let hash = attr(first("hash")?, "algorithm")?;
                let hmac = match hash.to_ascii_uppercase().as_str() {
                    "SHA256" => HmacAlgorithm::HmacSha256,
                    "SHA384" => HmacAlgorithm::HmacSha384,
                    "SHA512" => HmacAlgorithm::HmacSha512,
                    _ => return Err(unsupported(format!("CNG hash algorithm {hash:?}"))),
                };
                Algorithm::Cbc { aes, hmac }
            };
            (alg, first("masterKey")?)
        }
        _ => {
            return Err(unsupported(format!(
                "descriptor deserializer {deserializer}"
            )));
        }
    };
    // `Convert.FromBase64String` skips white space and requires padding.
    let mut text = text_of(master_key);
    text.retain(|c| !is_xml_space(c));
    let mut bytes = Zeroizing::new(vec![0u8; text.len() / 4 * 3 + 3]);
    let n = base64::engine::general_purpose::STANDARD
        .decode_slice(text.as_bytes(), &mut bytes[..])
        .map_err(|_| malformed("the master key is not base64".into()))?;
    bytes.truncate(n);
    Ok((alg, bytes))
}

/// `Enum.Parse` for an enum whose members are `names` in value order: a member name or a
/// decimal value, surrounding white space ignored.
fn enum_value(s: &str, names: &[&str]) -> Option<usize> {
    let s = s.trim();
    names
        .iter()
        .position(|n| *n == s)
        .or_else(|| s.parse::<usize>().ok().filter(|&i| i < names.len()))
}
