//! The introspection endpoint: what IdentityServer's `IntrospectionEndpoint` reads from an HTTP
//! request and what it answers.
//!
//! * Caller credentials: an `Authorization: Basic` header as `BasicAuthenticationSecretParser`
//!   reads it (RFC 6749 2.3.1: base64 of the form-url-encoded id, `:`, the form-url-encoded
//!   secret), or `client_id` / `client_secret` in the form body as `PostBodySecretParser` does;
//!   Basic first, the first one with a secret wins ([`select_credentials`]).
//! * The form body as ASP.NET Core reads `application/x-www-form-urlencoded` ([`Form`]) and the
//!   introspection parameters from it ([`introspection_params`]).
//! * The caller authenticated as an API resource, else as a client ([`authenticate`]).
//! * The answer ([`IntrospectionRequest::decide`], or all of it in [`process`]): 405 for a
//!   method other than POST, 415 for another content type, 400 for an unreadable form, 401 for
//!   a caller that does not authenticate, 400 `{"error":"missing_token"}`, else 200 with the
//!   RFC 7662 JSON, or the RFC 9701 JWT (see [`crate::jwt`]) when the `Accept` header asks
//!   for `application/token-introspection+jwt`.
//!
//! Deliberate differences from IdentityServer 7.4.8, each refusing something IdentityServer
//! accepts in a way that cannot be what the client meant:
//! * a repeated `token` or `token_type_hint` parameter is answered with 400
//!   `{"error":"invalid_request",...}` (RFC 6749 5.2); IdentityServer joins the values with
//!   `,` and answers `{"active":false}` (or ignores the joined hint);
//! * Basic credentials that are not UTF-8 are refused ([`parse_basic`] fails, so the header
//!   does not authenticate); .NET decodes them with U+FFFD replacement characters;
//! * a form body whose `charset` parameter names anything but UTF-8 is answered with 415;
//!   ASP.NET Core decodes it with that charset;
//! * bodies over [`MAX_FORM_LEN`] bytes are unreadable forms (400); ASP.NET Core reads up to
//!   the server's request size limit.

use zeroize::Zeroizing;

use crate::instant::Instant;
use crate::introspection::{Caller, Options};
use crate::secret::{self, StoredSecret, is_missing};
use crate::validation::{self, StoredGrant, Unprotect};
use crate::{Error, jwt};

/// IdentityServer's `InputLengthRestrictions.ClientId`: longest client id, in UTF-16 code units.
pub const MAX_CLIENT_ID_LEN: usize = 100;
/// IdentityServer's `InputLengthRestrictions.ClientSecret`: longest secret, in UTF-16 code units.
pub const MAX_CLIENT_SECRET_LEN: usize = 100;
/// Longest `Authorization` header `BasicAuthenticationSecretParser` reads, in UTF-16 code
/// units: `4 * (ClientId + ClientSecret) + 10`.
pub const MAX_AUTHORIZATION_LEN: usize = 4 * (MAX_CLIENT_ID_LEN + MAX_CLIENT_SECRET_LEN) + 10;
/// Largest form body RefToken reads, in bytes (a reference-token request is a few hundred).
pub const MAX_FORM_LEN: usize = 65_536;
/// ASP.NET Core's `FormOptions.KeyLengthLimit`: longest form key, in bytes as sent.
pub const MAX_FORM_KEY_LEN: usize = 2048;
/// ASP.NET Core's `FormOptions.ValueCountLimit`: most `key=value` pairs in a form.
pub const MAX_FORM_VALUES: usize = 1024;

/// `application/json; charset=UTF-8`, the content type of IdentityServer's JSON answers.
pub const JSON_CONTENT_TYPE: &str = "application/json; charset=UTF-8";
/// `application/token-introspection+jwt` (RFC 9701): the `Accept` value that asks for a JWT,
/// and the content type of the answer.
pub const JWT_CONTENT_TYPE: &str = "application/token-introspection+jwt";
/// The `Cache-Control` value of introspection and error answers.
pub const CACHE_CONTROL: &str = "no-store, no-cache, max-age=0";
/// The `Pragma` value sent with [`CACHE_CONTROL`].
pub const PRAGMA: &str = "no-cache";

fn utf16_len(s: &str) -> usize {
    s.chars().map(char::len_utf16).sum()
}

fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The byte of a `%XX` escape at `i`, if there is one.
fn escape_at(input: &[u8], i: usize) -> Option<u8> {
    if i + 2 < input.len() && input[i] == b'%' {
        Some(hex_digit(input[i + 1])? << 4 | hex_digit(input[i + 2])?)
    } else {
        None
    }
}

/// Percent-decoding as .NET does it (`Uri.UnescapeDataString`, and ASP.NET Core's form
/// decoder): a run of `%XX` escapes is decoded where its bytes form valid UTF-8 (ASCII, or a
/// whole well-formed sequence); every other escape is kept as written. With `plus_as_space`,
/// a raw `+` becomes a space first. With `reject_nul`, an escape decoding to NUL is an error,
/// as in ASP.NET Core's form reader. Raw bytes pass through untouched.
fn percent_decode_into(
    input: &[u8],
    plus_as_space: bool,
    reject_nul: bool,
    out: &mut Vec<u8>,
) -> Result<(), ()> {
    let mut run = Zeroizing::new(Vec::new());
    let mut i = 0;
    while i < input.len() {
        if escape_at(input, i).is_none() {
            out.push(match input[i] {
                b'+' if plus_as_space => b' ',
                b => b,
            });
            i += 1;
            continue;
        }
        let start = i;
        run.clear();
        while let Some(b) = escape_at(input, i) {
            run.push(b);
            i += 3;
        }
        let mut k = 0;
        while k < run.len() {
            let b = run[k];
            if b < 0x80 {
                if b == 0 && reject_nul {
                    return Err(());
                }
                out.push(b);
                k += 1;
                continue;
            }
            let n = match b {
                0xC2..=0xDF => 2,
                0xE0..=0xEF => 3,
                0xF0..=0xF4 => 4,
                _ => 0,
            };
            if n > 0 && k + n <= run.len() && std::str::from_utf8(&run[k..k + n]).is_ok() {
                out.extend_from_slice(&run[k..k + n]);
                k += n;
            } else {
                let at = start + 3 * k;
                out.extend_from_slice(&input[at..at + 3]);
                k += 1;
            }
        }
    }
    Ok(())
}

/// `Uri.UnescapeDataString(s.Replace("+", "%20"))`, and the empty string for a null or
/// whitespace `s`: how IdentityServer decodes the two halves of Basic credentials.
fn basic_url_decode(s: &str) -> Zeroizing<String> {
    if is_missing(s) {
        return Zeroizing::new(String::new());
    }
    let mut out = Zeroizing::new(Vec::with_capacity(s.len()));
    percent_decode_into(s.as_bytes(), true, false, &mut out).expect("NUL is allowed here");
    // Escapes are decoded only where they form valid UTF-8, so valid input stays valid.
    Zeroizing::new(String::from_utf8(std::mem::take(&mut *out)).expect("valid UTF-8"))
}

/// Where the caller's credentials came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialSource {
    /// The `Authorization: Basic` header.
    Basic,
    /// `client_id` and `client_secret` in the form body.
    PostBody,
}

/// A caller's id and secret, as IdentityServer's `ParsedSecret`: a secret of type
/// `SharedSecret`, or only an id (`NoSecret`, for clients that need no secret).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The client id or API resource name (1 to 100 UTF-16 code units, not whitespace).
    pub client_id: String,
    /// The secret (1 to 100 UTF-16 code units, not whitespace); `None` for `NoSecret`.
    pub secret: Option<Zeroizing<String>>,
    /// Where they came from.
    pub source: CredentialSource,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("client_id", &self.client_id)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("source", &self.source)
            .finish()
    }
}

/// Checks the id and secret lengths as both of IdentityServer's parsers do and builds the
/// credentials (`Ok(None)`: the id is empty or whitespace, so nothing was presented).
fn credentials(
    id: &str,
    secret: Option<&str>,
    source: CredentialSource,
) -> Result<Option<Credentials>, Error> {
    if is_missing(id) {
        return Ok(None);
    }
    Error::check_len(
        "client id (UTF-16 code units)",
        utf16_len(id),
        MAX_CLIENT_ID_LEN,
    )?;
    let secret = match secret {
        Some(s) if !is_missing(s) => {
            Error::check_len(
                "client secret (UTF-16 code units)",
                utf16_len(s),
                MAX_CLIENT_SECRET_LEN,
            )?;
            Some(Zeroizing::new(s.to_owned()))
        }
        _ => None,
    };
    Ok(Some(Credentials {
        client_id: id.to_owned(),
        secret,
        source,
    }))
}

/// Reads an `Authorization` header value as IdentityServer's `BasicAuthenticationSecretParser`:
/// scheme `Basic ` (any case), at most [`MAX_AUTHORIZATION_LEN`] UTF-16 code units in all,
/// base64 as .NET reads it (whitespace ignored, padding required), UTF-8, split at the first
/// `:`, each half form-url-decoded (`+` is a space, `%XX` escapes; malformed escapes stay as
/// written). An empty or whitespace secret gives credentials without a secret.
///
/// Errors, where IdentityServer finds no credentials in the header: [`Error::Malformed`] for
/// an empty header, another scheme, bad base64, text that is not UTF-8 (IdentityServer would
/// decode it with replacement characters), no `:`, or an empty or whitespace client id;
/// [`Error::TooLarge`] for a header, client id or secret over its limit.
pub fn parse_basic(header: &str) -> Result<Credentials, Error> {
    const WHAT: &str = "Basic credentials";
    if is_missing(header) {
        return Err(Error::malformed("Authorization header", "empty"));
    }
    let scheme = header.as_bytes().get(..6);
    if !scheme.is_some_and(|s| s.eq_ignore_ascii_case(b"Basic ")) {
        return Err(Error::malformed(
            "Authorization header",
            "the scheme is not Basic",
        ));
    }
    Error::check_len(
        "Authorization header (UTF-16 code units)",
        utf16_len(header),
        MAX_AUTHORIZATION_LEN,
    )?;
    let decoded = secret::dotnet_base64_decode(&header[6..])
        .ok_or_else(|| Error::malformed(WHAT, "not base64"))?;
    let pair = std::str::from_utf8(&decoded).map_err(|_| Error::malformed(WHAT, "not UTF-8"))?;
    let (id, secret) = pair
        .split_once(':')
        .ok_or_else(|| Error::malformed(WHAT, "no `:` between client id and secret"))?;
    let id = basic_url_decode(id);
    let secret = basic_url_decode(secret);
    credentials(&id, Some(&secret), CredentialSource::Basic)?
        .ok_or_else(|| Error::malformed(WHAT, "the client id is empty"))
}

/// An `application/x-www-form-urlencoded` body as ASP.NET Core's `FormPipeReader` reads it.
///
/// Pairs are separated by `&` (an empty last pair is dropped); key and value by the first `=`
/// (a pair without one has an empty value); `+` is a space and `%XX` escapes are decoded where
/// they form valid UTF-8 (others stay as written); bytes that are not UTF-8 become U+FFFD.
/// Keys match ignoring ASCII case, as ASP.NET Core's `OrdinalIgnoreCase` form collection does
/// for these ASCII names.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Form {
    pairs: Vec<(String, Zeroizing<String>)>,
}

impl std::fmt::Debug for Form {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Values may hold a client secret.
        f.debug_list()
            .entries(self.pairs.iter().map(|(k, _)| k))
            .finish()
    }
}

fn form_decode(raw: &[u8]) -> Result<String, Error> {
    let mut out = Zeroizing::new(Vec::with_capacity(raw.len()));
    percent_decode_into(raw, true, true, &mut out)
        .map_err(|()| Error::malformed("form body", "an escape decodes to NUL (%00)"))?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

impl Form {
    /// Reads a form body.
    ///
    /// Errors (where ASP.NET Core throws `InvalidDataException` and IdentityServer answers
    /// 400): [`Error::TooLarge`] for a body over [`MAX_FORM_LEN`] bytes, a key over
    /// [`MAX_FORM_KEY_LEN`] bytes or more than [`MAX_FORM_VALUES`] pairs;
    /// [`Error::Malformed`] for an escape that decodes to NUL (`%00`).
    pub fn parse(body: &[u8]) -> Result<Form, Error> {
        Error::check_len("form body", body.len(), MAX_FORM_LEN)?;
        let mut segments: Vec<&[u8]> = body.split(|&b| b == b'&').collect();
        if segments.last().is_some_and(|s| s.is_empty()) {
            segments.pop();
        }
        Error::check_len("form value count", segments.len(), MAX_FORM_VALUES)?;
        let mut pairs = Vec::with_capacity(segments.len());
        for seg in segments {
            let (k, v) = match seg.iter().position(|&b| b == b'=') {
                Some(eq) => (&seg[..eq], &seg[eq + 1..]),
                None => (seg, &[][..]),
            };
            Error::check_len("form key", k.len(), MAX_FORM_KEY_LEN)?;
            pairs.push((form_decode(k)?, Zeroizing::new(form_decode(v)?)));
        }
        Ok(Form { pairs })
    }

    /// Every value of `name` in order (keys compared ignoring ASCII case), empty ones included.
    pub fn values<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a str> {
        self.pairs
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The first value of `name`, as `form[name].FirstOrDefault()`.
    pub fn first(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every pair in order.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// `client_id` and `client_secret` from a form body, as IdentityServer's
/// `PostBodySecretParser`: the first value of each; `Ok(None)` when there is no client id
/// (or it is empty or whitespace); credentials without a secret when the secret is absent,
/// empty or whitespace. [`Error::TooLarge`] when the id or secret is over its limit (then
/// IdentityServer finds no credentials in the body).
pub fn post_body_credentials(form: &Form) -> Result<Option<Credentials>, Error> {
    match form.first("client_id") {
        None => Ok(None),
        Some(id) => credentials(id, form.first("client_secret"), CredentialSource::PostBody),
    }
}

/// IdentityServer's `SecretParser` over its two parsers: the Basic header's credentials if
/// they carry a secret, else the form body's if there are any, else the Basic header's id
/// without a secret. `None` when neither names a caller.
pub fn select_credentials(
    basic: Option<Credentials>,
    post_body: Option<Credentials>,
) -> Option<Credentials> {
    match basic {
        Some(b) if b.secret.is_some() => Some(b),
        b => post_body.or(b),
    }
}

pub use crate::validation::TokenTypeHint;

/// The parameters of an introspection request.
#[derive(Clone, PartialEq, Eq)]
pub struct IntrospectionParams {
    /// The presented token, as sent (not trimmed).
    pub token: Zeroizing<String>,
    /// The hint, when it is one IdentityServer knows (exactly `access_token` or
    /// `refresh_token`); other hints are ignored, as RFC 7662 says. For client callers it
    /// only decides whether access or refresh tokens are tried first.
    pub token_type_hint: Option<TokenTypeHint>,
}

impl std::fmt::Debug for IntrospectionParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntrospectionParams")
            .field("token", &format_args!("<{} bytes>", self.token.len()))
            .field("token_type_hint", &self.token_type_hint)
            .finish()
    }
}

/// Why the parameters do not make an introspection request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamError {
    /// No `token`, or only empty or whitespace ones: 400 `{"error":"missing_token"}`.
    MissingToken,
    /// The parameter appears more than once with a value: 400 `invalid_request` (RefToken;
    /// IdentityServer joins the values with `,`).
    Repeated(&'static str),
}

impl std::fmt::Display for ParamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParamError::MissingToken => f.write_str("the token parameter is missing"),
            ParamError::Repeated(p) => write!(f, "the {p} parameter is repeated"),
        }
    }
}

impl std::error::Error for ParamError {}

/// The only value of `name` that is not empty or whitespace (IdentityServer's
/// `AsNameValueCollection` drops those); more than one is an error.
fn single<'a>(form: &'a Form, name: &'static str) -> Result<Option<&'a str>, ParamError> {
    let mut values = form.values(name).filter(|v| !is_missing(v));
    let first = values.next();
    if values.next().is_some() {
        return Err(ParamError::Repeated(name));
    }
    Ok(first)
}

/// The introspection parameters from a form body: `token` (required) and `token_type_hint`.
/// Values that are empty or whitespace count as absent, as in IdentityServer.
pub fn introspection_params(form: &Form) -> Result<IntrospectionParams, ParamError> {
    let token = single(form, "token")?.ok_or(ParamError::MissingToken)?;
    let hint = single(form, "token_type_hint")?;
    Ok(IntrospectionParams {
        token: Zeroizing::new(token.to_owned()),
        token_type_hint: match hint {
            Some("access_token") => Some(TokenTypeHint::AccessToken),
            Some("refresh_token") => Some(TokenTypeHint::RefreshToken),
            _ => None,
        },
    })
}

/// HTTP optional whitespace as ASP.NET Core's header parser skips it: spaces, tabs, and
/// obsolete line folding (CRLF followed by a space or tab).
fn skip_ws(s: &[u8], mut i: usize) -> usize {
    loop {
        match s.get(i) {
            Some(b' ' | b'\t') => i += 1,
            Some(b'\r')
                if s.get(i + 1) == Some(&b'\n') && matches!(s.get(i + 2), Some(b' ' | b'\t')) =>
            {
                i += 3
            }
            _ => return i,
        }
    }
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn token_end(s: &[u8], mut i: usize) -> usize {
    while i < s.len() && is_tchar(s[i]) {
        i += 1;
    }
    i
}

/// What a `Content-Type` header says about a form body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormContentType {
    /// `application/x-www-form-urlencoded` in UTF-8 (no `charset`, or `utf-8`).
    Utf8Form,
    /// `application/x-www-form-urlencoded` with another `charset` (RefToken answers 415).
    OtherCharset,
    /// Not a form, or not a valid media type.
    NotForm,
}

/// Checks a `Content-Type` as IdentityServer's `HasApplicationFormContentType`
/// (`MediaTypeHeaderValue.TryParse`, then the media type compared ignoring case), and its
/// `charset` parameter.
pub fn form_content_type(content_type: &str) -> FormContentType {
    let s = content_type.as_bytes();
    let mut i = skip_ws(s, 0);
    let type_end = token_end(s, i);
    if type_end == i {
        return FormContentType::NotForm;
    }
    let media_type = &s[i..type_end];
    i = skip_ws(s, type_end);
    if s.get(i) != Some(&b'/') {
        return FormContentType::NotForm;
    }
    i = skip_ws(s, i + 1);
    let sub_end = token_end(s, i);
    if sub_end == i {
        return FormContentType::NotForm;
    }
    let subtype = &s[i..sub_end];
    i = skip_ws(s, sub_end);
    let mut charset: Option<&[u8]> = None;
    while i < s.len() {
        if s[i] != b';' {
            return FormContentType::NotForm;
        }
        i = skip_ws(s, i + 1);
        if i == s.len() {
            break;
        }
        let name_end = token_end(s, i);
        if name_end == i {
            return FormContentType::NotForm;
        }
        let name = &s[i..name_end];
        i = skip_ws(s, name_end);
        let mut value: &[u8] = b"";
        if s.get(i) == Some(&b'=') {
            i = skip_ws(s, i + 1);
            if s.get(i) == Some(&b'"') {
                let start = i;
                i += 1;
                loop {
                    match s.get(i) {
                        None => return FormContentType::NotForm,
                        Some(b'\\') => i += 2,
                        Some(b'"') => {
                            i += 1;
                            break;
                        }
                        Some(_) => i += 1,
                    }
                }
                value = &s[start..i.min(s.len())];
            } else {
                let end = token_end(s, i);
                value = &s[i..end];
                i = end;
            }
            i = skip_ws(s, i);
        }
        if charset.is_none() && name.eq_ignore_ascii_case(b"charset") {
            charset = Some(value);
        }
    }
    if !media_type.eq_ignore_ascii_case(b"application")
        || !subtype.eq_ignore_ascii_case(b"x-www-form-urlencoded")
    {
        return FormContentType::NotForm;
    }
    let charset = charset.map(|c| {
        c.strip_prefix(b"\"")
            .and_then(|c| c.strip_suffix(b"\""))
            .unwrap_or(c)
    });
    match charset {
        None => FormContentType::Utf8Form,
        Some(c)
            if c.is_empty()
                || c.eq_ignore_ascii_case(b"utf-8")
                || c.eq_ignore_ascii_case(b"utf8") =>
        {
            FormContentType::Utf8Form
        }
        Some(_) => FormContentType::OtherCharset,
    }
}

/// What an endpoint received: the parts of the HTTP request the introspection endpoint reads.
#[derive(Debug, Clone, Copy)]
pub struct HttpRequest<'a> {
    /// The method, such as `POST`.
    pub method: &'a str,
    /// The `Content-Type` header, if sent.
    pub content_type: Option<&'a str>,
    /// The first `Authorization` header, if sent.
    pub authorization: Option<&'a str>,
    /// The `Accept` header; several `Accept` headers joined with `,` as ASP.NET Core does.
    pub accept: Option<&'a str>,
    /// The body.
    pub body: &'a [u8],
}

/// An answer given before the caller is authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// Not a POST: 405, no body.
    MethodNotAllowed,
    /// Not a UTF-8 form body: 415, no body.
    UnsupportedMediaType,
    /// The form body cannot be read: 400, no body.
    UnreadableForm,
}

/// What the endpoint answers: status, headers and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// The `Content-Type`, when there is a body.
    pub content_type: Option<&'static str>,
    /// Whether to send `Cache-Control: no-store, no-cache, max-age=0` and `Pragma: no-cache`.
    pub no_store: bool,
    /// The body (empty for 401, 405, 415 and the bare 400).
    pub body: String,
}

impl HttpResponse {
    fn empty(status: u16) -> Self {
        HttpResponse {
            status,
            content_type: None,
            no_store: false,
            body: String::new(),
        }
    }

    fn json(status: u16, body: String) -> Self {
        HttpResponse {
            status,
            content_type: Some(JSON_CONTENT_TYPE),
            no_store: true,
            body,
        }
    }

    /// The headers to send besides `Content-Length`: `Content-Type`, `Cache-Control`, `Pragma`.
    pub fn headers(&self) -> impl Iterator<Item = (&'static str, &'static str)> {
        let ct = self.content_type.map(|c| ("Content-Type", c));
        let cache = self
            .no_store
            .then_some([("Cache-Control", CACHE_CONTROL), ("Pragma", PRAGMA)]);
        ct.into_iter().chain(cache.into_iter().flatten())
    }
}

/// The body of the 400 answer for a parameter error: `{"error":"missing_token"}` as
/// IdentityServer writes it, or RefToken's `invalid_request` for a repeated parameter.
pub fn param_error_body(e: ParamError) -> &'static str {
    match e {
        ParamError::MissingToken => "{\"error\":\"missing_token\"}",
        ParamError::Repeated("token_type_hint") => {
            "{\"error\":\"invalid_request\",\"error_description\":\"the token_type_hint parameter is repeated\"}"
        }
        ParamError::Repeated(_) => {
            "{\"error\":\"invalid_request\",\"error_description\":\"the token parameter is repeated\"}"
        }
    }
}

/// What to do with an authenticated (or not) request.
#[derive(Debug)]
pub enum Decision<'r> {
    /// Send this answer as it is.
    Respond(HttpResponse),
    /// Answer 200 with the introspection response for these parameters: the JSON as is
    /// ([`JSON_CONTENT_TYPE`], no-store), or, when `jwt_requested`, signed as RFC 9701 says
    /// ([`crate::jwt::introspection_jwt`], [`JWT_CONTENT_TYPE`], no-store).
    Introspect {
        /// The token and hint.
        params: &'r IntrospectionParams,
        /// The `Accept` header asked for `application/token-introspection+jwt`.
        jwt_requested: bool,
    },
}

/// An introspection request read from HTTP, before the caller is authenticated.
#[derive(Debug)]
pub struct IntrospectionRequest {
    rejection: Option<Rejection>,
    credentials: Option<Credentials>,
    basic_error: Option<Error>,
    post_body_error: Option<Error>,
    form_error: Option<Error>,
    params: Option<Result<IntrospectionParams, ParamError>>,
    jwt_requested: bool,
}

impl IntrospectionRequest {
    /// Reads the request as IdentityServer's endpoint does, up to the point where the caller
    /// must be authenticated. Never fails: what IdentityServer answers without authenticating
    /// (405, 415, 400 for an unreadable form) is kept in [`Self::rejection`].
    pub fn parse(request: &HttpRequest<'_>) -> IntrospectionRequest {
        let mut r = IntrospectionRequest {
            rejection: None,
            credentials: None,
            basic_error: None,
            post_body_error: None,
            form_error: None,
            params: None,
            jwt_requested: request
                .accept
                .is_some_and(|a| a.eq_ignore_ascii_case(JWT_CONTENT_TYPE)),
        };
        if !request.method.eq_ignore_ascii_case("POST") {
            r.rejection = Some(Rejection::MethodNotAllowed);
            return r;
        }
        if request
            .content_type
            .map_or(FormContentType::NotForm, form_content_type)
            != FormContentType::Utf8Form
        {
            r.rejection = Some(Rejection::UnsupportedMediaType);
            return r;
        }
        let basic = match request.authorization.map(parse_basic) {
            Some(Ok(c)) => Some(c),
            Some(Err(e)) => {
                r.basic_error = Some(e);
                None
            }
            None => None,
        };
        let form = Form::parse(request.body);
        if basic.as_ref().is_some_and(|b| b.secret.is_some()) {
            // IdentityServer reads the form only after authenticating the Basic caller: an
            // unreadable form is then a 400 only for an authenticated caller.
            r.credentials = basic;
            match form {
                Ok(f) => r.params = Some(introspection_params(&f)),
                Err(e) => r.form_error = Some(e),
            }
            return r;
        }
        let form = match form {
            Ok(f) => f,
            Err(e) => {
                // The post-body parser reads the form while authenticating: 400 at once.
                r.form_error = Some(e);
                r.rejection = Some(Rejection::UnreadableForm);
                return r;
            }
        };
        let post = match post_body_credentials(&form) {
            Ok(c) => c,
            Err(e) => {
                r.post_body_error = Some(e);
                None
            }
        };
        r.credentials = select_credentials(basic, post);
        r.params = Some(introspection_params(&form));
        r
    }

    /// The answer given before authentication, if any.
    pub fn rejection(&self) -> Option<Rejection> {
        self.rejection
    }

    /// The caller's credentials, to authenticate with [`authenticate`] (or the host's own
    /// configuration and [`crate::secret::verify_secret`]). `None`: no credentials, 401.
    pub fn credentials(&self) -> Option<&Credentials> {
        self.credentials.as_ref()
    }

    /// Why the `Authorization` header gave no credentials, when it was sent and did not.
    pub fn basic_error(&self) -> Option<&Error> {
        self.basic_error.as_ref()
    }

    /// Why the form body gave no credentials, when it named an over-long id or secret.
    pub fn post_body_error(&self) -> Option<&Error> {
        self.post_body_error.as_ref()
    }

    /// Why the form body could not be read, if it could not.
    pub fn form_error(&self) -> Option<&Error> {
        self.form_error.as_ref()
    }

    /// The introspection parameters, when the form was read.
    pub fn params(&self) -> Option<&Result<IntrospectionParams, ParamError>> {
        self.params.as_ref()
    }

    /// Whether the `Accept` header is exactly (ignoring case) `application/token-introspection+jwt`.
    pub fn jwt_requested(&self) -> bool {
        self.jwt_requested
    }

    /// What to answer once the caller's authentication is known (`authenticated` is
    /// ignored when the request was rejected before authentication).
    pub fn decide(&self, authenticated: bool) -> Decision<'_> {
        match self.rejection {
            Some(Rejection::MethodNotAllowed) => {
                return Decision::Respond(HttpResponse::empty(405));
            }
            Some(Rejection::UnsupportedMediaType) => {
                return Decision::Respond(HttpResponse::empty(415));
            }
            Some(Rejection::UnreadableForm) => return Decision::Respond(HttpResponse::empty(400)),
            None => {}
        }
        if !authenticated {
            return Decision::Respond(HttpResponse::empty(401));
        }
        match &self.params {
            None => Decision::Respond(HttpResponse::empty(400)),
            Some(Err(e)) => {
                Decision::Respond(HttpResponse::json(400, param_error_body(*e).to_owned()))
            }
            Some(Ok(params)) => Decision::Introspect {
                params,
                jwt_requested: self.jwt_requested,
            },
        }
    }
}

/// An API resource as IdentityServer's resource store holds it, for [`authenticate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiResource {
    /// `ApiResource.Name`.
    pub name: String,
    /// `ApiResource.Enabled`.
    pub enabled: bool,
    /// `ApiResource.Scopes`: the token must carry one of them to be active for this API.
    pub scopes: Vec<String>,
    /// `ApiResource.ApiSecrets` of type `SharedSecret`, in order.
    pub secrets: Vec<StoredSecret>,
}

/// A client as IdentityServer's client store holds it, for [`authenticate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    /// `Client.ClientId`.
    pub client_id: String,
    /// `Client.Enabled`.
    pub enabled: bool,
    /// `Client.RequireClientSecret`; set it to false as well for implicit-only clients, which
    /// IdentityServer never asks for a secret.
    pub require_client_secret: bool,
    /// `Client.ClientSecrets` of type `SharedSecret`, in order.
    pub secrets: Vec<StoredSecret>,
}

/// A caller that authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthenticatedCaller {
    /// An API resource.
    Api(ApiResource),
    /// A client.
    Client(Client),
}

impl AuthenticatedCaller {
    /// The API resource's name or the client id: the JWT response's `aud`.
    pub fn name(&self) -> &str {
        match self {
            AuthenticatedCaller::Api(a) => &a.name,
            AuthenticatedCaller::Client(c) => &c.client_id,
        }
    }

    /// Calls `f` with this caller as [`crate::introspection`] sees it.
    pub fn with_caller<R>(&self, f: impl FnOnce(&Caller<'_>) -> R) -> R {
        match self {
            AuthenticatedCaller::Api(a) => {
                let scopes: Vec<&str> = a.scopes.iter().map(String::as_str).collect();
                f(&Caller::Api {
                    name: &a.name,
                    scopes: &scopes,
                })
            }
            AuthenticatedCaller::Client(c) => f(&Caller::Client { id: &c.client_id }),
        }
    }
}

/// Why a caller did not authenticate (all of them are a 401).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// No credentials were presented.
    NoCredentials,
    /// No API resource and no client has that name.
    UnknownCaller,
    /// The API resource or client is disabled.
    Disabled,
    /// A secret is required and none was presented.
    MissingSecret,
    /// The secret matches no unexpired stored secret.
    WrongSecret,
    /// A stored secret is neither base64 of a SHA-256 nor of a SHA-512 hash.
    MalformedStoredSecret,
}

fn check_secret(
    credentials: &Credentials,
    stored: &[StoredSecret],
    now: Instant,
) -> Result<(), AuthFailure> {
    let presented = credentials
        .secret
        .as_deref()
        .ok_or(AuthFailure::MissingSecret)?;
    match secret::verify_secret(presented, stored, now) {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(AuthFailure::WrongSecret),
        Err(_) => Err(AuthFailure::MalformedStoredSecret),
    }
}

/// Authenticates the caller as IdentityServer's introspection endpoint does: first as an API
/// resource (`ApiSecretValidator`: found by name, enabled, secret valid), else as a client
/// (`ClientSecretValidator`: found, enabled, and a valid secret unless it does not require
/// one, in which case any or no secret is accepted). `find_api` and `find_client` are asked
/// with the presented id.
pub fn authenticate(
    credentials: Option<&Credentials>,
    find_api: impl FnOnce(&str) -> Option<ApiResource>,
    find_client: impl FnOnce(&str) -> Option<Client>,
    now: Instant,
) -> Result<AuthenticatedCaller, AuthFailure> {
    let creds = credentials.ok_or(AuthFailure::NoCredentials)?;
    let api_failure = match find_api(&creds.client_id) {
        None => AuthFailure::UnknownCaller,
        Some(api) if !api.enabled => AuthFailure::Disabled,
        Some(api) => match check_secret(creds, &api.secrets, now) {
            Ok(()) => return Ok(AuthenticatedCaller::Api(api)),
            Err(f) => f,
        },
    };
    let client_failure = match find_client(&creds.client_id) {
        None => AuthFailure::UnknownCaller,
        Some(c) if !c.enabled => AuthFailure::Disabled,
        Some(c) if !c.require_client_secret => return Ok(AuthenticatedCaller::Client(c)),
        Some(c) => match check_secret(creds, &c.secrets, now) {
            Ok(()) => return Ok(AuthenticatedCaller::Client(c)),
            Err(f) => f,
        },
    };
    Err(if client_failure == AuthFailure::UnknownCaller {
        api_failure
    } else {
        client_failure
    })
}

/// The RFC 9701 settings: who signs JWT responses.
#[derive(Debug, Clone, Copy)]
pub struct JwtSettings<'a> {
    /// The signing key (its `kid` goes into the header).
    pub key: &'a jwt::SigningKey,
    /// The issuer (`iss`), IdentityServer's `IssuerUri`.
    pub issuer: &'a str,
}

/// Handles an introspection request from start to end, as IdentityServer's endpoint does:
/// reads it, authenticates the caller with `find_api` / `find_client`, and answers. The
/// introspection response itself comes from `introspect` (for reference tokens in a store,
/// [`reference_token_introspector`]); it is signed when the request asks for a JWT and `jwt`
/// is given (without `jwt`, the JSON is sent, as IdentityServer before 7.3 does).
///
/// Errors are those of `introspect` and of signing; the HTTP-level outcomes (400, 401, 405,
/// 415) are answers, not errors.
pub fn process<A, C, I>(
    request: &HttpRequest<'_>,
    now: Instant,
    find_api: A,
    find_client: C,
    introspect: I,
    jwt: Option<&JwtSettings<'_>>,
) -> Result<HttpResponse, Error>
where
    A: FnOnce(&str) -> Option<ApiResource>,
    C: FnOnce(&str) -> Option<Client>,
    I: FnOnce(&IntrospectionParams, &AuthenticatedCaller) -> Result<String, Error>,
{
    let req = IntrospectionRequest::parse(request);
    let caller = match req.rejection() {
        Some(_) => None,
        None => authenticate(req.credentials(), find_api, find_client, now).ok(),
    };
    match req.decide(caller.is_some()) {
        Decision::Respond(r) => Ok(r),
        Decision::Introspect {
            params,
            jwt_requested,
        } => {
            let caller = caller.expect("decide() introspects only for an authenticated caller");
            let body = introspect(params, &caller)?;
            match jwt.filter(|_| jwt_requested) {
                Some(settings) => Ok(HttpResponse {
                    status: 200,
                    content_type: Some(JWT_CONTENT_TYPE),
                    no_store: true,
                    body: jwt::introspection_jwt(
                        settings.key,
                        settings.issuer,
                        caller.name(),
                        now,
                        &body,
                    )?,
                }),
                None => Ok(HttpResponse::json(200, body)),
            }
        }
    }
}

/// An `introspect` function for [`process`] that answers for reference tokens in a store:
/// [`crate::validation::introspect_handle`] with `lookup` (given the store key), `unprotect`
/// and `opts`, at `now`; client callers may also introspect their refresh tokens, in the
/// order the hint says.
pub fn reference_token_introspector<'a, F>(
    lookup: F,
    unprotect: Option<&'a dyn Unprotect>,
    opts: &'a Options<'a>,
    now: Instant,
) -> impl FnOnce(&IntrospectionParams, &AuthenticatedCaller) -> Result<String, Error> + 'a
where
    F: Fn(&str) -> Result<Option<StoredGrant>, Error> + 'a,
{
    move |params, caller| {
        caller.with_caller(|c| {
            validation::introspect_handle(
                &params.token,
                params.token_type_hint,
                lookup,
                unprotect,
                c,
                now,
                opts,
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unescape(s: &str) -> String {
        let mut out = Vec::new();
        percent_decode_into(s.as_bytes(), false, false, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn unescape_like_dotnet() {
        // Expected values from .NET 10's Uri.UnescapeDataString.
        assert_eq!(
            unescape(
                "%41%C3%A9%FF%e9%C3%41%E0%80%80%ED%A0%80%F0%9F%98%80%F4%90%80%80%C0%AF%%4%G1%2"
            ),
            "Aé%FF%e9%C3A%E0%80%80%ED%A0%80😀%F4%90%80%80%C0%AF%%4%G1%2"
        );
        assert_eq!(unescape("%E2%82%E2%82%AC"), "%E2%82€");
        assert_eq!(unescape("%00%0A%2B%25%3A"), "\0\n+%:");
        assert_eq!(unescape("%F0%9F%98"), "%F0%9F%98");
        assert_eq!(unescape("%C2%"), "%C2%");
    }

    #[test]
    fn content_types() {
        use FormContentType::*;
        for (ct, want) in [
            ("application/x-www-form-urlencoded", Utf8Form),
            (
                "Application/X-WWW-Form-URLencoded ; charset=\"UTF-8\"",
                Utf8Form,
            ),
            ("application /x-www-form-urlencoded", Utf8Form),
            ("application/x-www-form-urlencoded;", Utf8Form),
            ("application/x-www-form-urlencoded;;", NotForm),
            ("application/x-www-form-urlencoded; charset", Utf8Form),
            ("application/x-www-form-urlencoded; a=b c", NotForm),
            ("application/x-www-form-urlencoded, text/plain", NotForm),
            (
                "application/x-www-form-urlencoded; a=\"b;c\"; d=e",
                Utf8Form,
            ),
            ("application/x-www-form-urlencoded; a=\"open", NotForm),
            (
                "application/x-www-form-urlencoded; charset=iso-8859-1",
                OtherCharset,
            ),
            ("application/json", NotForm),
            ("", NotForm),
        ] {
            assert_eq!(form_content_type(ct), want, "{ct}");
        }
    }
}
