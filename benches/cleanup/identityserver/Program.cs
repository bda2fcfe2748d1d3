// IdentityServer's own token cleanup on the store ../run.sh fills: Duende's TokenCleanupService
// (Duende.IdentityServer.EntityFramework, EF Core), with the OperationalStoreOptions an
// IdentityServer host gives it, measured as `reftoken cleanup --json` measures itself: the rows
// deleted per second of the cleanup call and the longest single database command it ran.
//
//   IdentityServerCleanup cleanup (--sqlite FILE | --postgres URL) [--batch-size N] [--show-sql]
//       One cleanup (IdentityServer's CleanupGrantsAsync, as its TokenCleanupHost calls it every
//       TokenCleanupInterval); one JSON line on stdout with the keys of `reftoken cleanup --json`.
//       Before it, the same cleanup runs once on a scratch store of the same kind (one expired
//       grant, device code and pushed authorization request), so that EF Core's model, its
//       compiled queries and the JIT are warm, as in a host that has run for a while.
//   IdentityServerCleanup schema postgres
//       The SQL that creates the operational store's tables other than PersistedGrants (device
//       codes, keys, server-side sessions, pushed authorization requests) as EF Core creates them
//       on PostgreSQL from IdentityServer's model: the cleanup also visits two of them.
//
// Exit codes: 0 done, 1 the cleanup failed (IdentityServer logs and swallows its exceptions:
// every warning or error it logs is printed and fails the run), 2 usage.

using System.Data.Common;
using System.Diagnostics;
using System.Reflection;
using System.Text.Json;
using Duende.IdentityServer.EntityFramework;
using Duende.IdentityServer.EntityFramework.DbContexts;
using Duende.IdentityServer.EntityFramework.Entities;
using Duende.IdentityServer.EntityFramework.Options;
using Duende.IdentityServer.EntityFramework.Storage;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Metadata;
using Microsoft.EntityFrameworkCore.Migrations;
using Microsoft.EntityFrameworkCore.Migrations.Operations;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Npgsql;

try
{
    return args switch
    {
        ["schema", "postgres"] => Schema(),
        ["cleanup", .. var rest] => await Cleanup(rest),
        _ => Usage(),
    };
}
catch (UsageException e)
{
    Console.Error.WriteLine($"IdentityServerCleanup: {e.Message}");
    return Usage();
}

static int Usage()
{
    Console.Error.WriteLine("usage: IdentityServerCleanup cleanup (--sqlite FILE | --postgres URL) [--batch-size N] [--show-sql]");
    Console.Error.WriteLine("       IdentityServerCleanup schema postgres");
    return 2;
}

static int Schema()
{
    using ServiceProvider sp = Services(new Store(Postgres: true, "Host=localhost"), 100, null, new FailureLog());
    using IServiceScope scope = sp.CreateScope();
    PersistedGrantDbContext ctx = scope.ServiceProvider.GetRequiredService<PersistedGrantDbContext>();
    IModel model = ctx.GetService<IDesignTimeModel>().Model;
    var ops = ctx.GetService<IMigrationsModelDiffer>()
        .GetDifferences(null, model.GetRelationalModel())
        .Where(op => op switch
        {
            CreateTableOperation t => t.Name != "PersistedGrants",
            CreateIndexOperation i => i.Table != "PersistedGrants",
            _ => throw new InvalidOperationException($"unexpected operation {op.GetType().Name}"),
        })
        .ToList();
    foreach (MigrationCommand c in ctx.GetService<IMigrationsSqlGenerator>().Generate(ops, model))
    {
        Console.WriteLine(c.CommandText.TrimEnd());
    }

    return 0;
}

static async Task<int> Cleanup(string[] args)
{
    Store? store = null;
    int batch = new OperationalStoreOptions().TokenCleanupBatchSize;
    bool showSql = false;
    for (int i = 0; i < args.Length; i++)
    {
        string Value() => i + 1 < args.Length ? args[++i] : throw new UsageException($"{args[i]} needs a value");
        switch (args[i])
        {
            case "--sqlite" when store is null:
                store = new Store(Postgres: false, $"Data Source={Value()}");
                break;
            case "--postgres" when store is null:
                store = new Store(Postgres: true, Npgsql(Value()));
                break;
            case "--batch-size":
                batch = int.TryParse(Value(), out int n) && n > 0 ? n : throw new UsageException("--batch-size takes a positive number");
                break;
            case "--show-sql":
                showSql = true;
                break;
            default:
                throw new UsageException($"unexpected argument {args[i]}");
        }
    }

    if (store is null)
    {
        throw new UsageException("one of --sqlite FILE and --postgres URL is needed");
    }

    // One service provider for the warm-up and the run, as in a host: the connection string is
    // read each time a context is made (AddOperationalDbContext's options are scoped).
    var timer = new StatementTimer();
    var failures = new FailureLog();
    var current = new Store[] { Scratch(store) };
    using ServiceProvider sp = Services(null, batch, timer, failures, () => current[0]);

    await WarmUp(sp);
    current[0] = store;
    long before, after;
    using (IServiceScope scope = sp.CreateScope())
    {
        // Also opens the pool's connection: `reftoken cleanup` starts its clock once connected.
        before = await scope.ServiceProvider.GetRequiredService<PersistedGrantDbContext>().PersistedGrants.LongCountAsync();
    }

    timer.Reset();
    TimeSpan took;
    using (IServiceScope scope = sp.CreateScope())
    {
        ITokenCleanupService cleanup = scope.ServiceProvider.GetRequiredService<ITokenCleanupService>();
        var clock = Stopwatch.StartNew();
        await cleanup.CleanupGrantsAsync();
        took = clock.Elapsed;
    }

    (TimeSpan longest, int statements, int grantDeletes, string[] shapes) =
        (timer.Longest, timer.Statements, timer.GrantDeletes, timer.Shapes.ToArray());

    using (IServiceScope scope = sp.CreateScope())
    {
        after = await scope.ServiceProvider.GetRequiredService<PersistedGrantDbContext>().PersistedGrants.LongCountAsync();
    }

    if (showSql)
    {
        foreach (string sql in shapes)
        {
            Console.Error.WriteLine($"IdentityServerCleanup: ran: {sql}");
        }
    }

    if (failures.Messages.Count > 0)
    {
        foreach (string m in failures.Messages)
        {
            Console.Error.WriteLine($"IdentityServerCleanup: IdentityServer logged: {m}");
        }

        return 1;
    }

    long deleted = before - after;
    string version = typeof(TokenCleanupService).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "?";
    Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
    {
        ["implementation"] = $"Duende.IdentityServer.EntityFramework {version.Split('+')[0]} TokenCleanupService",
        ["total"] = deleted,
        ["batches"] = grantDeletes,
        ["batch_size"] = batch,
        ["statements"] = statements,
        ["seconds"] = Math.Round(took.TotalSeconds, 3),
        ["rows_per_second"] = took.TotalSeconds > 0 ? (long)(deleted / took.TotalSeconds) : 0,
        ["longest_statement_ms"] = Math.Round(longest.TotalMilliseconds, 3),
    }));
    return 0;
}

// The same cleanup on a scratch store of the same kind, created from IdentityServer's model with
// one expired row in each table the cleanup visits, then deleted.
static async Task WarmUp(ServiceProvider sp)
{
    using (IServiceScope scope = sp.CreateScope())
    {
        PersistedGrantDbContext ctx = scope.ServiceProvider.GetRequiredService<PersistedGrantDbContext>();
        await ctx.Database.EnsureDeletedAsync();
        await ctx.Database.EnsureCreatedAsync();
        DateTime past = DateTime.UtcNow.AddHours(-1);
        ctx.PersistedGrants.Add(new PersistedGrant
        {
            Key = "warm-up", Type = "reference_token", ClientId = "c", CreationTime = past.AddHours(-1), Expiration = past, Data = "{}",
        });
        ctx.DeviceFlowCodes.Add(new DeviceFlowCodes
        {
            DeviceCode = "warm-up", UserCode = "warm-up", ClientId = "c", CreationTime = past.AddHours(-1), Expiration = past, Data = "{}",
        });
        ctx.PushedAuthorizationRequests.Add(new PushedAuthorizationRequest
        {
            ReferenceValueHash = "warm-up", ExpiresAtUtc = past, Parameters = "p",
        });
        await ctx.SaveChangesAsync();
    }

    using (IServiceScope scope = sp.CreateScope())
    {
        await scope.ServiceProvider.GetRequiredService<ITokenCleanupService>().CleanupGrantsAsync();
    }

    using (IServiceScope scope = sp.CreateScope())
    {
        PersistedGrantDbContext ctx = scope.ServiceProvider.GetRequiredService<PersistedGrantDbContext>();
        if (await ctx.PersistedGrants.AnyAsync())
        {
            throw new InvalidOperationException("the warm-up cleanup left its expired grant");
        }

        if (ctx.Database.IsNpgsql())
        {
            NpgsqlConnection.ClearAllPools();
        }

        await ctx.Database.EnsureDeletedAsync();
    }
}

static Store Scratch(Store s) => s.Postgres
    ? s with { ConnectionString = new NpgsqlConnectionStringBuilder(s.ConnectionString) { Database = new NpgsqlConnectionStringBuilder(s.ConnectionString).Database + "_warmup" }.ConnectionString }
    : s with { ConnectionString = $"Data Source={Path.Combine(Path.GetTempPath(), $"identityserver-cleanup-warmup-{Environment.ProcessId}.db")};Pooling=False" };

// What an IdentityServer host registers for its operational store's cleanup: the operational
// DbContext with the host's OperationalStoreOptions, and TokenCleanupService.
static ServiceProvider Services(Store? fixedStore, int batch, StatementTimer? timer, FailureLog failures, Func<Store>? store = null)
{
    var services = new ServiceCollection();
    services.AddLogging(b => b.AddProvider(failures));
    services.AddOperationalDbContext(o =>
    {
        o.TokenCleanupBatchSize = batch;
        o.ConfigureDbContext = b =>
        {
            Store s = fixedStore ?? store!();
            if (s.Postgres)
            {
                b.UseNpgsql(s.ConnectionString);
            }
            else
            {
                b.UseSqlite(s.ConnectionString);
            }

            if (timer is not null)
            {
                b.AddInterceptors(timer);
            }
        };
    });
    services.AddTransient<ITokenCleanupService, TokenCleanupService>();
    return services.BuildServiceProvider();
}

// A postgresql://user[:password]@host[:port]/db URL as an Npgsql connection string.
static string Npgsql(string url)
{
    var uri = new Uri(url);
    var b = new NpgsqlConnectionStringBuilder
    {
        Host = uri.Host,
        Port = uri.IsDefaultPort || uri.Port <= 0 ? 5432 : uri.Port,
        Database = Uri.UnescapeDataString(uri.AbsolutePath.TrimStart('/')) is { Length: > 0 } db ? db : "postgres",
    };
    string[] user = uri.UserInfo.Split(':', 2);
    b.Username = Uri.UnescapeDataString(user[0]);
    if (user.Length == 2)
    {
        b.Password = Uri.UnescapeDataString(user[1]);
    }

    return b.ConnectionString;
}

sealed record Store(bool Postgres, string ConnectionString);

sealed class UsageException(string message) : Exception(message);

// Every database command the cleanup ran, timed by EF Core from its start until it finished (a
// query: until its reader was disposed, all rows read).
sealed class StatementTimer : DbCommandInterceptor
{
    private readonly HashSet<string> _shapes = [];

    public TimeSpan Longest { get; private set; }
    public int Statements { get; private set; }
    /// <summary>DELETE commands on PersistedGrants that deleted rows (or whose count EF does not report).</summary>
    public int GrantDeletes { get; private set; }
    public IEnumerable<string> Shapes => _shapes;

    public void Reset()
    {
        Longest = TimeSpan.Zero;
        Statements = 0;
        GrantDeletes = 0;
        _shapes.Clear();
    }

    private void Record(DbCommand command, TimeSpan took, int? rows)
    {
        Statements++;
        Longest = took > Longest ? took : Longest;
        string sql = command.CommandText;
        if (sql.Contains("DELETE", StringComparison.OrdinalIgnoreCase) && sql.Contains("\"PersistedGrants\"") && rows is not 0)
        {
            GrantDeletes++;
        }

        _shapes.Add(string.Join(' ', sql.Split((char[])['\n', '\r', ' '], StringSplitOptions.RemoveEmptyEntries)));
    }

    public override int NonQueryExecuted(DbCommand command, CommandExecutedEventData eventData, int result)
    {
        Record(command, eventData.Duration, result);
        return result;
    }

    public override ValueTask<int> NonQueryExecutedAsync(DbCommand command, CommandExecutedEventData eventData, int result, CancellationToken cancellationToken = default)
    {
        Record(command, eventData.Duration, result);
        return ValueTask.FromResult(result);
    }

    public override object? ScalarExecuted(DbCommand command, CommandExecutedEventData eventData, object? result)
    {
        Record(command, eventData.Duration, null);
        return result;
    }

    public override ValueTask<object?> ScalarExecutedAsync(DbCommand command, CommandExecutedEventData eventData, object? result, CancellationToken cancellationToken = default)
    {
        Record(command, eventData.Duration, null);
        return ValueTask.FromResult(result);
    }

    public override InterceptionResult DataReaderDisposing(DbCommand command, DataReaderDisposingEventData eventData, InterceptionResult result)
    {
        Record(command, eventData.Duration, null);
        return result;
    }
}

// IdentityServer's cleanup logs its exceptions instead of throwing them: each warning or error
// logged under IdentityServer's categories is kept, and fails the run; EF Core's own warnings
// are printed.
sealed class FailureLog : ILoggerProvider
{
    public List<string> Messages { get; } = [];

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    private sealed class Logger(FailureLog log, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel))
            {
                return;
            }

            string m = $"{logLevel} {category}: {formatter(state, exception)}{(exception is null ? "" : $" ({exception.Message})")}";
            if (category.StartsWith("Duende.", StringComparison.Ordinal))
            {
                log.Messages.Add(m);
            }
            else
            {
                Console.Error.WriteLine($"IdentityServerCleanup: logged: {m}");
            }
        }
    }
}
