using System;
using System.Collections.Generic;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Security.Claims;
using System.Text.Json;
using System.Threading.Tasks;
using Duende.IdentityServer;
using Duende.IdentityServer.Events;
using Duende.IdentityServer.ResponseHandling;
using Duende.IdentityServer.Services;
using Duende.IdentityServer.Validation;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace RefToken.IdentityServer;

/// <summary>
/// IdentityServer's <see cref="IntrospectionResponseGenerator"/> with the response for active
/// reference tokens built by libreftoken: the validated token is handed to the native library,
/// which writes exactly the members, order and value types IdentityServer 7.4 would. Events,
/// logging, metrics and the API scope check are IdentityServer's. JWT access tokens, refresh
/// tokens and inactive tokens go to IdentityServer's own code.
/// </summary>
public class NativeIntrospectionResponseGenerator : IntrospectionResponseGenerator
{
    private const string Integer64 = ClaimValueTypes.Integer64;
    private const string JsonValueType = IdentityServerConstants.ClaimValueTypes.Json;

    private static readonly ConditionalWeakTable<object, IntrospectionCaller> Callers = new();

    private static readonly Action<ILogger, string, Exception?> AnsweredNatively =
        LoggerMessage.Define<string>(LogLevel.Debug, new EventId(7401, "RefTokenIntrospectionNative"),
            "RefToken: introspection response for {Caller} built natively");

    private static readonly Action<ILogger, string, string, Exception?> AnsweredByIdentityServer =
        LoggerMessage.Define<string, string>(LogLevel.Debug, new EventId(7402, "RefTokenIntrospectionFallback"),
            "RefToken: introspection response for {Caller} left to IdentityServer's generator ({Reason})");

    private readonly bool _enabled;
    private readonly RefTokenIdentityServerMetrics _metrics;

    /// <summary>Creates the generator.</summary>
    /// <param name="events">The event service.</param>
    /// <param name="logger">The logger.</param>
    /// <param name="options">RefToken's options (<see cref="RefTokenNativeOptions.NativeIntrospection"/>).</param>
    /// <param name="metrics">Where the native/fallback counts go (null: a meter of this class's own).</param>
    public NativeIntrospectionResponseGenerator(IEventService events, ILogger<IntrospectionResponseGenerator> logger, IOptions<RefTokenNativeOptions> options, RefTokenIdentityServerMetrics? metrics = null)
        : base(events, logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        _enabled = options.Value.NativeIntrospection;
        _metrics = metrics ?? RefTokenIdentityServerMetrics.Shared;
        RefTokenLibrary.EnsureLoaded();
    }

    /// <inheritdoc/>
    public override Task<Dictionary<string, object>> ProcessAsync(IntrospectionRequestValidationResult validationResult)
    {
        ArgumentNullException.ThrowIfNull(validationResult);
        string? reason = !_enabled ? RefTokenIdentityServerMetrics.ReasonDisabled
            : !validationResult.IsActive ? RefTokenIdentityServerMetrics.ReasonInactive
            : !IsReferenceToken(validationResult) ? RefTokenIdentityServerMetrics.ReasonNotReferenceToken
            : null;
        if (reason is not null)
        {
            Fallback(validationResult, reason);
            return base.ProcessAsync(validationResult);
        }

        return ProcessNativeAsync(validationResult);
    }

    private async Task<Dictionary<string, object>> ProcessNativeAsync(IntrospectionRequestValidationResult validationResult)
    {
        using var activity = Tracing.BasicActivitySource.StartActivity("NativeIntrospectionResponseGenerator.Process");
        Logger.LogTrace("Creating introspection response");

        if (validationResult.Api is not null && !await AreExpectedScopesPresentAsync(validationResult))
        {
            // IdentityServer's answer, by IdentityServer's own check: counted as native (no fallback).
            _metrics.Introspection(native: true, reason: null);
            AnsweredNatively(Logger, CallerName(validationResult), null);
            return new Dictionary<string, object> { { "active", false } };
        }

        Dictionary<string, object>? response = BuildNative(validationResult);
        if (response is null)
        {
            // Something the native library answers differently (or, like IdentityServer, refuses):
            // IdentityServer's own code decides.
            Fallback(validationResult, RefTokenIdentityServerMetrics.ReasonUnsupported);
            return await base.ProcessAsync(validationResult);
        }

        Logger.LogDebug("Creating introspection response for active token.");
        string callerName = CallerName(validationResult);
        Telemetry.Metrics.Introspection(callerName, true);
        await Events.RaiseAsync(new TokenIntrospectionSuccessEvent(validationResult));
        _metrics.Introspection(native: true, reason: null);
        AnsweredNatively(Logger, callerName, null);
        return response;
    }

    private void Fallback(IntrospectionRequestValidationResult result, string reason)
    {
        _metrics.Introspection(native: false, reason);
        if (Logger.IsEnabled(LogLevel.Debug))
        {
            AnsweredByIdentityServer(Logger, CallerName(result), reason, null);
        }
    }

    private static string CallerName(IntrospectionRequestValidationResult result) =>
        result.Api?.Name ?? result.Client?.ClientId ?? string.Empty;

    /// <summary>
    /// Whether the validated claims are a reference token's as IdentityServer's token validator
    /// lists them: <c>iss</c>, <c>nbf</c>, <c>iat</c>, <c>exp</c>, [<c>cnf</c>], <c>aud</c>..., the token's claims.
    /// </summary>
    private static bool IsReferenceToken(IntrospectionRequestValidationResult result)
    {
        if (result.Token is null || result.Token.Contains('.', StringComparison.Ordinal) || result.Claims is not IReadOnlyList<Claim> claims || claims.Count < 4)
        {
            return false;
        }

        return claims[0].Type == "iss"
            && claims[1].Type == "nbf" && claims[1].ValueType == Integer64
            && claims[2].Type == "iat" && claims[2].ValueType == Integer64 && claims[2].Value == claims[1].Value
            && claims[3].Type == "exp" && claims[3].ValueType == Integer64;
    }

    /// <summary>The response from the native library, or null to let IdentityServer's code answer.</summary>
    internal static Dictionary<string, object>? BuildNative(IntrospectionRequestValidationResult result)
    {
        var claims = (IReadOnlyList<Claim>)result.Claims;
        if (!long.TryParse(claims[1].Value, NumberStyles.None, CultureInfo.InvariantCulture, out long nbf)
            || !long.TryParse(claims[3].Value, NumberStyles.None, CultureInfo.InvariantCulture, out long exp)
            || exp < nbf || exp - nbf > int.MaxValue)
        {
            return null;
        }

        int end = claims.Count;
        if (result.Api is null)
        {
            // The validator appended token_type for a client caller; the library adds it itself.
            if (claims[end - 1] is not { Type: "token_type", Value: "access_token" })
            {
                return null;
            }

            end--;
        }

        string? clientId = null;
        for (int i = 4; i < end; i++)
        {
            if (claims[i].Type == "client_id")
            {
                clientId = claims[i].Value;
                break;
            }
        }

        try
        {
            using Grant grant = Grant.Create(clientId ?? result.Client?.ClientId ?? string.Empty, claims[0].Value, nbf, (int)(exp - nbf));
            int i = 4;
            if (i < end && claims[i].Type == "cnf" && claims[i].ValueType == JsonValueType)
            {
                grant.SetConfirmation(claims[i].Value); // not JSON: MalformedInput, IdentityServer's code answers
                i++;
            }

            for (; i < end && claims[i].Type == "aud" && claims[i].ValueType == ClaimValueTypes.String; i++)
            {
                grant.AddAudience(claims[i].Value);
            }

            for (; i < end; i++)
            {
                Claim c = claims[i];
                grant.AddClaim(c.Type, c.Value, c.ValueType == ClaimValueTypes.String ? null : c.ValueType);
            }

            IntrospectionCaller caller = Caller(result);

            // The validator found the token active at its clock; judged at its creation time the
            // library agrees, so the response does not depend on a second reading of the clock.
            byte[] json = grant.IntrospectUtf8(caller, DateTimeOffset.FromUnixTimeSeconds(nbf));
            return ToDictionary(json);
        }
        catch (Exception e) when (e is RefTokenException or RefTokenArgumentException)
        {
            return null;
        }
    }

    private static IntrospectionCaller Caller(IntrospectionRequestValidationResult result)
    {
        if (result.Api is { } api)
        {
            IntrospectionCaller cached = Callers.GetValue(api, static a => CreateApiCaller((Duende.IdentityServer.Models.ApiResource)a));
            string scopes = string.Join(' ', api.Scopes);
            return cached.Name == api.Name && cached.Scopes == scopes ? cached : IntrospectionCaller.Api(api.Name, scopes);
        }

        IntrospectionCaller client = Callers.GetValue(result.Client, static c => IntrospectionCaller.Client(((Duende.IdentityServer.Models.Client)c).ClientId));
        return client.Name == result.Client.ClientId ? client : IntrospectionCaller.Client(result.Client.ClientId);
    }

    private static IntrospectionCaller CreateApiCaller(Duende.IdentityServer.Models.ApiResource api) =>
        IntrospectionCaller.Api(api.Name, string.Join(' ', api.Scopes));

    /// <summary>The native JSON as the dictionary IdentityServer's endpoint serializes: one entry per member, values as JSON elements.</summary>
    private static Dictionary<string, object>? ToDictionary(byte[] json)
    {
        var reader = new Utf8JsonReader(json);
        JsonElement root = JsonElement.ParseValue(ref reader);
        if (root.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        var response = new Dictionary<string, object>(StringComparer.Ordinal);
        foreach (JsonProperty p in root.EnumerateObject())
        {
            response[p.Name] = p.Value.ValueKind switch
            {
                JsonValueKind.True => true,
                JsonValueKind.False => false,
                _ => p.Value,
            };
        }

        return response.TryGetValue("active", out object? active) && active is true ? response : null;
    }
}
