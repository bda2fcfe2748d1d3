// The benchmark's API: GET / answers "ok" to an authenticated caller, on Kestrel at 127.0.0.1.
//
// Usage: BenchApi <port> reftoken <npgsql connection string> <libpq URL> <key ring folder>
//        BenchApi <port> introspection <IdentityServer URL>
//        BenchApi <port> introspection-cached <IdentityServer URL> <cache seconds>
//        BenchApi <port> anonymous -
//
// reftoken: RefToken.AspNetCore reading IdentityServer's PostgreSQL store, its cache on (the defaults:
//   10,000 tokens, 5 minutes), revocation through the PostgreSQL NOTIFY listener.
// introspection: Duende's handler calling the introspection endpoint on every request (its HybridCache
//   writes disabled).
// introspection-cached: Duende's handler with its cache (HybridCache in memory, its default since 7.0)
//   for the given duration.
// anonymous: no authentication at all (GET / answers everyone): the ceiling of this API on this machine.

using System;
using System.Linq;
using Duende.AspNetCore.Authentication.OAuth2Introspection;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using RefToken.AspNetCore;

if (args.Length < 3 || !int.TryParse(args[0], out int port))
{
    Console.Error.WriteLine("usage: BenchApi <port> reftoken|introspection|introspection-cached ...");
    return 2;
}

var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Production", ContentRootPath = AppContext.BaseDirectory, Args = [] });
builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
builder.Logging.ClearProviders();
builder.Logging.AddSimpleConsole(o => o.SingleLine = true);
builder.Logging.SetMinimumLevel(LogLevel.Warning);

// anonymous: no default scheme, so UseAuthentication authenticates nothing.
AuthenticationBuilder auth = args[1] == "anonymous" ? builder.Services.AddAuthentication() : builder.Services.AddAuthentication("Bearer");
switch (args[1])
{
    case "reftoken" when args.Length == 5:
        auth.AddRefToken("Bearer", o =>
        {
            o.ClientId = "api1";
            o.ApiScopes = ["api1.read", "api1.write"];
            o.PostgresConnectionString = args[2];
            o.RevocationPostgres = args[3];
            o.KeyRingDirectory = args[4];
            o.ApplicationName = "reftoken-aspnetcore-bench";
            o.EnableCaching = true;
        });
        break;
    case "introspection" when args.Length == 3:
    case "introspection-cached" when args.Length == 4:
        bool cached = args[1] == "introspection-cached";
        auth.AddOAuth2Introspection("Bearer", o =>
        {
            o.Authority = args[2];
            o.IntrospectionEndpoint = args[2].TrimEnd('/') + "/connect/introspect";
            o.ClientId = "api1";
            o.ClientSecret = "api1-secret";
            if (cached)
            {
                o.CacheDuration = TimeSpan.FromSeconds(int.Parse(args[3]));
            }
            else
            {
                o.SetCacheEntryFlags = HybridCacheEntryFlags.DisableLocalCacheWrite | HybridCacheEntryFlags.DisableDistributedCacheWrite;
            }
        });
        break;
    case "anonymous" when args.Length == 3:
        break;
    default:
        Console.Error.WriteLine("usage: BenchApi <port> reftoken|introspection|introspection-cached ...");
        return 2;
}

builder.Services.AddAuthorization();
var app = builder.Build();
app.UseAuthentication();
app.UseAuthorization();
RouteHandlerBuilder root = app.MapGet("/", () => "ok");
if (args[1] != "anonymous")
{
    root.RequireAuthorization();
}

await app.StartAsync();
Console.WriteLine($"listening on http://127.0.0.1:{port} ({args[1]})");
await app.WaitForShutdownAsync();
return 0;
