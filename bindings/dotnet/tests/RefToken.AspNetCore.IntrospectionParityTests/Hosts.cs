using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Threading.Tasks;
using Duende.AspNetCore.Authentication.OAuth2Introspection;
using Duende.IdentityServer;
using Duende.IdentityServer.EntityFramework.DbContexts;
using Duende.IdentityServer.EntityFramework.Options;
using Duende.IdentityServer.Models;
using Duende.IdentityServer.Services;
using Duende.IdentityServer.Validation;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.TestHost;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.IdentityModel.Tokens;
using RefToken.AspNetCore;
using RefToken.TestSupport;
using Secret = Duende.IdentityServer.Models.Secret;

namespace RefToken.AspNetCore.IntrospectionParityTests;

/// <summary>The users the token endpoint knows (resource owner password grant) and the claims their tokens carry.</summary>
public static class Users
{
    public const string Password = "pw";

    private const string Integer = ClaimValueTypes.Integer;
    private const string Integer64 = ClaimValueTypes.Integer64;
    private const string Boolean = ClaimValueTypes.Boolean;
    private const string Double = ClaimValueTypes.Double;
    private const string Json = IdentityServerConstants.ClaimValueTypes.Json;

    /// <summary>What the profile service issues into each user's access token.</summary>
    public static readonly Dictionary<string, Claim[]> Claims = new()
    {
        ["alice"] =
        [
            new("name", "Alice Smith"),
            new("role", "admin"),
            new("role", "user"),
            new("email", "alice@example.com"),
            new("email_verified", "true", Boolean),
            new("address", """{"street":"Hauptstraße 1","city":"Zürich","zip":8001}""", Json),
            new("groups", """["g1","g2"]""", Json),
            new("nickname", "<al & \"ice\"> \u00e9\u4e2d"),
            new("level", "7", Integer),
            new("big", "3000000000", Integer),
            new("account", "9007199254740993", Integer64),
            new("ratio", "0.5", Double),
            new("broken_json", "{not json", Json),
            new("tag", "a"),
            new("tag", "b"),
            new("tag", "a"),
        ],
        ["bob"] =
        [
            new("role", "user"),
            new("given_name", "Bob"),
        ],
    };
}

/// <summary>Any known user whose password is <see cref="Users.Password"/>.</summary>
public sealed class PasswordValidator : IResourceOwnerPasswordValidator
{
    public Task ValidateAsync(ResourceOwnerPasswordValidationContext context)
    {
        context.Result = Users.Claims.ContainsKey(context.UserName) && context.Password == Users.Password
            ? new GrantValidationResult(context.UserName, "pwd")
            : new GrantValidationResult(TokenRequestErrors.InvalidGrant);
        return Task.CompletedTask;
    }
}

/// <summary>Issues each user's fixture claims, whatever was requested.</summary>
public sealed class FixtureProfileService : IProfileService
{
    public Task GetProfileDataAsync(ProfileDataRequestContext context)
    {
        if (Users.Claims.TryGetValue(context.Subject.FindFirst("sub")?.Value ?? string.Empty, out Claim[]? claims))
        {
            context.IssuedClaims.AddRange(claims);
        }

        return Task.CompletedTask;
    }

    public Task IsActiveAsync(IsActiveContext context)
    {
        context.IsActive = true;
        return Task.CompletedTask;
    }
}

/// <summary>
/// A real Duende IdentityServer on TestHost: EF Core operational store on SQLite, grants protected
/// with a Data Protection key ring in a folder, in-memory clients and resources, one clock.
/// </summary>
public sealed class IdentityServerHost : IAsyncDisposable
{
    public const string AppName = "reftoken-parity";
    public const string Issuer = "https://idsvr.test";
    public const string Api1Secret = "api1-secret";
    public static readonly string[] Api1Scopes = ["api1.read", "api1.write"];

    private readonly WebApplication _app;

    private IdentityServerHost(WebApplication app, string root, FixedClock clock, List<Client> clients)
    {
        _app = app;
        Root = root;
        SharedClock = clock;
        Clients = clients;
        Http = app.GetTestClient();
        Http.BaseAddress = new Uri("https://localhost/");
    }

    public string Root { get; }
    public string Database => Path.Combine(Root, "grants.db");
    public string SqliteConnectionString => $"Data Source={Database};Pooling=False";
    public string KeyRingDirectory => Path.Combine(Root, "keyring");
    /// <summary>The clock IdentityServer and the APIs share.</summary>
    public FixedClock SharedClock { get; }
    public HttpClient Http { get; }
    public IServiceProvider Services => _app.Services;

    /// <summary>The server's HTTP handler, for the introspection handler's back channel.</summary>
    public HttpMessageHandler CreateHandler() => _app.GetTestServer().CreateHandler();

    /// <summary>IdentityServer's client store (in memory, read on each request): a test disables a client after its token was issued.</summary>
    public List<Client> Clients { get; }

    private static List<Client> NewClients() =>
    [
        new()
        {
            ClientId = "ro.client",
            ClientSecrets = { new Secret("ro.client-secret".Sha256()) },
            AllowedGrantTypes = Duende.IdentityServer.Models.GrantTypes.ResourceOwnerPassword,
            AccessTokenType = AccessTokenType.Reference,
            AllowedScopes = ["api1.read", "api1.write", "api2.read"],
        },
        new()
        {
            ClientId = "machine",
            ClientSecrets = { new Secret("machine-secret".Sha256()) },
            AllowedGrantTypes = Duende.IdentityServer.Models.GrantTypes.ClientCredentials,
            AccessTokenType = AccessTokenType.Reference,
            AllowedScopes = ["api1.read", "api1.write", "api2.read"],
            Claims = [new ClientClaim("tier", "gold"), new ClientClaim("tier", "silver"), new ClientClaim("quota", "100", ClaimValueTypes.Integer)],
        },
        new()
        {
            ClientId = "short",
            ClientSecrets = { new Secret("short-secret".Sha256()) },
            AllowedGrantTypes = Duende.IdentityServer.Models.GrantTypes.ClientCredentials,
            AccessTokenType = AccessTokenType.Reference,
            AccessTokenLifetime = 60,
            AllowedScopes = ["api1.read"],
        },
        new()
        {
            ClientId = "toggle",
            ClientSecrets = { new Secret("toggle-secret".Sha256()) },
            AllowedGrantTypes = Duende.IdentityServer.Models.GrantTypes.ClientCredentials,
            AccessTokenType = AccessTokenType.Reference,
            AllowedScopes = ["api1.read"],
        },
    ];

    public bool IsClientEnabled(string clientId) => Clients.Any(c => c.ClientId == clientId && c.Enabled);

    public static async Task<IdentityServerHost> StartAsync()
    {
        string root = Directory.CreateTempSubdirectory("reftoken-parity-").FullName;
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Production", ContentRootPath = root });
        builder.WebHost.UseTestServer();
        builder.Logging.ClearProviders();
        List<Client> clients = NewClients();
        builder.Services.AddDataProtection().PersistKeysToFileSystem(new DirectoryInfo(Path.Combine(root, "keyring"))).SetApplicationName(AppName);
        builder.Services.AddIdentityServer(o =>
            {
                o.IssuerUri = Issuer;
                o.KeyManagement.Enabled = false;
            })
            .AddInMemoryClients(clients)
            .AddInMemoryApiResources(
            [
                new ApiResource("api1") { Scopes = Api1Scopes.ToList(), ApiSecrets = { new Secret(Api1Secret.Sha256()) } },
                new ApiResource("api2") { Scopes = ["api2.read"], ApiSecrets = { new Secret("api2-secret".Sha256()) } },
            ])
            .AddInMemoryApiScopes(Api1Scopes.Append("api2.read").Select(s => new ApiScope(s)))
            .AddSigningCredential(SigningKey(), SecurityAlgorithms.EcdsaSha256)
            .AddResourceOwnerValidator<PasswordValidator>()
            .AddProfileService<FixtureProfileService>()
            .AddOperationalStore(o =>
            {
                o.ConfigureDbContext = b => b.UseSqlite($"Data Source={Path.Combine(root, "grants.db")};Pooling=False");
                o.EnableTokenCleanup = false;
            });
        var clock = new FixedClock();
        builder.Services.RemoveAll<IClock>();
        builder.Services.AddSingleton<IClock>(clock);
        builder.Services.RemoveAll<TimeProvider>();
        builder.Services.AddSingleton<TimeProvider>(clock);

        WebApplication app = builder.Build();
        app.UseIdentityServer();
        using (IServiceScope scope = app.Services.CreateScope())
        {
            await scope.ServiceProvider.GetRequiredService<PersistedGrantDbContext>().Database.EnsureCreatedAsync();
        }

        await app.StartAsync();
        return new IdentityServerHost(app, root, clock, clients);
    }

    private static ECDsaSecurityKey SigningKey()
    {
        byte[] d = SHA256.HashData(Encoding.UTF8.GetBytes("reftoken-parity ES256 signing key"));
        return new ECDsaSecurityKey(ECDsa.Create(new ECParameters { Curve = ECCurve.NamedCurves.nistP256, D = d })) { KeyId = "reftoken-parity-es256" };
    }

    /// <summary>A reference token from the token endpoint: client credentials, or a user's (password grant) when <paramref name="user"/> is set.</summary>
    public async Task<string> IssueAsync(string clientId, string scope, string? user = null)
    {
        var form = new Dictionary<string, string> { ["scope"] = scope };
        if (user is null)
        {
            form["grant_type"] = "client_credentials";
        }
        else
        {
            form["grant_type"] = "password";
            form["username"] = user;
            form["password"] = Users.Password;
        }

        string token = await TokenEndpoint.AccessTokenAsync(Http, clientId, form);
        if (token.Contains('.'))
        {
            throw new InvalidOperationException("expected a reference token, got a JWT");
        }

        return token;
    }

    /// <summary>The revocation endpoint (RFC 7009), as the token's client.</summary>
    public async Task RevokeAsync(string clientId, string token)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "connect/revocation")
        {
            Content = new FormUrlEncodedContent(new Dictionary<string, string> { ["token"] = token, ["token_type_hint"] = "access_token" }),
        };
        request.Headers.Authorization = TokenEndpoint.Basic(clientId, clientId + "-secret");
        using HttpResponseMessage response = await Http.SendAsync(request);
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"revocation endpoint: {(int)response.StatusCode}");
        }
    }

    /// <summary>Deletes every stored row of the token's client (as an operator's <c>DELETE</c> would).</summary>
    public async Task<int> DeleteGrantsAsync(string clientId)
    {
        using IServiceScope scope = Services.CreateScope();
        var db = scope.ServiceProvider.GetRequiredService<PersistedGrantDbContext>();
        return await db.PersistedGrants.Where(g => g.ClientId == clientId).ExecuteDeleteAsync();
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { }
    }
}

/// <summary>What an API saw of a request: the authentication result and the principal, as plain data.</summary>
public sealed record ClaimView(string Type, string Value, string ValueType, string Issuer, string OriginalIssuer, int Properties);

public sealed record PrincipalView(
    bool Succeeded,
    bool None,
    string? Failure,
    int Identities,
    string? AuthenticationType,
    bool IsAuthenticated,
    string? NameClaimType,
    string? RoleClaimType,
    string? Name,
    string? Label,
    bool HasActor,
    string[] Roles,
    ClaimView[] Claims,
    string[] SavedTokens,
    string? AccessToken);

/// <summary>
/// An API on TestHost with one authentication scheme, <c>Bearer</c>: <c>/me</c> answers with what
/// <c>AuthenticateAsync</c> gave (whether or not it succeeded), <c>/protected</c> requires an
/// authenticated user.
/// </summary>
public sealed class ApiHost : IAsyncDisposable
{
    public const string Scheme = "Bearer";

    private readonly WebApplication _app;

    private ApiHost(WebApplication app)
    {
        _app = app;
        Client = app.GetTestClient();
    }

    public HttpClient Client { get; }

    public IServiceProvider Services => _app.Services;

    public static async Task<ApiHost> StartAsync(IdentityServerHost ids, Action<AuthenticationBuilder> scheme, Action<IServiceCollection>? services = null)
    {
        string root = Directory.CreateTempSubdirectory("reftoken-parity-api-").FullName;
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Production", ContentRootPath = root });
        builder.WebHost.UseTestServer();
        builder.Logging.ClearProviders();
        builder.Services.RemoveAll<TimeProvider>();
        builder.Services.AddSingleton<TimeProvider>(ids.SharedClock);
        scheme(builder.Services.AddAuthentication(Scheme));
        builder.Services.AddAuthorization();
        services?.Invoke(builder.Services);
        WebApplication app = builder.Build();
        app.UseAuthentication();
        app.UseAuthorization();
        app.MapGet("/me", async (HttpContext context) =>
        {
            AuthenticateResult result = await context.AuthenticateAsync(Scheme);
            return Results.Json(View(result));
        });
        app.MapGet("/protected", () => "ok").RequireAuthorization();
        await app.StartAsync();
        return new ApiHost(app);
    }

    private static PrincipalView View(AuthenticateResult result)
    {
        ClaimsPrincipal? user = result.Principal;
        ClaimsIdentity? identity = user?.Identities.FirstOrDefault();
        return new PrincipalView(
            result.Succeeded,
            result.None,
            result.Failure?.Message,
            user?.Identities.Count() ?? 0,
            identity?.AuthenticationType,
            identity?.IsAuthenticated ?? false,
            identity?.NameClaimType,
            identity?.RoleClaimType,
            identity?.Name,
            identity?.Label,
            identity?.Actor is not null,
            identity is null ? [] : identity.FindAll(identity.RoleClaimType).Select(c => c.Value).Where(r => user!.IsInRole(r)).ToArray(),
            identity is null ? [] : identity.Claims.Select(c => new ClaimView(c.Type, c.Value, c.ValueType, c.Issuer, c.OriginalIssuer, c.Properties.Count)).ToArray(),
            result.Properties?.GetTokens().Select(t => t.Name + "=" + t.Value).ToArray() ?? [],
            result.Properties?.GetTokenValue("access_token"));
    }

    public async Task<PrincipalView> MeAsync(string token)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/me");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using HttpResponseMessage r = await Client.SendAsync(request);
        r.EnsureSuccessStatusCode();
        return JsonSerializer.Deserialize<PrincipalView>(await r.Content.ReadAsStringAsync(), JsonSerializerOptions.Web)!;
    }

    /// <summary>The status code and <c>WWW-Authenticate</c> header of <c>/protected</c> with the token.</summary>
    public async Task<(int Status, string Challenge)> ProtectedAsync(string token)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/protected");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using HttpResponseMessage r = await Client.SendAsync(request);
        return ((int)r.StatusCode, string.Join(", ", r.Headers.WwwAuthenticate.Select(h => h.ToString())));
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    /// <summary>RefToken against IdentityServer's SQLite store and key ring, with its client list.</summary>
    public static Action<AuthenticationBuilder> RefTokenSqlite(IdentityServerHost ids, Action<RefTokenAuthenticationOptions>? more = null) =>
        auth => auth.AddRefToken(Scheme, o =>
        {
            o.ClientId = "api1";
            o.ApiScopes = IdentityServerHost.Api1Scopes;
            o.IsClientEnabled = ids.IsClientEnabled;
            o.SqliteConnectionString = ids.SqliteConnectionString;
            o.KeyRingDirectory = ids.KeyRingDirectory;
            o.ApplicationName = IdentityServerHost.AppName;
            more?.Invoke(o);
        });

    /// <summary>RefToken reading IdentityServer's rows through the API's own EF Core <c>PersistedGrantDbContext</c> (the lookup delegate).</summary>
    public static Action<AuthenticationBuilder> RefTokenEfLookup(IdentityServerHost ids, Action<RefTokenAuthenticationOptions>? more = null) =>
        auth => auth.AddRefToken(Scheme, o =>
        {
            o.ClientId = "api1";
            o.ApiScopes = IdentityServerHost.Api1Scopes;
            o.IsClientEnabled = ids.IsClientEnabled;
            o.Lookup = ctx =>
            {
                var db = ctx.RequestServices.GetRequiredService<PersistedGrantDbContext>();
                var row = db.PersistedGrants.AsNoTracking().Where(g => g.Key == ctx.StoreKey).Select(g => new { g.Type, g.Data }).SingleOrDefault();
                return row is null ? null : new PersistedGrantRow(row.Type, row.Data);
            };
            o.KeyRingDirectory = ids.KeyRingDirectory;
            o.ApplicationName = IdentityServerHost.AppName;
            more?.Invoke(o);
        });

    /// <summary>The API's EF Core operational-store context on IdentityServer's database (for <see cref="RefTokenEfLookup"/>).</summary>
    public static Action<IServiceCollection> EfContext(IdentityServerHost ids) => services =>
    {
        services.AddSingleton(new OperationalStoreOptions());
        services.AddDbContext<PersistedGrantDbContext>(b => b.UseSqlite(ids.SqliteConnectionString));
    };

    /// <summary>
    /// Duende's OAuth2 introspection handler against IdentityServer's endpoint (its back channel on the
    /// TestHost server). Its results are not cached (both HybridCache writes disabled), so that every
    /// request is judged by IdentityServer, as every request without a cache hit is judged by RefToken.
    /// </summary>
    public static Action<AuthenticationBuilder> Introspection(IdentityServerHost ids, Action<OAuth2IntrospectionOptions>? more = null) =>
        auth =>
        {
            auth.AddOAuth2Introspection(Scheme, o =>
            {
                o.Authority = "https://localhost";
                o.IntrospectionEndpoint = "https://localhost/connect/introspect";
                o.ClientId = "api1";
                o.ClientSecret = IdentityServerHost.Api1Secret;
                o.SetCacheEntryFlags = HybridCacheEntryFlags.DisableLocalCacheWrite | HybridCacheEntryFlags.DisableDistributedCacheWrite;
                more?.Invoke(o);
            });
            auth.Services.AddHttpClient(OAuth2IntrospectionDefaults.BackChannelHttpClientName)
                .ConfigurePrimaryHttpMessageHandler(ids.CreateHandler);
        };
}
