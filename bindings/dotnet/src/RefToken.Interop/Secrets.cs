using System;
using System.Collections.Generic;
using RefToken.Native;

namespace RefToken;

/// <summary>How IdentityServer hashes a shared secret (<c>REFTOKEN_SECRET_*</c>).</summary>
public enum SecretHashAlgorithm : uint
{
    /// <summary><c>"secret".Sha256()</c>: base64 of SHA-256 (<c>REFTOKEN_SECRET_SHA256</c>).</summary>
    Sha256 = 1,

    /// <summary><c>"secret".Sha512()</c>: base64 of SHA-512 (<c>REFTOKEN_SECRET_SHA512</c>).</summary>
    Sha512 = 2,
}

/// <summary>A stored shared secret: the value IdentityServer keeps and its expiration.</summary>
/// <param name="Value">The stored value, base64 of the secret's SHA-256 or SHA-512.</param>
/// <param name="Expiration">When it expires; null for never.</param>
public readonly record struct StoredSecret(string Value, DateTimeOffset? Expiration = null);

/// <summary>The outcome of <see cref="Secrets.Verify"/>.</summary>
/// <param name="IsValid">Whether the presented secret matched an unexpired stored secret.</param>
/// <param name="MatchIndex">The index of the first matching stored secret, or the count when none matched.</param>
public readonly record struct SecretVerification(bool IsValid, int MatchIndex);

/// <summary>API and client secrets as IdentityServer stores and checks them.</summary>
public static class Secrets
{
    /// <summary>The longest stored value (<c>REFTOKEN_MAX_SECRET_HASH_LEN</c>).</summary>
    public const int MaxHashLength = 88;

    /// <summary>The most stored secrets <see cref="Verify"/> takes (<c>REFTOKEN_MAX_STORED_SECRETS</c>).</summary>
    public const int MaxStoredSecrets = 1024;

    /// <summary>
    /// IdentityServer's stored value for <paramref name="secret"/>: <c>secret.Sha256()</c> or
    /// <c>.Sha512()</c>, base64 of the digest of its UTF-8 bytes; empty for an empty or
    /// whitespace secret (<c>reftoken_secret_hash</c>).
    /// </summary>
    /// <param name="secret">The plaintext secret.</param>
    /// <param name="algorithm">The digest.</param>
    /// <returns>The stored value.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="secret"/> is null.</exception>
    /// <exception cref="RefTokenArgumentException"><see cref="RefTokenStatus.InvalidArgument"/>: an unknown algorithm.</exception>
    public static unsafe string Hash(string secret, SecretHashAlgorithm algorithm = SecretHashAlgorithm.Sha256)
    {
        ArgumentNullException.ThrowIfNull(secret);
        RefTokenLibrary.EnsureLoaded();
        using var s = new Utf8Arg(secret, stackalloc byte[Utf8Arg.StackBytes]);
        fixed (byte* p = s.Span)
        {
            var writer = new HashWriter(p, (nuint)s.Length, (uint)algorithm);
            return NativeOutput.ReadString(ref writer, MaxHashLength + 1);
        }
    }

    /// <summary>As <see cref="Hash"/>, UTF-8 in, the stored value (ASCII) into <paramref name="destination"/>.</summary>
    /// <param name="utf8Secret">The secret, UTF-8.</param>
    /// <param name="algorithm">The digest.</param>
    /// <param name="destination">Where the value goes; <see cref="MaxHashLength"/> bytes are always enough.</param>
    /// <param name="bytesWritten">Bytes written, or the size needed when <paramref name="destination"/> is too small.</param>
    /// <returns>False when <paramref name="destination"/> is too small.</returns>
    /// <exception cref="RefTokenException"><see cref="RefTokenStatus.InvalidUtf8"/>.</exception>
    /// <exception cref="RefTokenArgumentException"><see cref="RefTokenStatus.InvalidArgument"/>: an unknown algorithm.</exception>
    public static unsafe bool TryHash(ReadOnlySpan<byte> utf8Secret, SecretHashAlgorithm algorithm, Span<byte> destination, out int bytesWritten)
    {
        RefTokenLibrary.EnsureLoaded();
        fixed (byte* p = utf8Secret)
        {
            var writer = new HashWriter(p, (nuint)utf8Secret.Length, (uint)algorithm);
            return NativeOutput.TryWrite(ref writer, destination, out bytesWritten);
        }
    }

    /// <summary>
    /// Checks <paramref name="presented"/> against stored secrets as IdentityServer's
    /// <c>HashedSharedSecretValidator</c> does, in constant time (<c>reftoken_secret_verify</c>).
    /// Expired secrets (<c>now &gt; Expiration</c>) are skipped. Pass only <c>SharedSecret</c>s.
    /// </summary>
    /// <param name="presented">The secret the caller presented.</param>
    /// <param name="stored">The stored secrets.</param>
    /// <param name="now">The time to judge expiry at.</param>
    /// <returns>Whether one matched, and which.</returns>
    /// <exception cref="ArgumentNullException">An argument or a stored value is null.</exception>
    /// <exception cref="RefTokenException">
    /// <see cref="RefTokenStatus.MalformedInput"/> (an unexpired stored value, reached before any match, is
    /// not base64 of 32 or 64 bytes: IdentityServer fails the whole check there, and so must the caller);
    /// <see cref="RefTokenStatus.InputTooLarge"/> (over <see cref="MaxStoredSecrets"/>).
    /// </exception>
    public static unsafe SecretVerification Verify(string presented, IReadOnlyList<StoredSecret> stored, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(presented);
        ArgumentNullException.ThrowIfNull(stored);
        RefTokenLibrary.EnsureLoaded();
        var values = new string[stored.Count];
        long[] expirations = new long[Math.Max(stored.Count, 1)];
        for (int i = 0; i < stored.Count; i++)
        {
            values[i] = stored[i].Value ?? throw new ArgumentNullException(nameof(stored), "A stored secret's value is null.");
            expirations[i] = stored[i].Expiration is { } e ? e.ToUnixTimeSeconds() : long.MaxValue;
        }

        using var p = new Utf8Arg(presented, stackalloc byte[Utf8Arg.StackBytes]);
        using var list = new Utf8List(values, nameof(stored));
        byte valid;
        nuint index;
        RefTokenStatus status;
        fixed (byte* pp = p.Span)
        fixed (long* ep = expirations)
        {
            status = NativeMethods.reftoken_secret_verify(pp, (nuint)p.Length, list.Pointer, ep, (nuint)list.Count, now.ToUnixTimeSeconds(), &valid, &index);
        }

        RefTokenLibrary.Check(status);
        return new SecretVerification(valid != 0, checked((int)index));
    }

    private readonly unsafe struct HashWriter(byte* secret, nuint length, uint algorithm) : INativeWriter
    {
        public RefTokenStatus Write(byte* output, nuint capacity, nuint* written) =>
            NativeMethods.reftoken_secret_hash(secret, length, algorithm, output, capacity, written);
    }
}

/// <summary>Client credentials from an HTTP Basic <c>Authorization</c> header (RFC 6749 2.3.1).</summary>
/// <param name="ClientId">The client id (form-url-decoded).</param>
/// <param name="Secret">The secret (form-url-decoded); empty when <see cref="HasSecret"/> is false.</param>
/// <param name="HasSecret">False when the secret is empty or whitespace (IdentityServer's <c>NoSecret</c>).</param>
public readonly record struct BasicCredentials(string ClientId, string Secret, bool HasSecret)
{
    /// <summary>The longest client id IdentityServer accepts (<c>REFTOKEN_MAX_CLIENT_ID_LEN</c>).</summary>
    public const int MaxClientIdLength = 100;

    /// <summary>The longest secret IdentityServer accepts (<c>REFTOKEN_MAX_CLIENT_SECRET_LEN</c>).</summary>
    public const int MaxSecretLength = 100;

    /// <summary>
    /// Reads an <c>Authorization</c> header value as IdentityServer's Basic parser does
    /// (<c>reftoken_basic_parse</c>).
    /// </summary>
    /// <param name="header">The header value, such as <c>Basic YXBpMTpzZWNyZXQ=</c>.</param>
    /// <returns>The credentials.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="header"/> is null.</exception>
    /// <exception cref="RefTokenException">
    /// <see cref="RefTokenStatus.MalformedInput"/> (empty, another scheme, not base64, not UTF-8, no <c>:</c>,
    /// empty client id) or <see cref="RefTokenStatus.InputTooLarge"/>: IdentityServer finds no credentials then.
    /// </exception>
    public static unsafe BasicCredentials Parse(string header)
    {
        ArgumentNullException.ThrowIfNull(header);
        RefTokenLibrary.EnsureLoaded();
        using var h = new Utf8Arg(header, stackalloc byte[Utf8Arg.StackBytes]);
        const int IdCap = (MaxClientIdLength * 3) + 1;
        const int SecretCap = (MaxSecretLength * 3) + 1;
        byte* id = stackalloc byte[IdCap];
        byte* secret = stackalloc byte[SecretCap];
        nuint idLen, secretLen;
        byte hasSecret;
        RefTokenStatus status;
        fixed (byte* hp = h.Span)
        {
            status = NativeMethods.reftoken_basic_parse(hp, (nuint)h.Length, id, IdCap, &idLen, secret, SecretCap, &secretLen, &hasSecret);
        }

        RefTokenLibrary.Check(status);
        return new BasicCredentials(
            System.Text.Encoding.UTF8.GetString(id, (int)idLen),
            System.Text.Encoding.UTF8.GetString(secret, (int)secretLen),
            hasSecret != 0);
    }

    /// <summary>As <see cref="Parse"/>, but false where IdentityServer finds no credentials in the header.</summary>
    /// <param name="header">The header value.</param>
    /// <param name="credentials">The credentials when true.</param>
    /// <returns>Whether the header holds Basic credentials.</returns>
    public static bool TryParse(string? header, out BasicCredentials credentials)
    {
        credentials = default;
        if (header is null)
        {
            return false;
        }

        try
        {
            credentials = Parse(header);
            return true;
        }
        catch (RefTokenException e) when (e.Status is RefTokenStatus.MalformedInput or RefTokenStatus.InputTooLarge or RefTokenStatus.InvalidUtf8)
        {
            return false;
        }
    }
}
