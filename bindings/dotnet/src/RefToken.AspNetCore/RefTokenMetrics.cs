using System;
using System.Collections.Generic;
using System.Diagnostics.Metrics;

namespace RefToken.AspNetCore;

/// <summary>
/// The handler's instruments, on the meter <c>RefToken.AspNetCore</c> (from the host's
/// <see cref="IMeterFactory"/>): <c>reftoken.validations</c> (tags <c>scheme</c>, <c>result</c>:
/// <c>active</c>, <c>inactive</c>, <c>store_unavailable</c>), <c>reftoken.cache_hits</c>,
/// <c>reftoken.store_lookups</c> and <c>reftoken.evictions</c> (store keys the revocation listeners
/// received, plus flushes).
/// </summary>
public sealed class RefTokenMetrics
{
    /// <summary>The meter's name.</summary>
    public const string MeterName = "RefToken.AspNetCore";

    private readonly Counter<long> _validations;
    private readonly Counter<long> _cacheHits;
    private readonly Counter<long> _storeLookups;
    private RefTokenValidators? _validators;

    /// <summary>Creates the instruments.</summary>
    /// <param name="meterFactory">The host's meter factory.</param>
    public RefTokenMetrics(IMeterFactory meterFactory)
    {
        ArgumentNullException.ThrowIfNull(meterFactory);
        Meter = meterFactory.Create(MeterName);
        _validations = Meter.CreateCounter<long>("reftoken.validations", "{token}", "Tokens judged by the RefToken handler.");
        _cacheHits = Meter.CreateCounter<long>("reftoken.cache_hits", "{token}", "Tokens judged from the validator's cache, without reading the store.");
        _storeLookups = Meter.CreateCounter<long>("reftoken.store_lookups", "{lookup}", "Rows read from the persisted-grant store.");
        Meter.CreateObservableCounter("reftoken.evictions", ObserveEvictions, "{key}", "Store keys the revocation listeners evicted (and flushes).");
    }

    /// <summary>The meter.</summary>
    public Meter Meter { get; }

    internal void Observe(RefTokenValidators validators) => _validators = validators;

    internal void Validation(string scheme, string result) =>
        _validations.Add(1, new KeyValuePair<string, object?>("scheme", scheme), new KeyValuePair<string, object?>("result", result));

    internal void CacheHit(string scheme) => _cacheHits.Add(1, new KeyValuePair<string, object?>("scheme", scheme));

    internal void StoreLookup(string scheme) => _storeLookups.Add(1, new KeyValuePair<string, object?>("scheme", scheme));

    private IEnumerable<Measurement<long>> ObserveEvictions()
    {
        if (_validators is null)
        {
            yield break;
        }

        foreach (RefTokenSchemeValidator v in _validators.Created)
        {
            long total = 0;
            foreach (RevocationListener l in v.Listeners)
            {
                try
                {
                    RevocationStats s = l.Stats;
                    total += (long)(s.Notifications + s.Flushes);
                }
                catch (ObjectDisposedException)
                {
                    // Stopping: nothing more to count.
                }
            }

            yield return new Measurement<long>(total, new KeyValuePair<string, object?>("scheme", v.Scheme));
        }
    }
}
