using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Threading.Tasks;
using Duende.IdentityServer;
using Duende.IdentityServer.EntityFramework.DbContexts;
using Duende.IdentityServer.Models;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.IdentityModel.Tokens;
using Microsoft.AspNetCore.Http;
using RefToken.TestSupport;
using Secret = Duende.IdentityServer.Models.Secret;

namespace RefToken.IdentityServer.Tests;

/// <summary>The deployment both hosts share: one SQLite database, one Data Protection key ring, one clock.</summary>
public sealed class Deployment : IDisposable
{
    public const string AppName = "reftoken-integration";
    public const string Issuer = "https://idsvr.test";

    public Deployment(bool postgres = false)
    {
        string id = Guid.NewGuid().ToString("N");
        Root = Path.Combine(Path.GetTempPath(), "reftoken-is-" + id);
        Directory.CreateDirectory(KeyRingDirectory);
        if (postgres)
        {
            // A database of its own on the test server; EnsureCreated makes it, Dispose drops it.
            PostgresDatabase = "reftoken_is_" + id;
            PostgresConnectionString = TestPostgres.ConnectionString(PostgresDatabase);
        }
    }

    public string Root { get; }
    public string Database => Path.Combine(Root, "grants.db");
    public string KeyRingDirectory => Path.Combine(Root, "keyring");
    public FixedClock Clock { get; } = new();

    /// <summary>Set when the operational store is PostgreSQL rather than SQLite.</summary>
    public string? PostgresDatabase { get; }
    public string? PostgresConnectionString { get; }

    /// <summary>IdentityServer's EF Core operational store on this deployment's database.</summary>
    public void UseStore(DbContextOptionsBuilder b)
    {
        if (PostgresConnectionString is { } pg)
        {
            b.UseNpgsql(pg);
        }
        else
        {
            b.UseSqlite($"Data Source={Database};Pooling=False");
        }
    }

    public void Dispose()
    {
        if (PostgresDatabase is { } db)
        {
            TestPostgres.DropDatabase(db);
        }

        try { Directory.Delete(Root, recursive: true); } catch (IOException) { }
    }

    public static readonly string[] Api1Scopes = ["api1.read", "api1.write"];
    public static readonly string[] Api2Scopes = ["api2.read"];

    public static IEnumerable<ApiResource> ApiResources =>
    [
        new ApiResource("api1") { Scopes = Api1Scopes.ToList(), ApiSecrets = { new Secret("api1-secret".Sha256()) } },
        new ApiResource("api2") { Scopes = Api2Scopes.ToList(), ApiSecrets = { new Secret("api2-secret".Sha512()) } },
    ];

    public static IEnumerable<ApiScope> ApiScopes => Api1Scopes.Concat(Api2Scopes).Append("other.scope").Select(s => new ApiScope(s));

    public static IEnumerable<Client> Clients =>
    [
        Client("client1"), Client("client2"), Client("client3", enabled: false),
    ];

    private static Client Client(string id, bool enabled = true) => new()
    {
        ClientId = id,
        Enabled = enabled,
        ClientSecrets = { new Secret((id + "-secret").Sha256()) },
        AllowedGrantTypes = Duende.IdentityServer.Models.GrantTypes.ClientCredentials,
        AccessTokenType = AccessTokenType.Reference,
        AllowedScopes = ["api1.read", "api1.write", "api2.read", "other.scope"],
    };
}

/// <summary>
/// The PostgreSQL server the tests use: REFTOKEN_TEST_POSTGRES, a postgresql:// URL (test.sh starts
/// a private server on 127.0.0.1 and sets it when it is not set).
/// </summary>
public static class TestPostgres
{
    public static string ConnectionString(string database)
    {
        string url = Environment.GetEnvironmentVariable("REFTOKEN_TEST_POSTGRES")
            ?? throw new InvalidOperationException("REFTOKEN_TEST_POSTGRES is not set: run bindings/dotnet/test.sh, or eval \"$(scripts/test-servers.sh start)\", which sets it");
        var uri = new Uri(url);
        string[] user = Uri.UnescapeDataString(uri.UserInfo).Split(':', 2);
        var b = new Npgsql.NpgsqlConnectionStringBuilder
        {
            Host = uri.Host,
            Port = uri.IsDefaultPort || uri.Port < 0 ? 5432 : uri.Port,
            Username = user[0].Length == 0 ? "postgres" : user[0],
            Database = database,
            Pooling = false,
        };
        if (user.Length == 2)
        {
            b.Password = user[1];
        }

        return b.ConnectionString;
    }

    public static void DropDatabase(string database)
    {
        using var c = new Npgsql.NpgsqlConnection(ConnectionString("postgres"));
        c.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = $"DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)";
        cmd.ExecuteNonQuery();
    }
}

/// <summary>A real Duende IdentityServer in the test process: stock, or with AddRefTokenNative().</summary>
public sealed class IdsHost : IAsyncDisposable
{
    private readonly WebApplication _app;

    private IdsHost(WebApplication app, HttpClient http, bool native)
    {
        _app = app;
        Http = http;
        Native = native;
    }

    public HttpClient Http { get; }
    public bool Native { get; }
    public IServiceProvider Services => _app.Services;

    public static async Task<IdsHost> StartAsync(Deployment d, bool native, bool protect = true, bool nativeKeyRing = true)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Production", ContentRootPath = d.Root });
        builder.WebHost.UseTestServer();
        builder.Logging.ClearProviders();

        builder.Services.AddDataProtection().PersistKeysToFileSystem(new DirectoryInfo(d.KeyRingDirectory)).SetApplicationName(Deployment.AppName);
        IIdentityServerBuilder ids = builder.Services.AddIdentityServer(o =>
            {
                o.IssuerUri = Deployment.Issuer;
                o.KeyManagement.Enabled = false;
                o.PersistentGrants.DataProtectData = protect;
            })
            .AddInMemoryClients(Deployment.Clients)
            .AddInMemoryApiResources(Deployment.ApiResources)
            .AddInMemoryApiScopes(Deployment.ApiScopes)
            .AddSigningCredential(SigningKey(), SecurityAlgorithms.EcdsaSha256)
            .AddOperationalStore(o =>
            {
                o.ConfigureDbContext = d.UseStore;
                o.EnableTokenCleanup = false;
            });
        if (native)
        {
            IIdentityServerBuilder returned = nativeKeyRing
                ? ids.AddRefTokenNative(o =>
                {
                    o.KeyRingDirectory = d.KeyRingDirectory;
                    o.ApplicationName = Deployment.AppName;
                    o.NativeIntrospection = true;
                })
                : ids.AddRefTokenNative(o => o.NativeIntrospection = true);
            if (!ReferenceEquals(returned, ids))
            {
                throw new InvalidOperationException("AddRefTokenNative must return its builder");
            }
        }

        builder.Services.RemoveAll<IClock>();
        builder.Services.AddSingleton<IClock>(d.Clock);
        builder.Services.RemoveAll<TimeProvider>();
        builder.Services.AddSingleton<TimeProvider>(d.Clock);

        WebApplication app = builder.Build();
        app.Use(async (ctx, next) =>
        {
            try
            {
                await next();
            }
            catch (Exception)
            {
                // As Kestrel: 500 with an empty body.
                if (!ctx.Response.HasStarted)
                {
                    ctx.Response.Clear();
                    ctx.Response.StatusCode = 500;
                }
            }
        });
        app.UseIdentityServer();
        using (IServiceScope scope = app.Services.CreateScope())
        {
            await scope.ServiceProvider.GetRequiredService<PersistedGrantDbContext>().Database.EnsureCreatedAsync();
        }

        await app.StartAsync();
        HttpClient http = app.GetTestClient();
        http.BaseAddress = new Uri("https://localhost/");
        return new IdsHost(app, http, native);
    }

    public static ECDsaSecurityKey SigningKey()
    {
        byte[] d = SHA256.HashData(Encoding.UTF8.GetBytes("reftoken-fixtures ES256 signing key"));
        return new ECDsaSecurityKey(ECDsa.Create(new ECParameters { Curve = ECCurve.NamedCurves.nistP256, D = d })) { KeyId = "reftoken-fixtures-es256" };
    }

    /// <summary>A reference token from the token endpoint (client credentials).</summary>
    public Task<string> IssueAsync(string clientId, string scope) =>
        TokenEndpoint.AccessTokenAsync(Http, clientId, new Dictionary<string, string> { ["grant_type"] = "client_credentials", ["scope"] = scope });

    /// <summary>POST /connect/introspect with HTTP Basic credentials: status, content type and body.</summary>
    public async Task<(int Status, string? ContentType, string Body)> IntrospectAsync(string token, string callerId, string secret, bool jwt = false)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "connect/introspect")
        {
            Content = new FormUrlEncodedContent(new Dictionary<string, string> { ["token"] = token }),
        };
        request.Headers.Authorization = TokenEndpoint.Basic(callerId, secret);
        if (jwt)
        {
            request.Headers.Accept.ParseAdd("application/token-introspection+jwt");
        }

        using HttpResponseMessage response = await Http.SendAsync(request);
        return ((int)response.StatusCode, response.Content.Headers.ContentType?.ToString(), await response.Content.ReadAsStringAsync());
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
