using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace RefToken.Tests;

/// <summary>The Duende IdentityServer 7.4.8 fixtures in tests/fixtures/duende.</summary>
public static class Fixtures
{
    public const string AppName = "reftoken-fixtures";
    public const string ProtectorPurpose = "PersistentGrantSerializer";

    /// <summary>The fixtures' introspection time, 2025-03-01T12:00:00Z.</summary>
    public static readonly DateTimeOffset Now = DateTimeOffset.FromUnixTimeSeconds(1740830400);

    /// <summary>A time at which the fixture key ring's key is the default key.</summary>
    public static readonly DateTimeOffset KeyRingNow = new(2026, 11, 26, 0, 0, 0, TimeSpan.Zero);

    public static readonly string[] EnabledClients = ["client1", "client2", "ropc.client"];

    private static readonly Lazy<string> s_dir = new(FindDir);
    private static readonly Lazy<List<GrantRow>> s_grants = new(() => Load<List<GrantRow>>("grants.json"));
    private static readonly Lazy<List<IntrospectionEntry>> s_introspection = new(() => Load<List<IntrospectionEntry>>("introspection.json"));

    public static string Directory => s_dir.Value;

    public static string KeyRingDirectory => Path.Combine(Directory, "keyring");

    public static IReadOnlyList<GrantRow> Grants => s_grants.Value;

    public static IReadOnlyList<IntrospectionEntry> Introspection => s_introspection.Value;

    /// <summary>
    /// The names of the reference-token introspections IdentityServer answered with a JSON body
    /// (200) or failed (500) for an authenticated caller: theory data.
    /// </summary>
    public static IEnumerable<object[]> ReferenceTokenIntrospections() =>
        Introspection
            .Where(e => e.GrantType == GrantTypes.ReferenceToken && !e.IsJwt && e.Caller is { ValueKind: JsonValueKind.Object } && (e.Status == 200 || e.Status == 500))
            .Select(e => new object[] { e.Name });

    public static GrantRow Grant(string name, bool protectedDb = true) =>
        Grants.Single(g => g.Name == name && g.Db == (protectedDb ? "persisted-grants.db" : "persisted-grants-unprotected.db"));

    private static T Load<T>(string file) =>
        JsonSerializer.Deserialize<T>(File.ReadAllText(Path.Combine(Directory, file)))!;

    private static string FindDir()
    {
        string? fromEnv = Environment.GetEnvironmentVariable("REFTOKEN_FIXTURES");
        if (!string.IsNullOrEmpty(fromEnv))
        {
            return fromEnv;
        }

        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "tests", "fixtures", "duende");
            if (File.Exists(Path.Combine(candidate, "grants.json")))
            {
                return candidate;
            }
        }

        throw new InvalidOperationException("tests/fixtures/duende not found above " + AppContext.BaseDirectory + "; set REFTOKEN_FIXTURES");
    }
}

public sealed class GrantRow
{
    [JsonPropertyName("name")] public string Name { get; set; } = "";
    [JsonPropertyName("db")] public string Db { get; set; } = "";
    [JsonPropertyName("handle")] public string Handle { get; set; } = "";
    [JsonPropertyName("grant_type")] public string GrantType { get; set; } = "";
    [JsonPropertyName("key")] public string Key { get; set; } = "";
    [JsonPropertyName("type")] public string Type { get; set; } = "";
    [JsonPropertyName("subject_id")] public string? SubjectId { get; set; }
    [JsonPropertyName("session_id")] public string? SessionId { get; set; }
    [JsonPropertyName("client_id")] public string? ClientId { get; set; }
    [JsonPropertyName("description")] public string? Description { get; set; }
    [JsonPropertyName("creation_time")] public string CreationTime { get; set; } = "";
    [JsonPropertyName("expiration")] public string? Expiration { get; set; }
    [JsonPropertyName("data")] public string Data { get; set; } = "";
    [JsonPropertyName("data_protected")] public bool DataProtected { get; set; }
    [JsonPropertyName("payload")] public string? Payload { get; set; }

    public bool IsContainer => Data.Contains("\"PersistentGrantDataContainerVersion\":1", StringComparison.Ordinal);

    public override string ToString() => Db + "/" + Name;
}

public sealed class IntrospectionEntry
{
    [JsonPropertyName("name")] public string Name { get; set; } = "";
    [JsonPropertyName("case")] public string Case { get; set; } = "";
    [JsonPropertyName("db")] public string Db { get; set; } = "";
    [JsonPropertyName("handle")] public string? Handle { get; set; }
    [JsonPropertyName("grant_type")] public string? GrantType { get; set; }
    [JsonPropertyName("caller")] public JsonElement? Caller { get; set; }
    [JsonPropertyName("now_unix")] public long NowUnix { get; set; }
    [JsonPropertyName("status")] public int Status { get; set; }
    [JsonPropertyName("content_type")] public string? ContentType { get; set; }
    [JsonPropertyName("body")] public string? Body { get; set; }
    [JsonPropertyName("request")] public JsonElement Request { get; set; }

    public string GrantsDb => Db == "unprotected" ? "persisted-grants-unprotected.db" : "persisted-grants.db";

    public bool IsJwt => ContentType?.Contains("jwt", StringComparison.Ordinal) == true;

    public IntrospectionCaller? ToCaller()
    {
        if (Caller is not { ValueKind: JsonValueKind.Object } c)
        {
            return null;
        }

        return c.GetProperty("kind").GetString() == "api"
            ? IntrospectionCaller.Api(c.GetProperty("name").GetString()!, c.GetProperty("scopes").EnumerateArray().Select(s => s.GetString()!))
            : IntrospectionCaller.Client(c.GetProperty("id").GetString()!);
    }

    public override string ToString() => Name;
}
