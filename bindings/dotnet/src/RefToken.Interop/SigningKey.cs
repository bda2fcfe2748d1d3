using System;
using RefToken.Native;

namespace RefToken;

/// <summary>The JWS algorithm of a <see cref="SigningKey"/> (<c>REFTOKEN_JWT_ALG_*</c>).</summary>
public enum JwtAlgorithm : uint
{
    /// <summary>RS256 for RSA keys, ES256 for P-256 keys (or the JWK's own <c>alg</c>).</summary>
    Default = 0,

    /// <summary>RSASSA-PKCS1-v1_5 with SHA-256.</summary>
    RS256 = 1,

    /// <summary>RSASSA-PSS with SHA-256.</summary>
    PS256 = 2,

    /// <summary>ECDSA P-256 with SHA-256.</summary>
    ES256 = 3,
}

/// <summary>
/// A private key that signs RFC 9701 introspection responses, with its algorithm and key id
/// (<c>reftoken_signing_key</c>). Immutable and thread-safe.
/// </summary>
public sealed unsafe class SigningKey : IDisposable
{
    private readonly SigningKeySafeHandle _handle;

    private SigningKey(SigningKeySafeHandle handle) => _handle = handle;

    /// <summary>The native object; valid until this key is disposed.</summary>
    public SigningKeySafeHandle SafeHandle => _handle;

    /// <summary>
    /// Loads a key from PEM: PKCS#8 <c>PRIVATE KEY</c> (RSA or P-256), PKCS#1 <c>RSA PRIVATE KEY</c>
    /// or SEC1 <c>EC PRIVATE KEY</c> (<c>reftoken_signing_key_new_from_pem</c>).
    /// </summary>
    /// <param name="pem">The PEM text.</param>
    /// <param name="algorithm">The algorithm; <see cref="JwtAlgorithm.Default"/> picks by key type.</param>
    /// <param name="keyId">The <c>kid</c> for the JWS header, or null for none.</param>
    /// <returns>The key; dispose it.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="pem"/> is null.</exception>
    /// <exception cref="RefTokenException">
    /// <see cref="RefTokenStatus.MalformedInput"/> (not PEM or not a key), <see cref="RefTokenStatus.InputTooLarge"/> (over 64 KiB).
    /// </exception>
    /// <exception cref="RefTokenArgumentException">
    /// <see cref="RefTokenStatus.InvalidArgument"/>: unknown or unfitting algorithm, encrypted or public-only PEM,
    /// other key types, RSA under 2048 bits.
    /// </exception>
    public static SigningKey FromPem(string pem, JwtAlgorithm algorithm = JwtAlgorithm.Default, string? keyId = null)
    {
        ArgumentNullException.ThrowIfNull(pem);
        return Load(&NativeMethods.reftoken_signing_key_new_from_pem, pem, algorithm, keyId);
    }

    /// <summary>
    /// Loads a key from a private JWK: <c>RSA</c> or <c>EC</c> P-256 (<c>reftoken_signing_key_new_from_jwk</c>).
    /// </summary>
    /// <param name="jwk">The JWK JSON.</param>
    /// <param name="algorithm">The algorithm; <see cref="JwtAlgorithm.Default"/>: the JWK's <c>alg</c>, else by key type.</param>
    /// <param name="keyId">The <c>kid</c>; null for the JWK's own.</param>
    /// <returns>The key; dispose it.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="jwk"/> is null.</exception>
    /// <exception cref="RefTokenException">As <see cref="FromPem"/>.</exception>
    /// <exception cref="RefTokenArgumentException">As <see cref="FromPem"/>, and when <paramref name="algorithm"/> and the JWK's <c>alg</c> differ.</exception>
    public static SigningKey FromJwk(string jwk, JwtAlgorithm algorithm = JwtAlgorithm.Default, string? keyId = null)
    {
        ArgumentNullException.ThrowIfNull(jwk);
        return Load(&NativeMethods.reftoken_signing_key_new_from_jwk, jwk, algorithm, keyId);
    }

    /// <summary>The public part as a JWK for a JWKS document (<c>reftoken_signing_key_public_jwk</c>).</summary>
    /// <returns>The JWK JSON.</returns>
    public string GetPublicJwk()
    {
        var writer = new JwkWriter(_handle);
        return NativeOutput.ReadString(ref writer, 1024);
    }

    /// <summary>
    /// The RFC 9701 response body IdentityServer 7.3+ sends for <c>Accept: application/token-introspection+jwt</c>:
    /// a compact JWS with header <c>{"alg","kid","typ":"token-introspection+jwt"}</c> and payload
    /// <c>{"iss","iat","aud","token_introspection"}</c> (<c>reftoken_introspection_jwt</c>).
    /// </summary>
    /// <param name="issuer">The issuer.</param>
    /// <param name="audience">The authenticated caller's name (API resource name or client id).</param>
    /// <param name="now">The <c>iat</c>.</param>
    /// <param name="response">The introspection JSON (an object).</param>
    /// <returns>The JWT.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="RefTokenException"><see cref="RefTokenStatus.MalformedInput"/> (the response is not a JSON object), <see cref="RefTokenStatus.InputTooLarge"/>, <see cref="RefTokenStatus.RngFailure"/>.</exception>
    public string CreateIntrospectionJwt(string issuer, string audience, DateTimeOffset now, string response)
    {
        ArgumentNullException.ThrowIfNull(issuer);
        ArgumentNullException.ThrowIfNull(audience);
        ArgumentNullException.ThrowIfNull(response);
        using var i = new Utf8Arg(issuer, stackalloc byte[Utf8Arg.StackBytes]);
        using var a = new Utf8Arg(audience, stackalloc byte[Utf8Arg.StackBytes]);
        using var r = new Utf8Arg(response, stackalloc byte[Utf8Arg.StackBytes]);
        fixed (byte* ip = i.Span)
        fixed (byte* ap = a.Span)
        fixed (byte* rp = r.Span)
        {
            var writer = new JwtWriter(_handle, ip, (nuint)i.Length, ap, (nuint)a.Length, now.ToUnixTimeSeconds(), rp, (nuint)r.Length);
            return NativeOutput.ReadString(ref writer, 2048);
        }
    }

    /// <summary>As <see cref="CreateIntrospectionJwt"/>, UTF-8 in, the JWT (ASCII) into <paramref name="destination"/>.</summary>
    /// <param name="utf8Issuer">The issuer.</param>
    /// <param name="utf8Audience">The caller's name.</param>
    /// <param name="now">The <c>iat</c>.</param>
    /// <param name="utf8Response">The introspection JSON.</param>
    /// <param name="destination">Where the JWT goes.</param>
    /// <param name="bytesWritten">Bytes written, or the size needed when <paramref name="destination"/> is too small.</param>
    /// <returns>False when <paramref name="destination"/> is too small.</returns>
    /// <exception cref="RefTokenException">As <see cref="CreateIntrospectionJwt"/>, and <see cref="RefTokenStatus.InvalidUtf8"/>.</exception>
    public bool TryCreateIntrospectionJwt(ReadOnlySpan<byte> utf8Issuer, ReadOnlySpan<byte> utf8Audience, DateTimeOffset now, ReadOnlySpan<byte> utf8Response, Span<byte> destination, out int bytesWritten)
    {
        fixed (byte* ip = utf8Issuer)
        fixed (byte* ap = utf8Audience)
        fixed (byte* rp = utf8Response)
        {
            var writer = new JwtWriter(_handle, ip, (nuint)utf8Issuer.Length, ap, (nuint)utf8Audience.Length, now.ToUnixTimeSeconds(), rp, (nuint)utf8Response.Length);
            return NativeOutput.TryWrite(ref writer, destination, out bytesWritten);
        }
    }

    /// <summary>Frees the native key.</summary>
    public void Dispose() => _handle.Dispose();

    /// <summary>Runs one of the native constructors that read a key from text (PEM or JWK).</summary>
    private static SigningKey Load(
        delegate*<byte*, nuint, uint, byte*, nuint, out SigningKeySafeHandle, RefTokenStatus> create, string key, JwtAlgorithm algorithm, string? keyId)
    {
        RefTokenLibrary.EnsureLoaded();
        using var t = new Utf8Arg(key, stackalloc byte[Utf8Arg.StackBytes]);
        using var k = new Utf8Arg(keyId, stackalloc byte[128]);
        fixed (byte* tp = t.Span)
        fixed (byte* kp = k.Span)
        {
            RefTokenStatus status = create(tp, (nuint)t.Length, (uint)algorithm, kp, (nuint)k.Length, out SigningKeySafeHandle handle);
            return new SigningKey(RefTokenLibrary.Owned(status, handle));
        }
    }

    private readonly struct JwkWriter(SigningKeySafeHandle key) : INativeWriter
    {
        public RefTokenStatus Write(byte* output, nuint capacity, nuint* length) =>
            NativeMethods.reftoken_signing_key_public_jwk(key, output, capacity, length);
    }

    private readonly struct JwtWriter(SigningKeySafeHandle key, byte* issuer, nuint issuerLength, byte* audience, nuint audienceLength, long now, byte* response, nuint responseLength) : INativeWriter
    {
        public RefTokenStatus Write(byte* output, nuint capacity, nuint* length) =>
            NativeMethods.reftoken_introspection_jwt(key, issuer, issuerLength, audience, audienceLength, now, response, responseLength, output, capacity, length);
    }
}
