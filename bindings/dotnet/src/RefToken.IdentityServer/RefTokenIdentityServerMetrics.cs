using System;
using System.Collections.Generic;
using System.Diagnostics.Metrics;

namespace RefToken.IdentityServer;

/// <summary>
/// The instruments of <c>AddRefTokenNative()</c>, on the meter <c>RefToken.IdentityServer</c> (from the
/// host's <see cref="IMeterFactory"/>): <c>reftoken.introspection.responses</c>, one per introspection
/// response the generator produced, tagged <c>path</c> (<c>native</c>: built by libreftoken;
/// <c>fallback</c>: IdentityServer's own generator answered) and, for <c>fallback</c>, <c>reason</c>
/// (<c>disabled</c>, <c>inactive</c>, <c>not_reference_token</c>, <c>unsupported</c>).
/// </summary>
public sealed class RefTokenIdentityServerMetrics
{
    /// <summary>The meter's name.</summary>
    public const string MeterName = "RefToken.IdentityServer";

    /// <summary>The counter's name.</summary>
    public const string IntrospectionResponses = "reftoken.introspection.responses";

    internal const string ReasonDisabled = "disabled";
    internal const string ReasonInactive = "inactive";
    internal const string ReasonNotReferenceToken = "not_reference_token";
    internal const string ReasonUnsupported = "unsupported";

    private static readonly KeyValuePair<string, object?> Native = new("path", "native");
    private static readonly KeyValuePair<string, object?> FallbackPath = new("path", "fallback");

    // For a generator made without DI (new NativeIntrospectionResponseGenerator(...)).
    internal static readonly RefTokenIdentityServerMetrics Shared = new(null);

    private readonly Counter<long> _responses;

    /// <summary>Creates the instruments.</summary>
    /// <param name="meterFactory">The host's meter factory (null: a meter of this object's own).</param>
    public RefTokenIdentityServerMetrics(IMeterFactory? meterFactory = null)
    {
        Meter = meterFactory?.Create(MeterName) ?? new Meter(MeterName);
        _responses = Meter.CreateCounter<long>(IntrospectionResponses, "{response}",
            "Introspection responses, by who built them: libreftoken (native) or IdentityServer's generator (fallback).");
    }

    /// <summary>The meter.</summary>
    public Meter Meter { get; }

    internal void Introspection(bool native, string? reason)
    {
        if (!_responses.Enabled)
        {
            return;
        }

        if (native)
        {
            _responses.Add(1, Native);
        }
        else
        {
            _responses.Add(1, FallbackPath, new KeyValuePair<string, object?>("reason", reason));
        }
    }
}
