// A minimal Duende IdentityServer host for the introspection benchmark.
//
// Kestrel on 127.0.0.1 only (plain HTTP), the Entity Framework operational store on SQLite (the
// PersistedGrants table in IdentityServer's schema), ASP.NET Core Data Protection keys persisted
// to a folder under a fixed application name (IdentityServer protects each grant's Data with them
// by default), one client that gets reference tokens by client credentials, and one API resource
// with a hashed secret that introspects them.
//
// Usage: DuendeIntrospectionHost <workdir> <port>
//   <workdir>/grants.db   the operational store (created when missing)
//   <workdir>/keyring     the Data Protection key ring
//
// What differs from IdentityServer's defaults: logging (one console provider, Warning and above;
// ASP.NET Core's default logs every request at Information) and the access token lifetime (one
// day, so that the stored tokens outlive a long run). Everything on the token and introspection
// paths is IdentityServer's own default: no caching of grants, secrets checked on each request.

using Duende.IdentityServer.Models;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.EntityFrameworkCore;
using Secret = Duende.IdentityServer.Models.Secret;

if (args.Length != 2 || !int.TryParse(args[1], out var port))
{
    Console.Error.WriteLine("usage: DuendeIntrospectionHost <workdir> <port>");
    return 2;
}

var work = Path.GetFullPath(args[0]);
var keyring = Path.Combine(work, "keyring");
Directory.CreateDirectory(keyring);
var db = Path.Combine(work, "grants.db");

var builder = WebApplication.CreateBuilder(new WebApplicationOptions
{
    ContentRootPath = work,
    EnvironmentName = "Production",
    Args = [],
});
builder.WebHost.UseUrls($"http://127.0.0.1:{port}");

IdentityServerHosting.LogWarnings(builder.Logging);

builder.Services.AddDataProtection()
    .PersistKeysToFileSystem(new DirectoryInfo(keyring))
    .SetApplicationName(BenchConfig.AppName);

builder.Services.AddIdentityServer()
    .AddInMemoryClients(BenchConfig.Clients)
    .AddInMemoryApiResources(BenchConfig.ApiResources)
    .AddInMemoryApiScopes(BenchConfig.ApiScopes)
    .AddOperationalStore(o => o.ConfigureDbContext = b => b.UseSqlite($"Data Source={db}"));

return await IdentityServerHosting.RunAsync(builder.Build(), $"listening on http://127.0.0.1:{port}, store {db}, key ring {keyring}");

static class BenchConfig
{
    public const string AppName = "reftoken-bench";

    public static IEnumerable<ApiScope> ApiScopes => [new ApiScope("api1.read"), new ApiScope("api1.write")];

    public static IEnumerable<ApiResource> ApiResources =>
    [
        new ApiResource("api1")
        {
            Scopes = ["api1.read", "api1.write"],
            ApiSecrets = { new Secret("api1-secret".Sha256()) },
        },
    ];

    public static IEnumerable<Client> Clients =>
    [
        new Client
        {
            ClientId = "bench.client",
            ClientSecrets = { new Secret("bench-client-secret".Sha256()) },
            AllowedGrantTypes = GrantTypes.ClientCredentials,
            AccessTokenType = AccessTokenType.Reference,
            AccessTokenLifetime = 86400,
            AllowedScopes = ["api1.read"],
        },
    ];
}
