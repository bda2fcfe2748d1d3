using System;
using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;

namespace RefToken.Native;

/// <summary>
/// Arrays from <see cref="ArrayPool{T}.Shared"/> for bytes that may be secret: client secrets,
/// plaintext, unprotected payloads, tokens, introspection responses. What was written is wiped
/// before the array goes back, so that the next renter anywhere in the process (the pool is
/// shared with every other library) never sees it.
/// </summary>
internal static class SecretPool
{
    public static byte[] Rent(int minimumLength) => ArrayPool<byte>.Shared.Rent(minimumLength);

    /// <summary>Wipes the first <paramref name="used"/> bytes of <paramref name="array"/> and returns it to the pool.</summary>
    public static void Return(byte[] array, int used)
    {
        CryptographicOperations.ZeroMemory(array.AsSpan(0, Math.Min(used, array.Length)));
        ArrayPool<byte>.Shared.Return(array);
    }
}

/// <summary>
/// A string as UTF-8 for the duration of a call: encoded into the caller's stack scratch when
/// it fits, else into a pooled array wiped and returned on <see cref="Dispose"/>.
/// </summary>
internal ref struct Utf8Arg
{
    /// <summary>Stack scratch size callers pass for short strings.</summary>
    internal const int StackBytes = 256;

    private byte[]? _rented;
    private int _rentedUsed;

    public ReadOnlySpan<byte> Span;

    public Utf8Arg(string? text, Span<byte> scratch)
    {
        _rented = null;
        _rentedUsed = 0;
        if (string.IsNullOrEmpty(text))
        {
            Span = default;
            return;
        }

        Span<byte> destination = scratch;
        if (text.Length > scratch.Length / 3)
        {
            int needed = Encoding.UTF8.GetByteCount(text);
            if (needed > scratch.Length)
            {
                _rented = SecretPool.Rent(needed);
                _rentedUsed = needed;
                destination = _rented;
            }
        }

        int written = Encoding.UTF8.GetBytes(text, destination);
        Span = destination[..written];
    }

    public readonly int Length => Span.Length;

    public void Dispose()
    {
        if (_rented is not null)
        {
            SecretPool.Return(_rented, _rentedUsed);
            _rented = null;
        }
    }
}

/// <summary>A native function that writes text into <c>(out, out_cap, out_len)</c>.</summary>
internal unsafe interface INativeWriter
{
    RefTokenStatus Write(byte* output, nuint capacity, nuint* length);
}

/// <summary>
/// The caller side of the ABI's output convention: try a stack buffer (or, for outputs known to
/// be large, a pooled one), and when the library answers <see cref="RefTokenStatus.BufferTooSmall"/>
/// retry with the size it reported.
/// </summary>
internal static unsafe class NativeOutput
{
    internal const int StackBytes = 512;

    /// <summary>The largest first attempt made on the stack.</summary>
    private const int MaxStackBytes = 4096;

    /// <summary>Runs <paramref name="writer"/> and decodes its UTF-8 output.</summary>
    public static string ReadString<TWriter>(ref TWriter writer, int firstSize = StackBytes)
        where TWriter : struct, INativeWriter =>
        Read(ref writer, firstSize, nullOnNotFound: false, asString: true, out _)!;

    /// <summary>As <see cref="ReadString"/>, but <see cref="RefTokenStatus.NotFound"/> gives null.</summary>
    public static string? ReadStringOrNull<TWriter>(ref TWriter writer, int firstSize = StackBytes)
        where TWriter : struct, INativeWriter =>
        Read(ref writer, firstSize, nullOnNotFound: true, asString: true, out _);

    /// <summary>Runs <paramref name="writer"/> and returns its output bytes.</summary>
    public static byte[] ReadBytes<TWriter>(ref TWriter writer, int firstSize = StackBytes)
        where TWriter : struct, INativeWriter
    {
        Read(ref writer, firstSize, nullOnNotFound: false, asString: false, out byte[]? bytes);
        return bytes!;
    }

    private static string? Read<TWriter>(ref TWriter writer, int size, bool nullOnNotFound, bool asString, out byte[]? bytes)
        where TWriter : struct, INativeWriter
    {
        bytes = null;
        nuint length;
        RefTokenStatus status;
        if (size <= MaxStackBytes)
        {
            byte* stack = stackalloc byte[size];
            status = writer.Write(stack, (nuint)size, &length);
            if (status == RefTokenStatus.Ok)
            {
                return Produce(new ReadOnlySpan<byte>(stack, (int)length), asString, out bytes);
            }

            if (status != RefTokenStatus.BufferTooSmall)
            {
                return Fail(status, nullOnNotFound);
            }

            // One byte more than needed, for the NUL the library appends when there is room.
            size = checked((int)length + 1);
        }

        while (true)
        {
            byte[] rented = SecretPool.Rent(size);
            try
            {
                fixed (byte* p = rented)
                {
                    status = writer.Write(p, (nuint)rented.Length, &length);
                }

                if (status == RefTokenStatus.Ok)
                {
                    return Produce(rented.AsSpan(0, (int)length), asString, out bytes);
                }
            }
            finally
            {
                // The library may have written anywhere in the capacity it was given.
                SecretPool.Return(rented, rented.Length);
            }

            if (status != RefTokenStatus.BufferTooSmall)
            {
                return Fail(status, nullOnNotFound);
            }

            size = checked((int)length + 1);
        }
    }

    private static string? Produce(ReadOnlySpan<byte> output, bool asString, out byte[]? bytes)
    {
        if (asString)
        {
            bytes = null;
            return Encoding.UTF8.GetString(output);
        }

        bytes = output.ToArray();
        return null;
    }

    private static string? Fail(RefTokenStatus status, bool nullOnNotFound)
    {
        if (nullOnNotFound && status == RefTokenStatus.NotFound)
        {
            return null;
        }

        RefTokenLibrary.Throw(status);
        return null;
    }

    /// <summary>
    /// Runs <paramref name="writer"/> into <paramref name="destination"/>. Returns false when it
    /// is too small, with <paramref name="bytesWritten"/> set to the size needed; throws on any
    /// other failure.
    /// </summary>
    public static bool TryWrite<TWriter>(ref TWriter writer, Span<byte> destination, out int bytesWritten)
        where TWriter : struct, INativeWriter
    {
        nuint length;
        RefTokenStatus status;
        fixed (byte* p = destination)
        {
            status = writer.Write(p, (nuint)destination.Length, &length);
        }

        if (status == RefTokenStatus.Ok)
        {
            bytesWritten = (int)length;
            return true;
        }

        if (status == RefTokenStatus.BufferTooSmall)
        {
            bytesWritten = checked((int)length);
            return false;
        }

        RefTokenLibrary.Throw(status);
        bytesWritten = 0;
        return false;
    }

    /// <summary>An ASCII output (hex, base64) as a string.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static string Ascii(ReadOnlySpan<byte> ascii) => Encoding.ASCII.GetString(ascii);
}

/// <summary>
/// An optional SafeHandle as a raw pointer for one call (NULL when absent), kept alive and
/// referenced until <see cref="Dispose"/>.
/// </summary>
internal ref struct OptionalHandle
{
    private readonly SafeHandle? _handle;
    private bool _addRef;

    public OptionalHandle(SafeHandle? handle)
    {
        _handle = handle;
        _addRef = false;
        Pointer = 0;
        if (handle is not null)
        {
            handle.DangerousAddRef(ref _addRef);
            Pointer = handle.DangerousGetHandle();
        }
    }

    public nint Pointer { get; }

    public void Dispose()
    {
        if (_addRef)
        {
            _handle!.DangerousRelease();
            _addRef = false;
        }
    }
}
