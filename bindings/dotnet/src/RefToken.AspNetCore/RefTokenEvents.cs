using System;
using System.Threading.Tasks;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Http;

namespace RefToken.AspNetCore;

/// <summary>The handler's events, named as the OAuth2 introspection handler's.</summary>
public class RefTokenEvents
{
    /// <summary>Raised when a token is active: the principal may be changed, or the result decided.</summary>
    public Func<TokenValidatedContext, Task> OnTokenValidated { get; set; } = _ => Task.CompletedTask;

    /// <summary>Raised when a token is not active, or cannot be judged (the store is down): the result may be decided.</summary>
    public Func<AuthenticationFailedContext, Task> OnAuthenticationFailed { get; set; } = _ => Task.CompletedTask;

    /// <summary>Invokes <see cref="OnTokenValidated"/>.</summary>
    /// <param name="context">The context.</param>
    /// <returns>The event's task.</returns>
    public virtual Task TokenValidated(TokenValidatedContext context) => OnTokenValidated(context);

    /// <summary>Invokes <see cref="OnAuthenticationFailed"/>.</summary>
    /// <param name="context">The context.</param>
    /// <returns>The event's task.</returns>
    public virtual Task AuthenticationFailed(AuthenticationFailedContext context) => OnAuthenticationFailed(context);
}

/// <summary>The context of <see cref="RefTokenEvents.OnTokenValidated"/>.</summary>
public sealed class TokenValidatedContext : ResultContext<RefTokenAuthenticationOptions>
{
    /// <summary>Creates the context.</summary>
    /// <param name="context">The request.</param>
    /// <param name="scheme">The scheme.</param>
    /// <param name="options">The scheme's options.</param>
    /// <param name="securityToken">The validated token.</param>
    public TokenValidatedContext(HttpContext context, AuthenticationScheme scheme, RefTokenAuthenticationOptions options, string securityToken)
        : base(context, scheme, options) => SecurityToken = securityToken;

    /// <summary>The validated token (never log it).</summary>
    public string SecurityToken { get; }
}

/// <summary>The context of <see cref="RefTokenEvents.OnAuthenticationFailed"/>.</summary>
public sealed class AuthenticationFailedContext : ResultContext<RefTokenAuthenticationOptions>
{
    /// <summary>Creates the context.</summary>
    /// <param name="context">The request.</param>
    /// <param name="scheme">The scheme.</param>
    /// <param name="options">The scheme's options.</param>
    /// <param name="error">What failed.</param>
    /// <param name="exception">The exception that made it fail (<see cref="RefTokenStoreUnavailableException"/> for an outage), or null for an inactive token.</param>
    public AuthenticationFailedContext(HttpContext context, AuthenticationScheme scheme, RefTokenAuthenticationOptions options, string error, Exception? exception)
        : base(context, scheme, options)
    {
        Error = error;
        Exception = exception;
    }

    /// <summary>What failed, without the token.</summary>
    public string Error { get; }

    /// <summary>The exception, or null when the token is simply not active.</summary>
    public Exception? Exception { get; }
}

/// <summary>
/// The persisted-grant store could not be read: the token was neither accepted nor rejected. The
/// authentication result fails with it, and the handler's challenge answers 503.
/// </summary>
public sealed class RefTokenStoreUnavailableException : Exception
{
    /// <summary>Creates the exception.</summary>
    public RefTokenStoreUnavailableException()
        : base("The persisted-grant store could not be reached.")
    {
    }

    /// <summary>Creates the exception.</summary>
    /// <param name="message">The message.</param>
    public RefTokenStoreUnavailableException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The store's exception.</param>
    public RefTokenStoreUnavailableException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
