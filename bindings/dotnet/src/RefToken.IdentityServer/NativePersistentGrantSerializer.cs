using Duende.IdentityServer.Stores.Serialization;
using Microsoft.AspNetCore.DataProtection;

namespace RefToken.IdentityServer;

/// <summary>
/// IdentityServer's persisted-grant serializer (container, JSON and <c>DataProtectData</c> exactly as
/// <see cref="PersistentGrantSerializer"/>) with ASP.NET Core Data Protection done by the native key ring
/// when one is configured in <see cref="RefTokenNativeOptions"/>, else by the host's own
/// <see cref="IDataProtectionProvider"/>. Without either it behaves as <see cref="PersistentGrantSerializer"/>
/// without a provider: it writes unprotected containers and refuses to read protected ones. Rows it
/// writes are read by stock IdentityServer hosts sharing the key ring and application name, and the
/// other way round.
/// </summary>
public sealed class NativePersistentGrantSerializer : IPersistentGrantSerializer
{
    private readonly PersistentGrantSerializer _inner;

    /// <summary>Creates the serializer.</summary>
    /// <param name="options">IdentityServer's persisted-grant options (null: as IdentityServer, nothing is protected).</param>
    /// <param name="keyRing">The native key ring source; null or not configured: the host's Data Protection is used.</param>
    /// <param name="dataProtectionProvider">The host's Data Protection, used when no native key ring is configured.</param>
    public NativePersistentGrantSerializer(PersistentGrantOptions? options = null, NativeKeyRingSource? keyRing = null, IDataProtectionProvider? dataProtectionProvider = null)
    {
        UsesNativeKeyRing = keyRing is { IsConfigured: true };
        _inner = new PersistentGrantSerializer(options!, UsesNativeKeyRing ? keyRing!.CreateProvider() : dataProtectionProvider!);
    }

    /// <summary>Whether Data Protection goes through the native key ring.</summary>
    public bool UsesNativeKeyRing { get; }

    /// <inheritdoc/>
    public string Serialize<T>(T value) => _inner.Serialize(value);

    /// <inheritdoc/>
    public T Deserialize<T>(string json) => _inner.Deserialize<T>(json);
}
