using System;
using RefToken.Native;

namespace RefToken;

/// <summary>
/// Reference-token handles as IdentityServer makes them: CSPRNG bytes as uppercase hex
/// (<c>IHandleGenerationService.GenerateAsync</c>), and the <c>-1</c>-suffixed handle clients get.
/// Thread-safe and fork-safe (a per-thread ChaCha20 generator seeded from the operating system).
/// </summary>
public static class TokenHandles
{
    /// <summary>Length of a handle from <see cref="NewHandle()"/>: 64 hex characters and <c>-1</c>.</summary>
    public const int HandleLength = NativeMethods.HandleLength;

    /// <summary>The default number of random bytes, as <c>GenerateAsync(length = 32)</c>.</summary>
    public const int DefaultRandomBytes = 32;

    /// <summary>The largest byte count <see cref="RandomHex(int)"/> accepts (<c>REFTOKEN_MAX_RANDOM_BYTES</c>).</summary>
    public const int MaxRandomBytes = NativeMethods.MaxRandomBytes;

    /// <summary>A new handle as IdentityServer hands it out: 32 random bytes as 64 uppercase hex characters, then <c>-1</c> (<c>reftoken_handle_new</c>).</summary>
    /// <returns>The 66-character handle.</returns>
    /// <exception cref="RefTokenException">The operating system's random number generator failed.</exception>
    public static unsafe string NewHandle()
    {
        RefTokenLibrary.EnsureLoaded();
        byte* buffer = stackalloc byte[HandleLength + 1];
        nuint length;
        RefTokenLibrary.Check(NativeMethods.reftoken_handle_new(buffer, HandleLength + 1, &length));
        return NativeOutput.Ascii(new ReadOnlySpan<byte>(buffer, (int)length));
    }

    /// <summary>Writes a new handle (66 ASCII bytes) into <paramref name="destination"/>.</summary>
    /// <param name="destination">At least <see cref="HandleLength"/> bytes; a NUL follows the handle when there is room.</param>
    /// <param name="bytesWritten">The bytes written, or the size needed when <paramref name="destination"/> is too small.</param>
    /// <returns>False when <paramref name="destination"/> is too small (nothing written).</returns>
    /// <exception cref="RefTokenException">The operating system's random number generator failed.</exception>
    public static bool TryNewHandle(Span<byte> destination, out int bytesWritten)
    {
        RefTokenLibrary.EnsureLoaded();
        var writer = new HandleWriter();
        return NativeOutput.TryWrite(ref writer, destination, out bytesWritten);
    }

    /// <summary><c>GenerateAsync(length)</c>: <paramref name="length"/> random bytes as uppercase hex (<c>reftoken_random_hex</c>).</summary>
    /// <param name="length">Random bytes, 1 to <see cref="MaxRandomBytes"/>.</param>
    /// <returns><c>2 * length</c> uppercase hex characters, without a suffix.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="length"/> is negative.</exception>
    /// <exception cref="RefTokenArgumentException"><see cref="RefTokenStatus.InvalidArgument"/> for 0.</exception>
    /// <exception cref="RefTokenException">
    /// <see cref="RefTokenStatus.InputTooLarge"/> over <see cref="MaxRandomBytes"/>, <see cref="RefTokenStatus.RngFailure"/>.
    /// </exception>
    public static string RandomHex(int length = DefaultRandomBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        RefTokenLibrary.EnsureLoaded();
        var writer = new RandomHexWriter((nuint)length);
        return NativeOutput.ReadString(ref writer, length is > 0 and <= MaxRandomBytes ? (2 * length) + 1 : 1);
    }

    /// <summary>Writes <paramref name="length"/> random bytes as uppercase hex into <paramref name="destination"/>.</summary>
    /// <param name="length">Random bytes, 1 to <see cref="MaxRandomBytes"/>.</param>
    /// <param name="destination">At least <c>2 * length</c> bytes.</param>
    /// <param name="bytesWritten">The bytes written, or the size needed when <paramref name="destination"/> is too small.</param>
    /// <returns>False when <paramref name="destination"/> is too small (nothing written).</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="length"/> is negative.</exception>
    /// <exception cref="RefTokenException">As <see cref="RandomHex(int)"/>.</exception>
    /// <exception cref="RefTokenArgumentException">As <see cref="RandomHex(int)"/>.</exception>
    public static bool TryRandomHex(int length, Span<byte> destination, out int bytesWritten)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        RefTokenLibrary.EnsureLoaded();
        var writer = new RandomHexWriter((nuint)length);
        return NativeOutput.TryWrite(ref writer, destination, out bytesWritten);
    }

    /// <summary>
    /// Whether <paramref name="handle"/> has the shape of a current handle, 64 hex digits then
    /// <c>-1</c> (<c>reftoken_handle_is_wellformed</c>). Null gives false.
    /// </summary>
    /// <param name="handle">The presented handle.</param>
    /// <returns>Whether it is well-formed.</returns>
    public static bool IsWellFormed(string? handle)
    {
        if (handle is null)
        {
            return false;
        }

        using var utf8 = new Utf8Arg(handle, stackalloc byte[Utf8Arg.StackBytes]);
        return IsWellFormed(utf8.Span);
    }

    /// <summary>Whether the UTF-8 <paramref name="utf8Handle"/> has the shape of a current handle (invalid UTF-8 gives false).</summary>
    /// <param name="utf8Handle">The presented handle, UTF-8.</param>
    /// <returns>Whether it is well-formed.</returns>
    public static unsafe bool IsWellFormed(ReadOnlySpan<byte> utf8Handle)
    {
        RefTokenLibrary.EnsureLoaded();
        fixed (byte* p = utf8Handle)
        {
            return NativeMethods.reftoken_handle_is_wellformed(p, (nuint)utf8Handle.Length);
        }
    }

    private readonly unsafe struct HandleWriter : INativeWriter
    {
        public RefTokenStatus Write(byte* output, nuint capacity, nuint* length) =>
            NativeMethods.reftoken_handle_new(output, capacity, length);
    }

    private readonly unsafe struct RandomHexWriter(nuint count) : INativeWriter
    {
        public RefTokenStatus Write(byte* output, nuint capacity, nuint* length) =>
            NativeMethods.reftoken_random_hex(count, output, capacity, length);
    }
}
