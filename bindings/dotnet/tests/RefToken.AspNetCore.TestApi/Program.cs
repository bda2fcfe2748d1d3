using System;
using System.Linq;
using System.Security.Claims;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using RefToken;
using RefToken.AspNetCore;

// Configuration from the command line: --store-postgres or --store-sqlite, --revocation-postgres and/or
// --revocation-redis, --channel, --stale-bound-ms. Prints "listening <url>" once Kestrel is bound on
// 127.0.0.1; GET /ready answers 200 once every revocation listener has confirmed delivery.
WebApplicationBuilder builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
builder.Logging.ClearProviders();
builder.Logging.AddSimpleConsole();
builder.Logging.SetMinimumLevel(LogLevel.Warning);
builder.WebHost.UseUrls("http://127.0.0.1:0");
IConfiguration config = builder.Configuration;
builder.Services.AddAuthentication("token").AddRefToken("token", o =>
{
    o.ClientId = "api1";
    o.ApiScopes = ["api1.read", "api1.write"];
    o.SqliteConnectionString = config["store-sqlite"];
    o.PostgresConnectionString = config["store-postgres"];
    o.RevocationPostgres = config["revocation-postgres"];
    o.RevocationRedis = config["revocation-redis"];
    o.RevocationChannel = config["channel"];
    o.StaleBound = TimeSpan.FromMilliseconds(int.Parse(config["stale-bound-ms"] ?? "2000", System.Globalization.CultureInfo.InvariantCulture));
    o.EnableCaching = true;
    o.CacheDuration = TimeSpan.FromHours(1);
});
builder.Services.AddAuthorization();
WebApplication app = builder.Build();
app.UseAuthentication();
app.UseAuthorization();
app.MapGet("/me", (HttpContext context) => context.User.FindFirst("sub")?.Value ?? "").RequireAuthorization();
app.MapGet("/ready", (IServiceProvider services) =>
{
    RefTokenSchemeValidator v = services.GetRequiredService<RefTokenValidators>().Get("token");
    return v.Listeners.Count > 0 && v.Listeners.All(l => l.Stats.ConfirmedAge is not null)
        ? Results.Ok()
        : Results.StatusCode(503);
});
app.MapGet("/stats", (IServiceProvider services) =>
    string.Join("\n", services.GetRequiredService<RefTokenValidators>().Get("token").Listeners.Select(l => l.Stats.ToString())));
await app.StartAsync();
Console.WriteLine("listening " + app.Urls.First());
await app.WaitForShutdownAsync();
