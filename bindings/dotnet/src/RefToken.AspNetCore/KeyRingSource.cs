using System;
using System.Buffers;
using System.Text.Json;
using System.Threading;

namespace RefToken.AspNetCore;

/// <summary>
/// The native Data Protection key ring of one scheme, read again (at most once per reload interval) when
/// a row is protected with a key it does not hold: IdentityServer's hosts roll keys on their own.
/// </summary>
internal sealed class KeyRingSource : IDisposable
{
    private const string Purpose = "PersistentGrantSerializer";
    private readonly RefTokenAuthenticationOptions _options;
    private readonly object _gate = new();
    private KeyRingProtector _protector;
    private long _loadedAt;

    public KeyRingSource(RefTokenAuthenticationOptions options)
    {
        _options = options;
        _protector = Load();
        _loadedAt = Environment.TickCount64;
    }

    public int Reloads { get; private set; }

    /// <summary>
    /// <paramref name="data"/> (a <c>Data</c> column) with its payload unprotected, as an unprotected
    /// container; the column as it is when it is not protected or cannot be unprotected (the validator
    /// then counts the row as unreadable, as IdentityServer does).
    /// </summary>
    public string Unprotect(string data)
    {
        string? payload;
        int version;
        try
        {
            using JsonDocument doc = JsonDocument.Parse(data);
            JsonElement root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object
                || !root.TryGetProperty("PersistentGrantDataContainerVersion", out JsonElement v) || !v.TryGetInt32(out version)
                || !root.TryGetProperty("DataProtected", out JsonElement p) || p.ValueKind != JsonValueKind.True
                || !root.TryGetProperty("Payload", out JsonElement pl) || pl.ValueKind != JsonValueKind.String)
            {
                return data;
            }

            payload = pl.GetString();
        }
        catch (JsonException)
        {
            return data;
        }

        string plain;
        try
        {
            try
            {
                plain = Volatile.Read(ref _protector).Unprotect(payload!);
            }
            catch (RefTokenException e) when (e.Status == RefTokenStatus.UnknownKey && TryReload())
            {
                plain = Volatile.Read(ref _protector).Unprotect(payload!);
            }
        }
        catch (Exception e) when (e is RefTokenException or RefTokenArgumentException)
        {
            return data;
        }

        var buffer = new ArrayBufferWriter<byte>(plain.Length + 96);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteNumber("PersistentGrantDataContainerVersion", version);
            writer.WriteBoolean("DataProtected", false);
            writer.WriteString("Payload", plain);
            writer.WriteEndObject();
        }

        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    private bool TryReload()
    {
        lock (_gate)
        {
            if (Environment.TickCount64 - _loadedAt < (long)_options.KeyRingReloadInterval.TotalMilliseconds)
            {
                return false;
            }

            KeyRingProtector next = Load();
            // The previous ring is not disposed: a call on another thread may still use it; its
            // SafeHandle frees it once unreachable.
            Volatile.Write(ref _protector, next);
            _loadedAt = Environment.TickCount64;
            Reloads++;
            return true;
        }
    }

    private KeyRingProtector Load()
    {
        KeyRing ring = _options.KeyRingDirectory is { } dir
            ? KeyRing.LoadDirectory(dir, _options.ApplicationName)
            : KeyRing.FromXml(_options.KeyRingXml!(), _options.ApplicationName);
        return ring.CreateProtector(Purpose);
    }

    public void Dispose() => Volatile.Read(ref _protector).KeyRing.Dispose();
}
