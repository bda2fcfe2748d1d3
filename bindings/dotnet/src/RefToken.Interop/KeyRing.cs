using System;
using System.Collections.Generic;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using RefToken.Native;

namespace RefToken;

/// <summary>
/// An ASP.NET Core Data Protection key ring with its application name, loaded once and immutable
/// afterwards (<c>reftoken_keyring</c>). Protect and unprotect with a <see cref="KeyRingProtector"/>
/// from <see cref="CreateProtector(string[])"/>. Every member is thread-safe.
/// </summary>
public sealed unsafe class KeyRing : IDisposable
{
    private readonly KeyRingSafeHandle _handle;

    private KeyRing(KeyRingSafeHandle handle, string? applicationName)
    {
        _handle = handle;
        ApplicationName = string.IsNullOrEmpty(applicationName) ? null : applicationName;
    }

    /// <summary>The application name that roots every purpose chain, or null for none.</summary>
    public string? ApplicationName { get; }

    /// <summary>The native object; valid until this key ring is disposed.</summary>
    public KeyRingSafeHandle SafeHandle => _handle;

    /// <summary>
    /// Loads the <c>*.xml</c> key files of <paramref name="directory"/>, as ASP.NET Core's
    /// <c>PersistKeysToFileSystem</c> writes them (<c>reftoken_keyring_new_from_dir</c>).
    /// </summary>
    /// <param name="directory">The key ring folder.</param>
    /// <param name="applicationName">
    /// What the application passes to <c>SetApplicationName</c>, or its application discriminator;
    /// null or empty for no root purpose.
    /// </param>
    /// <returns>The key ring; dispose it (its keys are wiped).</returns>
    /// <exception cref="ArgumentNullException"><paramref name="directory"/> is null.</exception>
    /// <exception cref="RefTokenException">
    /// <see cref="RefTokenStatus.IoError"/> (the folder or a file cannot be read),
    /// <see cref="RefTokenStatus.MalformedInput"/> (a file that is not XML, two keys with one id),
    /// <see cref="RefTokenStatus.InputTooLarge"/>.
    /// </exception>
    public static KeyRing LoadDirectory(string directory, string? applicationName)
    {
        ArgumentNullException.ThrowIfNull(directory);
        RefTokenLibrary.EnsureLoaded();
        using var d = new Utf8Arg(directory, stackalloc byte[Utf8Arg.StackBytes]);
        using var a = new Utf8Arg(applicationName, stackalloc byte[Utf8Arg.StackBytes]);
        KeyRingSafeHandle handle;
        RefTokenStatus status;
        fixed (byte* dp = d.Span)
        fixed (byte* ap = a.Span)
        {
            status = NativeMethods.reftoken_keyring_new_from_dir(dp, (nuint)d.Length, ap, (nuint)a.Length, out handle);
        }

        return Wrap(status, handle, applicationName);
    }

    /// <summary>
    /// Loads a key ring from XML elements as a database or cache holds them (the <c>Xml</c> column
    /// of EF Core's <c>DataProtectionKeys</c>, a Redis list): each one <c>&lt;key&gt;</c> or
    /// <c>&lt;revocation&gt;</c> element (<c>reftoken_keyring_new_from_xml</c>).
    /// </summary>
    /// <param name="elements">The elements; none gives an empty key ring.</param>
    /// <param name="applicationName">The application name, or null.</param>
    /// <returns>The key ring; dispose it.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="elements"/> or one of them is null.</exception>
    /// <exception cref="RefTokenException"><see cref="RefTokenStatus.MalformedInput"/>, <see cref="RefTokenStatus.InputTooLarge"/>.</exception>
    public static KeyRing FromXml(IEnumerable<string> elements, string? applicationName)
    {
        ArgumentNullException.ThrowIfNull(elements);
        RefTokenLibrary.EnsureLoaded();
        using var utf8 = new Utf8List(elements, nameof(elements));
        using var a = new Utf8Arg(applicationName, stackalloc byte[Utf8Arg.StackBytes]);
        KeyRingSafeHandle handle;
        RefTokenStatus status;
        fixed (byte* ap = a.Span)
        {
            status = NativeMethods.reftoken_keyring_new_from_xml(utf8.Pointer, (nuint)utf8.Count, ap, (nuint)a.Length, out handle);
        }

        return Wrap(status, handle, applicationName);
    }

    /// <summary>
    /// The id of the key ASP.NET Core would protect new payloads with at <paramref name="now"/>
    /// (its default-key rule) (<c>reftoken_keyring_default_key_id</c>).
    /// </summary>
    /// <param name="now">The time.</param>
    /// <returns>The key id.</returns>
    /// <exception cref="RefTokenException"><see cref="RefTokenStatus.UnknownKey"/>: no key qualifies (ASP.NET Core would create one).</exception>
    public Guid GetDefaultKeyId(DateTimeOffset now)
    {
        byte* buffer = stackalloc byte[40];
        nuint length;
        RefTokenLibrary.Check(NativeMethods.reftoken_keyring_default_key_id(_handle, now.ToUnixTimeSeconds(), buffer, 40, &length));
        return Guid.Parse(Encoding.ASCII.GetString(buffer, (int)length));
    }

    /// <summary>
    /// A protector for the purpose chain <c>[application name,] purposes...</c>, as
    /// <c>provider.CreateProtector(purposes)</c>. The protector keeps this key ring alive.
    /// </summary>
    /// <param name="purposes">The purposes, outermost first.</param>
    /// <returns>The protector.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="purposes"/> or one of them is null.</exception>
    public KeyRingProtector CreateProtector(params string[] purposes)
    {
        ArgumentNullException.ThrowIfNull(purposes);
        return new KeyRingProtector(this, purposes);
    }

    /// <summary>Frees the native key ring and wipes its keys. Protectors made from it stop working.</summary>
    public void Dispose() => _handle.Dispose();

    private static KeyRing Wrap(RefTokenStatus status, KeyRingSafeHandle handle, string? applicationName) =>
        new(RefTokenLibrary.Owned(status, handle), applicationName);
}

/// <summary>
/// ASP.NET Core's <c>IDataProtector</c> semantics over a native <see cref="KeyRing"/>, for one
/// purpose chain: the same payloads, in both directions, as the framework's own protector with the
/// same keys, application name and purposes. Thread-safe; the purposes are encoded once.
/// </summary>
public sealed unsafe class KeyRingProtector
{
    private readonly KeyRing _keyRing;
    private readonly string[] _purposes;

    // Pinned (pinned object heap): the reftoken_str array points into the UTF-8 bytes.
    private readonly byte[] _purposeBytes;
    private readonly NativeStr[] _purposeStrs;

    internal KeyRingProtector(KeyRing keyRing, string[] purposes)
    {
        _keyRing = keyRing;
        _purposes = (string[])purposes.Clone();
        int total = 0;
        foreach (string purpose in _purposes)
        {
            ArgumentNullException.ThrowIfNull(purpose, nameof(purposes));
            total += Encoding.UTF8.GetByteCount(purpose);
        }

        _purposeBytes = GC.AllocateUninitializedArray<byte>(total + 1, pinned: true);
        _purposeStrs = GC.AllocateUninitializedArray<NativeStr>(Math.Max(_purposes.Length, 1), pinned: true);
        byte* basePtr = (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_purposeBytes));
        int offset = 0;
        for (int i = 0; i < _purposes.Length; i++)
        {
            int n = Encoding.UTF8.GetBytes(_purposes[i], _purposeBytes.AsSpan(offset));
            _purposeStrs[i] = new NativeStr(basePtr + offset, n);
            offset += n;
        }
    }

    /// <summary>The key ring.</summary>
    public KeyRing KeyRing => _keyRing;

    /// <summary>The purposes below the application name, outermost first.</summary>
    public IReadOnlyList<string> Purposes => _purposes;

    private NativeStr* PurposePointer => (NativeStr*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_purposeStrs));

    /// <summary>A protector for this chain extended by <paramref name="purpose"/>, as <c>CreateProtector(purpose)</c> on this one.</summary>
    /// <param name="purpose">The next purpose.</param>
    /// <returns>The child protector.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="purpose"/> is null.</exception>
    public KeyRingProtector CreateProtector(string purpose)
    {
        ArgumentNullException.ThrowIfNull(purpose);
        string[] chain = new string[_purposes.Length + 1];
        _purposes.CopyTo(chain, 0);
        chain[^1] = purpose;
        return new KeyRingProtector(_keyRing, chain);
    }

    /// <summary>
    /// <c>protector.Protect(string)</c>: the base64url payload (no padding, starting <c>CfDJ8</c>)
    /// (<c>reftoken_protect</c>). The key is the ring's default key at <paramref name="now"/>.
    /// </summary>
    /// <param name="plaintext">The text.</param>
    /// <param name="now">The time that picks the default key; null for now.</param>
    /// <returns>The payload.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="plaintext"/> is null.</exception>
    /// <exception cref="RefTokenException">
    /// <see cref="RefTokenStatus.UnknownKey"/> (no default key at that time), <see cref="RefTokenStatus.InputTooLarge"/>,
    /// <see cref="RefTokenStatus.RngFailure"/>.
    /// </exception>
    /// <exception cref="RefTokenArgumentException"><see cref="RefTokenStatus.InvalidArgument"/>: no application name and no purpose.</exception>
    public string Protect(string plaintext, DateTimeOffset? now = null)
    {
        ArgumentNullException.ThrowIfNull(plaintext);
        using var t = new Utf8Arg(plaintext, stackalloc byte[Utf8Arg.StackBytes]);
        fixed (byte* tp = t.Span)
        {
            var writer = new ProtectWriter(_keyRing.SafeHandle, PurposePointer, (nuint)_purposes.Length, tp, (nuint)t.Length, Now(now), text: true);
            string result = NativeOutput.ReadString(ref writer, ProtectedSize(t.Length));
            GC.KeepAlive(this);
            return result;
        }
    }

    /// <summary>As <see cref="Protect(string, DateTimeOffset?)"/>, UTF-8 text in, the base64url payload (ASCII) into <paramref name="destination"/>.</summary>
    /// <param name="utf8Plaintext">The text, UTF-8.</param>
    /// <param name="destination">Where the payload goes.</param>
    /// <param name="bytesWritten">Bytes written, or the size needed when <paramref name="destination"/> is too small.</param>
    /// <param name="now">The time that picks the default key; null for now.</param>
    /// <returns>False when <paramref name="destination"/> is too small (nothing encrypted).</returns>
    /// <exception cref="RefTokenException">As <see cref="Protect(string, DateTimeOffset?)"/>, and <see cref="RefTokenStatus.InvalidUtf8"/>.</exception>
    /// <exception cref="RefTokenArgumentException">As <see cref="Protect(string, DateTimeOffset?)"/>.</exception>
    public bool TryProtect(ReadOnlySpan<byte> utf8Plaintext, Span<byte> destination, out int bytesWritten, DateTimeOffset? now = null) =>
        TryProtectCore(utf8Plaintext, text: true, destination, out bytesWritten, now);

    /// <summary>
    /// <c>protector.Unprotect(string)</c>: decodes the base64url payload, authenticates and decrypts
    /// it (<c>reftoken_unprotect</c>). Any key of the ring may have protected it, expired ones included.
    /// </summary>
    /// <param name="payload">The payload.</param>
    /// <returns>The text.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="payload"/> is null.</exception>
    /// <exception cref="RefTokenException">
    /// <see cref="RefTokenStatus.MalformedInput"/> (not base64url), <see cref="RefTokenStatus.CryptoFailure"/>
    /// (tampered, truncated, other purposes or application), <see cref="RefTokenStatus.UnknownKey"/>,
    /// <see cref="RefTokenStatus.KeyRevoked"/>, <see cref="RefTokenStatus.UnsupportedProtector"/>.
    /// </exception>
    /// <exception cref="RefTokenArgumentException"><see cref="RefTokenStatus.InvalidArgument"/>: no application name and no purpose.</exception>
    public string Unprotect(string payload)
    {
        ArgumentNullException.ThrowIfNull(payload);
        using var p = new Utf8Arg(payload, stackalloc byte[Utf8Arg.StackBytes]);
        fixed (byte* pp = p.Span)
        {
            var writer = new UnprotectWriter(_keyRing.SafeHandle, PurposePointer, (nuint)_purposes.Length, pp, (nuint)p.Length, text: true);
            // The plaintext is shorter than the payload: one decryption, never a retry.
            string result = NativeOutput.ReadString(ref writer, p.Length + 1);
            GC.KeepAlive(this);
            return result;
        }
    }

    /// <summary>As <see cref="Unprotect(string)"/>, the payload as UTF-8/ASCII in, UTF-8 text into <paramref name="destination"/>.</summary>
    /// <param name="utf8Payload">The payload.</param>
    /// <param name="destination">Where the text goes (the payload's length is always enough).</param>
    /// <param name="bytesWritten">Bytes written, or the size needed when <paramref name="destination"/> is too small.</param>
    /// <returns>False when <paramref name="destination"/> is too small.</returns>
    /// <exception cref="RefTokenException">As <see cref="Unprotect(string)"/>, and <see cref="RefTokenStatus.InvalidUtf8"/>.</exception>
    /// <exception cref="RefTokenArgumentException">As <see cref="Unprotect(string)"/>.</exception>
    public bool TryUnprotect(ReadOnlySpan<byte> utf8Payload, Span<byte> destination, out int bytesWritten) =>
        TryUnprotectCore(utf8Payload, text: true, destination, out bytesWritten);

    /// <summary><c>protector.Protect(byte[])</c>: the binary payload (<c>09 F0 C9 F0</c>, key id, body) (<c>reftoken_protect_bytes</c>).</summary>
    /// <param name="plaintext">The bytes.</param>
    /// <param name="now">The time that picks the default key; null for now.</param>
    /// <returns>The payload.</returns>
    /// <exception cref="RefTokenException">As <see cref="Protect(string, DateTimeOffset?)"/>.</exception>
    /// <exception cref="RefTokenArgumentException">As <see cref="Protect(string, DateTimeOffset?)"/>.</exception>
    public byte[] ProtectBytes(ReadOnlySpan<byte> plaintext, DateTimeOffset? now = null)
    {
        fixed (byte* tp = plaintext)
        {
            var writer = new ProtectWriter(_keyRing.SafeHandle, PurposePointer, (nuint)_purposes.Length, tp, (nuint)plaintext.Length, Now(now), text: false);
            byte[] result = NativeOutput.ReadBytes(ref writer, ProtectedSize(plaintext.Length));
            GC.KeepAlive(this);
            return result;
        }
    }

    /// <summary>As <see cref="ProtectBytes(ReadOnlySpan{byte}, DateTimeOffset?)"/>, into <paramref name="destination"/>.</summary>
    /// <param name="plaintext">The bytes.</param>
    /// <param name="destination">Where the payload goes.</param>
    /// <param name="bytesWritten">Bytes written, or the size needed when <paramref name="destination"/> is too small.</param>
    /// <param name="now">The time that picks the default key; null for now.</param>
    /// <returns>False when <paramref name="destination"/> is too small (nothing encrypted).</returns>
    /// <exception cref="RefTokenException">As <see cref="Protect(string, DateTimeOffset?)"/>.</exception>
    /// <exception cref="RefTokenArgumentException">As <see cref="Protect(string, DateTimeOffset?)"/>.</exception>
    public bool TryProtectBytes(ReadOnlySpan<byte> plaintext, Span<byte> destination, out int bytesWritten, DateTimeOffset? now = null) =>
        TryProtectCore(plaintext, text: false, destination, out bytesWritten, now);

    /// <summary><c>protector.Unprotect(byte[])</c>: the plaintext of a binary payload (<c>reftoken_unprotect_bytes</c>).</summary>
    /// <param name="payload">The binary payload.</param>
    /// <returns>The plaintext.</returns>
    /// <exception cref="RefTokenException">As <see cref="Unprotect(string)"/>, without <see cref="RefTokenStatus.MalformedInput"/>.</exception>
    /// <exception cref="RefTokenArgumentException">As <see cref="Unprotect(string)"/>.</exception>
    public byte[] UnprotectBytes(ReadOnlySpan<byte> payload)
    {
        fixed (byte* pp = payload)
        {
            var writer = new UnprotectWriter(_keyRing.SafeHandle, PurposePointer, (nuint)_purposes.Length, pp, (nuint)payload.Length, text: false);
            byte[] result = NativeOutput.ReadBytes(ref writer, payload.Length + 1);
            GC.KeepAlive(this);
            return result;
        }
    }

    /// <summary>As <see cref="UnprotectBytes(ReadOnlySpan{byte})"/>, into <paramref name="destination"/>.</summary>
    /// <param name="payload">The binary payload.</param>
    /// <param name="destination">Where the plaintext goes (the payload's length is always enough).</param>
    /// <param name="bytesWritten">Bytes written, or the size needed when <paramref name="destination"/> is too small.</param>
    /// <returns>False when <paramref name="destination"/> is too small.</returns>
    /// <exception cref="RefTokenException">As <see cref="UnprotectBytes(ReadOnlySpan{byte})"/>.</exception>
    /// <exception cref="RefTokenArgumentException">As <see cref="UnprotectBytes(ReadOnlySpan{byte})"/>.</exception>
    public bool TryUnprotectBytes(ReadOnlySpan<byte> payload, Span<byte> destination, out int bytesWritten) =>
        TryUnprotectCore(payload, text: false, destination, out bytesWritten);

    private static long Now(DateTimeOffset? now) => (now ?? DateTimeOffset.UtcNow).ToUnixTimeSeconds();

    /// <summary>The text and binary forms of <c>TryProtect</c>: <paramref name="text"/> picks base64url or the binary payload.</summary>
    private bool TryProtectCore(ReadOnlySpan<byte> plaintext, bool text, Span<byte> destination, out int bytesWritten, DateTimeOffset? now)
    {
        fixed (byte* tp = plaintext)
        {
            var writer = new ProtectWriter(_keyRing.SafeHandle, PurposePointer, (nuint)_purposes.Length, tp, (nuint)plaintext.Length, Now(now), text);
            bool done = NativeOutput.TryWrite(ref writer, destination, out bytesWritten);
            GC.KeepAlive(this);
            return done;
        }
    }

    /// <summary>The text and binary forms of <c>TryUnprotect</c>, as <see cref="TryProtectCore"/>.</summary>
    private bool TryUnprotectCore(ReadOnlySpan<byte> payload, bool text, Span<byte> destination, out int bytesWritten)
    {
        fixed (byte* pp = payload)
        {
            var writer = new UnprotectWriter(_keyRing.SafeHandle, PurposePointer, (nuint)_purposes.Length, pp, (nuint)payload.Length, text);
            bool done = NativeOutput.TryWrite(ref writer, destination, out bytesWritten);
            GC.KeepAlive(this);
            return done;
        }
    }

    // Magic, key id, key modifier, IV, padded ciphertext, MAC; base64url grows it by a third.
    private static int ProtectedSize(int plaintextLength) =>
        Math.Min(((4 + 16 + 16 + 16 + plaintextLength + 16 + 32) * 4 / 3) + 8, 1 << 24);

    private readonly struct ProtectWriter(KeyRingSafeHandle ring, NativeStr* purposes, nuint count, byte* plaintext, nuint length, long now, bool text) : INativeWriter
    {
        public RefTokenStatus Write(byte* output, nuint capacity, nuint* written) => text
            ? NativeMethods.reftoken_protect(ring, purposes, count, plaintext, length, now, output, capacity, written)
            : NativeMethods.reftoken_protect_bytes(ring, purposes, count, plaintext, length, now, output, capacity, written);
    }

    private readonly struct UnprotectWriter(KeyRingSafeHandle ring, NativeStr* purposes, nuint count, byte* payload, nuint length, bool text) : INativeWriter
    {
        public RefTokenStatus Write(byte* output, nuint capacity, nuint* written) => text
            ? NativeMethods.reftoken_unprotect(ring, purposes, count, payload, length, output, capacity, written)
            : NativeMethods.reftoken_unprotect_bytes(ring, purposes, count, payload, length, output, capacity, written);
    }
}

/// <summary>A list of strings as a pinned <c>reftoken_str</c> array for one call.</summary>
internal unsafe struct Utf8List : IDisposable
{
    private GCHandle _bytes;
    private GCHandle _strs;

    /// <param name="items">The strings.</param>
    /// <param name="paramName">The caller's parameter that holds them, named when one is null.</param>
    public Utf8List(IEnumerable<string> items, string paramName)
    {
        var list = new List<string>(items);
        int total = 0;
        foreach (string item in list)
        {
            ArgumentNullException.ThrowIfNull(item, paramName);
            total += Encoding.UTF8.GetByteCount(item);
        }

        byte[] bytes = new byte[total + 1];
        NativeStr[] strs = new NativeStr[Math.Max(list.Count, 1)];
        _bytes = GCHandle.Alloc(bytes, GCHandleType.Pinned);
        _strs = GCHandle.Alloc(strs, GCHandleType.Pinned);
        byte* basePtr = (byte*)_bytes.AddrOfPinnedObject();
        int offset = 0;
        for (int i = 0; i < list.Count; i++)
        {
            int n = Encoding.UTF8.GetBytes(list[i], bytes.AsSpan(offset));
            strs[i] = new NativeStr(basePtr + offset, n);
            offset += n;
        }

        Count = list.Count;
    }

    public int Count { get; }

    public readonly NativeStr* Pointer => (NativeStr*)_strs.AddrOfPinnedObject();

    public void Dispose()
    {
        if (_bytes.IsAllocated)
        {
            _bytes.Free();
        }

        if (_strs.IsAllocated)
        {
            _strs.Free();
        }
    }
}
