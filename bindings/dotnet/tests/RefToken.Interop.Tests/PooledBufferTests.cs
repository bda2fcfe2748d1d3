using System;
using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using RefToken.Native;
using Xunit;

namespace RefToken.Tests;

/// <summary>
/// The arrays RefToken.Interop rents from <see cref="ArrayPool{T}.Shared"/> (long UTF-8 arguments
/// such as secrets and plaintext, large outputs such as unprotected payloads and tokens) go back
/// wiped. The shared pool hands the array returned last on a thread to that thread's next Rent of
/// the same size, so the test rents it back and looks; it makes sure it is looking at the very
/// array (a GC may move or trim it in between, then it tries again).
/// </summary>
public unsafe class PooledBufferTests
{
    private const int Attempts = 5;

    private static readonly byte[] s_marker = Encoding.ASCII.GetBytes("client-secret-plaintext!");

    [Fact]
    public void LongUtf8ArgumentsAreWipedBeforeTheirArrayGoesBack()
    {
        string secret = new StringBuilder().Insert(0, "client-secret-plaintext!", 80).ToString(); // 1920 bytes: pooled
        int length = Encoding.UTF8.GetByteCount(secret);
        Assert.True(length > Utf8Arg.StackBytes);
        Span<byte> scratch = stackalloc byte[Utf8Arg.StackBytes];
        for (int attempt = 0; attempt < Attempts; attempt++)
        {
            var arg = new Utf8Arg(secret, scratch);
            ref byte first = ref MemoryMarshal.GetReference(arg.Span);
            Assert.True(arg.Span.StartsWith(s_marker));
            arg.Dispose();

            byte[] again = ArrayPool<byte>.Shared.Rent(length);
            try
            {
                if (!Unsafe.AreSame(ref first, ref MemoryMarshal.GetArrayDataReference(again)))
                {
                    continue; // another array: look again
                }

                Assert.True(
                    again.AsSpan(0, length).IndexOfAnyExcept((byte)0) < 0,
                    "the pooled copy of a string argument went back to the pool unwiped: " + Encoding.ASCII.GetString(again, 0, 40));
                return;
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(again);
            }
        }

        Assert.Fail($"the shared pool never handed the argument's array back in {Attempts} attempts");
    }

    [Fact]
    public void LargeOutputsAreWipedBeforeTheirArrayGoesBack()
    {
        const int Length = 5000; // over the 4096-byte stack attempt: pooled
        for (int attempt = 0; attempt < Attempts; attempt++)
        {
            var writer = new MarkerWriter(Length);
            byte[] output = NativeOutput.ReadBytes(ref writer, Length + 1);
            Assert.Equal(Length, output.Length);
            Assert.True(output.AsSpan().StartsWith(s_marker));
            Assert.NotEqual(0, writer.Address);

            // The next pooled output of that size gets the same array: what is in it?
            var inspector = new Inspector(Length);
            Assert.Empty(NativeOutput.ReadBytes(ref inspector, Length + 1));
            if (inspector.Address != writer.Address)
            {
                continue; // another array, or the same one moved: look again
            }

            Assert.True(inspector.Wiped, "a pooled output buffer went back to the pool holding the library's output");
            return;
        }

        Assert.Fail($"the shared pool never handed the output's array back in {Attempts} attempts");
    }

    [Fact]
    public void LargeUnprotectedPlaintextRoundTrips()
    {
        // The paths above, end to end: a plaintext and a payload long enough to be pooled both ways.
        using var fixture = new FixtureKeyRing();
        string plaintext = new StringBuilder().Insert(0, "client-secret-plaintext!", 400).ToString();
        string payload = fixture.Protector.Protect(plaintext, Fixtures.KeyRingNow);
        Assert.Equal(plaintext, fixture.Protector.Unprotect(payload));
        byte[] bytes = Encoding.UTF8.GetBytes(plaintext);
        Assert.Equal(bytes, fixture.Protector.UnprotectBytes(fixture.Protector.ProtectBytes(bytes, Fixtures.KeyRingNow)));
    }

    /// <summary>Writes <c>length</c> bytes of the marker, as a native writer would; remembers where.</summary>
    private struct MarkerWriter(int length) : INativeWriter
    {
        public nint Address;

        public RefTokenStatus Write(byte* output, nuint capacity, nuint* written)
        {
            *written = (nuint)length;
            if (capacity < (nuint)length)
            {
                return RefTokenStatus.BufferTooSmall;
            }

            var span = new Span<byte>(output, length);
            for (int i = 0; i < length; i += s_marker.Length)
            {
                s_marker.AsSpan(0, Math.Min(s_marker.Length, length - i)).CopyTo(span[i..]);
            }

            Address = (nint)output;
            return RefTokenStatus.Ok;
        }
    }

    /// <summary>Looks at the buffer it is given before writing nothing into it.</summary>
    private struct Inspector(int length) : INativeWriter
    {
        public nint Address;
        public bool Wiped;

        public RefTokenStatus Write(byte* output, nuint capacity, nuint* written)
        {
            Address = (nint)output;
            Wiped = capacity >= (nuint)length && new ReadOnlySpan<byte>(output, length).IndexOfAnyExcept((byte)0) < 0;
            *written = 0;
            return RefTokenStatus.Ok;
        }
    }
}
