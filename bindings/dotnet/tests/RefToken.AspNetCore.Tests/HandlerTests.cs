using System;
using System.Collections.Generic;
using System.Linq;
using System.Net;
using System.Net.Http;
using System.Security.Claims;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Xunit;

namespace RefToken.AspNetCore.Tests;

/// <summary>The handler over real SQLite and PostgreSQL stores: every outcome a token can have.</summary>
public class HandlerTests
{
    public static TheoryData<string> Stores => ParityTests.Stores;

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task ValidExpiredUnknownRevokedAndWrongScope(string kind)
    {
        using IGrantStore store = ParityTests.NewStore(kind);
        DateTimeOffset now = DateTimeOffset.UtcNow;
        (string valid, _) = Tokens.IssueActive(store);
        (string expired, _) = Tokens.Issue(store, Tokens.UserTokenData(now.AddHours(-2), lifetime: 3600));
        (string revoked, string revokedKey) = Tokens.IssueActive(store);
        (string otherApi, _) = Tokens.Issue(store, Tokens.UserTokenData(now.AddMinutes(-1), scopes: ["api2.read", "openid"]));
        await using ApiHost api = await ApiHost.StartAsync(store.Configure);

        Assert.Equal(HttpStatusCode.OK, (await api.GetAsync(valid)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await api.GetAsync(revoked)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await api.GetAsync(expired)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await api.GetAsync(TokenHandles.NewHandle())).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await api.GetAsync(otherApi)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await api.GetAsync(null)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await api.GetAsync("not-a-handle")).StatusCode);

        // Without a cache, a deleted row is a rejected token at once.
        Assert.Equal(1, store.Delete(revokedKey));
        Assert.Equal(HttpStatusCode.Unauthorized, (await api.GetAsync(revoked)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await api.GetAsync(valid)).StatusCode);
    }

    [Fact]
    public async Task ATokenThatExpiresWhileCachedStopsValidating()
    {
        using var store = new SqliteGrantStore();
        var clock = new ManualClock(DateTimeOffset.UtcNow);
        (string handle, _) = Tokens.Issue(store, Tokens.UserTokenData(clock.GetUtcNow().AddSeconds(-30), lifetime: 60));
        await using ApiHost api = await ApiHost.StartCachingAsync(store, o =>
        {
            o.TimeProvider = clock;
        });

        Assert.Equal(HttpStatusCode.OK, (await api.GetAsync(handle)).StatusCode);
        clock.Advance(TimeSpan.FromSeconds(31));
        Assert.Equal(HttpStatusCode.Unauthorized, (await api.GetAsync(handle)).StatusCode);
    }

    [Fact]
    public async Task JwtLookingTokensAreLeftToTheNextScheme()
    {
        using var store = new SqliteGrantStore();
        int lookups = 0;
        int failures = 0;
        await using ApiHost api = await ApiHost.StartAsync(o =>
        {
            o.Lookup = _ => { Interlocked.Increment(ref lookups); return null; };
            o.Events.OnAuthenticationFailed = _ => { Interlocked.Increment(ref failures); return Task.CompletedTask; };
        });
        const string jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl";

        Assert.Equal(HttpStatusCode.Unauthorized, (await api.GetAsync(jwt)).StatusCode);
        Assert.Equal(0, lookups);
        Assert.Equal(0, failures);
        Assert.Contains(api.Logs.Entries, e => e.Id.Name == "SkippingDotToken");

        // The same token with skipping off is judged (and found nowhere).
        await using ApiHost judging = await ApiHost.StartAsync(o =>
        {
            o.Lookup = _ => { Interlocked.Increment(ref lookups); return null; };
            o.SkipTokensWithDots = false;
            o.Events.OnAuthenticationFailed = _ => { Interlocked.Increment(ref failures); return Task.CompletedTask; };
        });
        Assert.Equal(HttpStatusCode.Unauthorized, (await judging.GetAsync(jwt)).StatusCode);
        Assert.Equal(1, failures);
    }

    [Fact]
    public async Task TheTokenCanComeFromElsewhere()
    {
        using var store = new SqliteGrantStore();
        (string handle, _) = Tokens.IssueActive(store);
        await using ApiHost api = await ApiHost.StartAsync(o =>
        {
            store.Configure(o);
            o.TokenRetriever = TokenRetrieval.FromQueryString();
        });

        Assert.Equal(HttpStatusCode.Unauthorized, (await api.GetAsync(handle)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await api.GetAsync(null, "/me?access_token=" + handle)).StatusCode);
    }

    [Fact]
    public async Task ALookupDelegateGetsTheStoreKeyAndTheRequestsServices()
    {
        DateTimeOffset now = DateTimeOffset.UtcNow;
        string data = Tokens.UserTokenData(now.AddMinutes(-1));
        string handle = TokenHandles.NewHandle();
        var rows = new Dictionary<string, PersistedGrantRow> { [StoreKeys.ForReferenceToken(handle)] = new("reference_token", data) };
        var seen = new List<(string Key, RequestScoped? Scoped)>();
        await using ApiHost api = await ApiHost.StartAsync(
            o => o.Lookup = ctx =>
            {
                lock (seen)
                {
                    seen.Add((ctx.StoreKey, ctx.RequestServices.GetService<RequestScoped>()));
                }

                return rows.GetValueOrDefault(ctx.StoreKey);
            },
            b => b.Services.AddScoped<RequestScoped>());

        Assert.Equal(HttpStatusCode.OK, (await api.GetAsync(handle)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await api.GetAsync(handle)).StatusCode);

        Assert.Equal(2, seen.Count);
        Assert.All(seen, s => Assert.Equal(StoreKeys.ForReferenceToken(handle), s.Key));
        Assert.All(seen, s => Assert.NotNull(s.Scoped));
        Assert.NotSame(seen[0].Scoped, seen[1].Scoped);   // one per request: the request's own scope
    }

    public sealed class RequestScoped;

    [Fact]
    public async Task EventsFireAndCanDecide()
    {
        using var store = new SqliteGrantStore();
        (string handle, _) = Tokens.IssueActive(store);
        var validated = new List<string>();
        var failed = new List<(string Error, Exception? Exception)>();
        await using ApiHost api = await ApiHost.StartAsync(o =>
        {
            store.Configure(o);
            o.Events.OnTokenValidated = ctx =>
            {
                validated.Add(ctx.SecurityToken);
                ((ClaimsIdentity)ctx.Principal!.Identity!).AddClaim(new Claim("added", "by-event"));
                return Task.CompletedTask;
            };
            o.Events.OnAuthenticationFailed = ctx =>
            {
                failed.Add((ctx.Error, ctx.Exception));
                return Task.CompletedTask;
            };
        });

        PrincipalView me = await api.MeAsync(handle);
        Assert.Contains(me.Claims, c => c.Type == "added" && c.Value == "by-event");
        Assert.Equal([handle], validated);
        Assert.Equal(HttpStatusCode.Unauthorized, (await api.GetAsync(TokenHandles.NewHandle())).StatusCode);
        (string error, Exception? exception) = Assert.Single(failed);
        Assert.Equal("Token is not active.", error);
        Assert.Null(exception);

        // An event that rejects a valid token decides the result.
        await using ApiHost rejecting = await ApiHost.StartAsync(o =>
        {
            store.Configure(o);
            o.Events.OnTokenValidated = ctx =>
            {
                ctx.Fail("rejected by the application");
                return Task.CompletedTask;
            };
        });
        Assert.Equal(HttpStatusCode.Unauthorized, (await rejecting.GetAsync(handle)).StatusCode);
    }

    [Fact]
    public async Task AStoreOutageFailsClosedWith503AndADistinctFailure()
    {
        string missing = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"reftoken-missing-{Guid.NewGuid():N}", "grants.db");
        var failures = new List<Exception?>();
        await using ApiHost api = await ApiHost.StartAsync(o =>
        {
            o.SqliteConnectionString = $"Data Source={missing}";
            o.Events.OnAuthenticationFailed = ctx =>
            {
                failures.Add(ctx.Exception);
                return Task.CompletedTask;
            };
        });
        string handle = TokenHandles.NewHandle();

        HttpResponseMessage response = await api.GetAsync(handle);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.True(response.Headers.Contains("Retry-After"));
        Exception? e = Assert.Single(failures);
        var outage = Assert.IsType<RefTokenStoreUnavailableException>(e);
        Assert.IsType<Microsoft.Data.Sqlite.SqliteException>(outage.InnerException);
        var line = Assert.Single(api.Logs.Entries, l => l.Id.Name == "StoreUnavailable");
        Assert.Equal(LogLevel.Error, line.Level);
        Assert.Contains("could not be reached (SqliteException)", line.Text);
        Assert.DoesNotContain(handle, string.Join("\n", api.Logs.Texts));

        // The result itself carries the exception type, for code that authenticates by hand.
        AuthenticateResult result = await AuthenticateDirectly(api, handle);
        Assert.IsType<RefTokenStoreUnavailableException>(result.Failure);
    }

    [Fact]
    public async Task APostgresOutageFailsClosedToo()
    {
        await using ApiHost api = await ApiHost.StartAsync(o =>
            o.PostgresConnectionString = "Host=127.0.0.1;Port=1;Username=nobody;Password=not-logged-secret;Timeout=2");
        string handle = TokenHandles.NewHandle();

        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await api.GetAsync(handle)).StatusCode);
        string logs = string.Join("\n", api.Logs.Texts);
        Assert.Contains("could not be reached (NpgsqlException)", logs);
        Assert.DoesNotContain(handle, logs);
        Assert.DoesNotContain("not-logged-secret", logs);
    }

    [Fact]
    public async Task AnOutageCanChainToAnotherScheme()
    {
        string missing = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"reftoken-missing-{Guid.NewGuid():N}", "grants.db");
        await using ApiHost api = await ApiHost.StartAsync(
            o =>
            {
                o.SqliteConnectionString = $"Data Source={missing}";
                o.StoreUnavailableForwardScheme = "fallback";
            },
            moreSchemes: auth => auth.AddScheme<AuthenticationSchemeOptions, FallbackHandler>("fallback", _ => { }));

        PrincipalView me = await api.MeAsync(TokenHandles.NewHandle());

        Assert.Equal("fallback", me.AuthenticationType);
        Assert.Contains(api.Logs.Entries, l => l.Id.Name == "StoreUnavailableForwarded");
    }

    /// <summary>Stands for the HTTP introspection handler: accepts whatever it is asked about.</summary>
    public sealed class FallbackHandler(Microsoft.Extensions.Options.IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, System.Text.Encodings.Web.UrlEncoder encoder)
        : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
    {
        protected override Task<AuthenticateResult> HandleAuthenticateAsync() =>
            Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(new ClaimsIdentity([new Claim("sub", "via-fallback")], "fallback")), Scheme.Name)));
    }

    private static async Task<AuthenticateResult> AuthenticateDirectly(ApiHost api, string handle)
    {
        var context = new Microsoft.AspNetCore.Http.DefaultHttpContext { RequestServices = api.Services.CreateScope().ServiceProvider };
        context.Request.Headers.Authorization = "Bearer " + handle;
        return await context.AuthenticateAsync("token");
    }

    [Fact]
    public void OptionsAreChecked()
    {
        var o = new RefTokenAuthenticationOptions();
        Assert.Contains("ClientId", Assert.Throws<InvalidOperationException>(o.Validate).Message);
        o.ClientId = "api1";
        Assert.Contains("ApiScopes", Assert.Throws<InvalidOperationException>(o.Validate).Message);
        o.ApiScopes = ["api1.read"];
        Assert.Contains("exactly one", Assert.Throws<InvalidOperationException>(o.Validate).Message);
        o.SqliteConnectionString = "Data Source=x.db";
        o.Validate();
        o.Lookup = _ => null;
        Assert.Contains("exactly one", Assert.Throws<InvalidOperationException>(o.Validate).Message);
        o.Lookup = null;
        o.KeyRingDirectory = "/nonexistent";
        Assert.Contains("ApplicationName", Assert.Throws<InvalidOperationException>(o.Validate).Message);
    }
}

/// <summary>A clock the test moves.</summary>
public sealed class ManualClock(DateTimeOffset start) : TimeProvider
{
    private DateTimeOffset _now = start;

    public override DateTimeOffset GetUtcNow() => _now;

    public void Advance(TimeSpan by) => _now += by;
}
