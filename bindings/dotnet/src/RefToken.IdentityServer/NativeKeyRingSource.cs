using System;
using System.Security.Cryptography;
using System.Threading;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.Options;

namespace RefToken.IdentityServer;

/// <summary>
/// The native ASP.NET Core Data Protection key ring configured in <see cref="RefTokenNativeOptions"/>,
/// read at first use and again (at most every <see cref="RefTokenNativeOptions.KeyRingReloadInterval"/>)
/// when it lacks a key another host created. Singleton; thread-safe.
/// </summary>
public sealed class NativeKeyRingSource
{
    private readonly RefTokenNativeOptions _options;
    private readonly IDataProtectionProvider? _host;
    private readonly object _gate = new();
    private KeyRing? _ring;
    private long _loadedAt;

    /// <summary>Creates the source.</summary>
    /// <param name="options">The options.</param>
    /// <param name="hostDataProtection">
    /// The host's own Data Protection, persisting to the same key ring: the native key ring only reads
    /// keys, so when it has no default key the host's is asked to create one.
    /// </param>
    public NativeKeyRingSource(IOptions<RefTokenNativeOptions> options, IDataProtectionProvider? hostDataProtection = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options.Value;
        _host = hostDataProtection;
        if (IsConfigured && string.IsNullOrEmpty(_options.ApplicationName))
        {
            throw new InvalidOperationException(
                "RefToken: a native key ring needs RefTokenNativeOptions.ApplicationName, the name the host passes to SetApplicationName.");
        }
    }

    /// <summary>Whether a native key ring is configured (else the host's Data Protection is used).</summary>
    public bool IsConfigured => _options.KeyRingDirectory is not null || _options.KeyRingXml is not null;

    /// <summary>The key ring as last read.</summary>
    /// <exception cref="InvalidOperationException">No native key ring is configured.</exception>
    public KeyRing Current => Volatile.Read(ref _ring) ?? Load();

    /// <summary>An <see cref="IDataProtectionProvider"/> over the native key ring.</summary>
    public IDataProtectionProvider CreateProvider() => new NativeDataProtector(this, []);

    /// <summary>Reads the key ring again unless that happened within the reload interval.</summary>
    /// <returns>Whether it was read again.</returns>
    public bool TryReload()
    {
        lock (_gate)
        {
            if (_ring is not null && Environment.TickCount64 - _loadedAt < (long)_options.KeyRingReloadInterval.TotalMilliseconds)
            {
                return false;
            }

            LoadLocked();
            return true;
        }
    }

    /// <summary>
    /// When the key ring has no default key: lets the host's Data Protection create one (it writes to
    /// the shared key ring) and reads the key ring again.
    /// </summary>
    /// <returns>Whether the key ring was read again.</returns>
    public bool RecoverFromMissingDefaultKey()
    {
        if (_host is null)
        {
            return TryReload();
        }

        // Protecting anything makes ASP.NET Core create and persist a default key if it has none.
        _host.CreateProtector("RefToken.NativeKeyRingSource").Protect([0]);
        lock (_gate)
        {
            LoadLocked();
            return true;
        }
    }

    private KeyRing Load()
    {
        lock (_gate)
        {
            return _ring ?? LoadLocked();
        }
    }

    private KeyRing LoadLocked()
    {
        KeyRing ring = _options.KeyRingDirectory is { } dir
            ? KeyRing.LoadDirectory(dir, _options.ApplicationName)
            : _options.KeyRingXml is { } xml
                ? KeyRing.FromXml(xml(), _options.ApplicationName)
                : throw new InvalidOperationException("RefToken: no native key ring is configured.");

        // The previous ring is not disposed: calls in flight may still use it; its SafeHandle
        // frees it once unreachable.
        Volatile.Write(ref _ring, ring);
        _loadedAt = Environment.TickCount64;
        return ring;
    }
}

/// <summary>
/// ASP.NET Core's <see cref="IDataProtector"/> over the native key ring: the same payloads, both ways,
/// as the framework's protector with the same keys, application name and purposes.
/// </summary>
internal sealed class NativeDataProtector : IDataProtector
{
    private readonly NativeKeyRingSource _source;
    private readonly string[] _purposes;
    private (KeyRing Ring, KeyRingProtector Protector)? _cached;

    public NativeDataProtector(NativeKeyRingSource source, string[] purposes)
    {
        _source = source;
        _purposes = purposes;
    }

    public IDataProtector CreateProtector(string purpose)
    {
        ArgumentNullException.ThrowIfNull(purpose);
        return new NativeDataProtector(_source, [.. _purposes, purpose]);
    }

    public byte[] Protect(byte[] plaintext)
    {
        ArgumentNullException.ThrowIfNull(plaintext);
        try
        {
            return Protector().ProtectBytes(plaintext);
        }
        catch (RefTokenException e) when (e.Status == RefTokenStatus.UnknownKey && _source.RecoverFromMissingDefaultKey())
        {
            return Protector().ProtectBytes(plaintext);
        }
    }

    public byte[] Unprotect(byte[] protectedData)
    {
        ArgumentNullException.ThrowIfNull(protectedData);
        try
        {
            try
            {
                return Protector().UnprotectBytes(protectedData);
            }
            catch (RefTokenException e) when (e.Status == RefTokenStatus.UnknownKey && _source.TryReload())
            {
                return Protector().UnprotectBytes(protectedData);
            }
        }
        catch (Exception e) when (e is RefTokenException or RefTokenArgumentException)
        {
            // What ASP.NET Core's protector throws for a payload it cannot read (a key ring without
            // an application name is refused as an argument: the same answer as before).
            throw new CryptographicException(e.Message, e);
        }
    }

    private KeyRingProtector Protector()
    {
        KeyRing ring = _source.Current;
        var cached = _cached;
        if (cached is { } c && ReferenceEquals(c.Ring, ring))
        {
            return c.Protector;
        }

        KeyRingProtector protector = ring.CreateProtector(_purposes);
        _cached = (ring, protector);
        return protector;
    }
}
