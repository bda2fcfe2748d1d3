//! The RFC 7662 introspection response IdentityServer builds for a reference token.
//!
//! Mirrors Duende IdentityServer's `TokenValidator.ReferenceTokenToClaims`, the claim typing
//! of `ClaimsExtensions.ToClaimsDictionary` and `IntrospectionResponseGenerator`, byte for
//! byte (System.Text.Json's default escaping included). Where IdentityServer versions differ,
//! [`IdentityServerVersion`] selects the behaviour.

use std::collections::{HashMap, HashSet};

use arrayvec::ArrayString;

use crate::grant::{RefreshToken, STRING_VALUE_TYPE, Token};
use crate::instant::Instant;
use crate::{Error, json};

/// `ClaimValueTypes.Integer`.
pub const VT_INTEGER: &str = "http://www.w3.org/2001/XMLSchema#integer";
/// `ClaimValueTypes.Integer32`.
pub const VT_INTEGER32: &str = "http://www.w3.org/2001/XMLSchema#integer32";
/// `ClaimValueTypes.Integer64`.
pub const VT_INTEGER64: &str = "http://www.w3.org/2001/XMLSchema#integer64";
/// `ClaimValueTypes.Double`.
pub const VT_DOUBLE: &str = "http://www.w3.org/2001/XMLSchema#double";
/// `ClaimValueTypes.Boolean`.
pub const VT_BOOLEAN: &str = "http://www.w3.org/2001/XMLSchema#boolean";
/// IdentityServer's JSON value type.
pub const VT_JSON: &str = "json";

/// The IdentityServer release whose introspection behaviour to reproduce. Later releases
/// compare greater.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum IdentityServerVersion {
    /// IdentityServer4 4.x: no `iat`, no `cnf`, no double typing, stored time claims kept.
    IdentityServer4,
    /// Duende 5.0 to 6.1.0: adds `iat`.
    Duende5_0,
    /// Duende 6.1.1 to 6.2: `double` claims become numbers.
    Duende6_1,
    /// Duende 6.3 to 7.0: adds `cnf` from the token's confirmation.
    Duende6_3,
    /// Duende 7.1 and 7.2: stored claims named `iss`, `nbf`, `iat` or `exp` are dropped
    /// instead of being merged with the generated ones.
    Duende7_1,
    /// Duende 7.3 and later (7.4.x): the `json` value type matches case-insensitively.
    #[default]
    Duende7_3,
}

/// Who is asking.
#[derive(Debug, Clone, Copy)]
pub enum Caller<'a> {
    /// An API resource authenticated with its secret, with the scopes it owns.
    Api {
        /// The API resource's name.
        name: &'a str,
        /// The API's scopes; the token is active for it only if it carries one of them, and
        /// `scope` lists only these.
        scopes: &'a [&'a str],
    },
    /// A client authenticated with its secret: the token is active only if it was issued to
    /// this client.
    Client {
        /// The client id.
        id: &'a str,
    },
}

impl Caller<'_> {
    /// The caller's name: the API resource name or the client id.
    pub fn name(&self) -> &str {
        match self {
            Caller::Api { name, .. } => name,
            Caller::Client { id } => id,
        }
    }
}

/// Why a token is not active.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inactive {
    /// `now > CreationTime + Lifetime`.
    Expired,
    /// The token's client is unknown or disabled (as the caller's check reported).
    ClientDisabled,
    /// An API caller: none of the token's scopes belongs to the API.
    NoMatchingScope,
    /// A client caller: the token was issued to another client (or does not name exactly one).
    OtherClient,
}

/// How to introspect.
#[derive(Clone, Copy, Default)]
pub struct Options<'a> {
    /// The behaviour to reproduce.
    pub version: IdentityServerVersion,
    /// IdentityServer requires the token's client to exist and be enabled. When set, this is
    /// asked with the client id; when `None`, every client counts as enabled.
    pub client_enabled: Option<&'a dyn Fn(&str) -> bool>,
    /// Whether a client may still use refresh tokens (`Client.AllowOfflineAccess`), asked
    /// when a client introspects a refresh token; `None`: every client may.
    pub offline_access: Option<&'a dyn Fn(&str) -> bool>,
}

impl std::fmt::Debug for Options<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("version", &self.version)
            .field("client_enabled", &self.client_enabled.is_some())
            .field("offline_access", &self.offline_access.is_some())
            .finish()
    }
}

/// The outcome without JSON, for callers that need a yes or no.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict<'t> {
    /// `Ok(())` when active, else why not.
    pub status: Result<(), Inactive>,
    /// The `sub` claim.
    pub subject: Option<&'t str>,
    /// The token's client.
    pub client_id: Option<&'t str>,
    /// The `exp` value: Unix seconds of `CreationTime + Lifetime`, rounded down.
    pub expiration: i64,
}

impl Verdict<'_> {
    /// Whether the token is active for this caller.
    pub fn active(&self) -> bool {
        self.status.is_ok()
    }
}

/// Decides whether `token` is active for `caller` at `now`.
///
/// Fails (with [`Error::Malformed`]) where IdentityServer's validator throws, so that its
/// endpoint answers 500: `CreationTime + Lifetime` outside .NET's `DateTime` range (checked
/// first), and, once the token is unexpired and its client enabled, a token without `Issuer`
/// or with a [`Token::null_member`].
pub fn evaluate<'t>(
    token: &'t Token,
    caller: &Caller<'_>,
    now: Instant,
    opts: &Options<'_>,
) -> Result<Verdict<'t>, Error> {
    let Some(expiration) = token.checked_expiration() else {
        return Err(Error::malformed(
            "token",
            "CreationTime + Lifetime is outside .NET's DateTime range (IdentityServer fails on it)",
        ));
    };
    let client_claim = token.claim("client_id");
    let status = (|| {
        if now > expiration {
            return Ok(Err(Inactive::Expired));
        }
        let enabled = |id: Option<&str>| match (id, opts.client_enabled) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(id), Some(f)) => f(id),
        };
        if !enabled(token.client_id.as_deref()) {
            return Ok(Err(Inactive::ClientDisabled));
        }
        // IdentityServer now builds the token's claims: an `iss` claim from a null issuer,
        // and a pass over null lists or items, throw.
        if token.issuer.is_none() {
            return Err(Error::malformed(
                "token",
                "no Issuer (IdentityServer fails building its `iss` claim)",
            ));
        }
        if let Some(member) = token.null_member {
            return Err(Error::malformed(
                "token",
                format!("{member} is null (IdentityServer fails reading it)"),
            ));
        }
        if client_claim.is_some() && !enabled(client_claim) {
            return Ok(Err(Inactive::ClientDisabled));
        }
        match caller {
            Caller::Api { scopes, .. } => {
                if !token.scopes().any(|s| scopes.contains(&s)) {
                    return Ok(Err(Inactive::NoMatchingScope));
                }
            }
            Caller::Client { id } => {
                // IdentityServer requires exactly one `client_id` claim naming the caller.
                let mut ids = token.claims.iter().filter(|c| c.claim_type == "client_id");
                if ids.next().map(|c| c.value.as_str()) != Some(*id) || ids.next().is_some() {
                    return Ok(Err(Inactive::OtherClient));
                }
            }
        }
        Ok(Ok(()))
    })()?;
    Ok(Verdict {
        status,
        subject: token.subject_id(),
        client_id: token.client_id.as_deref(),
        expiration: expiration.unix_seconds(),
    })
}

/// The inactive response.
pub const INACTIVE: &str = "{\"active\":false}";

/// The response body IdentityServer returns for `token` asked by `caller` at `now`.
pub fn respond(
    token: &Token,
    caller: &Caller<'_>,
    now: Instant,
    opts: &Options<'_>,
) -> Result<String, Error> {
    let mut out = String::with_capacity(256 + token.claims.len() * 48);
    respond_into(token, caller, now, opts, &mut out)?;
    Ok(out)
}

/// As [`respond`], appending to `out`.
pub fn respond_into(
    token: &Token,
    caller: &Caller<'_>,
    now: Instant,
    opts: &Options<'_>,
    out: &mut String,
) -> Result<(), Error> {
    let verdict = evaluate(token, caller, now, opts)?;
    if let Caller::Client { .. } = caller {
        // For a client caller IdentityServer reads the token's client with SingleOrDefault
        // once the token itself is valid, which throws on a second `client_id` claim (a 500).
        let valid = matches!(verdict.status, Ok(()) | Err(Inactive::OtherClient));
        if valid
            && token
                .claims
                .iter()
                .filter(|c| c.claim_type == "client_id")
                .count()
                > 1
        {
            return Err(Error::malformed("token", "more than one `client_id` claim"));
        }
    }
    if !verdict.active() {
        out.push_str(INACTIVE);
        return Ok(());
    }
    let mut claims = reference_token_claims(token, opts.version);
    if let Caller::Client { .. } = caller {
        // Client callers get `token_type`, added as one more claim (so it merges with a
        // stored `token_type` claim like any repeated type).
        claims.push(ClaimRef("token_type", Val::Text("access_token"), None));
    }
    let scopes = token.scopes().filter(|s| match caller {
        Caller::Api { scopes, .. } => scopes.contains(s),
        Caller::Client { .. } => true,
    });
    write_response(out, claims, opts.version, scopes)
}

/// Writes `{claims..., "active":true, "scope":"..."}` as IdentityServer's response
/// generator does: `scope` claims left out of the dictionary, then `active`, then the
/// scopes joined by spaces.
fn write_response<'a>(
    out: &mut String,
    claims: Vec<ClaimRef<'_>>,
    v: IdentityServerVersion,
    scopes: impl Iterator<Item = &'a str>,
) -> Result<(), Error> {
    let items = to_claims_dictionary(&claims);
    if items.iter().any(|i| i.claim.0 == "active") {
        // IdentityServer's dictionary Add throws here (a 500); refuse rather than emit a
        // duplicate member.
        return Err(Error::malformed(
            "token",
            "a claim named `active` collides with the response",
        ));
    }
    let start = out.len();
    out.push('{');
    for (i, first) in items.iter().enumerate() {
        if first.group != i {
            continue;
        }
        json::write_str(out, first.claim.0);
        out.push(':');
        let written = if first.members == 1 {
            write_typed(out, first.claim, v)
        } else {
            out.push('[');
            let mut written = write_typed(out, first.claim, v);
            let mut m = first.next;
            while m != NONE && written.is_ok() {
                out.push(',');
                written = write_typed(out, items[m].claim, v);
                m = items[m].next;
            }
            out.push(']');
            written
        };
        if let Err(NotFinite) = written {
            out.truncate(start);
            // .NET parses it, then System.Text.Json refuses to write it (a 500).
            return Err(Error::malformed(
                "claim",
                format!("double claim `{}` is not finite", first.claim.0),
            ));
        }
        out.push(',');
    }
    out.push_str("\"active\":true,\"scope\":\"");
    for (n, s) in scopes.enumerate() {
        if n > 0 {
            out.push(' ');
        }
        json::write_str_content(out, s);
    }
    out.push_str("\"}");
    Ok(())
}

/// The response IdentityServer gives a client that introspects one of its own refresh
/// tokens, or `None` when the refresh token is not valid for this client at `now` (expired,
/// consumed, another client's, or the client may no longer use refresh tokens as
/// `opts.offline_access` reports).
pub fn respond_refresh(
    rt: &RefreshToken,
    client_id: &str,
    now: Instant,
    opts: &Options<'_>,
) -> Result<Option<String>, Error> {
    let Some(expiration) = rt.checked_expiration() else {
        // IdentityServer's lifetime check throws, as for access tokens.
        return Err(Error::malformed(
            "refresh token",
            "CreationTime + Lifetime is outside .NET's DateTime range (IdentityServer fails on it)",
        ));
    };
    if now > expiration || rt.client_id.as_deref() != Some(client_id) || rt.consumed_time.is_some()
    {
        return Ok(None);
    }
    if opts.offline_access.is_some_and(|f| !f(client_id))
        || opts.client_enabled.is_some_and(|f| !f(client_id))
    {
        return Ok(None);
    }
    let Some(sub) = rt.subject_id.as_deref() else {
        // IdentityServer builds a `sub` claim from a null value, which throws (a 500).
        return Err(Error::malformed("refresh token", "no subject"));
    };
    let iat = rt.creation_time.unix_seconds();
    let mut claims = vec![
        ClaimRef("client_id", Val::Text(client_id), None),
        ClaimRef("token_type", Val::Text("refresh_token"), None),
        ClaimRef("iat", number(iat), Some(VT_INTEGER)),
        ClaimRef(
            "exp",
            number(iat + i64::from(rt.lifetime)),
            Some(VT_INTEGER),
        ),
        ClaimRef("sub", Val::Text(sub), None),
    ];
    claims.extend(
        rt.authorized_scopes
            .iter()
            .map(|s| ClaimRef("scope", Val::Text(s), None)),
    );
    let mut out = String::with_capacity(256);
    write_response(
        &mut out,
        claims,
        opts.version,
        rt.authorized_scopes.iter().map(String::as_str),
    )?;
    Ok(Some(out))
}

/// A claim's value: borrowed from the token, or a generated number kept inline.
#[derive(Debug, Clone, Copy)]
enum Val<'a> {
    Text(&'a str),
    Number(ArrayString<24>),
}

impl Val<'_> {
    fn as_str(&self) -> &str {
        match self {
            Val::Text(s) => s,
            Val::Number(n) => n.as_str(),
        }
    }
}

/// A claim as (type, value, value type), the value type `None` for a string (most claims:
/// a test for `None` spares comparing the long URI).
#[derive(Debug, Clone, Copy)]
struct ClaimRef<'a>(&'a str, Val<'a>, Option<&'a str>);

fn number(n: i64) -> Val<'static> {
    Val::Number(ArrayString::from(itoa::Buffer::new().format(n)).expect("an i64 fits in 24 bytes"))
}

/// `TokenValidator.ReferenceTokenToClaims`: the claims a validated reference token has.
fn reference_token_claims(token: &Token, v: IdentityServerVersion) -> Vec<ClaimRef<'_>> {
    let mut out: Vec<ClaimRef<'_>> = Vec::with_capacity(token.claims.len() + 6);
    if let Some(iss) = token.issuer.as_deref() {
        out.push(ClaimRef("iss", Val::Text(iss), None));
    }
    let nbf = number(token.creation_time.unix_seconds());
    out.push(ClaimRef("nbf", nbf, Some(VT_INTEGER64)));
    if v >= IdentityServerVersion::Duende5_0 {
        out.push(ClaimRef("iat", nbf, Some(VT_INTEGER64)));
    }
    out.push(ClaimRef(
        "exp",
        number(token.expiration().unix_seconds()),
        Some(VT_INTEGER64),
    ));
    if v >= IdentityServerVersion::Duende6_3 {
        if let Some(cnf) = token.confirmation.as_deref().filter(|c| !c.is_empty()) {
            out.push(ClaimRef("cnf", Val::Text(cnf), Some(VT_JSON)));
        }
    }
    for aud in &token.audiences {
        out.push(ClaimRef("aud", Val::Text(aud), None));
    }
    let drop_time_claims = v >= IdentityServerVersion::Duende7_1;
    for c in &token.claims {
        if drop_time_claims && matches!(c.claim_type.as_str(), "iat" | "iss" | "nbf" | "exp") {
            continue;
        }
        let vt = c
            .value_type
            .as_deref()
            .filter(|vt| *vt != STRING_VALUE_TYPE);
        out.push(ClaimRef(&c.claim_type, Val::Text(&c.value), vt));
    }
    out
}

/// A distinct claim and the index of the first distinct claim of its (exact) type.
struct Item<'c, 'a> {
    // Borrowed, not copied: the pass over earlier items stays within a few cache lines.
    claim: &'c ClaimRef<'a>,
    type_hash: u64,
    group: usize,
    /// The next item of the same group, `NONE` for the last.
    next: usize,
    /// Set on a group's first item: how many items the group has, and its last item.
    members: u32,
    last: usize,
}

const NONE: usize = usize::MAX;

/// Claims kept before the dictionary switches from a pass over them to hash lookups.
const SMALL: usize = 64;

/// `ClaimsExtensions.ToClaimsDictionary`: `Distinct` with IdentityModel's `ClaimComparer`
/// (type case-insensitive; value and value type ordinal), then grouping by type in order of
/// first occurrence. Linear: a few claims are compared in one pass (hashes spare most string
/// comparisons), many through a set of distinct claims and a map of groups.
/// `scope` claims are left out (the response lists the scopes apart).
fn to_claims_dictionary<'c, 'a>(claims: &'c [ClaimRef<'a>]) -> Vec<Item<'c, 'a>> {
    let mut items: Vec<Item<'c, 'a>> = Vec::with_capacity(claims.len());
    let mut seen: Option<HashSet<(String, &'c str, Option<&'a str>)>> = None;
    let mut groups: Option<HashMap<&'a str, usize>> = None;
    for c in claims.iter().filter(|c| c.0 != "scope") {
        let type_hash = fold_hash(c.0);
        let mut group = None;
        let mut duplicate = false;
        if items.len() < SMALL {
            // Only claims whose types fold alike can be equal, and the first of the exact
            // same type heads the group.
            for i in items.iter().filter(|i| i.type_hash == type_hash) {
                if group.is_none() && i.claim.0 == c.0 {
                    group = Some(i.group);
                }
                if same_claim(i.claim, c) {
                    duplicate = true;
                    break;
                }
            }
        } else {
            let set = seen.get_or_insert_with(|| {
                items
                    .iter()
                    .map(|i| (fold_case(i.claim.0), i.claim.1.as_str(), i.claim.2))
                    .collect()
            });
            duplicate = !set.insert((fold_case(c.0), c.1.as_str(), c.2));
            let map = groups.get_or_insert_with(|| {
                items
                    .iter()
                    .enumerate()
                    .filter(|(n, i)| i.group == *n)
                    .map(|(n, i)| (i.claim.0, n))
                    .collect()
            });
            group = map.get(c.0).copied();
        }
        if duplicate {
            continue;
        }
        let n = items.len();
        let group = match group {
            Some(g) => {
                let last = items[g].last;
                items[last].next = n;
                items[g].last = n;
                items[g].members += 1;
                g
            }
            None => {
                if let Some(map) = groups.as_mut() {
                    map.insert(c.0, n);
                }
                n
            }
        };
        items.push(Item {
            claim: c,
            type_hash,
            group,
            next: NONE,
            members: 1,
            last: n,
        });
    }
    items
}

/// A cheap key of `s`, equal for strings equal under `OrdinalIgnoreCase` (so only claims with
/// equal keys need comparing): for ASCII, the length and the upper case of the first, middle and
/// last bytes.
fn fold_hash(s: &str) -> u64 {
    fn ascii_key(b: &[u8]) -> u64 {
        match (b.first(), b.last()) {
            (Some(first), Some(last)) => {
                let up = |c: &u8| u64::from(c.to_ascii_uppercase());
                b.len() as u64 | up(first) << 32 | up(&b[b.len() / 2]) << 40 | up(last) << 48
            }
            _ => 0,
        }
    }
    if s.is_ascii() {
        return ascii_key(s.as_bytes());
    }
    // Never equal to an ASCII string (see `simple_upper`), nor to its key (those stay under
    // 2^56).
    s.chars().fold(1 << 63, |h: u64, c| {
        (h ^ u64::from(u32::from(simple_upper(c)))).wrapping_mul(0x0000_0100_0000_01b3) | 1 << 63
    })
}

fn same_claim(a: &ClaimRef<'_>, b: &ClaimRef<'_>) -> bool {
    a.1.as_str() == b.1.as_str() && a.2 == b.2 && eq_ignore_case(a.0, b.0)
}

/// .NET's `OrdinalIgnoreCase`: compares after simple upper-casing of each character.
fn eq_ignore_case(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        return a.eq_ignore_ascii_case(b);
    }
    a.chars().map(simple_upper).eq(b.chars().map(simple_upper))
}

/// The simple upper case of `c` as .NET's ordinal casing has it: that leaves alone the two
/// letters Unicode upper-cases to ASCII (`ı` and `ſ`), so that no other string equals an
/// ASCII one.
fn simple_upper(c: char) -> char {
    let mut up = c.to_uppercase();
    match (up.next(), up.next()) {
        (Some(u), None) if c.is_ascii() || !u.is_ascii() => u,
        _ => c,
    }
}

fn fold_case(s: &str) -> String {
    s.chars().map(simple_upper).collect()
}

/// A `double` claim whose value .NET parses to an infinity or NaN, which System.Text.Json
/// will not write.
struct NotFinite;

/// Writes a claim value typed as `ToClaimsDictionary.GetValue` does.
fn write_typed(
    out: &mut String,
    c: &ClaimRef<'_>,
    v: IdentityServerVersion,
) -> Result<(), NotFinite> {
    let ClaimRef(_, value, vt) = c;
    let value = value.as_str();
    let Some(vt) = *vt else {
        // Most claims: a plain string.
        json::write_str(out, value);
        return Ok(());
    };
    if matches!(vt, VT_INTEGER64 | VT_INTEGER | VT_INTEGER32) && canonical_integer(value, vt) {
        // Written as it is: what parsing and formatting it would give.
        out.push_str(value);
        return Ok(());
    }
    match vt {
        VT_INTEGER | VT_INTEGER32 => {
            if let Some(n) = parse_dotnet_integer(value).filter(|n| i32::try_from(*n).is_ok()) {
                json::write_i64(out, n);
                return Ok(());
            }
        }
        VT_INTEGER64 => {
            if let Some(n) = parse_dotnet_integer(value) {
                json::write_i64(out, n);
                return Ok(());
            }
        }
        VT_DOUBLE if v >= IdentityServerVersion::Duende6_1 => {
            if let Some(d) = parse_dotnet_double(value) {
                if !d.is_finite() {
                    return Err(NotFinite);
                }
                json::write_f64(out, d);
                return Ok(());
            }
        }
        VT_BOOLEAN => {
            if let Some(b) = parse_dotnet_bool(value) {
                out.push_str(if b { "true" } else { "false" });
                return Ok(());
            }
        }
        _ => {}
    }
    let is_json = if v >= IdentityServerVersion::Duende7_3 {
        eq_ignore_case(vt, VT_JSON)
    } else {
        vt == VT_JSON
    };
    if is_json && json::validate(value) {
        json::write_raw(out, value);
    } else {
        json::write_str(out, value);
    }
    Ok(())
}

/// .NET's white space for `NumberStyles.AllowLeadingWhite`/`AllowTrailingWhite`.
fn trim_dotnet(s: &str) -> &str {
    s.trim_matches(|c| matches!(c, '\u{9}'..='\u{d}' | ' '))
}

/// Whether `s` is an integer in the form .NET writes it (an optional `-`, no leading zero,
/// no `-0`) short enough to fit the value type whatever its digits.
fn canonical_integer(s: &str, vt: &str) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s).as_bytes();
    let max = if vt == VT_INTEGER64 { 18 } else { 9 };
    match digits {
        [] => false,
        [b'0'] => digits.len() == s.len(),
        [first, ..] => {
            *first != b'0' && digits.len() <= max && digits.iter().all(u8::is_ascii_digit)
        }
    }
}

/// .NET's number parsers accept any run of NULs at the very end ("for compatibility").
fn trim_trailing_nuls(s: &str) -> &str {
    s.trim_end_matches('\0')
}

/// `long.TryParse(s)` with `NumberStyles.Integer` (white space, a sign, ASCII digits, then
/// trailing NULs).
fn parse_dotnet_integer(s: &str) -> Option<i64> {
    let s = trim_dotnet(trim_trailing_nuls(s));
    let (neg, digits) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut n: i128 = 0;
    for b in digits.bytes() {
        n = n * 10 + i128::from(b - b'0');
        if n > i128::from(i64::MAX) + 1 {
            return None;
        }
    }
    i64::try_from(if neg { -n } else { n }).ok()
}

/// `double.TryParse(s)` with `NumberStyles.Float | AllowThousands`, invariant culture:
/// a number (then trailing NULs), overflowing to infinity; failing that, the invariant
/// culture's symbols `Infinity`, `-Infinity`, `NaN` (ignoring case, with an optional `+`,
/// or `-` before `NaN`) amid any Unicode white space (`∞` is not one of them).
fn parse_dotnet_double(s: &str) -> Option<f64> {
    parse_dotnet_number(s).or_else(|| {
        let t = s.trim_matches(char::is_whitespace);
        let is = |a: &str, b: &str| eq_ignore_case(a, b);
        if is(t, "Infinity") {
            return Some(f64::INFINITY);
        }
        if is(t, "-Infinity") {
            return Some(f64::NEG_INFINITY);
        }
        if is(t, "NaN") {
            return Some(f64::NAN);
        }
        if let Some(rest) = t.strip_prefix('+') {
            return if is(rest, "Infinity") {
                Some(f64::INFINITY)
            } else if is(rest, "NaN") {
                Some(f64::NAN)
            } else {
                None
            };
        }
        t.strip_prefix('-')
            .filter(|rest| is(rest, "NaN"))
            .map(|_| f64::NAN)
    })
}

/// The number part of [`parse_dotnet_double`].
fn parse_dotnet_number(s: &str) -> Option<f64> {
    let s = trim_dotnet(trim_trailing_nuls(s));
    let b = s.as_bytes();
    let mut i = 0;
    let mut clean = String::with_capacity(s.len());
    if matches!(b.first(), Some(b'+' | b'-')) {
        clean.push(b[0] as char);
        i = 1;
    }
    let mut int_digits = 0;
    while i < b.len() && (b[i].is_ascii_digit() || (b[i] == b',' && int_digits > 0)) {
        if b[i] != b',' {
            clean.push(b[i] as char);
            int_digits += 1;
        }
        i += 1;
    }
    let mut frac_digits = 0;
    if i < b.len() && b[i] == b'.' {
        clean.push('.');
        i += 1;
        while i < b.len() && b[i].is_ascii_digit() {
            clean.push(b[i] as char);
            frac_digits += 1;
            i += 1;
        }
    }
    if int_digits + frac_digits == 0 {
        return None;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        clean.push('e');
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            clean.push(b[i] as char);
            i += 1;
        }
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            clean.push(b[i] as char);
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    if i != b.len() {
        return None;
    }
    clean.parse::<f64>().ok()
}

/// `bool.TryParse(s)`: `true`/`false` in any case, surrounding white space allowed.
fn parse_dotnet_bool(s: &str) -> Option<bool> {
    let t = s.trim_matches(|c: char| c.is_whitespace() || c == '\0');
    if t.eq_ignore_ascii_case("true") {
        Some(true)
    } else if t.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grant::Claim;
    use crate::instant;

    fn token() -> Token {
        Token {
            audiences: vec!["api1".into(), "api2".into()],
            issuer: Some("https://idp".into()),
            creation_time: instant::parse("2024-01-01T00:00:00.5Z").unwrap(),
            lifetime: 3600,
            client_id: Some("c1".into()),
            confirmation: Some("{\"x5t#S256\":\"abc\"}".into()),
            claims: vec![
                Claim::new("client_id", "c1"),
                Claim::new("scope", "api1.read"),
                Claim::new("scope", "other"),
                Claim::new("sub", "alice"),
                Claim::new("role", "a"),
                Claim::new("role", "b"),
                Claim::new("role", "a"),
                Claim::typed("n", "42", VT_INTEGER),
                Claim::typed("big", "3000000000", VT_INTEGER),
                Claim::typed("j", "[1, 2]", "JSON"),
                Claim::typed("iat", "1", VT_INTEGER64),
            ],
            ..Token::default()
        }
    }

    #[test]
    fn api_response_shape() {
        let t = token();
        let caller = Caller::Api {
            name: "api1",
            scopes: &["api1.read", "api1.write"],
        };
        let now = Instant::from_unix_seconds(1_704_067_300);
        let r = respond(&t, &caller, now, &Options::default()).unwrap();
        assert_eq!(
            r,
            "{\"iss\":\"https://idp\",\"nbf\":1704067200,\"iat\":1704067200,\"exp\":1704070800,\
             \"cnf\":{\"x5t#S256\":\"abc\"},\"aud\":[\"api1\",\"api2\"],\"client_id\":\"c1\",\"sub\":\"alice\",\
             \"role\":[\"a\",\"b\"],\"n\":42,\"big\":\"3000000000\",\"j\":[1,2],\"active\":true,\"scope\":\"api1.read\"}"
        );
    }

    #[test]
    fn versions_differ() {
        let t = token();
        let caller = Caller::Client { id: "c1" };
        let now = Instant::from_unix_seconds(1_704_067_300);
        let o = |version| Options {
            version,
            ..Options::default()
        };
        let r = respond(&t, &caller, now, &o(IdentityServerVersion::Duende6_3)).unwrap();
        assert!(r.contains("\"iat\":[1704067200,1]"), "{r}");
        assert!(r.contains(
            "\"token_type\":\"access_token\",\"active\":true,\"scope\":\"api1.read other\"}"
        ));
        let r = respond(&t, &caller, now, &o(IdentityServerVersion::Duende7_1)).unwrap();
        assert!(r.contains("\"j\":\"[1, 2]\""), "{r}");
        let r = respond(&t, &caller, now, &o(IdentityServerVersion::IdentityServer4)).unwrap();
        assert!(
            !r.contains("\"cnf\"") && r.contains("\"nbf\":1704067200,\"exp\""),
            "{r}"
        );
    }

    #[test]
    fn inactive_cases() {
        let t = token();
        let exp = t.expiration();
        let api = Caller::Api {
            name: "api1",
            scopes: &["api1.read"],
        };
        let opts = Options::default();
        assert!(evaluate(&t, &api, exp, &opts).unwrap().active());
        assert_eq!(
            evaluate(&t, &api, Instant(exp.0 + 1), &opts)
                .unwrap()
                .status,
            Err(Inactive::Expired)
        );
        let none = Caller::Api {
            name: "api9",
            scopes: &["x"],
        };
        assert_eq!(
            evaluate(&t, &none, exp, &opts).unwrap().status,
            Err(Inactive::NoMatchingScope)
        );
        assert_eq!(
            evaluate(&t, &Caller::Client { id: "c2" }, exp, &opts)
                .unwrap()
                .status,
            Err(Inactive::OtherClient)
        );
        let disabled = |_: &str| false;
        let o2 = Options {
            client_enabled: Some(&disabled),
            ..opts
        };
        assert_eq!(
            evaluate(&t, &api, exp, &o2).unwrap().status,
            Err(Inactive::ClientDisabled)
        );
        assert_eq!(respond(&t, &none, exp, &opts).unwrap(), INACTIVE);
    }

    #[test]
    fn claims_equal_ignoring_case_hash_alike() {
        let pairs = [
            ("role", "ROLE"),
            ("Role", "rOLE"),
            ("stra\u{df}e", "STRA\u{df}E"),
            ("\u{e9}t\u{e9}", "\u{c9}T\u{c9}"),
            ("a_very_long_claim_type_name", "A_VERY_LONG_CLAIM_TYPE_NAME"),
        ];
        for (a, b) in pairs {
            assert!(eq_ignore_case(a, b), "{a} {b}");
            assert_eq!(fold_hash(a), fold_hash(b), "{a} {b}");
        }
        // .NET's ordinal casing leaves `ı` and `ſ` alone (tests/field_exactness.rs asks .NET).
        assert!(!eq_ignore_case("\u{131}d", "ID"));
        assert!(!eq_ignore_case("\u{17f}ub", "SUB"));
        assert_ne!(fold_hash("role"), fold_hash("roles"));
        assert_ne!(fold_hash("role"), fold_hash("rolf"));
        assert_ne!(fold_hash("\u{e9}t\u{e9}"), fold_hash("ete"));
        assert_ne!(
            fold_hash("a_very_long_claim_type_name"),
            fold_hash("a_very_long_claim_type_namf")
        );
        // Duplicates go, case variants of a type merge, different values stay.
        let claims = [
            ("role", "a"),
            ("ROLE", "a"),
            ("role", "b"),
            ("Role", "c"),
            ("sub", "a"),
        ];
        let claims: Vec<_> = claims
            .iter()
            .map(|(t, v)| ClaimRef(t, Val::Text(v), None))
            .collect();
        let items = to_claims_dictionary(&claims);
        let kept: Vec<_> = items
            .iter()
            .map(|i| (i.claim.0, i.claim.1.as_str(), i.group, i.members))
            .collect();
        assert_eq!(
            kept,
            [
                ("role", "a", 0, 2),
                ("role", "b", 0, 1),
                ("Role", "c", 2, 1),
                ("sub", "a", 3, 1)
            ]
        );
    }

    /// Against a naive `Distinct` + `GroupBy`, below and above the 64 claims where a set takes
    /// over the duplicate test.
    #[test]
    fn claims_dictionary_matches_a_naive_distinct_and_group_by() {
        for n in [10usize, 63, 64, 65, 200] {
            let owned: Vec<(String, String)> = (0..n)
                .map(|i| {
                    let t = ["role", "ROLE", "Role", "sub", "amr", "\u{131}d", "id"][i % 7];
                    (t.to_owned(), format!("v{}", i % 5))
                })
                .collect();
            let claims: Vec<_> = owned
                .iter()
                .map(|(t, v)| ClaimRef(t, Val::Text(v), None))
                .collect();
            let mut distinct: Vec<&ClaimRef<'_>> = Vec::new();
            for c in &claims {
                if !distinct.iter().any(|d| same_claim(d, c)) {
                    distinct.push(c);
                }
            }
            let mut naive: Vec<(&str, &str, usize)> = Vec::new();
            for (k, c) in distinct.iter().enumerate() {
                let head = distinct.iter().position(|d| d.0 == c.0).unwrap();
                assert!(head <= k);
                naive.push((c.0, c.1.as_str(), head));
            }
            let items = to_claims_dictionary(&claims);
            let got: Vec<_> = items
                .iter()
                .map(|i| (i.claim.0, i.claim.1.as_str(), i.group))
                .collect();
            assert_eq!(got, naive, "{n} claims");
            for (k, i) in items.iter().enumerate().filter(|(k, i)| i.group == *k) {
                let members = items.iter().filter(|m| m.group == k).count();
                assert_eq!(i.members as usize, members);
            }
        }
    }

    /// An integer written as it stands must be what parsing and formatting it gives, and
    /// fit the value type (an `int` for `integer`/`integer32`).
    #[test]
    fn canonical_integers_are_what_parsing_writes() {
        let mut samples: Vec<String> = [
            "0",
            "-0",
            "00",
            "01",
            "-01",
            "7",
            "-7",
            "+7",
            " 7",
            "7 ",
            "",
            "-",
            "1.0",
            "1e3",
            "2147483647",
            "2147483648",
            "-2147483648",
            "-2147483649",
            "999999999",
            "1000000000",
            "999999999999999999",
            "1000000000000000000",
            "9223372036854775807",
            "9223372036854775808",
            "-9223372036854775808",
            "\u{661}",
            "1\u{0}",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        samples.extend((1..=19).map(|n| "9".repeat(n)));
        samples.extend((1..=19).map(|n| format!("-{}", "9".repeat(n))));
        for s in &samples {
            for vt in [VT_INTEGER64, VT_INTEGER, VT_INTEGER32] {
                if canonical_integer(s, vt) {
                    let n = parse_dotnet_integer(s).unwrap_or_else(|| panic!("{s}"));
                    assert_eq!(n.to_string(), *s);
                    assert!(vt == VT_INTEGER64 || i32::try_from(n).is_ok(), "{s}");
                }
            }
        }
        assert!(canonical_integer("1740830340", VT_INTEGER64));
        assert!(canonical_integer("-1", VT_INTEGER));
        assert!(!canonical_integer("-0", VT_INTEGER64));
    }

    #[test]
    fn dotnet_number_parsing() {
        assert_eq!(parse_dotnet_integer(" -42 "), Some(-42));
        assert_eq!(parse_dotnet_integer("+7"), Some(7));
        assert_eq!(parse_dotnet_integer("9223372036854775808"), None);
        assert_eq!(parse_dotnet_integer("-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_dotnet_integer("1.0"), None);
        assert_eq!(parse_dotnet_integer(""), None);
        assert_eq!(parse_dotnet_double("1,000.5"), Some(1000.5));
        assert_eq!(parse_dotnet_double(".5"), Some(0.5));
        assert_eq!(parse_dotnet_double("1e400"), Some(f64::INFINITY));
        assert!(parse_dotnet_double("NaN").unwrap().is_nan());
        assert_eq!(parse_dotnet_double("abc"), None);
        assert_eq!(parse_dotnet_bool(" TRUE "), Some(true));
        assert_eq!(parse_dotnet_bool("yes"), None);
    }
}
