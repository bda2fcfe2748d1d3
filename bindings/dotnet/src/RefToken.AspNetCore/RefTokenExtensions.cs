using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using RefToken;
using RefToken.AspNetCore;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registration of the RefToken authentication handler.</summary>
public static class RefTokenAuthenticationExtensions
{
    /// <summary>The default scheme name (as the OAuth2 introspection handler's): <c>Bearer</c>.</summary>
    public const string DefaultScheme = "Bearer";

    /// <summary>Adds the RefToken handler under <see cref="DefaultScheme"/>.</summary>
    /// <param name="builder">The authentication builder.</param>
    /// <param name="configureOptions">Sets the options.</param>
    /// <returns>The builder.</returns>
    public static AuthenticationBuilder AddRefToken(this AuthenticationBuilder builder, Action<RefTokenAuthenticationOptions> configureOptions) =>
        builder.AddRefToken(DefaultScheme, configureOptions);

    /// <summary>
    /// Adds the RefToken handler under <paramref name="authenticationScheme"/>, and the hosted service that
    /// makes its validator and runs its revocation listeners from start-up to shutdown.
    /// </summary>
    /// <param name="builder">The authentication builder.</param>
    /// <param name="authenticationScheme">The scheme's name.</param>
    /// <param name="configureOptions">Sets the options.</param>
    /// <returns>The builder.</returns>
    public static AuthenticationBuilder AddRefToken(this AuthenticationBuilder builder, string authenticationScheme, Action<RefTokenAuthenticationOptions> configureOptions)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(authenticationScheme);
        builder.Services.AddMetrics();
        builder.Services.TryAddSingleton<RefTokenMetrics>();
        builder.Services.TryAddSingleton<RefTokenValidators>();
        builder.Services.AddSingleton(new RefTokenScheme(authenticationScheme));
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, RefTokenRevocationService>());
        return builder.AddScheme<RefTokenAuthenticationOptions, RefTokenHandler>(authenticationScheme, configureOptions);
    }
}

/// <summary>A scheme AddRefToken registered.</summary>
internal sealed record RefTokenScheme(string Name);

/// <summary>
/// Makes each RefToken scheme's validator at start-up, so its revocation listeners connect before the
/// first request, and disposes them (stopping the listeners) at shutdown.
/// </summary>
internal sealed class RefTokenRevocationService(IEnumerable<RefTokenScheme> schemes, RefTokenValidators validators, ILogger<RefTokenRevocationService> logger) : IHostedService
{
    private static readonly TimeSpan ConnectWait = TimeSpan.FromSeconds(5);

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        foreach (RefTokenScheme scheme in schemes)
        {
            RefTokenSchemeValidator v = validators.Get(scheme.Name);
            foreach (RevocationListener listener in v.Listeners)
            {
                // Waiting is only for the log line: until it listens, the native validator serves no
                // cached entry older than the staleness bound.
                RevocationListener l = listener;
                bool listening = await Task.Run(() => l.Wait(ConnectWait), cancellationToken);
                if (!listening)
                {
                    Log.ListenerNotConnected(logger, scheme.Name, $"not listening after {ConnectWait.TotalSeconds:0} s", null);
                }
            }
        }
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        foreach (RefTokenSchemeValidator v in validators.Created)
        {
            foreach (RevocationListener l in v.Listeners)
            {
                l.Stop();
            }
        }

        return Task.CompletedTask;
    }
}
