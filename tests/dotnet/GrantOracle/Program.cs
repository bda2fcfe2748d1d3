// Batch oracle for tests/field_exactness.rs: reads a JSON array of operations on stdin and
// writes a JSON array of results (same order) on stdout. Every answer comes from .NET itself,
// run in the invariant culture and (the test sets TZ=UTC) on a host whose local time is UTC:
//
//   date        {"json"}: JsonSerializer.Deserialize<DateTime>(json), as the Token's
//               CreationTime is read; "ticks" is the instant IdentityServer takes from it
//               (new DateTimeOffset(value).UtcTicks) as 100 ns ticks since 1970, or
//               "parsed": false
//   expiration  {"creation", "lifetime"}: whether DateTime.AddSeconds throws on the Unix
//               seconds `creation` plus `lifetime`, as IdentityServer's store computes a new
//               token's Expiration: "throws"
//   introspect  {"payload", "now", "api_scopes"}: the steps IdentityServer 7.4's introspection
//               takes for a reference token whose row holds `payload` (every client enabled,
//               every user active, an API caller owning `api_scopes`): "outcome" is
//               "not_found" (the payload does not deserialize: the store logs it and answers
//               as if there were no row), "inactive", "active" with "body", or "fails" with
//               the exception (the endpoint answers 500)
//
// Results: {"ok": true, ...} or {"ok": false, "error": "<exception type>: <message>"}.

using System.Globalization;
using System.Security.Claims;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using RefToken.Oracles;

namespace RefToken.GrantOracle;

internal static class Program
{
    // The options IdentityServer's PersistentGrantSerializer reads with.
    private static readonly JsonSerializerOptions GrantOptions = new()
    {
        IgnoreReadOnlyFields = true,
        IgnoreReadOnlyProperties = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Converters = { new ClaimReader() },
    };

    // The options IdentityServer writes its responses with.
    private static readonly JsonSerializerOptions ResponseOptions = new()
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    private static int Main()
    {
        CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
        return OracleBatch.Run(Run);
    }

    private static string Str(JsonObject o, string name) => o[name]!.GetValue<string>();

    private static JsonObject Run(JsonObject op) => Str(op, "op") switch
    {
        "date" => Date(Str(op, "json")),
        "expiration" => Expiration(op["creation"]!.GetValue<long>(), op["lifetime"]!.GetValue<int>()),
        "introspect" => Introspect(
            Str(op, "payload"),
            op["now"]!.GetValue<long>(),
            op["api_scopes"]!.AsArray().Select(s => s!.GetValue<string>()).ToHashSet()),
        var other => throw new ArgumentException($"unknown op {other}"),
    };

    private static JsonObject Date(string json)
    {
        DateTime value;
        try
        {
            value = JsonSerializer.Deserialize<DateTime>(json, GrantOptions);
        }
        catch (JsonException e)
        {
            return new JsonObject { ["ok"] = true, ["parsed"] = false, ["error"] = OracleBatch.Describe(e) };
        }
        return new JsonObject
        {
            ["ok"] = true,
            ["parsed"] = true,
            ["ticks"] = new DateTimeOffset(value).UtcTicks - DateTime.UnixEpoch.Ticks,
            ["kind"] = value.Kind.ToString(),
        };
    }

    private static JsonObject Expiration(long creation, int lifetime)
    {
        var created = DateTime.UnixEpoch.AddSeconds(creation);
        try
        {
            _ = created.AddSeconds(lifetime);
            return new JsonObject { ["ok"] = true, ["throws"] = false };
        }
        catch (ArgumentOutOfRangeException)
        {
            return new JsonObject { ["ok"] = true, ["throws"] = true };
        }
    }

    private static JsonObject Outcome(string outcome, string? detail = null)
    {
        var r = new JsonObject { ["ok"] = true, ["outcome"] = outcome };
        if (detail != null)
        {
            r["detail"] = detail;
        }
        return r;
    }

    private static JsonObject Introspect(string payload, long now, HashSet<string> apiScopes)
    {
        Token? token;
        try
        {
            token = JsonSerializer.Deserialize<Token>(payload, GrantOptions);
        }
        catch (Exception e)
        {
            return Outcome("not_found", OracleBatch.Describe(e));
        }
        if (token == null)
        {
            return Outcome("not_found", "null");
        }
        try
        {
            var utcNow = DateTime.UnixEpoch.AddSeconds(now);
            // TokenValidator: expired when now > CreationTime + Lifetime.
            if (utcNow > token.CreationTime.AddSeconds(token.Lifetime))
            {
                return Outcome("inactive", "expired");
            }
            if (token.ClientId == null)
            {
                return Outcome("inactive", "no client");
            }
            var claims = ReferenceTokenToClaims(token);
            var scopes = claims.Where(c => c.Type == "scope").Select(c => c.Value).ToList();
            if (!scopes.Any(apiScopes.Contains))
            {
                return Outcome("inactive", "no scope of the API");
            }
            var response = ToClaimsDictionary(claims.Where(c => c.Type != "scope"));
            response.Add("active", true);
            response.Add("scope", string.Join(' ', scopes.Where(apiScopes.Contains)));
            var r = Outcome("active");
            r["body"] = JsonSerializer.Serialize(response, ResponseOptions);
            return r;
        }
        catch (Exception e)
        {
            return Outcome("fails", OracleBatch.Describe(e));
        }
    }

    // The claims IdentityServer's TokenValidator gives a reference token (7.1 and later: the
    // stored time and issuer claims are dropped for the generated ones).
    private static List<Claim> ReferenceTokenToClaims(Token token)
    {
        var created = new DateTimeOffset(token.CreationTime);
        var claims = new List<Claim>
        {
            new("iss", token.Issuer),
            new("nbf", created.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture), ClaimValueTypes.Integer64),
            new("iat", created.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture), ClaimValueTypes.Integer64),
            new("exp", created.AddSeconds(token.Lifetime).ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture), ClaimValueTypes.Integer64),
        };
        if (!string.IsNullOrEmpty(token.Confirmation))
        {
            claims.Add(new Claim("cnf", token.Confirmation, "json"));
        }
        foreach (var aud in token.Audiences)
        {
            claims.Add(new Claim("aud", aud));
        }
        claims.AddRange(token.Claims.Where(c => c.Type is not ("iat" or "iss" or "nbf" or "exp")));
        return claims;
    }

    private static Dictionary<string, object> ToClaimsDictionary(IEnumerable<Claim> claims)
    {
        var d = new Dictionary<string, object>();
        foreach (var claim in claims.Distinct(new SameClaim()))
        {
            if (!d.TryGetValue(claim.Type, out var existing))
            {
                d.Add(claim.Type, GetValue(claim));
            }
            else if (existing is List<object> list)
            {
                list.Add(GetValue(claim));
            }
            else
            {
                d.Remove(claim.Type);
                d.Add(claim.Type, new List<object> { existing, GetValue(claim) });
            }
        }
        return d;
    }

    // The typing of ClaimsExtensions.GetValue: .NET's parsers with their default styles and
    // the current (here invariant) culture.
    private static object GetValue(Claim claim)
    {
        if (claim.ValueType is ClaimValueTypes.Integer or ClaimValueTypes.Integer32 && int.TryParse(claim.Value, out var i))
        {
            return i;
        }
        if (claim.ValueType == ClaimValueTypes.Integer64 && long.TryParse(claim.Value, out var l))
        {
            return l;
        }
        if (claim.ValueType == ClaimValueTypes.Double && double.TryParse(claim.Value, out var d))
        {
            return d;
        }
        if (claim.ValueType == ClaimValueTypes.Boolean && bool.TryParse(claim.Value, out var b))
        {
            return b;
        }
        if (claim.ValueType.Equals("json", StringComparison.OrdinalIgnoreCase))
        {
            try
            {
                return JsonSerializer.Deserialize<JsonElement>(claim.Value);
            }
            catch (JsonException)
            {
            }
        }
        return claim.Value;
    }
}

// IdentityModel's ClaimComparer with its default options: type ignoring case, value, value
// type and issuer ordinal.
internal sealed class SameClaim : IEqualityComparer<Claim>
{
    public bool Equals(Claim? x, Claim? y) =>
        x != null && y != null
        && string.Equals(x.Type, y.Type, StringComparison.OrdinalIgnoreCase)
        && x.Value == y.Value && x.ValueType == y.ValueType && x.Issuer == y.Issuer;

    public int GetHashCode(Claim c) => StringComparer.OrdinalIgnoreCase.GetHashCode(c.Type);
}

internal enum AccessTokenType
{
    Jwt = 0,
    Reference = 1,
}

// The shape of IdentityServer's Token model: what System.Text.Json reads is decided by the
// property names, types and initial values, which are these.
internal sealed class Token
{
    public ICollection<string> AllowedSigningAlgorithms { get; set; } = new HashSet<string>();
    public string? Confirmation { get; set; }
    public ICollection<string> Audiences { get; set; } = new HashSet<string>();
    public string Issuer { get; set; } = default!;
    public DateTime CreationTime { get; set; }
    public int Lifetime { get; set; }
    public string Type { get; set; } = "access_token";
    public string ClientId { get; set; } = default!;
    public AccessTokenType AccessTokenType { get; set; }
    public string? Description { get; set; }
    public bool IncludeJwtId { get; set; }
    public ICollection<Claim> Claims { get; set; } = new HashSet<Claim>(new SameClaim());
    public int Version { get; set; } = 5;
}

// The stored form of a claim, read as IdentityServer's ClaimConverter reads it.
internal sealed class StoredClaim
{
    public string Type { get; set; } = default!;
    public string Value { get; set; } = default!;
    public string? ValueType { get; set; }
    public string? Issuer { get; set; }
}

internal sealed class ClaimReader : JsonConverter<Claim>
{
    public override Claim Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        var stored = JsonSerializer.Deserialize<StoredClaim>(ref reader, options)!;
        return new Claim(stored.Type, stored.Value, stored.ValueType);
    }

    public override void Write(Utf8JsonWriter writer, Claim value, JsonSerializerOptions options) =>
        throw new NotSupportedException();
}
