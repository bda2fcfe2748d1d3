using System;
using System.Collections.Generic;

namespace RefToken.IdentityServer;

/// <summary>Options for <c>AddRefTokenNative()</c>.</summary>
public sealed class RefTokenNativeOptions
{
    /// <summary>
    /// The ASP.NET Core Data Protection key folder (what the host passes to
    /// <c>PersistKeysToFileSystem</c>). When set (or <see cref="KeyRingXml"/> is), persisted grants are
    /// protected and unprotected by the native key ring; when neither is set, by the host's own
    /// <c>IDataProtectionProvider</c>, as IdentityServer does.
    /// </summary>
    public string? KeyRingDirectory { get; set; }

    /// <summary>
    /// The key ring as XML elements, as a database holds them (EF Core's <c>DataProtectionKeys.Xml</c>),
    /// read once at start-up; an alternative to <see cref="KeyRingDirectory"/>.
    /// </summary>
    public Func<IEnumerable<string>>? KeyRingXml { get; set; }

    /// <summary>
    /// The application name that roots the purpose chain: what the host passes to
    /// <c>SetApplicationName</c> (or its application discriminator). Required with a native key ring.
    /// </summary>
    public string? ApplicationName { get; set; }

    /// <summary>
    /// How often at most the key ring is read again when it does not know a payload's key, or has
    /// no default key (another host rotated the keys). Default one minute.
    /// </summary>
    public TimeSpan KeyRingReloadInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// Build introspection responses for reference tokens natively (default false: IdentityServer's
    /// generator answers). Off by default because inside IdentityServer it is slower than IdentityServer's
    /// own generator: IdentityServer hands the generator validated claims and wants a dictionary back, so
    /// the native path rebuilds the token from the claims and turns its JSON back into a dictionary.
    /// Turn it on for one implementation of the response rules shared with RefToken's other callers.
    /// </summary>
    public bool NativeIntrospection { get; set; }
}
