using System;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using System.Text.Json;
using System.Threading.Tasks;
using Xunit;

namespace RefToken.Tests;

public class IntrospectionTests : IClassFixture<FixtureKeyRing>
{
    private static readonly IntrospectionOptions Enabled = new()
    {
        IsClientEnabled = id => Fixtures.EnabledClients.Contains(id),
    };

    private readonly FixtureKeyRing _ring;

    public IntrospectionTests(FixtureKeyRing ring) => _ring = ring;

    /// <summary>
    /// Every reference-token introspection the real IdentityServer answered: find the row by the
    /// store key, read it (unprotecting with the fixture key ring), and build the response.
    /// </summary>
    [Theory]
    [MemberData(nameof(Fixtures.ReferenceTokenIntrospections), MemberType = typeof(Fixtures))]
    public void MatchesIdentityServerByteForByte(string name)
    {
        IntrospectionEntry entry = Fixtures.Introspection.Single(e => e.Name == name);
        IntrospectionCaller caller = entry.ToCaller()!;
        DateTimeOffset now = DateTimeOffset.FromUnixTimeSeconds(entry.NowUnix);
        string key = StoreKeys.ForReferenceToken(entry.Handle!);
        GrantRow? row = Fixtures.Grants.FirstOrDefault(r => r.Db == entry.GrantsDb && r.Key == key);

        using Grant? grant = row is null || row.Type != GrantTypes.ReferenceToken ? null : _ring.Decode(row);
        if (entry.Status == 500)
        {
            Assert.NotNull(grant);
            var e = Assert.Throws<RefTokenException>(() => grant!.Introspect(caller, now, Enabled));
            Assert.Equal(RefTokenStatus.MalformedInput, e.Status);
            return;
        }

        string actual = grant is null ? "{\"active\":false}" : grant.Introspect(caller, now, Enabled);
        Assert.Equal(entry.Body, actual);

        if (grant is not null)
        {
            // The same through the other entry points.
            Assert.Equal(entry.Body, Encoding.UTF8.GetString(grant.IntrospectUtf8(caller, now, Enabled)));
            var buffer = new byte[65536];
            Assert.True(grant.TryIntrospect(caller, now, Enabled, buffer, out int n));
            Assert.Equal(entry.Body, Encoding.UTF8.GetString(buffer, 0, n));

            IntrospectionVerdict verdict = grant.Evaluate(caller, now, Enabled);
            Assert.Equal(entry.Body != "{\"active\":false}", verdict.IsActive);
            Assert.Equal(verdict.IsActive, verdict.Reason == InactiveReason.None);
            Assert.Equal(grant.ExpirationUnixSeconds, verdict.ExpirationUnixSeconds);
            Assert.Equal(grant.SubjectId, verdict.SubjectId);
            Assert.Equal(grant.ClientId, verdict.ClientId);

            // Straight from the Data column, unprotecting natively.
            Assert.Equal(entry.Body, Introspection.IntrospectData(row!.Data, _ring.Ring, caller, now, Enabled));
            Assert.Equal(entry.Body, Encoding.UTF8.GetString(Introspection.IntrospectDataUtf8(Encoding.UTF8.GetBytes(row.Data), _ring.Ring, caller, now, Enabled)));
            Assert.True(Introspection.TryIntrospectData(Encoding.UTF8.GetBytes(row.Data), _ring.Ring, caller, now, Enabled, buffer, out n));
            Assert.Equal(entry.Body, Encoding.UTF8.GetString(buffer, 0, n));
            using Grant parsed = Grant.ParseProtected(row.Data, _ring.Ring);
            Assert.Equal(grant.ToTokenJson(), parsed.ToTokenJson());
            if (!row.DataProtected)
            {
                Assert.Equal(entry.Body, Introspection.IntrospectData(row.Data, caller, now, Enabled));
            }
            else
            {
                Assert.Equal(RefTokenStatus.DataProtected, Assert.Throws<RefTokenException>(() => Introspection.IntrospectData(row.Data, caller, now, Enabled)).Status);
            }
        }
        else if (row is not null && row.Type == GrantTypes.ReferenceToken)
        {
            // A row IdentityServer could not read: inactive there, an error here.
            var e = Assert.Throws<RefTokenException>(() => Introspection.IntrospectData(row.Data, _ring.Ring, caller, now, Enabled));
            Assert.Contains(e.Status, new[] { RefTokenStatus.CryptoFailure, RefTokenStatus.UnsupportedVersion, RefTokenStatus.MalformedInput });
        }
    }

    [Fact]
    public void CoversTheFixtureSet()
    {
        // 172 answered reference-token introspections and the 7 that made IdentityServer throw.
        Assert.True(Fixtures.ReferenceTokenIntrospections().Count() >= 170);
    }

    private static Grant Basic() => Grant.Parse(Fixtures.Grant("basic", protectedDb: false).Data);

    [Fact]
    public void Verdicts()
    {
        using Grant g = Basic();
        var api1 = IntrospectionCaller.Api("api1", ["api1.read", "api1.write"]);
        IntrospectionVerdict v = g.Evaluate(api1, Fixtures.Now);
        Assert.True(v.IsActive);
        Assert.Equal(InactiveReason.None, v.Reason);
        Assert.Equal("alice", v.SubjectId);
        Assert.Equal("client1", v.ClientId);
        Assert.Equal(1740833940, v.ExpirationUnixSeconds);
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(1740833940), v.Expiration);

        Assert.Equal(InactiveReason.Expired, g.Evaluate(api1, Fixtures.Now.AddHours(2)).Reason);
        Assert.True(g.Evaluate(api1, DateTimeOffset.FromUnixTimeSeconds(1740833940)).IsActive); // exactly at expiry
        Assert.Equal(InactiveReason.NoMatchingScope, g.Evaluate(IntrospectionCaller.Api("api2", "api2.read"), Fixtures.Now).Reason);
        Assert.Equal(InactiveReason.OtherClient, g.Evaluate(IntrospectionCaller.Client("client2"), Fixtures.Now).Reason);
        Assert.True(g.Evaluate(IntrospectionCaller.Client("client1"), Fixtures.Now).IsActive);
        var disabled = new IntrospectionOptions { IsClientEnabled = _ => false };
        Assert.Equal(InactiveReason.ClientDisabled, g.Evaluate(api1, Fixtures.Now, disabled).Reason);
        Assert.Equal("{\"active\":false}", g.Introspect(api1, Fixtures.Now, disabled));
    }

    [Fact]
    public void NoSubjectGivesNull()
    {
        using Grant g = Grant.Parse(Fixtures.Grant("client_credentials_shape", protectedDb: false).Data);
        IntrospectionVerdict v = g.Evaluate(IntrospectionCaller.Client("client1"), Fixtures.Now);
        Assert.Null(v.SubjectId);
        Assert.Equal("client1", v.ClientId);
    }

    [Fact]
    public void CallbackSeesTheClientIdAndItsExceptionIsRethrown()
    {
        using Grant g = Basic();
        var seen = new List<string>();
        var options = new IntrospectionOptions { IsClientEnabled = id => { seen.Add(id); return true; } };
        Assert.StartsWith("{\"iss\"", g.Introspect(IntrospectionCaller.Api("api1", "api1.read"), Fixtures.Now, options));
        Assert.Contains("client1", seen);

        var boom = new InvalidOperationException("client store down");
        var throwing = new IntrospectionOptions { IsClientEnabled = _ => throw boom };
        var api1 = IntrospectionCaller.Api("api1", "api1.read");
        Assert.Same(boom, Assert.Throws<InvalidOperationException>(() => g.Introspect(api1, Fixtures.Now, throwing)));
        Assert.Same(boom, Assert.Throws<InvalidOperationException>(() => g.Evaluate(api1, Fixtures.Now, throwing)));
        Assert.Same(boom, Assert.Throws<InvalidOperationException>(() => g.TryIntrospect(api1, Fixtures.Now, throwing, new byte[4096], out _)));
        string data = Fixtures.Grant("basic", protectedDb: false).Data;
        Assert.Same(boom, Assert.Throws<InvalidOperationException>(() => Introspection.IntrospectData(data, api1, Fixtures.Now, throwing)));
        Assert.Same(boom, Assert.Throws<InvalidOperationException>(() => Introspection.TryIntrospectData(Encoding.UTF8.GetBytes(data), null, api1, Fixtures.Now, throwing, new byte[4096], out _)));

        // Nothing lingers for the next call on this thread.
        Assert.StartsWith("{\"iss\"", g.Introspect(api1, Fixtures.Now, options));
    }

    [Fact]
    public void OlderIdentityServerVersions()
    {
        using Grant g = Basic();
        var api1 = IntrospectionCaller.Api("api1", "api1.read");
        string latest = g.Introspect(api1, Fixtures.Now);
        Assert.Contains("\"iat\":", latest);
        Assert.Equal(latest, g.Introspect(api1, Fixtures.Now, new IntrospectionOptions { IdentityServerVersion = IdentityServerVersion.Duende7_3 }));
        string is4 = g.Introspect(api1, Fixtures.Now, new IntrospectionOptions { IdentityServerVersion = IdentityServerVersion.IdentityServer4 });
        Assert.DoesNotContain("\"iat\":", is4);
        foreach (IdentityServerVersion v in Enum.GetValues<IdentityServerVersion>())
        {
            Assert.Contains("\"active\":true", g.Introspect(api1, Fixtures.Now, new IntrospectionOptions { IdentityServerVersion = v }));
        }
    }

    [Fact]
    public void Errors()
    {
        using Grant g = Basic();
        var badKind = IntrospectionCaller.Raw(7, "api1", "api1.read");
        Assert.Equal(RefTokenStatus.InvalidArgument, Assert.Throws<RefTokenArgumentException>(() => g.Introspect(badKind, Fixtures.Now)).Status);
        Assert.Equal(RefTokenStatus.InvalidArgument, Assert.Throws<RefTokenArgumentException>(() => g.Evaluate(badKind, Fixtures.Now)).Status);
        var badVersion = new IntrospectionOptions { IdentityServerVersion = (IdentityServerVersion)12345 };
        var api1 = IntrospectionCaller.Api("api1", "api1.read");
        Assert.Equal(RefTokenStatus.InvalidArgument, Assert.Throws<RefTokenArgumentException>(() => g.Introspect(api1, Fixtures.Now, badVersion)).Status);
        Assert.Equal(RefTokenStatus.InvalidArgument, Assert.Throws<RefTokenArgumentException>(() => g.Evaluate(api1, Fixtures.Now, badVersion)).Status);
        Assert.Equal(RefTokenStatus.DataProtected, Assert.Throws<RefTokenException>(() => Introspection.IntrospectData(Fixtures.Grant("basic").Data, api1, Fixtures.Now)).Status);
        Assert.Equal(RefTokenStatus.MalformedInput, Assert.Throws<RefTokenException>(() => Introspection.IntrospectData("{", api1, Fixtures.Now)).Status);
        Assert.Equal(RefTokenStatus.InvalidUtf8, Assert.Throws<RefTokenException>(() => Introspection.IntrospectDataUtf8(new byte[] { 0xFF }, null, api1, Fixtures.Now)).Status);

        using Grant active = Grant.Create("client1", "https://i", Fixtures.Now.AddMinutes(-1), 3600);
        active.AddClaim("scope", "api1.read");
        active.AddClaim("active", "yes");
        Assert.Equal(RefTokenStatus.MalformedInput, Assert.Throws<RefTokenException>(() => active.Introspect(api1, Fixtures.Now)).Status);

        Assert.Throws<ArgumentNullException>(() => g.Introspect(null!, Fixtures.Now));
        Assert.Throws<ArgumentNullException>(() => g.Evaluate(null!, Fixtures.Now));
        Assert.Throws<ArgumentNullException>(() => Introspection.IntrospectData(null!, api1, Fixtures.Now));
        Assert.Throws<ArgumentNullException>(() => Introspection.IntrospectDataUtf8("{}"u8, null, null!, Fixtures.Now));
        Assert.Throws<ArgumentNullException>(() => IntrospectionCaller.Api(null!, "s"));
        Assert.Throws<ArgumentNullException>(() => IntrospectionCaller.Api("a", (string)null!));
        Assert.Throws<ArgumentNullException>(() => IntrospectionCaller.Api("a", (IEnumerable<string>)null!));
        Assert.Throws<ArgumentNullException>(() => IntrospectionCaller.Client(null!));
    }

    [Fact]
    public void BufferTooSmallAndRetry()
    {
        using Grant g = Grant.Create("client1", "https://idsvr.test", Fixtures.Now.AddMinutes(-1), 3600);
        g.AddClaim("scope", "api1.read");
        for (int i = 0; i < 300; i++)
        {
            g.AddClaim("c" + i, new string('v', 20));
        }

        var api1 = IntrospectionCaller.Api("api1", "api1.read");
        string full = g.Introspect(api1, Fixtures.Now); // larger than the first 2 KiB attempt
        Assert.True(full.Length > 8000);
        Assert.False(g.TryIntrospect(api1, Fixtures.Now, null, new byte[100], out int needed));
        Assert.Equal(Encoding.UTF8.GetByteCount(full), needed);
        string data = g.ToData();
        Assert.Equal(full, Introspection.IntrospectData(data, api1, Fixtures.Now));
        Assert.False(Introspection.TryIntrospectData(Encoding.UTF8.GetBytes(data), null, api1, Fixtures.Now, null, new byte[100], out needed));
        Assert.Equal(Encoding.UTF8.GetByteCount(full), needed);
    }

    [Fact]
    public void CallersDescribeThemselves()
    {
        var api = IntrospectionCaller.Api("api1", ["a", "b"]);
        Assert.Equal(IntrospectionCallerKind.Api, api.Kind);
        Assert.Equal("a b", api.Scopes);
        Assert.Equal("api1", api.Name);
        Assert.Equal("api api1 (a b)", api.ToString());
        var client = IntrospectionCaller.Client("c1");
        Assert.Equal(IntrospectionCallerKind.Client, client.Kind);
        Assert.Equal("", client.Scopes);
        Assert.Equal("client c1", client.ToString());
    }

    [Fact]
    public void SharedGrantAndCallerAcrossThreads()
    {
        using Grant g = Basic();
        var api1 = IntrospectionCaller.Api("api1", "api1.read api1.write");
        string expected = g.Introspect(api1, Fixtures.Now);
        Parallel.For(0, 4000, new ParallelOptions { MaxDegreeOfParallelism = 8 }, _ =>
        {
            Assert.Equal(expected, g.Introspect(api1, Fixtures.Now, Enabled));
            Assert.True(g.Evaluate(api1, Fixtures.Now).IsActive);
        });
    }
}
