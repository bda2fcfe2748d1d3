using System;
using System.Collections.Generic;
using System.Security.Claims;
using System.Text.Json;

namespace RefToken.AspNetCore;

/// <summary>
/// The claims Duende IdentityModel's <c>TokenIntrospectionResponse.Claims</c> makes of an RFC 7662
/// response, which the OAuth2 introspection handler puts in its identity as they are: one claim per
/// member except <c>scope</c>, one per element of an array member, strings unescaped and every other
/// value as its JSON text, of type <see cref="ClaimValueTypes.String"/> (<c>JSON</c> for a member that is
/// an object) and issued by the response's
/// <c>iss</c> (else <see cref="ClaimsIdentity.DefaultIssuer"/>); then one <c>scope</c> claim per scope,
/// whether the response lists them space-separated or as an array.
/// </summary>
internal static class IntrospectionClaims
{
    /// <summary>IdentityModel's value type of a claim holding a JSON object.</summary>
    internal const string JsonValueType = "JSON";

    /// <summary>The claims of <paramref name="utf8Json"/>, and whether it says <c>"active": true</c>.</summary>
    public static List<Claim> From(ReadOnlySpan<byte> utf8Json, out bool active)
    {
        var reader = new Utf8JsonReader(utf8Json);
        using JsonDocument doc = JsonDocument.ParseValue(ref reader);
        JsonElement root = doc.RootElement;
        active = root.TryGetProperty("active", out JsonElement a) && a.ValueKind == JsonValueKind.True;
        string? issuer = root.TryGetProperty("iss", out JsonElement iss) && iss.ValueKind == JsonValueKind.String ? iss.GetString() : null;
        var claims = new List<Claim>();
        foreach (JsonProperty p in root.EnumerateObject())
        {
            if (p.NameEquals("scope"))
            {
                continue;
            }

            if (p.Value.ValueKind == JsonValueKind.Array)
            {
                foreach (JsonElement item in p.Value.EnumerateArray())
                {
                    claims.Add(new Claim(p.Name, Text(item), ClaimValueTypes.String, issuer));
                }
            }
            else
            {
                // A member that is an object (a `json` claim) is typed JSON; inside arrays everything is a string.
                claims.Add(new Claim(p.Name, Text(p.Value), p.Value.ValueKind == JsonValueKind.Object ? JsonValueType : ClaimValueTypes.String, issuer));
            }
        }

        if (root.TryGetProperty("scope", out JsonElement scope))
        {
            if (scope.ValueKind == JsonValueKind.Array)
            {
                foreach (JsonElement item in scope.EnumerateArray())
                {
                    claims.Add(new Claim("scope", item.ToString(), ClaimValueTypes.String, issuer));
                }
            }
            else
            {
                foreach (string s in scope.ToString().Split(' ', StringSplitOptions.RemoveEmptyEntries))
                {
                    claims.Add(new Claim("scope", s, ClaimValueTypes.String, issuer));
                }
            }
        }

        return claims;
    }

    // Strings unescaped; everything else (numbers, booleans, objects) as written, so `true` stays "true".
    private static string Text(JsonElement e) => e.ValueKind == JsonValueKind.String ? e.GetString()! : e.GetRawText();
}

/// <summary>
/// The claims of responses already seen, keyed by the response's bytes (never by the handle): a cached
/// token's response is the same on every request, so its claims are made once. The native validator
/// still judges every request (expiry, revocation, the listener's staleness bound); only the parse of
/// an identical active response is skipped. The claims are templates: <see cref="ClaimsIdentity"/>
/// clones each claim it is given, so no request sees another's claim objects. Bounded: at capacity it
/// starts again empty.
/// </summary>
internal sealed class ClaimsMemo(int capacity)
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<byte[], Claim[]> _claims = new(ByteContent.Instance);

    public int Count => _claims.Count;

    /// <summary>The claims of <paramref name="response"/> (a template, to be cloned), and whether it is active.</summary>
    public IReadOnlyList<Claim> From(byte[] response, out bool active)
    {
        if (_claims.TryGetValue(response, out Claim[]? known))
        {
            active = true;
            return known;
        }

        List<Claim> claims = IntrospectionClaims.From(response, out active);
        if (active && capacity > 0)
        {
            if (_claims.Count >= capacity)
            {
                _claims.Clear();
            }

            Claim[] template = claims.ToArray();
            return _claims.TryAdd(response, template) ? template : claims;
        }

        return claims;
    }

    public void Clear() => _claims.Clear();

    private sealed class ByteContent : IEqualityComparer<byte[]>
    {
        public static readonly ByteContent Instance = new();

        public bool Equals(byte[]? x, byte[]? y) => x.AsSpan().SequenceEqual(y);

        public int GetHashCode(byte[] bytes)
        {
            var hash = new HashCode();
            hash.AddBytes(bytes);
            return hash.ToHashCode();
        }
    }
}
