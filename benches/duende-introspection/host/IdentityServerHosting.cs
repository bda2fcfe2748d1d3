// What the benchmarks' IdentityServer hosts share (this one, and bindings/dotnet/bench/aspnetcore's,
// which links this file): console logging at Warning and above, and the operational store's schema
// created before the host starts listening.

using Duende.IdentityServer.EntityFramework.DbContexts;

static class IdentityServerHosting
{
    /// <summary>One single-line console provider, Warning and above (ASP.NET Core's default logs every request).</summary>
    public static void LogWarnings(ILoggingBuilder logging)
    {
        logging.ClearProviders();
        logging.AddSimpleConsole(o => o.SingleLine = true);
        logging.SetMinimumLevel(LogLevel.Warning);
        // The trial-mode notice (no license key) is logged once; it changes nothing else.
        logging.AddFilter("Duende.IdentityServer.License", LogLevel.None);
    }

    /// <summary>Creates the PersistedGrants table (EnsureCreated), serves until shut down; the exit code.</summary>
    public static async Task<int> RunAsync(WebApplication app, string listening)
    {
        app.UseIdentityServer();
        using (var scope = app.Services.CreateScope())
        {
            await scope.ServiceProvider.GetRequiredService<PersistedGrantDbContext>().Database.EnsureCreatedAsync();
        }

        await app.StartAsync();
        Console.WriteLine(listening);
        await app.WaitForShutdownAsync();
        return 0;
    }
}
