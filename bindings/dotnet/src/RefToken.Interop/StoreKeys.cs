using System;
using RefToken.Native;

namespace RefToken;

/// <summary>
/// The <c>PersistedGrants.Key</c> of a handle: SHA-256 of <c>handle ":" grantType</c>, as 64
/// uppercase hex characters for <c>-1</c> handles, else 44 characters of padded base64 (handles
/// from IdentityServer4 and Duende 5). Allocation-free natively; thread-safe.
/// </summary>
public static class StoreKeys
{
    /// <summary>The longest store key (<c>REFTOKEN_MAX_KEY_LEN</c>).</summary>
    public const int MaxLength = NativeMethods.MaxKeyLength;

    /// <summary>The store key of <paramref name="handle"/> for <paramref name="grantType"/> (<c>reftoken_store_key</c>).</summary>
    /// <param name="handle">The handle as the client presents it.</param>
    /// <param name="grantType">The grant type, such as <see cref="GrantTypes.ReferenceToken"/>.</param>
    /// <returns>The key: 64 hex or 44 base64 characters.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="RefTokenException"><see cref="RefTokenStatus.InputTooLarge"/>: a handle over 4096 or a grant type over 256 UTF-8 bytes.</exception>
    public static unsafe string Compute(string handle, string grantType)
    {
        ArgumentNullException.ThrowIfNull(handle);
        ArgumentNullException.ThrowIfNull(grantType);
        RefTokenLibrary.EnsureLoaded();
        using var h = new Utf8Arg(handle, stackalloc byte[Utf8Arg.StackBytes]);
        using var g = new Utf8Arg(grantType, stackalloc byte[64]);
        byte* output = stackalloc byte[MaxLength + 1];
        nuint length;
        fixed (byte* hp = h.Span)
        fixed (byte* gp = g.Span)
        {
            RefTokenLibrary.Check(NativeMethods.reftoken_store_key(hp, (nuint)h.Length, gp, (nuint)g.Length, output, MaxLength + 1, &length));
        }

        return NativeOutput.Ascii(new ReadOnlySpan<byte>(output, (int)length));
    }

    /// <summary>Writes the store key of the UTF-8 <paramref name="utf8Handle"/> for <paramref name="utf8GrantType"/> into <paramref name="destination"/>.</summary>
    /// <param name="utf8Handle">The handle, UTF-8.</param>
    /// <param name="utf8GrantType">The grant type, UTF-8.</param>
    /// <param name="destination">At least <see cref="MaxLength"/> bytes is always enough.</param>
    /// <param name="bytesWritten">The bytes written (64 or 44), or the size needed when <paramref name="destination"/> is too small.</param>
    /// <returns>False when <paramref name="destination"/> is too small (nothing written).</returns>
    /// <exception cref="RefTokenException"><see cref="RefTokenStatus.InvalidUtf8"/>, <see cref="RefTokenStatus.InputTooLarge"/>.</exception>
    public static unsafe bool TryCompute(ReadOnlySpan<byte> utf8Handle, ReadOnlySpan<byte> utf8GrantType, Span<byte> destination, out int bytesWritten)
    {
        RefTokenLibrary.EnsureLoaded();
        fixed (byte* hp = utf8Handle)
        fixed (byte* gp = utf8GrantType)
        {
            var writer = new StoreKeyWriter(hp, (nuint)utf8Handle.Length, gp, (nuint)utf8GrantType.Length);
            return NativeOutput.TryWrite(ref writer, destination, out bytesWritten);
        }
    }

    /// <summary>The store key of a reference token's handle (<c>reftoken_reference_token_key</c>).</summary>
    /// <param name="handle">The handle as the client presents it.</param>
    /// <returns>The key.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="handle"/> is null.</exception>
    /// <exception cref="RefTokenException"><see cref="RefTokenStatus.InputTooLarge"/>: a handle over 4096 UTF-8 bytes.</exception>
    public static unsafe string ForReferenceToken(string handle)
    {
        ArgumentNullException.ThrowIfNull(handle);
        RefTokenLibrary.EnsureLoaded();
        using var h = new Utf8Arg(handle, stackalloc byte[Utf8Arg.StackBytes]);
        byte* output = stackalloc byte[MaxLength + 1];
        nuint length;
        fixed (byte* hp = h.Span)
        {
            RefTokenLibrary.Check(NativeMethods.reftoken_reference_token_key(hp, (nuint)h.Length, output, MaxLength + 1, &length));
        }

        return NativeOutput.Ascii(new ReadOnlySpan<byte>(output, (int)length));
    }

    /// <summary>Writes the reference-token store key of the UTF-8 <paramref name="utf8Handle"/> into <paramref name="destination"/>.</summary>
    /// <param name="utf8Handle">The handle, UTF-8.</param>
    /// <param name="destination">At least <see cref="MaxLength"/> bytes is always enough.</param>
    /// <param name="bytesWritten">The bytes written, or the size needed when <paramref name="destination"/> is too small.</param>
    /// <returns>False when <paramref name="destination"/> is too small (nothing written).</returns>
    /// <exception cref="RefTokenException"><see cref="RefTokenStatus.InvalidUtf8"/>, <see cref="RefTokenStatus.InputTooLarge"/>.</exception>
    public static unsafe bool TryComputeForReferenceToken(ReadOnlySpan<byte> utf8Handle, Span<byte> destination, out int bytesWritten)
    {
        RefTokenLibrary.EnsureLoaded();
        fixed (byte* hp = utf8Handle)
        {
            var writer = new ReferenceKeyWriter(hp, (nuint)utf8Handle.Length);
            return NativeOutput.TryWrite(ref writer, destination, out bytesWritten);
        }
    }

    private readonly unsafe struct StoreKeyWriter(byte* handle, nuint handleLength, byte* grantType, nuint grantTypeLength) : INativeWriter
    {
        public RefTokenStatus Write(byte* output, nuint capacity, nuint* length) =>
            NativeMethods.reftoken_store_key(handle, handleLength, grantType, grantTypeLength, output, capacity, length);
    }

    private readonly unsafe struct ReferenceKeyWriter(byte* handle, nuint handleLength) : INativeWriter
    {
        public RefTokenStatus Write(byte* output, nuint capacity, nuint* length) =>
            NativeMethods.reftoken_reference_token_key(handle, handleLength, output, capacity, length);
    }
}
