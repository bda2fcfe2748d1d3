using System;
using Duende.IdentityServer.ResponseHandling;
using Duende.IdentityServer.Services;
using Duende.IdentityServer.Stores;
using Duende.IdentityServer.Stores.Serialization;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using RefToken;
using RefToken.IdentityServer;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>RefToken's registration on IdentityServer's builder.</summary>
public static class RefTokenIdentityServerBuilderExtensions
{
    /// <summary>
    /// Replaces IdentityServer's handle generation, reference-token store key hashing, persisted-grant
    /// serializer and introspection response generator with libreftoken-backed ones
    /// (<see cref="NativeHandleGenerationService"/>, <see cref="NativeReferenceTokenStore"/>,
    /// <see cref="NativePersistentGrantSerializer"/>, <see cref="NativeIntrospectionResponseGenerator"/>).
    /// The generator answers with IdentityServer's own code unless
    /// <see cref="RefTokenNativeOptions.NativeIntrospection"/> is set (inside IdentityServer the native
    /// response is slower than IdentityServer's; see README.md). Call it after <c>AddIdentityServer()</c>. Loads the native library now, so that a missing one
    /// fails at start-up.
    /// </summary>
    /// <param name="builder">IdentityServer's builder.</param>
    /// <param name="configure">Sets <see cref="RefTokenNativeOptions"/> (a native Data Protection key ring, ...).</param>
    /// <returns>The builder, for chaining.</returns>
    /// <exception cref="PlatformNotSupportedException">The native library cannot be loaded.</exception>
    public static IIdentityServerBuilder AddRefTokenNative(this IIdentityServerBuilder builder, Action<RefTokenNativeOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        RefTokenLibrary.EnsureLoaded();

        OptionsBuilder<RefTokenNativeOptions> options = builder.Services.AddOptions<RefTokenNativeOptions>();
        if (configure is not null)
        {
            options.Configure(configure);
        }

        builder.Services.TryAddSingleton<NativeKeyRingSource>();
        builder.Services.TryAddSingleton<RefTokenIdentityServerMetrics>();
        builder.Services.Replace(ServiceDescriptor.Transient<IHandleGenerationService, NativeHandleGenerationService>());
        builder.Services.Replace(ServiceDescriptor.Transient<IReferenceTokenStore, NativeReferenceTokenStore>());
        builder.Services.Replace(ServiceDescriptor.Transient<IPersistentGrantSerializer, NativePersistentGrantSerializer>());
        builder.Services.Replace(ServiceDescriptor.Transient<IIntrospectionResponseGenerator, NativeIntrospectionResponseGenerator>());
        return builder;
    }
}
