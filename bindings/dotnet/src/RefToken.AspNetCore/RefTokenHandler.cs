using System;
using System.Collections.Generic;
using System.Security.Claims;
using System.Text.Encodings.Web;
using System.Threading.Tasks;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace RefToken.AspNetCore;

/// <summary>
/// Authenticates IdentityServer reference tokens in-process: the token's row is read from the
/// persisted-grant store (or the validator's cache) and judged natively as IdentityServer's
/// introspection endpoint judges it for this API, and the principal is built from that response as
/// Duende's OAuth2 introspection handler builds it.
/// </summary>
public sealed class RefTokenHandler : AuthenticationHandler<RefTokenAuthenticationOptions>
{
    private readonly RefTokenValidators _validators;
    private readonly RefTokenMetrics _metrics;

    /// <summary>Creates the handler (by dependency injection).</summary>
    /// <param name="options">The options.</param>
    /// <param name="logger">The logger factory.</param>
    /// <param name="encoder">The URL encoder.</param>
    /// <param name="services">The application's services (the schemes' validators and the instruments).</param>
    public RefTokenHandler(IOptionsMonitor<RefTokenAuthenticationOptions> options, ILoggerFactory logger, UrlEncoder encoder, IServiceProvider services)
        : base(options, logger, encoder)
    {
        ArgumentNullException.ThrowIfNull(services);
        _validators = services.GetRequiredService<RefTokenValidators>();
        _metrics = services.GetRequiredService<RefTokenMetrics>();
    }

    /// <summary>The events.</summary>
    private new RefTokenEvents Events => (RefTokenEvents)base.Events!;

    /// <inheritdoc/>
    protected override Task<object> CreateEventsAsync() => Task.FromResult<object>(new RefTokenEvents());

    /// <inheritdoc/>
    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        string? token = Options.TokenRetriever(Request);
        if (string.IsNullOrEmpty(token))
        {
            return AuthenticateResult.NoResult();
        }

        if (Options.SkipTokensWithDots && token.Contains('.'))
        {
            Log.SkippingDotToken(Logger, null);
            return AuthenticateResult.NoResult();
        }

        RefTokenSchemeValidator validator = _validators.Get(Scheme.Name);
        byte[] response;
        bool storeRead;
        try
        {
            response = validator.Introspect(token, Context.RequestServices, TimeProvider.GetUtcNow(), out storeRead);
        }
        catch (RefTokenStoreUnavailableException e)
        {
            _metrics.Validation(Scheme.Name, "store_unavailable");
            if (Options.StoreUnavailableForwardScheme is { } forward)
            {
                Log.StoreUnavailableForwarded(Logger, Scheme.Name, forward, e.InnerException);
                return await Context.AuthenticateAsync(forward);
            }

            Log.StoreUnavailable(Logger, Scheme.Name, e.InnerException?.GetType().Name ?? nameof(RefTokenStoreUnavailableException), e.InnerException);
            return await Failed(e.Message, e);
        }
        catch (Exception e) when (e is RefTokenException or RefTokenArgumentException)
        {
            // A token IdentityServer could not answer for either (its endpoint fails too): not active.
            RefTokenStatus status = e is RefTokenException n ? n.Status : ((RefTokenArgumentException)e).Status;
            Log.TokenUnjudgeable(Logger, status.ToString(), null);
            _metrics.Validation(Scheme.Name, "inactive");
            return await Failed("Token is not active.", null);
        }

        if (!storeRead)
        {
            _metrics.CacheHit(Scheme.Name);
        }

        IReadOnlyList<Claim> claims = validator.Claims.From(response, out bool active);
        if (!active)
        {
            _metrics.Validation(Scheme.Name, "inactive");
            Log.TokenInactive(Logger, Options.ClientId!, storeRead, null);
            return await Failed("Token is not active.", null);
        }

        _metrics.Validation(Scheme.Name, "active");
        var identity = new ClaimsIdentity(claims, Options.AuthenticationType ?? Scheme.Name, Options.NameClaimType, Options.RoleClaimType);
        var validated = new TokenValidatedContext(Context, Scheme, Options, token) { Principal = new ClaimsPrincipal(identity) };
        await Events.TokenValidated(validated);
        if (validated.Result is not null)
        {
            return validated.Result;
        }

        if (Options.SaveToken)
        {
            validated.Properties.StoreTokens([new AuthenticationToken { Name = "access_token", Value = token }]);
        }

        Log.TokenValidated(Logger, Options.ClientId!, null);
        validated.Success();
        return validated.Result!;
    }

    /// <summary>503 with <c>Retry-After</c> when the store was down (an outage, not a bad token); else the default 401.</summary>
    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        AuthenticateResult result = await HandleAuthenticateOnceSafeAsync();
        if (result.Failure is RefTokenStoreUnavailableException)
        {
            Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            Response.Headers.RetryAfter = "5";
            return;
        }

        await base.HandleChallengeAsync(properties);
    }

    private async Task<AuthenticateResult> Failed(string error, Exception? exception)
    {
        var failed = new AuthenticationFailedContext(Context, Scheme, Options, error, exception);
        await Events.AuthenticationFailed(failed);
        return failed.Result ?? (exception is null ? AuthenticateResult.Fail(error) : AuthenticateResult.Fail(exception));
    }
}
