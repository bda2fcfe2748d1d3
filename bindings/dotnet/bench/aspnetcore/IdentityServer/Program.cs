// The benchmark's IdentityServer: Kestrel on 127.0.0.1 (plain HTTP), the Entity Framework operational
// store on PostgreSQL (the PersistedGrants table in IdentityServer's schema, created by EnsureCreated),
// Data Protection keys persisted to a folder under a fixed application name (grants are protected, as
// by default), one client that gets reference tokens by client credentials, one API resource with a
// hashed secret that introspects them.
//
// Usage: BenchIdentityServer <port> <npgsql connection string> <key ring folder>
//
// Changed from the defaults: logging (Warning and above), and the access token lifetime (one day).
// Nothing on the token and introspection paths is cached (IdentityServer's default).

using Duende.IdentityServer.Models;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.EntityFrameworkCore;
using Secret = Duende.IdentityServer.Models.Secret;

if (args.Length != 3 || !int.TryParse(args[0], out int port))
{
    Console.Error.WriteLine("usage: BenchIdentityServer <port> <npgsql connection string> <key ring folder>");
    return 2;
}

string store = args[1];
string keyring = Path.GetFullPath(args[2]);
Directory.CreateDirectory(keyring);

var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Production", ContentRootPath = keyring, Args = [] });
builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
IdentityServerHosting.LogWarnings(builder.Logging);

builder.Services.AddDataProtection().PersistKeysToFileSystem(new DirectoryInfo(keyring)).SetApplicationName("reftoken-aspnetcore-bench");
builder.Services.AddIdentityServer()
    .AddInMemoryClients(
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
    ])
    .AddInMemoryApiResources([new ApiResource("api1") { Scopes = ["api1.read", "api1.write"], ApiSecrets = { new Secret("api1-secret".Sha256()) } }])
    .AddInMemoryApiScopes([new ApiScope("api1.read"), new ApiScope("api1.write")])
    .AddOperationalStore(o => o.ConfigureDbContext = b => b.UseNpgsql(store));

return await IdentityServerHosting.RunAsync(builder.Build(), $"listening on http://127.0.0.1:{port}");
