//! Persisted grants: the `Data` column and the reference `Token` it carries.
//!
//! IdentityServer's `PersistentGrantSerializer` writes a container
//! `{"PersistentGrantDataContainerVersion":1,"DataProtected":b,"Payload":"..."}` whose payload
//! is the System.Text.Json serialization of the grant (PascalCase, nulls omitted), optionally
//! protected with ASP.NET Core Data Protection. Rows written before the container existed
//! (IdentityServer4) hold the payload itself; they read as container version 0.

use serde::Deserialize;

use crate::instant::{self, Instant};
use crate::key::{self, StoreKey};
use crate::{Error, json, limits};

/// `ClaimValueTypes.String`: the value type that IdentityServer leaves out when serializing.
pub const STRING_VALUE_TYPE: &str = "http://www.w3.org/2001/XMLSchema#string";

/// A claim as IdentityServer stores it (`ClaimLite`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Claim {
    /// The claim type, such as `sub` or `scope`.
    #[serde(rename = "Type")]
    pub claim_type: String,
    /// The value, always text.
    #[serde(rename = "Value")]
    pub value: String,
    /// The value type (`ClaimValueTypes`), `None` for a plain string.
    #[serde(rename = "ValueType", default)]
    pub value_type: Option<String>,
}

/// A claim's text is the user's data: it is wiped when the claim is dropped.
impl Drop for Claim {
    fn drop(&mut self) {
        self.wipe();
    }
}

impl Claim {
    /// A plain string claim.
    pub fn new(claim_type: impl Into<String>, value: impl Into<String>) -> Self {
        Claim {
            claim_type: claim_type.into(),
            value: value.into(),
            value_type: None,
        }
    }

    /// A claim with an explicit value type; the string type is normalised to `None`, as
    /// IdentityServer's serializer does.
    pub fn typed(
        claim_type: impl Into<String>,
        value: impl Into<String>,
        value_type: impl Into<String>,
    ) -> Self {
        let vt = value_type.into();
        Claim {
            claim_type: claim_type.into(),
            value: value.into(),
            value_type: if vt.is_empty() || vt == STRING_VALUE_TYPE {
                None
            } else {
                Some(vt)
            },
        }
    }

    /// The value type, with `None` read as [`STRING_VALUE_TYPE`].
    pub fn value_type(&self) -> &str {
        self.value_type.as_deref().unwrap_or(STRING_VALUE_TYPE)
    }
}

/// `AccessTokenType.Reference`.
pub const ACCESS_TOKEN_TYPE_REFERENCE: i32 = 1;

/// IdentityServer's `Token` model as it is persisted for a reference token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// Allowed signing algorithms (`[]` when none).
    pub allowed_signing_algorithms: Vec<String>,
    /// The `cnf` value as JSON text, if the token is sender-constrained.
    pub confirmation: Option<String>,
    /// The audiences (`aud`).
    pub audiences: Vec<String>,
    /// The issuer (`iss`). IdentityServer cannot answer for a token without one (its
    /// validator builds an `iss` claim from it, which throws on null).
    pub issuer: Option<String>,
    /// When the token was created.
    pub creation_time: Instant,
    /// Lifetime in seconds.
    pub lifetime: i32,
    /// The token type, `access_token` for access tokens.
    pub token_type: Option<String>,
    /// The client the token was issued to.
    pub client_id: Option<String>,
    /// `AccessTokenType`: 0 for JWT, 1 for reference.
    pub access_token_type: i32,
    /// A free-form description.
    pub description: Option<String>,
    /// Whether a `jti` is included.
    pub include_jwt_id: bool,
    /// The token's claims in stored order.
    pub claims: Vec<Claim>,
    /// The model version (5 for current IdentityServer).
    pub version: i32,
    /// The member the stored JSON holds as `null` where IdentityServer's validator reads
    /// through it (`Audiences`, `Claims`, or one of their items; the lists above are empty or
    /// without it): IdentityServer fails on such a token (a 500) once it has found it valid,
    /// and so does introspection here. `None` for every token IdentityServer writes.
    pub null_member: Option<&'static str>,
}

/// The `Token` JSON as System.Text.Json reads it into IdentityServer's model: a member left
/// out keeps the model's initial value, and `null` is kept where the model allows it.
#[derive(Deserialize)]
struct TokenJson {
    #[serde(rename = "AllowedSigningAlgorithms", default)]
    allowed_signing_algorithms: Option<Vec<Option<String>>>,
    #[serde(rename = "Confirmation", default)]
    confirmation: Option<String>,
    #[serde(rename = "Audiences", default = "empty_list")]
    audiences: Option<Vec<Option<String>>>,
    #[serde(rename = "Issuer", default)]
    issuer: Option<String>,
    /// A `DateTime` left out is `DateTime.MinValue`.
    #[serde(
        rename = "CreationTime",
        default = "dotnet_min",
        deserialize_with = "de_instant"
    )]
    creation_time: Instant,
    #[serde(rename = "Lifetime", default)]
    lifetime: i32,
    #[serde(rename = "Type", default)]
    token_type: Option<String>,
    #[serde(rename = "ClientId", default)]
    client_id: Option<String>,
    #[serde(rename = "AccessTokenType", default)]
    access_token_type: i32,
    #[serde(rename = "Description", default)]
    description: Option<String>,
    #[serde(rename = "IncludeJwtId", default)]
    include_jwt_id: bool,
    #[serde(rename = "Claims", default = "empty_list")]
    claims: Option<Vec<Option<Claim>>>,
    #[serde(rename = "Version", default = "default_version")]
    version: i32,
}

fn empty_list<T>() -> Option<Vec<T>> {
    Some(Vec::new())
}

fn dotnet_min() -> Instant {
    instant::DOTNET_MIN
}

/// Read through [`TokenJson`].
impl<'de> Deserialize<'de> for Token {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        TokenJson::deserialize(d).map(Token::from)
    }
}

impl From<TokenJson> for Token {
    fn from(j: TokenJson) -> Token {
        // Which null IdentityServer's validator would read through first.
        let null_member = match (&j.audiences, &j.claims) {
            (None, _) => Some("Audiences"),
            (Some(a), _) if a.iter().any(Option::is_none) => Some("an item of Audiences"),
            (_, None) => Some("Claims"),
            (_, Some(c)) if c.iter().any(Option::is_none) => Some("an item of Claims"),
            _ => None,
        };
        let items = |list: Option<Vec<Option<String>>>| -> Vec<String> {
            list.unwrap_or_default().into_iter().flatten().collect()
        };
        Token {
            // Never read by introspection: nulls in it are dropped.
            allowed_signing_algorithms: items(j.allowed_signing_algorithms),
            confirmation: j.confirmation,
            audiences: items(j.audiences),
            issuer: j.issuer,
            creation_time: j.creation_time,
            lifetime: j.lifetime,
            token_type: j.token_type,
            client_id: j.client_id,
            access_token_type: j.access_token_type,
            description: j.description,
            include_jwt_id: j.include_jwt_id,
            claims: j.claims.unwrap_or_default().into_iter().flatten().collect(),
            version: j.version,
            null_member,
        }
    }
}

fn default_version() -> i32 {
    5
}

fn null_as_empty<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

fn de_instant<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Instant, D::Error> {
    let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
    instant::parse(&s).map_err(serde::de::Error::custom)
}

/// Parses `text` as System.Text.Json reads a model: as serde does, except that a member given
/// twice takes its last value where serde refuses it. Text serde refuses is read again
/// through maps (which keep the last value of each member); their strings, the grant's data,
/// are wiped afterwards.
fn from_json_last_wins<T: serde::de::DeserializeOwned>(text: &str) -> serde_json::Result<T> {
    let first = match serde_json::from_str(text) {
        Ok(t) => return Ok(t),
        Err(e) => e,
    };
    let Ok(mut value) = serde_json::from_str::<serde_json::Value>(text) else {
        return Err(first);
    };
    let read = T::deserialize(&value);
    wipe(&mut value);
    read
}

fn wipe(v: &mut serde_json::Value) {
    use zeroize::Zeroize;
    match v {
        serde_json::Value::String(s) => s.zeroize(),
        serde_json::Value::Array(a) => a.iter_mut().for_each(wipe),
        serde_json::Value::Object(m) => m.values_mut().for_each(wipe),
        _ => {}
    }
}

impl Default for Token {
    fn default() -> Self {
        Token {
            allowed_signing_algorithms: Vec::new(),
            confirmation: None,
            audiences: Vec::new(),
            issuer: None,
            creation_time: Instant::default(),
            lifetime: 0,
            token_type: Some("access_token".into()),
            client_id: None,
            access_token_type: ACCESS_TOKEN_TYPE_REFERENCE,
            description: None,
            include_jwt_id: false,
            claims: Vec::new(),
            version: default_version(),
            null_member: None,
        }
    }
}

impl Token {
    /// Parses the `Token` JSON that IdentityServer serializes (unknown members are ignored,
    /// member names are case-sensitive as in System.Text.Json).
    pub fn from_json(text: &str) -> Result<Token, Error> {
        Error::check_len("token JSON", text.len(), limits::MAX_DATA_LEN)?;
        let token = match Token::from_written_layout(json::Layout::new(text)) {
            Some(token) => token,
            None => {
                expect_object("token JSON", text)?;
                from_json_last_wins(text).map_err(|e| Error::malformed("token JSON", e))?
            }
        };
        Error::check_len("claim count", token.claims.len(), limits::MAX_CLAIMS)?;
        Ok(token)
    }

    /// Reads the token when the text is laid out exactly as [`Token::to_json`] (and so
    /// IdentityServer) writes it, without a general parser; `None` sends anything else to serde.
    fn from_written_layout(r: json::Layout) -> Option<Token> {
        let mut token = Token::default();
        token.fill_from_layout(r)?;
        Some(token)
    }

    /// As [`Token::from_written_layout`], into `self`, reusing its strings and vectors. On
    /// `None` the fields hold whatever was read so far.
    fn fill_from_layout(&mut self, mut r: json::Layout) -> Option<()> {
        let optional = |r: &mut json::Layout, name, field: &mut Option<String>| -> Option<()> {
            if r.eat_key(name) {
                r.string_into(field.get_or_insert_with(String::new))?;
                r.expect(",")?;
            } else {
                *field = None;
            }
            Some(())
        };
        self.null_member = None;
        r.expect("{")?;
        r.key(json::member!("AllowedSigningAlgorithms"))?;
        r.string_array_into(&mut self.allowed_signing_algorithms)?;
        r.expect(",")?;
        optional(
            &mut r,
            json::member!("Confirmation"),
            &mut self.confirmation,
        )?;
        r.key(json::member!("Audiences"))?;
        r.string_array_into(&mut self.audiences)?;
        r.expect(",")?;
        optional(&mut r, json::member!("Issuer"), &mut self.issuer)?;
        r.key(json::member!("CreationTime"))?;
        self.creation_time = instant::parse(r.str_content()?).ok()?;
        r.expect(",")?;
        r.key(json::member!("Lifetime"))?;
        self.lifetime = r.i32()?;
        r.expect(",")?;
        optional(&mut r, json::member!("Type"), &mut self.token_type)?;
        optional(&mut r, json::member!("ClientId"), &mut self.client_id)?;
        r.key(json::member!("AccessTokenType"))?;
        self.access_token_type = r.i32()?;
        r.expect(",")?;
        optional(&mut r, json::member!("Description"), &mut self.description)?;
        r.key(json::member!("IncludeJwtId"))?;
        self.include_jwt_id = r.bool()?;
        r.expect(",")?;
        r.key(json::member!("Claims"))?;
        r.expect("[")?;
        let mut n = 0;
        if !r.eat("]") {
            loop {
                if n == limits::MAX_CLAIMS {
                    return None;
                }
                if n == self.claims.len() {
                    self.claims.push(Claim::new(String::new(), String::new()));
                }
                let c = &mut self.claims[n];
                n += 1;
                r.expect("{")?;
                r.key(json::member!("Type"))?;
                r.string_into(&mut c.claim_type)?;
                r.expect(",")?;
                r.key(json::member!("Value"))?;
                r.string_into(&mut c.value)?;
                if r.eat(",") {
                    r.key(json::member!("ValueType"))?;
                    r.string_into(c.value_type.get_or_insert_with(String::new))?;
                } else {
                    c.value_type = None;
                }
                r.expect("}")?;
                if r.eat("]") {
                    break;
                }
                r.expect(",")?;
            }
        }
        self.claims.truncate(n);
        r.expect(",")?;
        r.key(json::member!("Version"))?;
        self.version = r.i32()?;
        // IdentityServer's computed `Scopes`: read to check the layout, then dropped as serde does.
        r.expect(",")?;
        r.key(json::member!("Scopes"))?;
        r.skip_string_array()?;
        r.expect("}")?;
        r.at_end().then_some(())
    }

    /// Serializes exactly as IdentityServer's `PersistentGrantSerializer` does.
    pub fn to_json(&self) -> String {
        let mut o = String::with_capacity(256 + self.claims.len() * 64);
        let str_array = |o: &mut String, items: &[String]| {
            o.push('[');
            for (i, s) in items.iter().enumerate() {
                if i > 0 {
                    o.push(',');
                }
                json::write_str(o, s);
            }
            o.push(']');
        };
        let opt = |o: &mut String, name: &str, v: &Option<String>| {
            if let Some(v) = v {
                o.push_str(name);
                json::write_str(o, v);
                o.push(',');
            }
        };
        o.push_str("{\"AllowedSigningAlgorithms\":");
        str_array(&mut o, &self.allowed_signing_algorithms);
        o.push(',');
        opt(&mut o, "\"Confirmation\":", &self.confirmation);
        o.push_str("\"Audiences\":");
        str_array(&mut o, &self.audiences);
        o.push(',');
        opt(&mut o, "\"Issuer\":", &self.issuer);
        o.push_str("\"CreationTime\":\"");
        instant::format(self.creation_time, &mut o);
        o.push_str("\",\"Lifetime\":");
        json::write_i64(&mut o, self.lifetime.into());
        o.push(',');
        opt(&mut o, "\"Type\":", &self.token_type);
        opt(&mut o, "\"ClientId\":", &self.client_id);
        o.push_str("\"AccessTokenType\":");
        json::write_i64(&mut o, self.access_token_type.into());
        o.push(',');
        opt(&mut o, "\"Description\":", &self.description);
        o.push_str("\"IncludeJwtId\":");
        o.push_str(if self.include_jwt_id { "true" } else { "false" });
        o.push_str(",\"Claims\":[");
        for (i, c) in self.claims.iter().enumerate() {
            if i > 0 {
                o.push(',');
            }
            o.push_str("{\"Type\":");
            json::write_str(&mut o, &c.claim_type);
            o.push_str(",\"Value\":");
            json::write_str(&mut o, &c.value);
            if let Some(vt) = c
                .value_type
                .as_deref()
                .filter(|vt| *vt != STRING_VALUE_TYPE)
            {
                o.push_str(",\"ValueType\":");
                json::write_str(&mut o, vt);
            }
            o.push('}');
        }
        o.push_str("],\"Version\":");
        json::write_i64(&mut o, self.version.into());
        // IdentityServer also writes the computed `Scopes` (the scope claims); readers ignore it.
        o.push_str(",\"Scopes\":[");
        for (i, s) in self.scopes().enumerate() {
            if i > 0 {
                o.push(',');
            }
            json::write_str(&mut o, s);
        }
        o.push_str("]}");
        o
    }

    /// `CreationTime + Lifetime`: the token is expired at any instant after this one.
    pub fn expiration(&self) -> Instant {
        self.creation_time.add_seconds(self.lifetime.into())
    }

    /// `CreationTime.AddSeconds(Lifetime)` as IdentityServer computes it, or `None` where
    /// .NET throws (past 9999-12-31 or before year 1): IdentityServer can neither store nor
    /// validate such a token.
    pub fn checked_expiration(&self) -> Option<Instant> {
        self.creation_time.checked_add_seconds(self.lifetime.into())
    }

    /// IdentityServer's rule: expired when `now > CreationTime + Lifetime` (no clock skew).
    pub fn is_expired(&self, now: Instant) -> bool {
        now > self.expiration()
    }

    /// The first claim of `claim_type`, if any.
    pub fn claim(&self, claim_type: &str) -> Option<&str> {
        self.claims
            .iter()
            .find(|c| c.claim_type == claim_type)
            .map(|c| c.value.as_str())
    }

    /// The `sub` claim (the row's `SubjectId`).
    pub fn subject_id(&self) -> Option<&str> {
        self.claim("sub")
    }

    /// The `sid` claim (the row's `SessionId`).
    pub fn session_id(&self) -> Option<&str> {
        self.claim("sid")
    }

    /// The `scope` claims in stored order.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.claims
            .iter()
            .filter(|c| c.claim_type == "scope")
            .map(|c| c.value.as_str())
    }
}

/// What a `Data` column holds once its container is opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataPayload {
    /// The grant's JSON in clear.
    Plain(String),
    /// An ASP.NET Core Data Protection string (base64url, starts with `CfDJ8`) that must be
    /// unprotected with purposes `[app discriminator,] "PersistentGrantSerializer"`.
    Protected(String),
}

#[derive(Deserialize)]
struct Container {
    #[serde(rename = "PersistentGrantDataContainerVersion", default)]
    version: i64,
    #[serde(rename = "DataProtected", default)]
    data_protected: bool,
    #[serde(rename = "Payload", default)]
    payload: Option<String>,
}

/// serde would also read a struct from a JSON array; System.Text.Json reads objects only,
/// nested at most [`limits::MAX_JSON_DEPTH`] deep.
fn expect_object(what: &'static str, text: &str) -> Result<(), Error> {
    if !json::depth_within_limit(text) {
        return Err(Error::malformed(what, "nested deeper than 64 levels"));
    }
    match text
        .trim_start_matches([' ', '\t', '\n', '\r'])
        .as_bytes()
        .first()
    {
        Some(b'{') => Ok(()),
        _ => Err(Error::malformed(what, "expected a JSON object")),
    }
}

/// The Data Protection purpose IdentityServer's serializer uses (after the application
/// discriminator).
pub const DATA_PROTECTION_PURPOSE: &str = "PersistentGrantSerializer";

/// Opens the container of a `Data` column.
pub fn open_data(data: &str) -> Result<DataPayload, Error> {
    Error::check_len("Data column", data.len(), limits::MAX_DATA_LEN)?;
    // What IdentityServer writes, read without a general parser; anything else goes to serde.
    for (prefix, protected) in [(CONTAINER_PLAIN, false), (CONTAINER_PROTECTED, true)] {
        let payload = data
            .strip_prefix(prefix)
            .and_then(|r| r.strip_suffix("\"}"));
        if let Some(payload) = payload.and_then(json::unescape_plain) {
            return Ok(if protected {
                DataPayload::Protected(payload)
            } else {
                DataPayload::Plain(payload)
            });
        }
    }
    expect_object("Data column", data)?;
    let c: Container = from_json_last_wins(data).map_err(|e| Error::malformed("Data column", e))?;
    match c.version {
        0 => Ok(DataPayload::Plain(data.to_owned())),
        1 => {
            let payload = c
                .payload
                .ok_or_else(|| Error::malformed("Data column", "container without a Payload"))?;
            Ok(if c.data_protected {
                DataPayload::Protected(payload)
            } else {
                DataPayload::Plain(payload)
            })
        }
        v => Err(Error::UnsupportedVersion(v)),
    }
}

const CONTAINER_PLAIN: &str =
    "{\"PersistentGrantDataContainerVersion\":1,\"DataProtected\":false,\"Payload\":\"";
const CONTAINER_PROTECTED: &str =
    "{\"PersistentGrantDataContainerVersion\":1,\"DataProtected\":true,\"Payload\":\"";

/// Wraps a grant's JSON (or its Data Protection string) in the version-1 container,
/// byte for byte as IdentityServer writes it.
pub fn seal_data(payload: &str, protected: bool) -> String {
    let mut o = String::with_capacity(payload.len() + payload.len() / 4 + 80);
    o.push_str("{\"PersistentGrantDataContainerVersion\":1,\"DataProtected\":");
    o.push_str(if protected { "true" } else { "false" });
    o.push_str(",\"Payload\":");
    json::write_str(&mut o, payload);
    o.push('}');
    o
}

/// Reads the `Token` from an unprotected `Data` column. A protected one gives
/// [`Error::DataProtected`]; use a key ring (see [`crate::dataprotection`]) for those.
pub fn read_token(data: &str) -> Result<Token, Error> {
    if let Some(token) = read_written_row(data) {
        return Ok(token);
    }
    match open_data(data)? {
        DataPayload::Plain(json) => Token::from_json(&json),
        DataPayload::Protected(_) => Err(Error::DataProtected),
    }
}

/// An unprotected `Data` column exactly as IdentityServer writes it, read in one pass straight
/// from the container; `None` for anything else, which [`open_data`] and
/// [`Token::from_json`] then read.
pub(crate) fn read_written_row(data: &str) -> Option<Token> {
    Token::from_written_layout(written_row_layout(data)?)
}

/// As [`read_written_row`], into `token` (see [`Token::fill_from_layout`]).
pub(crate) fn fill_written_row(data: &str, token: &mut Token) -> bool {
    written_row_layout(data).is_some_and(|r| token.fill_from_layout(r).is_some())
}

/// Tries [`Token::fill_from_layout`] on the JSON `text` (a payload once unprotected).
pub(crate) fn fill_written_json(text: &str, token: &mut Token) -> bool {
    text.len() <= limits::MAX_DATA_LEN && token.fill_from_layout(json::Layout::new(text)).is_some()
}

fn written_row_layout(data: &str) -> Option<json::Layout<'_>> {
    let payload = data
        .strip_prefix(CONTAINER_PLAIN)?
        .strip_suffix("\"}")
        .filter(|_| data.len() <= limits::MAX_DATA_LEN)?;
    Some(json::Layout::nested(payload))
}

/// A `PersistedGrants` row, as IdentityServer's stores read and write it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersistedGrant {
    /// `Key`: the store key derived from the handle.
    pub key: StoreKey,
    /// `Type`: the grant type, `reference_token` here.
    pub grant_type: &'static str,
    /// `SubjectId`: the `sub` claim.
    pub subject_id: Option<String>,
    /// `SessionId`: the `sid` claim.
    pub session_id: Option<String>,
    /// `ClientId`.
    pub client_id: Option<String>,
    /// `Description`.
    pub description: Option<String>,
    /// `CreationTime`.
    pub creation_time: Instant,
    /// `Expiration`: `CreationTime + Lifetime`.
    pub expiration: Instant,
    /// `Data`: the serialized grant.
    pub data: String,
}

/// The refusal of a token whose `CreationTime + Lifetime` .NET cannot represent.
pub const EXPIRATION_OUT_OF_RANGE: Error = Error::InvalidArgument(
    "CreationTime + Lifetime is outside .NET's DateTime range (years 1 to 9999), where \
     IdentityServer fails",
);

/// Builds the row IdentityServer's `DefaultReferenceTokenStore` writes for `token` under
/// `handle`, with `data` the already-sealed `Data` column (see [`seal_data`]).
pub fn reference_token_row(
    handle: &str,
    token: &Token,
    data: String,
) -> Result<PersistedGrant, Error> {
    let single = |t: &str| -> Result<Option<String>, Error> {
        let mut it = token.claims.iter().filter(|c| c.claim_type == t);
        let first = it.next().map(|c| c.value.clone());
        if it.next().is_some() {
            // IdentityServer reads these with SingleOrDefault, which throws on a second one.
            return Err(Error::malformed(
                "token",
                format!("more than one `{t}` claim"),
            ));
        }
        Ok(first)
    };
    Ok(PersistedGrant {
        key: key::store_key(handle, key::REFERENCE_TOKEN)?,
        grant_type: key::REFERENCE_TOKEN,
        subject_id: single("sub")?,
        session_id: single("sid")?,
        client_id: token.client_id.clone(),
        description: token.description.clone(),
        creation_time: token.creation_time,
        expiration: token.checked_expiration().ok_or(EXPIRATION_OUT_OF_RANGE)?,
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Token {
        Token {
            audiences: vec!["api1".into()],
            issuer: Some("https://idp".into()),
            creation_time: instant::parse("2024-01-02T03:04:05.25Z").unwrap(),
            lifetime: 3600,
            client_id: Some("client".into()),
            claims: vec![
                Claim::new("client_id", "client"),
                Claim::new("scope", "api1.read"),
                Claim::typed("n", "1", "http://www.w3.org/2001/XMLSchema#integer"),
            ],
            ..Token::default()
        }
    }

    #[test]
    fn token_round_trips() {
        let t = sample();
        let json = t.to_json();
        assert_eq!(Token::from_json(&json).unwrap(), t);
        assert!(
            json.starts_with(
                "{\"AllowedSigningAlgorithms\":[],\"Audiences\":[\"api1\"],\"Issuer\":"
            )
        );
        assert!(json.ends_with("\"IncludeJwtId\":false,\"Claims\":[{\"Type\":\"client_id\",\"Value\":\"client\"},{\"Type\":\"scope\",\"Value\":\"api1.read\"},{\"Type\":\"n\",\"Value\":\"1\",\"ValueType\":\"http://www.w3.org/2001/XMLSchema#integer\"}],\"Version\":5,\"Scopes\":[\"api1.read\"]}"));
    }

    #[test]
    fn container_versions() {
        let t = sample();
        let sealed = seal_data(&t.to_json(), false);
        assert_eq!(read_token(&sealed).unwrap(), t);
        assert_eq!(read_token(&t.to_json()).unwrap(), t); // version 0: no container
        let prot = seal_data("CfDJ8abc", true);
        assert!(matches!(read_token(&prot), Err(Error::DataProtected)));
        assert!(matches!(open_data(&prot).unwrap(), DataPayload::Protected(p) if p == "CfDJ8abc"));
        assert!(matches!(
            read_token(r#"{"PersistentGrantDataContainerVersion":2,"Payload":"{}"}"#),
            Err(Error::UnsupportedVersion(2))
        ));
        assert!(matches!(read_token("{"), Err(Error::Malformed { .. })));
        assert!(matches!(read_token("[]"), Err(Error::Malformed { .. })));
        assert!(matches!(
            read_token(r#"{"PersistentGrantDataContainerVersion":1}"#),
            Err(Error::Malformed { .. })
        ));
    }

    #[test]
    fn expiry_is_strict() {
        let mut t = sample();
        t.creation_time = instant::parse("2024-01-01T00:00:00Z").unwrap();
        let exp = t.expiration();
        assert!(!t.is_expired(exp));
        assert!(t.is_expired(Instant(exp.0 + 1)));
    }

    #[test]
    fn row_fields() {
        let mut t = sample();
        t.claims.push(Claim::new("sub", "alice"));
        t.claims.push(Claim::new("sid", "S1"));
        let row = reference_token_row("AB-1", &t, seal_data(&t.to_json(), false)).unwrap();
        assert_eq!(row.subject_id.as_deref(), Some("alice"));
        assert_eq!(row.session_id.as_deref(), Some("S1"));
        assert_eq!(row.expiration, t.creation_time.add_seconds(3600));
        t.claims.push(Claim::new("sub", "bob"));
        assert!(reference_token_row("AB-1", &t, String::new()).is_err());
    }
}

/// A claim inside a serialized `ClaimsPrincipal` (`Subject` of a refresh token).
#[derive(Debug, Clone, Deserialize)]
struct SubjectClaim {
    #[serde(rename = "Type")]
    claim_type: String,
    #[serde(rename = "Value")]
    value: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct Subject {
    #[serde(rename = "Claims", default, deserialize_with = "null_as_empty")]
    claims: Vec<SubjectClaim>,
}

#[derive(Deserialize)]
struct RefreshTokenJson {
    #[serde(
        rename = "CreationTime",
        default = "dotnet_min",
        deserialize_with = "de_instant"
    )]
    creation_time: Instant,
    #[serde(rename = "Lifetime", default)]
    lifetime: i32,
    #[serde(rename = "ConsumedTime", default, deserialize_with = "de_opt_instant")]
    consumed_time: Option<Instant>,
    #[serde(rename = "ClientId", default)]
    client_id: Option<String>,
    #[serde(rename = "Subject", default)]
    subject: Option<Subject>,
    #[serde(rename = "AuthorizedScopes", default)]
    authorized_scopes: Option<Vec<String>>,
    #[serde(rename = "SessionId", default)]
    session_id: Option<String>,
    #[serde(rename = "Version", default = "default_version")]
    version: i32,
    /// Before version 5 the token lived in one `AccessToken`; IdentityServer migrates it.
    #[serde(rename = "AccessToken", default)]
    access_token: Option<Token>,
}

/// IdentityServer's `RefreshToken` model, as far as introspection needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken {
    /// When the refresh token was created.
    pub creation_time: Instant,
    /// Lifetime in seconds.
    pub lifetime: i32,
    /// When it was used, for one-time-use refresh tokens.
    pub consumed_time: Option<Instant>,
    /// The client it was issued to.
    pub client_id: Option<String>,
    /// The `sub` of its subject.
    pub subject_id: Option<String>,
    /// The session id.
    pub session_id: Option<String>,
    /// The scopes the user authorised.
    pub authorized_scopes: Vec<String>,
    /// The model version.
    pub version: i32,
}

fn de_opt_instant<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Instant>, D::Error> {
    match Option::<std::borrow::Cow<'de, str>>::deserialize(d)? {
        None => Ok(None),
        Some(s) => instant::parse(&s)
            .map(Some)
            .map_err(serde::de::Error::custom),
    }
}

impl RefreshToken {
    /// Parses the `RefreshToken` JSON IdentityServer serializes; versions before 5 (one
    /// `AccessToken` carrying the client, subject and scopes) are read as IdentityServer
    /// migrates them.
    pub fn from_json(text: &str) -> Result<RefreshToken, Error> {
        Error::check_len("refresh token JSON", text.len(), limits::MAX_DATA_LEN)?;
        expect_object("refresh token JSON", text)?;
        let j: RefreshTokenJson =
            from_json_last_wins(text).map_err(|e| Error::malformed("refresh token JSON", e))?;
        let legacy = j.access_token.as_ref();
        let subject_id = j
            .subject
            .as_ref()
            .and_then(|s| {
                s.claims
                    .iter()
                    .find(|c| c.claim_type == "sub")
                    .map(|c| c.value.clone())
            })
            .or_else(|| legacy.and_then(|t| t.subject_id().map(str::to_owned)));
        let authorized_scopes = match j.authorized_scopes {
            Some(s) => s,
            None => legacy
                .map(|t| t.scopes().map(str::to_owned).collect())
                .unwrap_or_default(),
        };
        Ok(RefreshToken {
            creation_time: j.creation_time,
            lifetime: j.lifetime,
            consumed_time: j.consumed_time,
            client_id: j
                .client_id
                .or_else(|| legacy.and_then(|t| t.client_id.clone())),
            subject_id,
            session_id: j.session_id,
            authorized_scopes,
            version: j.version,
        })
    }

    /// IdentityServer's rule: expired when `now > CreationTime + Lifetime`.
    pub fn is_expired(&self, now: Instant) -> bool {
        now > self.creation_time.add_seconds(self.lifetime.into())
    }

    /// As [`Token::checked_expiration`].
    pub fn checked_expiration(&self) -> Option<Instant> {
        self.creation_time.checked_add_seconds(self.lifetime.into())
    }
}

/// Wiping and memory accounting: the rules for the user's data a token holds, used by every
/// caller that keeps a token's buffers for reuse.
impl Claim {
    /// Overwrites the claim's text with zeros and empties it, keeping the buffers.
    pub fn wipe(&mut self) {
        use zeroize::Zeroize;
        self.claim_type.zeroize();
        self.value.zeroize();
        if let Some(vt) = &mut self.value_type {
            vt.zeroize();
        }
    }
}

impl Token {
    /// Wipes every claim's text (see [`Claim::wipe`]), keeping the claims' buffers for reuse.
    pub fn wipe_claims(&mut self) {
        self.claims.iter_mut().for_each(Claim::wipe);
    }

    /// The heap the token holds on to: its strings' and vectors' capacities, in bytes.
    pub fn retained_bytes(&self) -> usize {
        let text = |s: &String| s.capacity();
        let opt = |s: &Option<String>| s.as_ref().map_or(0, text);
        let claims: usize = self
            .claims
            .iter()
            .map(|c| text(&c.claim_type) + text(&c.value) + opt(&c.value_type))
            .sum();
        let lists: usize = [&self.audiences, &self.allowed_signing_algorithms]
            .iter()
            .map(|l| l.iter().map(text).sum::<usize>() + l.capacity() * size_of::<String>())
            .sum();
        claims
            + self.claims.capacity() * size_of::<Claim>()
            + lists
            + [
                &self.confirmation,
                &self.issuer,
                &self.token_type,
                &self.client_id,
                &self.description,
            ]
            .into_iter()
            .map(opt)
            .sum::<usize>()
    }
}
