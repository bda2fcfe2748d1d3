using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Linq;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace RefToken.AspNetCore;

/// <summary>
/// One scheme's native validator with its store lookup, key ring and revocation listener, made once
/// from the scheme's options and shared by every request.
/// </summary>
internal sealed class RefTokenSchemeValidator : IDisposable
{
    // The lookup runs synchronously on the validating thread: these carry the request's services
    // to it and tell the caller whether the store was read (a cache miss).
    [ThreadStatic] private static IServiceProvider? t_services;
    [ThreadStatic] private static int t_lookups;

    private readonly Func<PersistedGrantLookupContext, PersistedGrantRow?> _lookup;
    private readonly IDisposable? _storeOwner;
    private readonly KeyRingSource? _keyRing;
    private readonly IServiceProvider _rootServices;
    private readonly RefTokenMetrics _metrics;

    public RefTokenSchemeValidator(string scheme, RefTokenAuthenticationOptions options, IServiceProvider rootServices, RefTokenMetrics metrics, ILogger logger)
    {
        Scheme = scheme;
        _rootServices = rootServices;
        _metrics = metrics;
        if (options.SqliteConnectionString is { } sqlite)
        {
            _lookup = PersistedGrantStores.Sqlite(sqlite, options.PersistedGrantsTable);
        }
        else if (options.PostgresConnectionString is { } postgres)
        {
            (_lookup, _storeOwner) = PersistedGrantStores.Postgres(postgres, options.PersistedGrantsTable);
        }
        else
        {
            _lookup = options.Lookup!;
        }

        if (options.KeyRingDirectory is not null || options.KeyRingXml is not null)
        {
            _keyRing = new KeyRingSource(options);
        }

        Caller = IntrospectionCaller.Api(options.ClientId!, options.ApiScopes);
        Claims = new ClaimsMemo(options.EnableCaching ? options.CacheCapacity : 0);
        IntrospectionOptions = options.IsClientEnabled is { } enabled ? new IntrospectionOptions { IsClientEnabled = enabled } : null;
        // The key ring is applied in the lookup (so that it can be reloaded): the native validator
        // gets unprotected containers.
        Validator = TokenValidator.Create(Lookup, keyRing: null,
            cacheCapacity: options.EnableCaching ? options.CacheCapacity : 0,
            cacheTtl: options.EnableCaching ? options.CacheDuration : TimeSpan.Zero);
        try
        {
            if (options.RevocationPostgres is { } pg)
            {
                Listeners.Add(RevocationListener.StartPostgres(Validator, pg, options.RevocationChannel, options.StaleBound));
            }

            if (options.RevocationRedis is { } redis)
            {
                Listeners.Add(RevocationListener.StartRedis(Validator, redis, options.RevocationChannel, options.StaleBound));
            }
        }
        catch
        {
            Dispose();
            throw;
        }

        if (Listeners.Count == 0 && options.EnableCaching)
        {
            Log.NoRevocation(logger, scheme, null);
        }
    }

    public string Scheme { get; }

    public TokenValidator Validator { get; }

    public IntrospectionCaller Caller { get; }

    /// <summary>The claims of the active responses seen (with caching on), keyed by the response's bytes.</summary>
    public ClaimsMemo Claims { get; }

    public IntrospectionOptions? IntrospectionOptions { get; }

    public List<RevocationListener> Listeners { get; } = [];

    /// <summary>
    /// The response IdentityServer would give this API for <paramref name="token"/>; whether the store was
    /// read. Throws <see cref="RefTokenStoreUnavailableException"/> when the lookup failed.
    /// </summary>
    public byte[] Introspect(string token, IServiceProvider? requestServices, DateTimeOffset now, out bool storeRead)
    {
        IServiceProvider? previous = t_services;
        t_services = requestServices;
        int before = t_lookups;
        try
        {
            return Validator.IntrospectUtf8(System.Text.Encoding.UTF8.GetBytes(token), Caller, now, IntrospectionOptions);
        }
        catch (Exception e) when (e is not RefTokenStoreUnavailableException && e is not RefTokenException && e is not ArgumentException)
        {
            throw new RefTokenStoreUnavailableException($"The persisted-grant store of scheme '{Scheme}' could not be read ({e.GetType().Name}).", e);
        }
        finally
        {
            storeRead = t_lookups != before;
            t_services = previous;
        }
    }

    private PersistedGrantRow? Lookup(string storeKey)
    {
        t_lookups++;
        _metrics.StoreLookup(Scheme);
        PersistedGrantRow? row = _lookup(new PersistedGrantLookupContext(storeKey, t_services ?? _rootServices));
        return row is not null && _keyRing is not null ? row with { Data = _keyRing.Unprotect(row.Data) } : row;
    }

    public void Dispose()
    {
        foreach (RevocationListener l in Listeners)
        {
            l.Dispose();
        }

        Validator.Dispose();
        _storeOwner?.Dispose();
        _keyRing?.Dispose();
    }
}

/// <summary>Every RefToken scheme's validator, made at first use (or by the hosted service at start-up).</summary>
internal sealed class RefTokenValidators : IDisposable
{
    private readonly ConcurrentDictionary<string, Lazy<RefTokenSchemeValidator>> _schemes = new();
    private readonly IOptionsMonitor<RefTokenAuthenticationOptions> _options;
    private readonly IServiceProvider _services;
    private readonly RefTokenMetrics _metrics;
    private readonly ILogger _logger;

    public RefTokenValidators(IOptionsMonitor<RefTokenAuthenticationOptions> options, IServiceProvider services, RefTokenMetrics metrics, ILoggerFactory loggers)
    {
        _options = options;
        _services = services;
        _metrics = metrics;
        _logger = loggers.CreateLogger("RefToken.AspNetCore.RefTokenHandler");
        metrics.Observe(this);
    }

    public RefTokenSchemeValidator Get(string scheme) =>
        _schemes.GetOrAdd(scheme, s => new Lazy<RefTokenSchemeValidator>(() =>
        {
            RefTokenAuthenticationOptions o = _options.Get(s);
            o.Validate();
            return new RefTokenSchemeValidator(s, o, _services, _metrics, _logger);
        })).Value;

    public IEnumerable<RefTokenSchemeValidator> Created =>
        _schemes.Values.Where(l => l.IsValueCreated).Select(l => l.Value);

    public void Dispose()
    {
        foreach (RefTokenSchemeValidator v in Created)
        {
            v.Dispose();
        }
    }
}
