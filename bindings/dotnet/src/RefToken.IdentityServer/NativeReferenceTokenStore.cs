using Duende.IdentityServer.Services;
using Duende.IdentityServer.Stores;
using Duende.IdentityServer.Stores.Serialization;
using Microsoft.Extensions.Logging;

namespace RefToken.IdentityServer;

/// <summary>
/// IdentityServer's <see cref="DefaultReferenceTokenStore"/> with the store key computed natively
/// (<see cref="GetHashedKey"/>): SHA-256 of <c>handle:reference_token</c>, hex for <c>-1</c> handles and
/// base64 for IdentityServer4 and Duende 5 handles. Everything else is IdentityServer's.
/// </summary>
public class NativeReferenceTokenStore : DefaultReferenceTokenStore
{
    /// <summary>Creates the store.</summary>
    /// <param name="store">The persisted-grant store.</param>
    /// <param name="serializer">The serializer.</param>
    /// <param name="handleGenerationService">The handle generation service.</param>
    /// <param name="logger">The logger.</param>
    public NativeReferenceTokenStore(
        IPersistedGrantStore store,
        IPersistentGrantSerializer serializer,
        IHandleGenerationService handleGenerationService,
        ILogger<DefaultReferenceTokenStore> logger)
        : base(store, serializer, handleGenerationService, logger)
    {
        RefTokenLibrary.EnsureLoaded();
    }

    /// <summary>The store key of <paramref name="value"/> for this store's grant type (<c>reftoken_store_key</c>).</summary>
    /// <param name="value">The handle.</param>
    /// <returns>The key.</returns>
    protected override string GetHashedKey(string value)
    {
        try
        {
            return StoreKeys.Compute(value, GrantType);
        }
        catch (RefTokenException e) when (e.Status == RefTokenStatus.InputTooLarge)
        {
            // Over the native limits (a 4096-byte handle): IdentityServer's own hashing has none.
            return base.GetHashedKey(value);
        }
    }
}
