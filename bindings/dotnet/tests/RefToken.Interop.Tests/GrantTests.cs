using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using System.Text.Json;
using Xunit;

namespace RefToken.Tests;

public class GrantTests
{
    public static IEnumerable<object[]> UnprotectedContainerRows() =>
        Fixtures.Grants.Where(r => r.IsContainer && !r.DataProtected && r.Payload is not null && r.Type == GrantTypes.ReferenceToken).Select(r => new object[] { r.Db, r.Name });

    public static IEnumerable<object[]> RowsWithPayload() =>
        Fixtures.Grants.Where(r => r.Payload is not null && r.IsContainer && r.GrantType == GrantTypes.ReferenceToken).Select(r => new object[] { r.Db, r.Name });

    private static GrantRow Row(string db, string name) => Fixtures.Grants.Single(r => r.Db == db && r.Name == name);

    private static DateTime Column(string text) =>
        DateTime.ParseExact(text, ["yyyy-MM-dd HH:mm:ss", "yyyy-MM-dd HH:mm:ss.FFFFFFF"], CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal);

    [Theory]
    [MemberData(nameof(UnprotectedContainerRows))]
    public void ParsesAndRewritesUnprotectedRowsByteForByte(string db, string name)
    {
        GrantRow row = Row(db, name);
        using Grant g = Grant.Parse(row.Data);
        Assert.Equal(row.Payload, g.ToTokenJson());
        Assert.Equal(row.Data, g.ToData());
        CheckColumns(row, g);

        using Grant fromBytes = Grant.Parse(Encoding.UTF8.GetBytes(row.Data));
        Assert.Equal(row.Data, fromBytes.ToData());
    }

    [Theory]
    [MemberData(nameof(RowsWithPayload))]
    public void ParsesEveryPayload(string db, string name)
    {
        GrantRow row = Row(db, name);
        using Grant g = Grant.ParseTokenJson(row.Payload!);
        Assert.Equal(row.Payload, g.ToTokenJson());
        CheckColumns(row, g);
        using Grant fromBytes = Grant.ParseTokenJson(Encoding.UTF8.GetBytes(row.Payload!));
        Assert.Equal(row.Payload, fromBytes.ToTokenJson());
    }

    private static void CheckColumns(GrantRow row, Grant g)
    {
        Assert.Equal(row.SubjectId, g.SubjectId);
        Assert.Equal(row.SessionId, g.SessionId);
        Assert.Equal(row.ClientId, g.ClientId);
        Assert.Equal(row.Description, g.Description);
        DateTime created = Column(row.CreationTime);
        Assert.Equal(new DateTimeOffset(created).ToUnixTimeSeconds(), g.CreationTimeUnixSeconds);
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(g.CreationTimeUnixSeconds), g.CreationTime);
        DateTime parsed = DateTime.Parse(g.GetField(GrantField.CreationTime)!, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal);
        Assert.Equal(created, parsed);
        if (row.Expiration is not null && row.Name != "expiration_column_in_past" && row.Name != "consumed_time_set_no_expiration")
        {
            DateTime exp = Column(row.Expiration);
            Assert.Equal(new DateTimeOffset(exp).ToUnixTimeSeconds(), g.ExpirationUnixSeconds);
            Assert.Equal(exp, DateTime.Parse(g.GetField(GrantField.Expiration)!, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal));
            Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(g.ExpirationUnixSeconds), g.Expiration);
        }

        using JsonDocument payload = JsonDocument.Parse(row.Payload!);
        Assert.Equal(payload.RootElement.GetProperty("Issuer").GetString(), g.Issuer);
        Assert.Equal(payload.RootElement.TryGetProperty("Confirmation", out var cnf) ? cnf.GetString() : null, g.Confirmation);
    }

    [Fact]
    public void VersionZeroRowsParse()
    {
        foreach (GrantRow row in Fixtures.Grants.Where(r => r.Name.StartsWith("v0_", StringComparison.Ordinal)))
        {
            using Grant g = Grant.Parse(row.Data);
            Assert.Equal("client1", g.ClientId);
            Assert.Equal(row.SubjectId, g.SubjectId);
        }
    }

    [Fact]
    public void ProtectedRowsNeedAKeyRing()
    {
        GrantRow row = Fixtures.Grant("basic");
        var e = Assert.Throws<RefTokenException>(() => Grant.Parse(row.Data));
        Assert.Equal(RefTokenStatus.DataProtected, e.Status);
        Assert.Equal(RefTokenStatus.DataProtected, Assert.Throws<RefTokenException>(() => Grant.Parse(Fixtures.Grant("data_unprotect_fails").Data)).Status);
    }

    [Fact]
    public void ProtectedDataBothWays()
    {
        using var ring = new FixtureKeyRing();
        foreach (GrantRow row in Fixtures.Grants.Where(r => r.DataProtected && r.Payload is not null && r.GrantType == GrantTypes.ReferenceToken))
        {
            using Grant g = Grant.ParseProtected(row.Data, ring.Ring);
            Assert.Equal(row.Payload, g.ToTokenJson());
            using Grant again = Grant.ParseProtected(Encoding.UTF8.GetBytes(row.Data), ring.Ring);
            Assert.Equal(row.Payload, again.ToTokenJson());

            string data = g.ToProtectedData(ring.Ring, Fixtures.KeyRingNow);
            Assert.StartsWith("{\"PersistentGrantDataContainerVersion\":1,\"DataProtected\":true,\"Payload\":\"CfDJ8", data);
            using Grant back = Grant.ParseProtected(data, ring.Ring);
            Assert.Equal(row.Payload, back.ToTokenJson());
            // The payload is what ASP.NET Core's protector for IdentityServer's purpose reads.
            using JsonDocument container = JsonDocument.Parse(data);
            Assert.Equal(row.Payload, ring.Protector.Unprotect(container.RootElement.GetProperty("Payload").GetString()!));

            var buffer = new byte[data.Length + 64];
            Assert.True(g.TryWriteProtectedData(ring.Ring, Fixtures.KeyRingNow, buffer, out int n));
            using Grant fromBuffer = Grant.ParseProtected(buffer.AsSpan(0, n), ring.Ring);
            Assert.Equal(row.Payload, fromBuffer.ToTokenJson());
            Assert.False(g.TryWriteProtectedData(ring.Ring, Fixtures.KeyRingNow, new byte[10], out int needed));
            Assert.Equal(n, needed);
        }

        // Unprotected rows parse the same with or without a key ring.
        GrantRow plain = Fixtures.Grant("basic", protectedDb: false);
        using Grant p1 = Grant.ParseProtected(plain.Data, null);
        using Grant p2 = Grant.ParseProtected(plain.Data, ring.Ring);
        Assert.Equal(p1.ToTokenJson(), p2.ToTokenJson());
    }

    [Fact]
    public void ProtectedDataErrors()
    {
        using var ring = new FixtureKeyRing();
        Assert.Equal(RefTokenStatus.DataProtected, Assert.Throws<RefTokenException>(() => Grant.ParseProtected(Fixtures.Grant("basic").Data, null)).Status);
        Assert.Equal(RefTokenStatus.CryptoFailure, Assert.Throws<RefTokenException>(() => Grant.ParseProtected(Fixtures.Grant("data_protected_other_app_name").Data, ring.Ring)).Status);
        Assert.Equal(RefTokenStatus.UnsupportedVersion, Assert.Throws<RefTokenException>(() => Grant.ParseProtected(Fixtures.Grant("container_version_2").Data, ring.Ring)).Status);
        var e = Assert.Throws<RefTokenException>(() => Grant.ParseProtected(Fixtures.Grant("data_unprotect_fails").Data, ring.Ring));
        Assert.Contains(e.Status, new[] { RefTokenStatus.CryptoFailure, RefTokenStatus.MalformedInput });
        using KeyRing empty = KeyRing.FromXml([], Fixtures.AppName);
        Assert.Equal(RefTokenStatus.UnknownKey, Assert.Throws<RefTokenException>(() => Grant.ParseProtected(Fixtures.Grant("basic").Data, empty)).Status);
        using Grant g = Grant.Parse(Fixtures.Grant("basic", protectedDb: false).Data);
        Assert.Equal(RefTokenStatus.UnknownKey, Assert.Throws<RefTokenException>(() => g.ToProtectedData(empty, Fixtures.KeyRingNow)).Status);
        Assert.Equal(RefTokenStatus.UnknownKey, Assert.Throws<RefTokenException>(() => g.ToProtectedData(ring.Ring, Fixtures.Now)).Status);
        Assert.Throws<ArgumentNullException>(() => g.ToProtectedData(null!, Fixtures.Now));
        Assert.Throws<ArgumentNullException>(() => Grant.ParseProtected((string)null!, null));
    }

    [Fact]
    public void ParseErrors()
    {
        Assert.Equal(RefTokenStatus.UnsupportedVersion, Assert.Throws<RefTokenException>(() => Grant.Parse(Fixtures.Grant("container_version_2").Data)).Status);
        Assert.Equal(RefTokenStatus.MalformedInput, Assert.Throws<RefTokenException>(() => Grant.Parse("not json")).Status);
        Assert.Equal(RefTokenStatus.MalformedInput, Assert.Throws<RefTokenException>(() => Grant.Parse("")).Status);
        Assert.Equal(RefTokenStatus.MalformedInput, Assert.Throws<RefTokenException>(() => Grant.ParseTokenJson("[1,2]")).Status);
        Assert.Equal(RefTokenStatus.MalformedInput, Assert.Throws<RefTokenException>(() => Grant.ParseTokenJson("{\"Lifetime\":\"x\"}")).Status);
        byte[] bad = Encoding.UTF8.GetBytes(Fixtures.Grant("basic", protectedDb: false).Data);
        bad[40] = 0xFF;
        Assert.Equal(RefTokenStatus.InvalidUtf8, Assert.Throws<RefTokenException>(() => Grant.Parse(bad)).Status);
        Assert.Equal(RefTokenStatus.InvalidUtf8, Assert.Throws<RefTokenException>(() => Grant.ParseTokenJson(new byte[] { (byte)'{', 0xC0, (byte)'}' })).Status);
        string huge = "{\"x\":\"" + new string('a', (1 << 20) + 1) + "\"}";
        Assert.Equal(RefTokenStatus.InputTooLarge, Assert.Throws<RefTokenException>(() => Grant.Parse(huge)).Status);
        Assert.Equal(RefTokenStatus.InputTooLarge, Assert.Throws<RefTokenException>(() => Grant.ParseTokenJson(huge)).Status);
        Assert.Throws<ArgumentNullException>(() => Grant.Parse((string)null!));
        Assert.Throws<ArgumentNullException>(() => Grant.ParseTokenJson((string)null!));
    }

    [Fact]
    public void BuildsTheBasicFixtureTokenExactly()
    {
        // The "basic" fixture token, rebuilt from its parts: IdentityServer's payload and Data.
        GrantRow row = Fixtures.Grant("basic", protectedDb: false);
        using Grant g = Grant.Create("client1", "https://idsvr.test", new DateTimeOffset(2025, 3, 1, 11, 59, 0, TimeSpan.Zero), 3600);
        g.AddAudience("api1");
        g.SetDescription("basic fixture token");
        g.AddClaim("sub", "alice");
        g.AddClaim("client_id", "client1");
        g.AddClaim("jti", "JTI-basic");
        g.AddClaim("scope", "api1.read", null);
        Assert.Equal(row.Payload, g.ToTokenJson());
        Assert.Equal(row.Data, g.ToData());
        Assert.Equal("alice", g.SubjectId);
        Assert.Null(g.SessionId);
    }

    [Fact]
    public void BuildsWithUtf8Overloads()
    {
        GrantRow row = Fixtures.Grant("confirmation", protectedDb: false);
        using JsonDocument payload = JsonDocument.Parse(row.Payload!);
        string cnf = payload.RootElement.GetProperty("Confirmation").GetString()!;
        using Grant g = Grant.Create("client1", "https://idsvr.test", 1740830340, 3600);
        g.SetConfirmation(Encoding.UTF8.GetBytes(cnf));
        g.AddAudience(Encoding.UTF8.GetBytes("api1"));
        g.AddClaim("sub"u8, "alice"u8, ""u8);
        g.AddClaim("client_id"u8, "client1"u8, default);
        g.AddClaim("jti"u8, "JTI-cnf"u8, ReadOnlySpan<byte>.Empty);
        g.AddClaim("scope"u8, "api1.read"u8, ""u8);
        g.SetDescription("x"u8);
        g.SetDescription(ReadOnlySpan<byte>.Empty);
        Assert.Null(g.Description);
        Assert.Equal(row.Payload, g.ToTokenJson());
        Assert.Equal(cnf, g.Confirmation);
        g.SetConfirmation((string?)null);
        Assert.Null(g.Confirmation);
    }

    [Fact]
    public void TypedClaimsRoundTrip()
    {
        using Grant g = Grant.Create("c", "https://i", 0, 1);
        g.AddClaim("n", "42", "http://www.w3.org/2001/XMLSchema#integer64");
        g.AddClaim("j", "{\"a\":1}", "json");
        using Grant again = Grant.ParseTokenJson(g.ToTokenJson());
        Assert.Equal(g.ToTokenJson(), again.ToTokenJson());
        Assert.Contains("\"ValueType\":\"http://www.w3.org/2001/XMLSchema#integer64\"", g.ToTokenJson());
        Assert.Equal(0, g.CreationTimeUnixSeconds);
        Assert.Equal(1, g.ExpirationUnixSeconds);
    }

    [Fact]
    public void ExpirationsDotNetCannotHoldAreRefusedAtCreation()
    {
        long last = DateTimeOffset.MaxValue.ToUnixTimeSeconds();
        // What IdentityServer's store computes for the row's Expiration.
        bool Throws(long created, int lifetime)
        {
            try
            {
                _ = DateTime.UnixEpoch.AddSeconds(created).AddSeconds(lifetime);
                return false;
            }
            catch (ArgumentOutOfRangeException)
            {
                return true;
            }
        }
        foreach (var (created, lifetime) in new[] { (last - 10, 10), (last - 10, 11), (last, 1), (0L, int.MaxValue) })
        {
            if (Throws(created, lifetime))
            {
                Assert.Equal(RefTokenStatus.InvalidArgument, Assert.Throws<RefTokenArgumentException>(() => Grant.Create("c", "i", created, lifetime)).Status);
            }
            else
            {
                using Grant g = Grant.Create("c", "i", created, lifetime);
                Assert.Equal(created + lifetime, g.ExpirationUnixSeconds);
            }
        }
    }

    [Fact]
    public void TokensIdentityServerFailsOnAreRefused()
    {
        // IdentityServer's validator throws on these (a 500): no answer either way.
        const string Rest = "\"CreationTime\":\"2026-01-01T00:00:00Z\",\"Lifetime\":3600,\"ClientId\":\"c\",\"Claims\":[{\"Type\":\"scope\",\"Value\":\"api1\"}]}";
        foreach (var json in new[]
        {
            "{\"Audiences\":null,\"Issuer\":\"i\"," + Rest,
            "{\"Audiences\":[]," + Rest,
            "{\"Issuer\":\"i\"," + Rest.Replace("2026-01-01", "9999-12-31", StringComparison.Ordinal).Replace("3600", "86400", StringComparison.Ordinal),
        })
        {
            using Grant g = Grant.ParseTokenJson(json);
            var now = new DateTimeOffset(2026, 1, 1, 0, 30, 0, TimeSpan.Zero);
            var api = IntrospectionCaller.Api("api1", "api1");
            Assert.Equal(RefTokenStatus.MalformedInput, Assert.Throws<RefTokenException>(() => g.Evaluate(api, now)).Status);
            Assert.Equal(RefTokenStatus.MalformedInput, Assert.Throws<RefTokenException>(() => g.Introspect(api, now)).Status);
        }
    }

    [Fact]
    public void BuildErrors()
    {
        Assert.Equal(RefTokenStatus.InvalidArgument, Assert.Throws<RefTokenArgumentException>(() => Grant.Create("c", "i", 0, -1)).Status);
        Assert.Equal(RefTokenStatus.InvalidArgument, Assert.Throws<RefTokenArgumentException>(() => Grant.Create("c", "i", 253402300800, 0)).Status); // year 10000
        Assert.Equal(RefTokenStatus.InvalidArgument, Assert.Throws<RefTokenArgumentException>(() => Grant.Create("c", "i", -62135596801, 0)).Status); // before year 1
        Assert.Throws<ArgumentNullException>(() => Grant.Create(null!, "i", 0, 0));
        Assert.Throws<ArgumentNullException>(() => Grant.Create("c", null!, 0, 0));

        using Grant g = Grant.Create("c", "i", 0, 60);
        Assert.Equal(RefTokenStatus.MalformedInput, Assert.Throws<RefTokenException>(() => g.SetConfirmation("not json <&>")).Status);
        byte[] bad = [0x61, 0xFF];
        Assert.Equal(RefTokenStatus.InvalidUtf8, Assert.Throws<RefTokenException>(() => g.AddClaim(bad, "v"u8, default)).Status);
        Assert.Equal(RefTokenStatus.InvalidUtf8, Assert.Throws<RefTokenException>(() => g.AddClaim("t"u8, bad, default)).Status);
        Assert.Equal(RefTokenStatus.InvalidUtf8, Assert.Throws<RefTokenException>(() => g.AddClaim("t"u8, "v"u8, bad)).Status);
        Assert.Equal(RefTokenStatus.InvalidUtf8, Assert.Throws<RefTokenException>(() => g.AddAudience(bad)).Status);
        Assert.Equal(RefTokenStatus.InvalidUtf8, Assert.Throws<RefTokenException>(() => g.SetDescription(bad)).Status);
        Assert.Equal(RefTokenStatus.InvalidUtf8, Assert.Throws<RefTokenException>(() => g.SetConfirmation(bad)).Status);
        Assert.Throws<ArgumentNullException>(() => g.AddClaim(null!, "v"));
        Assert.Throws<ArgumentNullException>(() => g.AddClaim("t", null!));
        Assert.Throws<ArgumentNullException>(() => g.AddAudience((string)null!));
        Assert.Equal(RefTokenStatus.InvalidArgument, Assert.Throws<RefTokenArgumentException>(() => g.GetField((GrantField)99)).Status);
        Assert.Equal(RefTokenStatus.InvalidArgument, Assert.Throws<RefTokenArgumentException>(() => g.TryGetField(0, new byte[8], out _)).Status);
    }

    [Fact]
    public void ClaimLimit()
    {
        using Grant g = Grant.Create("c", "i", 0, 60);
        for (int i = 0; i < 10000; i++)
        {
            g.AddClaim("t"u8, "v"u8, default);
        }

        Assert.Equal(RefTokenStatus.InputTooLarge, Assert.Throws<RefTokenException>(() => g.AddClaim("t", "v")).Status);
    }

    [Fact]
    public void OutputsIntoCallerBuffers()
    {
        GrantRow row = Fixtures.Grant("basic", protectedDb: false);
        using Grant g = Grant.Parse(row.Data);
        int payloadBytes = Encoding.UTF8.GetByteCount(row.Payload!);
        int dataBytes = Encoding.UTF8.GetByteCount(row.Data);

        var small = new byte[10];
        Assert.False(g.TryWriteTokenJson(small, out int needed));
        Assert.Equal(payloadBytes, needed);
        Assert.False(g.TryWriteData(small, out needed));
        Assert.Equal(dataBytes, needed);

        var big = new byte[4096];
        Assert.True(g.TryWriteTokenJson(big, out int n));
        Assert.Equal(row.Payload, Encoding.UTF8.GetString(big, 0, n));
        Assert.True(g.TryWriteData(big, out n));
        Assert.Equal(row.Data, Encoding.UTF8.GetString(big, 0, n));

        Assert.True(g.TryGetField(GrantField.SubjectId, big, out n));
        Assert.Equal("alice", Encoding.UTF8.GetString(big, 0, n));
        Assert.False(g.TryGetField(GrantField.SubjectId, new byte[2], out n));
        Assert.Equal(5, n);
        Assert.False(g.TryGetField(GrantField.SessionId, big, out n));
        Assert.Equal(0, n);
        Assert.Equal("client1", g.GetField(GrantField.ClientId));
    }

    [Fact]
    public void LongOutputsAreRetriedWithTheReportedSize()
    {
        using Grant g = Grant.Create("c", "https://i", 0, 60);
        string big = new('é', 5000);
        g.AddClaim("big", big);
        g.SetDescription(big);
        Assert.Equal(big, g.Description);
        using Grant again = Grant.Parse(g.ToData());
        Assert.Equal(big, again.Description);
        Assert.Contains(string.Concat(Enumerable.Repeat("\\u00E9", 5000)), again.ToTokenJson()); // System.Text.Json's escaping
    }

    [Fact]
    public void DisposedGrantThrowsObjectDisposed()
    {
        Grant g = Grant.Create("c", "i", 0, 60);
        g.Dispose();
        g.Dispose();
        Assert.Throws<ObjectDisposedException>(() => g.ToData());
        Assert.Throws<ObjectDisposedException>(() => g.AddClaim("a", "b"));
        Assert.Throws<ObjectDisposedException>(() => g.Introspect(IntrospectionCaller.Client("c"), Fixtures.Now));
        Assert.True(g.SafeHandle.IsClosed);
    }
}
