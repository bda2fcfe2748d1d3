using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading.Tasks;
using Xunit;

namespace RefToken.AspNetCore.IntrospectionParityTests;

/// <summary>
/// One real IdentityServer and three APIs: RefToken reading IdentityServer's SQLite store directly,
/// RefToken reading it through the API's EF Core context (the lookup delegate), and Duende's OAuth2
/// introspection handler calling IdentityServer's introspection endpoint.
/// </summary>
public sealed class Deployment : IAsyncLifetime
{
    public IdentityServerHost Ids { get; private set; } = null!;
    public ApiHost Duende { get; private set; } = null!;
    public ApiHost RefTokenSqlite { get; private set; } = null!;
    public ApiHost RefTokenEf { get; private set; } = null!;

    public IEnumerable<(string Name, ApiHost Api)> RefTokenApis => [("sqlite", RefTokenSqlite), ("ef lookup", RefTokenEf)];

    public async Task InitializeAsync()
    {
        Ids = await IdentityServerHost.StartAsync();
        Duende = await ApiHost.StartAsync(Ids, ApiHost.Introspection(Ids));
        RefTokenSqlite = await ApiHost.StartAsync(Ids, ApiHost.RefTokenSqlite(Ids));
        RefTokenEf = await ApiHost.StartAsync(Ids, ApiHost.RefTokenEfLookup(Ids), ApiHost.EfContext(Ids));
    }

    public async Task DisposeAsync()
    {
        await RefTokenEf.DisposeAsync();
        await RefTokenSqlite.DisposeAsync();
        await Duende.DisposeAsync();
        await Ids.DisposeAsync();
    }
}

/// <summary>
/// For every token of the fixture set, the principal RefToken.AspNetCore builds is the one Duende's
/// OAuth2 introspection handler builds from IdentityServer's response: the same claims in the same
/// order (type, value, value type, issuer, original issuer), the same identity (authentication type,
/// name and role claim types, IsAuthenticated, name, roles) and the same saved tokens; and a token
/// refused by one is refused by the other, with the same failure.
/// </summary>
public sealed class ParityTests(Deployment d) : IClassFixture<Deployment>
{
    /// <summary>Tokens both accept: user tokens (password grant) and client-credentials tokens, with their scopes.</summary>
    public static TheoryData<string, string, string?> Accepted => new()
    {
        // client, scope, user
        { "ro.client", "api1.read api1.write", "alice" },
        { "ro.client", "api1.read api2.read", "alice" },
        { "ro.client", "api1.write", "bob" },
        { "machine", "api1.read api1.write", null },
        { "machine", "api2.read api1.write", null },
    };

    [Theory]
    [MemberData(nameof(Accepted))]
    public async Task TheSamePrincipalClaimForClaim(string client, string scope, string? user)
    {
        string token = await d.Ids.IssueAsync(client, scope, user);

        PrincipalView duende = await d.Duende.MeAsync(token);

        // What the comparison covers, so that it cannot pass on two empty principals.
        Assert.True(duende.Succeeded, duende.Failure);
        Assert.True(duende.IsAuthenticated);
        Assert.Contains(duende.Claims, c => c.Type == "iss" && c.Value == IdentityServerHost.Issuer);
        Assert.Contains(duende.Claims, c => c.Type == "client_id" && c.Value == client);
        Assert.Equal(scope.Split(' ').Where(IdentityServerHost.Api1Scopes.Contains), duende.Claims.Where(c => c.Type == "scope").Select(c => c.Value));
        Assert.Equal($"access_token={token}", Assert.Single(duende.SavedTokens));
        if (user == "alice")
        {
            Assert.Equal("Alice Smith", duende.Name);
            Assert.Equal(["admin", "user"], duende.Roles);
            Assert.Equal(2, duende.Claims.Count(c => c.Type == "role"));
            Assert.Contains(duende.Claims, c => c.Type == "address" && c.ValueType == "JSON");
        }
        else if (user is null)
        {
            Assert.DoesNotContain(duende.Claims, c => c.Type == "sub");
            Assert.Contains(duende.Claims, c => c.Type == "client_tier" && c.Value == "silver");
        }

        foreach ((string name, ApiHost api) in d.RefTokenApis)
        {
            AssertSame(duende, await api.MeAsync(token), name);
        }
    }

    /// <summary>
    /// With caches on: RefToken's cache hit gives the principal of the first request, hence of
    /// Duende's handler without cache. Duende's own cache hit does not: its HybridCache keeps each
    /// claim's type and value only (its <c>ClaimSerializer</c>), so a cached principal's claims are
    /// issued by <c>LOCAL AUTHORITY</c> and a JSON claim's value type becomes <c>string</c>. That is
    /// why the comparison above is with the handler's uncached principal.
    /// </summary>
    [Fact]
    public async Task CacheHitsKeepThePrincipal()
    {
        await using ApiHost duendeCached = await ApiHost.StartAsync(d.Ids, ApiHost.Introspection(d.Ids, o => o.SetCacheEntryFlags = default));
        await using ApiHost reftokenCached = await ApiHost.StartAsync(d.Ids, ApiHost.RefTokenSqlite(d.Ids, o => o.EnableCaching = true));
        string token = await d.Ids.IssueAsync("ro.client", "api1.read", "alice");

        PrincipalView fresh = await d.Duende.MeAsync(token);
        Assert.True(fresh.Succeeded, fresh.Failure);
        AssertSame(fresh, await reftokenCached.MeAsync(token), "sqlite, cache miss");
        Assert.True(await d.Ids.DeleteGrantsAsync("ro.client") >= 1); // from now on only a cache can answer
        AssertSame(fresh, await reftokenCached.MeAsync(token), "sqlite, cache hit");
        Assert.False((await d.Duende.MeAsync(token)).Succeeded);

        string other = await d.Ids.IssueAsync("ro.client", "api1.read", "alice");
        PrincipalView first = await duendeCached.MeAsync(other);
        Assert.True(await d.Ids.DeleteGrantsAsync("ro.client") >= 1);
        PrincipalView hit = await duendeCached.MeAsync(other);
        Assert.True(hit.Succeeded, hit.Failure);
        Assert.Equal(first.Claims.Select(c => (c.Type, c.Value)), hit.Claims.Select(c => (c.Type, c.Value)));
        Assert.All(first.Claims, c => Assert.Equal(IdentityServerHost.Issuer, c.Issuer));
        Assert.All(hit.Claims, c => Assert.Equal(System.Security.Claims.ClaimsIdentity.DefaultIssuer, c.Issuer));
        Assert.Equal("JSON", first.Claims.Single(c => c.Type == "address").ValueType);
        Assert.Equal(System.Security.Claims.ClaimValueTypes.String, hit.Claims.Single(c => c.Type == "address").ValueType);
    }

    [Fact]
    public async Task OptionsOfTheSameNameMeanTheSame()
    {
        await using ApiHost duende = await ApiHost.StartAsync(d.Ids, ApiHost.Introspection(d.Ids, o =>
        {
            o.NameClaimType = "sub";
            o.RoleClaimType = "client_tier";
            o.AuthenticationType = "reference";
            o.SaveToken = false;
        }));
        await using ApiHost reftoken = await ApiHost.StartAsync(d.Ids, ApiHost.RefTokenSqlite(d.Ids, o =>
        {
            o.NameClaimType = "sub";
            o.RoleClaimType = "client_tier";
            o.AuthenticationType = "reference";
            o.SaveToken = false;
        }));

        foreach ((string client, string? user) in new[] { ("ro.client", "alice"), ("machine", (string?)null) })
        {
            string token = await d.Ids.IssueAsync(client, "api1.read", user);
            PrincipalView expected = await duende.MeAsync(token);
            Assert.True(expected.Succeeded, expected.Failure);
            Assert.Equal("reference", expected.AuthenticationType);
            Assert.Empty(expected.SavedTokens);
            Assert.Equal(user, expected.Name);
            Assert.Equal(user is null ? ["gold", "silver"] : [], expected.Roles);
            AssertSame(expected, await reftoken.MeAsync(token), "sqlite, options");
        }
    }

    [Fact]
    public async Task TokensRefusedByOneAreRefusedByTheOther()
    {
        // Accepted by both first, so that each refusal below comes from what changed.
        string api2Only = await d.Ids.IssueAsync("ro.client", "api2.read", "alice");
        string revoked = await d.Ids.IssueAsync("ro.client", "api1.read", "bob");
        string deleted = await d.Ids.IssueAsync("machine", "api1.read");
        string disabled = await d.Ids.IssueAsync("toggle", "api1.read");
        string expired = await d.Ids.IssueAsync("short", "api1.read");
        string unknown = Convert.ToHexString(Guid.NewGuid().ToByteArray()) + Convert.ToHexString(Guid.NewGuid().ToByteArray()) + "-1";
        foreach (string token in new[] { revoked, deleted, disabled, expired })
        {
            await AssertBothAccept(token);
        }

        await d.Ids.RevokeAsync("ro.client", revoked);
        Assert.True(await d.Ids.DeleteGrantsAsync("machine") >= 1);
        d.Ids.Clients.Single(c => c.ClientId == "toggle").Enabled = false;
        DateTimeOffset was = d.Ids.SharedClock.Current;
        try
        {
            d.Ids.SharedClock.Current = was.AddSeconds(61);
            foreach (string token in new[] { api2Only, revoked, deleted, disabled, unknown, expired, "not-a-handle" })
            {
                await AssertBothRefuse(token);
            }
        }
        finally
        {
            d.Ids.SharedClock.Current = was;
            d.Ids.Clients.Single(c => c.ClientId == "toggle").Enabled = true;
        }
    }

    private async Task AssertBothAccept(string token)
    {
        Assert.True((await d.Duende.MeAsync(token)).Succeeded);
        foreach ((string name, ApiHost api) in d.RefTokenApis)
        {
            Assert.True((await api.MeAsync(token)).Succeeded, name);
        }
    }

    private async Task AssertBothRefuse(string token)
    {
        // RefToken first: IdentityServer deletes an expired token's row when it is introspected, and
        // RefToken must refuse it for its expiry, not for a missing row.
        var reftoken = new List<(string Name, PrincipalView View, (int, string) Protected)>();
        foreach ((string name, ApiHost api) in d.RefTokenApis)
        {
            reftoken.Add((name, await api.MeAsync(token), await api.ProtectedAsync(token)));
        }

        PrincipalView duende = await d.Duende.MeAsync(token);
        (int status, string challenge) = await d.Duende.ProtectedAsync(token);
        Assert.False(duende.Succeeded);
        Assert.Equal(401, status);
        foreach ((string name, PrincipalView view, (int, string) prot) in reftoken)
        {
            Assert.Equal((status, challenge), prot);
            Assert.False(view.Succeeded, name);
            Assert.Equal(duende.None, view.None);
            Assert.Equal(duende.Failure, view.Failure);
            Assert.Equal(0, view.Identities);
        }
    }

    private static void AssertSame(PrincipalView expected, PrincipalView actual, string which)
    {
        Assert.True(actual.Succeeded, $"{which}: {actual.Failure}");
        Assert.Equal(
            expected.Claims.Select(c => c.ToString()).ToArray(),
            actual.Claims.Select(c => c.ToString()).ToArray());
        Assert.Equal(expected with { Claims = [], Roles = [], SavedTokens = [] }, actual with { Claims = [], Roles = [], SavedTokens = [] });
        Assert.Equal(expected.Roles, actual.Roles);
        Assert.Equal(expected.SavedTokens, actual.SavedTokens);
    }
}
