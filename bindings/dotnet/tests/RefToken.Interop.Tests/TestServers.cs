using System;
using System.IO;
using System.Threading;
using Npgsql;
using RefToken.TestSupport;
using Xunit;

namespace RefToken.Tests;

/// <summary>
/// The PostgreSQL and Redis servers of the revocation tests: <c>eval "$(scripts/test-servers.sh start)"</c>
/// exports <c>REFTOKEN_TEST_POSTGRES_NOTIFY</c> and <c>REFTOKEN_TEST_REDIS</c>. Without them the tests
/// that need a server are skipped, except under <c>CI=true</c>, where they run and fail.
/// </summary>
public static class TestServers
{
    public const string PostgresVariable = "REFTOKEN_TEST_POSTGRES_NOTIFY";
    public const string RedisVariable = "REFTOKEN_TEST_REDIS";

    private static string? Get(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } v ? v : null;

    private static bool UnderCi => Environment.GetEnvironmentVariable("CI") == "true";

    /// <summary>Why the server tests are skipped; null when they run (the servers are set, or CI requires them).</summary>
    public static string? SkipReason =>
        Get(PostgresVariable) is not null && Get(RedisVariable) is not null || UnderCi
            ? null
            : $"{PostgresVariable} and {RedisVariable} are not set (eval \"$(scripts/test-servers.sh start)\")";

    /// <summary>The PostgreSQL server's URL (a database any test may connect to).</summary>
    public static string PostgresUrl => Get(PostgresVariable) ?? throw Missing();

    /// <summary>The Redis server's URL.</summary>
    public static string RedisUrl => Get(RedisVariable) ?? throw Missing();

    private static InvalidOperationException Missing() =>
        new($"{PostgresVariable} and {RedisVariable} are not set (required under CI): eval \"$(scripts/test-servers.sh start)\"");

    /// <summary>A <c>postgresql://</c> URL as an Npgsql connection string (unpooled, 5 s to connect).</summary>
    public static string ToNpgsql(string url) => RepositoryAndPostgres.ToNpgsql(url, pooling: false, timeoutSeconds: 5);

    /// <summary><paramref name="url"/> (<c>scheme://authority[/db][?query]</c>) with its database replaced by <paramref name="db"/>.</summary>
    public static string WithDatabase(string url, string db)
    {
        int schemeEnd = url.IndexOf("://", StringComparison.Ordinal) + 3;
        int queryStart = url.IndexOf('?', schemeEnd);
        string query = queryStart < 0 ? string.Empty : url[queryStart..];
        string main = queryStart < 0 ? url[schemeEnd..] : url[schemeEnd..queryStart];
        int slash = main.IndexOf('/');
        string authority = slash < 0 ? main : main[..slash];
        return url[..schemeEnd] + authority + "/" + db + query;
    }

    /// <summary>A file of the repository, found above the test's output folder.</summary>
    public static string RepositoryFile(string relative) => RepositoryAndPostgres.RepositoryFile(relative);

    /// <summary>Polls <paramref name="condition"/> until it holds or <paramref name="timeout"/> passes.</summary>
    public static bool Eventually(Func<bool> condition, TimeSpan timeout)
    {
        DateTime deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                return false;
            }

            Thread.Sleep(2);
        }

        return true;
    }
}

/// <summary>A fact that needs the test servers: skipped when they are not configured (except under CI).</summary>
public sealed class ServersFactAttribute : FactAttribute
{
    public ServersFactAttribute()
    {
        if (TestServers.SkipReason is string reason)
        {
            Skip = reason;
        }
    }
}

/// <summary>
/// A database of its own, holding IdentityServer's <c>PersistedGrants</c> table (as EF Core with Npgsql
/// creates it) and the revocation migration's triggers; dropped when disposed. Notifications stay
/// within one database, so tests running at once do not see each other's.
/// </summary>
public sealed class GrantsDatabase : IDisposable
{
    /// <summary>IdentityServer's <c>PersistedGrants</c> table as EF Core (Npgsql) creates it: the schema the Rust tests use too.</summary>
    private static readonly string Schema = File.ReadAllText(Path.Combine(Fixtures.Directory, "..", "persisted-grants-postgres.sql"));

    private readonly string _admin;
    private readonly string _name;

    public GrantsDatabase(string tag)
    {
        _admin = TestServers.ToNpgsql(TestServers.PostgresUrl);
        _name = $"reftoken_dotnet_{tag}_{Environment.ProcessId}";
        using (var admin = new NpgsqlConnection(_admin))
        {
            admin.Open();
            Execute(admin, $"DROP DATABASE IF EXISTS {_name} WITH (FORCE)");
            Execute(admin, $"CREATE DATABASE {_name}");
        }

        Url = TestServers.WithDatabase(TestServers.PostgresUrl, _name);
        ConnectionString = TestServers.ToNpgsql(Url);
        using var c = Open();
        Execute(c, Schema);
        Execute(c, File.ReadAllText(TestServers.RepositoryFile("migrations/postgres/0001_reftoken_revocation_notify.sql")));
    }

    /// <summary>The database's <c>postgresql://</c> URL, as the native listener takes it.</summary>
    public string Url { get; }

    /// <summary>The database's Npgsql connection string.</summary>
    public string ConnectionString { get; }

    public NpgsqlConnection Open()
    {
        var c = new NpgsqlConnection(ConnectionString);
        c.Open();
        return c;
    }

    /// <summary>Inserts a reference token's row as IdentityServer does; returns its store key.</summary>
    public string InsertReferenceToken(string handle, string clientId, string data)
    {
        string key = StoreKeys.ForReferenceToken(handle);
        using var c = Open();
        using var cmd = new NpgsqlCommand(
            """
            INSERT INTO "PersistedGrants" ("Key", "Type", "SubjectId", "ClientId", "CreationTime", "Expiration", "Data")
            VALUES (@key, 'reference_token', 'alice', @client, now(), now() + interval '1 hour', @data)
            """, c);
        cmd.Parameters.AddWithValue("key", key);
        cmd.Parameters.AddWithValue("client", clientId);
        cmd.Parameters.AddWithValue("data", data);
        Assert.Equal(1, cmd.ExecuteNonQuery());
        return key;
    }

    /// <summary>The <c>Type</c> and <c>Data</c> stored under <paramref name="key"/>: a validator's lookup.</summary>
    public PersistedGrantRow? Lookup(string key)
    {
        using var c = Open();
        using var cmd = new NpgsqlCommand("""SELECT "Type", "Data" FROM "PersistedGrants" WHERE "Key" = @key""", c);
        cmd.Parameters.AddWithValue("key", key);
        using NpgsqlDataReader r = cmd.ExecuteReader();
        return r.Read() ? new PersistedGrantRow(r.GetString(0), r.GetString(1)) : null;
    }

    /// <summary>Runs a statement; returns the number of rows it affected.</summary>
    public int Execute(string sql, string? key = null)
    {
        using var c = Open();
        using var cmd = new NpgsqlCommand(sql, c);
        if (key is not null)
        {
            cmd.Parameters.AddWithValue("key", key);
        }

        return cmd.ExecuteNonQuery();
    }

    public void Dispose()
    {
        try
        {
            using var admin = new NpgsqlConnection(_admin);
            admin.Open();
            Execute(admin, $"DROP DATABASE IF EXISTS {_name} WITH (FORCE)");
        }
        catch (NpgsqlException)
        {
            // The server went away: nothing left to drop.
        }
    }

    private static void Execute(NpgsqlConnection c, string sql)
    {
        using var cmd = new NpgsqlCommand(sql, c);
        cmd.ExecuteNonQuery();
    }
}
