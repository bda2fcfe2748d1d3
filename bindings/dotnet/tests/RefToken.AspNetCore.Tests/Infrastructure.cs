using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Security.Claims;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Npgsql;
using RefToken.AspNetCore;
using RefToken.TestSupport;
using Xunit;

namespace RefToken.AspNetCore.Tests;

/// <summary>
/// The servers: <c>eval "$(scripts/test-servers.sh start)"</c> (test.sh does it) exports
/// REFTOKEN_TEST_POSTGRES_NOTIFY and REFTOKEN_TEST_REDIS. They are required: a test that needs one
/// fails without it, it is never skipped.
/// </summary>
public static class Servers
{
    public static string PostgresUrl => Get("REFTOKEN_TEST_POSTGRES_NOTIFY");

    public static string RedisUrl => Get("REFTOKEN_TEST_REDIS");

    private static string Get(string name) =>
        Environment.GetEnvironmentVariable(name) is { Length: > 0 } v
            ? v
            : throw new InvalidOperationException($"{name} is not set: run the tests through bindings/dotnet/test.sh, or eval \"$(scripts/test-servers.sh start)\" first.");

    /// <summary>A <c>postgresql://</c> URL as an Npgsql connection string (pooled, 3 s to connect).</summary>
    public static string ToNpgsql(string url) => RepositoryAndPostgres.ToNpgsql(url, pooling: true, timeoutSeconds: 3);

    public static string WithDatabase(string url, string db)
    {
        var b = new UriBuilder(url) { Path = "/" + db };
        return b.Uri.ToString();
    }

    public static string RepositoryFile(string relative) => RepositoryAndPostgres.RepositoryFile(relative);

    public static async Task<bool> Eventually(Func<Task<bool>> condition, TimeSpan timeout)
    {
        DateTime deadline = DateTime.UtcNow + timeout;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                return false;
            }

            await Task.Delay(20);
        }

        return true;
    }
}

/// <summary>IdentityServer's PersistedGrants table in a store the handler reads.</summary>
public interface IGrantStore : IDisposable
{
    string Kind { get; }

    void Configure(RefTokenAuthenticationOptions o);

    void Insert(string key, string type, string data);

    int Delete(string key);
}

/// <summary>A SQLite file with the table as EF Core's SQLite provider creates it for IdentityServer.</summary>
public sealed class SqliteGrantStore : IGrantStore
{
    private readonly string _file = Path.Combine(Path.GetTempPath(), $"reftoken-aspnet-{Guid.NewGuid():N}.db");

    public SqliteGrantStore()
    {
        Execute("""
            CREATE TABLE "PersistedGrants" (
                "Id" INTEGER NOT NULL CONSTRAINT "PK_PersistedGrants" PRIMARY KEY AUTOINCREMENT,
                "Key" TEXT NULL, "Type" TEXT NOT NULL, "SubjectId" TEXT NULL, "SessionId" TEXT NULL,
                "ClientId" TEXT NOT NULL, "Description" TEXT NULL, "CreationTime" TEXT NOT NULL,
                "Expiration" TEXT NULL, "ConsumedTime" TEXT NULL, "Data" TEXT NOT NULL);
            CREATE UNIQUE INDEX "IX_PersistedGrants_Key" ON "PersistedGrants" ("Key");
            """, []);
    }

    public string Kind => "sqlite";

    public string ConnectionString => $"Data Source={_file}";

    public void Configure(RefTokenAuthenticationOptions o) => o.SqliteConnectionString = ConnectionString;

    public void Insert(string key, string type, string data) =>
        Execute("""INSERT INTO "PersistedGrants" ("Key","Type","ClientId","CreationTime","Data") VALUES ($k,$t,'client1','2026-01-01',$d)""",
            [("$k", key), ("$t", type), ("$d", data)]);

    public int Delete(string key) => Execute("""DELETE FROM "PersistedGrants" WHERE "Key" = $k""", [("$k", key)]);

    private int Execute(string sql, (string, object)[] args)
    {
        using var c = new SqliteConnection(ConnectionString);
        c.Open();
        using SqliteCommand cmd = c.CreateCommand();
        cmd.CommandText = sql;
        foreach ((string n, object v) in args)
        {
            cmd.Parameters.AddWithValue(n, v);
        }

        return cmd.ExecuteNonQuery();
    }

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        File.Delete(_file);
    }
}

/// <summary>
/// A database of its own on the test PostgreSQL server, with IdentityServer's table as EF Core (Npgsql)
/// creates it and the revocation migration's NOTIFY triggers.
/// </summary>
public sealed class PostgresGrantStore : IGrantStore
{
    private readonly string _admin;
    private readonly string _name = $"reftoken_aspnet_{Guid.NewGuid():N}";

    public PostgresGrantStore()
    {
        _admin = Servers.ToNpgsql(Servers.PostgresUrl);
        using (var admin = new NpgsqlConnection(_admin))
        {
            admin.Open();
            Run(admin, $"CREATE DATABASE {_name}");
        }

        Url = Servers.WithDatabase(Servers.PostgresUrl, _name);
        ConnectionString = Servers.ToNpgsql(Url);
        using NpgsqlConnection c = Open();
        Run(c, File.ReadAllText(Servers.RepositoryFile("tests/fixtures/persisted-grants-postgres.sql")));
        Run(c, File.ReadAllText(Servers.RepositoryFile("migrations/postgres/0001_reftoken_revocation_notify.sql")));
    }

    public string Kind => "postgres";

    /// <summary>The libpq URL (for the NOTIFY listener).</summary>
    public string Url { get; }

    public string ConnectionString { get; }

    public void Configure(RefTokenAuthenticationOptions o) => o.PostgresConnectionString = ConnectionString;

    public void Insert(string key, string type, string data)
    {
        using NpgsqlConnection c = Open();
        using var cmd = new NpgsqlCommand("""INSERT INTO "PersistedGrants" ("Key","Type","ClientId","CreationTime","Data") VALUES (@k,@t,'client1',now(),@d)""", c);
        cmd.Parameters.AddWithValue("k", key);
        cmd.Parameters.AddWithValue("t", type);
        cmd.Parameters.AddWithValue("d", data);
        cmd.ExecuteNonQuery();
    }

    public int Delete(string key)
    {
        using NpgsqlConnection c = Open();
        using var cmd = new NpgsqlCommand("""DELETE FROM "PersistedGrants" WHERE "Key" = @k""", c);
        cmd.Parameters.AddWithValue("k", key);
        return cmd.ExecuteNonQuery();
    }

    private NpgsqlConnection Open()
    {
        var c = new NpgsqlConnection(ConnectionString);
        c.Open();
        return c;
    }

    private static void Run(NpgsqlConnection c, string sql)
    {
        using var cmd = new NpgsqlCommand(sql, c);
        cmd.ExecuteNonQuery();
    }

    public void Dispose()
    {
        NpgsqlConnection.ClearAllPools();
        using var admin = new NpgsqlConnection(_admin);
        admin.Open();
        Run(admin, $"DROP DATABASE IF EXISTS {_name} WITH (FORCE)");
    }
}

/// <summary>Reference tokens as IdentityServer stores them.</summary>
public static class Tokens
{
    public const string Issuer = "https://idp.example";

    /// <summary>A user's token for client1 with the usual claims; returns its Data column.</summary>
    public static string UserTokenData(DateTimeOffset created, int lifetime = 3600, string[]? scopes = null, KeyRing? ring = null)
    {
        using Grant g = Grant.Create("client1", Issuer, created, lifetime);
        g.AddAudience("api1");
        g.AddAudience("https://idp.example/resources");
        g.AddClaim("client_id", "client1");
        g.AddClaim("sub", "alice");
        g.AddClaim("name", "Alice Smith");
        g.AddClaim("role", "admin");
        g.AddClaim("role", "user");
        g.AddClaim("auth_time", "1767225600", "http://www.w3.org/2001/XMLSchema#integer64");
        g.AddClaim("idp", "local");
        g.AddClaim("amr", "pwd");
        g.AddClaim("email_verified", "true", "http://www.w3.org/2001/XMLSchema#boolean");
        g.AddClaim("address", """{"street":"Hauptstraße 1","city":"Zürich"}""", "json");
        g.AddClaim("nickname", "<al & \"ice\">");
        g.AddClaim("sid", "5E0A1B2C3D4E");
        g.AddClaim("jti", "9F1E2D3C4B5A");
        foreach (string s in scopes ?? ["api1.read", "api1.write", "openid", "offline_access"])
        {
            g.AddClaim("scope", s);
        }

        return ring is null ? g.ToData() : g.ToProtectedData(ring, created);
    }

    /// <summary>Inserts a user's token created a minute ago, active for the hour; returns the handle and its store key.</summary>
    public static (string Handle, string Key) IssueActive(IGrantStore store) =>
        Issue(store, UserTokenData(DateTimeOffset.UtcNow.AddMinutes(-1)));

    /// <summary>Inserts a new handle's row; returns the handle and its store key.</summary>
    public static (string Handle, string Key) Issue(IGrantStore store, string data)
    {
        string handle = TokenHandles.NewHandle();
        string key = StoreKeys.ForReferenceToken(handle);
        store.Insert(key, "reference_token", data);
        return (handle, key);
    }
}

/// <summary>Every log message of a host, with its exception text.</summary>
public sealed class LogCapture : ILoggerProvider
{
    public ConcurrentQueue<(string Category, LogLevel Level, EventId Id, string Text)> Entries { get; } = new();

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    public IEnumerable<string> Texts => Entries.Select(e => e.Text);

    private sealed class Logger(LogCapture owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            string text = formatter(state, exception) + (exception is null ? string.Empty : "\n" + exception);
            if (state is IEnumerable<KeyValuePair<string, object?>> values)
            {
                text += "\n" + string.Join("\n", values.Select(v => $"{v.Key}={v.Value}"));
            }

            owner.Entries.Enqueue((category, logLevel, eventId, text));
        }
    }
}

/// <summary>An API on TestHost whose <c>/me</c> requires the RefToken scheme and answers with the principal.</summary>
public sealed class ApiHost : IAsyncDisposable
{
    private readonly WebApplication _app;

    private ApiHost(WebApplication app, LogCapture logs)
    {
        _app = app;
        Logs = logs;
        Client = app.GetTestClient();
    }

    public HttpClient Client { get; }

    /// <summary>
    /// A builder whose content root is an empty folder: the test output holds the example gateway's
    /// appsettings.json, which no test host should read.
    /// </summary>
    public static WebApplicationBuilder NewBuilder() =>
        WebApplication.CreateBuilder(new WebApplicationOptions { ContentRootPath = EmptyRoot.Value });

    private static readonly Lazy<string> EmptyRoot = new(() => Directory.CreateTempSubdirectory("reftoken-aspnet-root-").FullName);

    public LogCapture Logs { get; }

    public IServiceProvider Services => _app.Services;

    /// <summary>An API on <paramref name="store"/> that caches each token for an hour, further configured by <paramref name="configure"/>.</summary>
    public static Task<ApiHost> StartCachingAsync(IGrantStore store, Action<RefTokenAuthenticationOptions> configure) =>
        StartAsync(o =>
        {
            store.Configure(o);
            o.EnableCaching = true;
            o.CacheDuration = TimeSpan.FromHours(1);
            configure(o);
        });

    public static async Task<ApiHost> StartAsync(Action<RefTokenAuthenticationOptions> configure, Action<WebApplicationBuilder>? services = null, Action<AuthenticationBuilder>? moreSchemes = null)
    {
        var logs = new LogCapture();
        WebApplicationBuilder builder = NewBuilder();
        builder.WebHost.UseTestServer();
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(LogLevel.Trace);
        builder.Logging.AddProvider(logs);
        AuthenticationBuilder auth = builder.Services.AddAuthentication("token").AddRefToken("token", o =>
        {
            o.ClientId = "api1";
            o.ApiScopes = ["api1.read", "api1.write"];
            configure(o);
        });
        moreSchemes?.Invoke(auth);
        builder.Services.AddAuthorization();
        services?.Invoke(builder);
        WebApplication app = builder.Build();
        app.UseAuthentication();
        app.UseAuthorization();
        app.MapGet("/me", async (HttpContext context) =>
        {
            ClaimsPrincipal user = context.User;
            var identity = (ClaimsIdentity)user.Identity!;
            return Results.Json(new PrincipalView(
                identity.AuthenticationType, identity.NameClaimType, identity.RoleClaimType, identity.Name,
                user.IsInRole("admin"), user.IsInRole("user"),
                identity.Claims.Select(c => new ClaimView(c.Type, c.Value, c.ValueType, c.Issuer, c.OriginalIssuer)).ToArray(),
                await context.GetTokenAsync("access_token")));
        }).RequireAuthorization();
        await app.StartAsync();
        return new ApiHost(app, logs);
    }

    public Task<HttpResponseMessage> GetAsync(string? token, string path = "/me")
    {
        var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        return Client.SendAsync(request);
    }

    public async Task<PrincipalView> MeAsync(string token)
    {
        HttpResponseMessage r = await GetAsync(token);
        Assert.Equal(System.Net.HttpStatusCode.OK, r.StatusCode);
        return JsonSerializer.Deserialize<PrincipalView>(await r.Content.ReadAsStringAsync(), JsonSerializerOptions.Web)!;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

public sealed record ClaimView(string Type, string Value, string ValueType, string Issuer, string OriginalIssuer);

public sealed record PrincipalView(string? AuthenticationType, string NameClaimType, string RoleClaimType, string? Name, bool IsAdmin, bool IsUser, ClaimView[] Claims, string? AccessToken);
