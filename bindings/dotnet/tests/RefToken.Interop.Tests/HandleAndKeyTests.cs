using System;
using System.Collections.Generic;
using System.Linq;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using System.Threading.Tasks;
using Xunit;

namespace RefToken.Tests;

public class HandleTests
{
    private static readonly Regex Handle = new("^[0-9A-F]{64}-1$");

    [Fact]
    public void NewHandleIsSixtyFourUppercaseHexAndSuffix()
    {
        var seen = new HashSet<string>();
        for (int i = 0; i < 1000; i++)
        {
            string h = TokenHandles.NewHandle();
            Assert.Matches(Handle, h);
            Assert.Equal(TokenHandles.HandleLength, h.Length);
            Assert.True(seen.Add(h));
            Assert.True(TokenHandles.IsWellFormed(h));
        }
    }

    [Fact]
    public void TryNewHandleReportsTheSizeNeeded()
    {
        Span<byte> small = stackalloc byte[65];
        Assert.False(TokenHandles.TryNewHandle(small, out int needed));
        Assert.Equal(66, needed);
        Assert.True(small.ToArray().All(b => b == 0));

        Span<byte> exact = stackalloc byte[66];
        Assert.True(TokenHandles.TryNewHandle(exact, out int written));
        Assert.Equal(66, written);
        Assert.Matches(Handle, Encoding.ASCII.GetString(exact));

        Span<byte> roomy = stackalloc byte[80];
        roomy.Fill(0xFF);
        Assert.True(TokenHandles.TryNewHandle(roomy, out written));
        Assert.Equal(66, written);
        Assert.Equal(0, roomy[66]); // the NUL the library appends when there is room
    }

    [Theory]
    [InlineData(1)]
    [InlineData(16)]
    [InlineData(32)]
    [InlineData(200)]
    [InlineData(65536)]
    public void RandomHexIsTwiceTheLengthInUppercaseHex(int length)
    {
        string hex = TokenHandles.RandomHex(length);
        Assert.Equal(2 * length, hex.Length);
        Assert.Matches("^[0-9A-F]+$", hex);
        Assert.Equal(length, Convert.FromHexString(hex).Length);
    }

    [Fact]
    public void RandomHexDefaultsToThirtyTwoBytes()
    {
        Assert.Equal(64, TokenHandles.RandomHex().Length);
        Assert.NotEqual(TokenHandles.RandomHex(), TokenHandles.RandomHex());
    }

    [Fact]
    public void RandomHexErrors()
    {
        Assert.Equal(RefTokenStatus.InvalidArgument, Assert.Throws<RefTokenArgumentException>(() => TokenHandles.RandomHex(0)).Status);
        Assert.Equal(RefTokenStatus.InputTooLarge, Assert.Throws<RefTokenException>(() => TokenHandles.RandomHex(TokenHandles.MaxRandomBytes + 1)).Status);
        Assert.Throws<ArgumentOutOfRangeException>(() => TokenHandles.RandomHex(-1));
        Assert.Throws<ArgumentOutOfRangeException>(() => TokenHandles.TryRandomHex(-1, new byte[4], out _));
        Assert.Equal(RefTokenStatus.InvalidArgument, Assert.Throws<RefTokenArgumentException>(() => TokenHandles.TryRandomHex(0, new byte[4], out _)).Status);
    }

    [Fact]
    public void TryRandomHex()
    {
        var buffer = new byte[64];
        Assert.False(TokenHandles.TryRandomHex(33, buffer, out int needed));
        Assert.Equal(66, needed);
        Assert.True(TokenHandles.TryRandomHex(32, buffer, out int written));
        Assert.Equal(64, written);
        Assert.Matches("^[0-9A-F]{64}$", Encoding.ASCII.GetString(buffer));
    }

    [Fact]
    public void RandomnessDiffersAcrossThreads()
    {
        var all = new string[8][];
        Parallel.For(0, all.Length, i => all[i] = Enumerable.Range(0, 200).Select(_ => TokenHandles.NewHandle()).ToArray());
        var flat = all.SelectMany(x => x).ToList();
        Assert.Equal(flat.Count, flat.Distinct().Count());
    }

    [Theory]
    [InlineData("D32C8F84DC52290EEAA3283728A4BD36C16B65D1B5466C372DA26B4CB4BB65B3-1", true)]
    [InlineData("d32c8f84dc52290eeaa3283728a4bd36c16b65d1b5466c372da26b4cb4bb65b3-1", true)]
    [InlineData("D32C8F84DC52290EEAA3283728A4BD36C16B65D1B5466C372DA26B4CB4BB65B3", false)]
    [InlineData("D32C8F84DC52290EEAA3283728A4BD36C16B65D1B5466C372DA26B4CB4BB65B3-2", false)]
    [InlineData("G32C8F84DC52290EEAA3283728A4BD36C16B65D1B5466C372DA26B4CB4BB65B3-1", false)]
    [InlineData("D32C8F84DC52290EEAA3283728A4BD36C16B65D1B5466C372DA26B4CB4BB65B-1", false)]
    [InlineData("", false)]
    [InlineData(null, false)]
    [InlineData("eyJhbGciOiJSUzI1NiJ9.e30.sig", false)]
    public void IsWellFormed(string? handle, bool expected)
    {
        Assert.Equal(expected, TokenHandles.IsWellFormed(handle));
        if (handle is not null)
        {
            Assert.Equal(expected, TokenHandles.IsWellFormed(Encoding.UTF8.GetBytes(handle)));
        }
    }

    [Fact]
    public void IsWellFormedRefusesInvalidUtf8()
    {
        byte[] bytes = Encoding.ASCII.GetBytes(TokenHandles.NewHandle());
        Assert.True(TokenHandles.IsWellFormed(bytes));
        bytes[3] = 0xC3; // a lead byte without its continuation
        Assert.False(TokenHandles.IsWellFormed(bytes));
    }
}

public class StoreKeyTests
{
    /// <summary>IdentityServer's rule, with .NET's own SHA-256 as the reference.</summary>
    private static string Expected(string handle, string grantType)
    {
        byte[] hash = SHA256.HashData(Encoding.UTF8.GetBytes(handle + ":" + grantType));
        return handle.EndsWith("-1", StringComparison.Ordinal) ? Convert.ToHexString(hash) : Convert.ToBase64String(hash);
    }

    public static IEnumerable<object[]> Cases()
    {
        string[] grantTypes = ["reference_token", "refresh_token", "authorization_code", "user_consent", "backchannel_authentication_request", "", "é:ü 😀"];
        string[] handles =
        [
            "D32C8F84DC52290EEAA3283728A4BD36C16B65D1B5466C372DA26B4CB4BB65B3-1",
            "D32C8F84DC52290EEAA3283728A4BD36C16B65D1B5466C372DA26B4CB4BB65B3",
            "abc", "-1", "", "x-1", "ümlaut-1", "ümlaut", new string('A', 4096), new string('B', 4094) + "-1",
        ];
        foreach (string h in handles)
        {
            foreach (string g in grantTypes)
            {
                yield return [h, g];
            }
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatchesDotNetSha256(string handle, string grantType)
    {
        string expected = Expected(handle, grantType);
        Assert.Equal(expected, StoreKeys.Compute(handle, grantType));

        Span<byte> buffer = stackalloc byte[StoreKeys.MaxLength];
        Assert.True(StoreKeys.TryCompute(Encoding.UTF8.GetBytes(handle), Encoding.UTF8.GetBytes(grantType), buffer, out int written));
        Assert.Equal(expected, Encoding.ASCII.GetString(buffer[..written]));
    }

    [Fact]
    public void RandomHandlesMatchDotNetSha256()
    {
        for (int i = 0; i < 500; i++)
        {
            string h = TokenHandles.NewHandle();
            Assert.Equal(Expected(h, "reference_token"), StoreKeys.ForReferenceToken(h));
            string legacy = TokenHandles.RandomHex(32);
            Assert.Equal(Expected(legacy, "reference_token"), StoreKeys.ForReferenceToken(legacy));
            Assert.Equal(44, StoreKeys.ForReferenceToken(legacy).Length);
        }
    }

    [Fact]
    public void EveryFixtureRowKey()
    {
        Assert.NotEmpty(Fixtures.Grants);
        foreach (GrantRow row in Fixtures.Grants)
        {
            Assert.Equal(row.Key, StoreKeys.Compute(row.Handle, row.GrantType));
            if (row.GrantType == GrantTypes.ReferenceToken)
            {
                Assert.Equal(row.Key, StoreKeys.ForReferenceToken(row.Handle));
                var buffer = new byte[64];
                Assert.True(StoreKeys.TryComputeForReferenceToken(Encoding.UTF8.GetBytes(row.Handle), buffer, out int n));
                Assert.Equal(row.Key, Encoding.ASCII.GetString(buffer, 0, n));
            }
        }
    }

    [Fact]
    public void BufferTooSmallReportsTheLength()
    {
        byte[] hexHandle = Encoding.ASCII.GetBytes(TokenHandles.NewHandle());
        byte[] legacy = Encoding.ASCII.GetBytes(TokenHandles.RandomHex());
        byte[] type = Encoding.ASCII.GetBytes("reference_token");
        var small = new byte[43];
        Assert.False(StoreKeys.TryCompute(hexHandle, type, small, out int n));
        Assert.Equal(64, n);
        Assert.False(StoreKeys.TryCompute(legacy, type, small, out n));
        Assert.Equal(44, n);
        Assert.False(StoreKeys.TryComputeForReferenceToken(hexHandle, small, out n));
        Assert.Equal(64, n);
        Assert.True(small.All(b => b == 0));
    }

    [Fact]
    public void Errors()
    {
        byte[] bad = [0x41, 0xFF, 0x2D, 0x31];
        byte[] ok = Encoding.ASCII.GetBytes("reference_token");
        var buffer = new byte[64];
        Assert.Equal(RefTokenStatus.InvalidUtf8, Assert.Throws<RefTokenException>(() => StoreKeys.TryCompute(bad, ok, buffer, out _)).Status);
        Assert.Equal(RefTokenStatus.InvalidUtf8, Assert.Throws<RefTokenException>(() => StoreKeys.TryCompute(ok, bad, buffer, out _)).Status);
        Assert.Equal(RefTokenStatus.InvalidUtf8, Assert.Throws<RefTokenException>(() => StoreKeys.TryComputeForReferenceToken(bad, buffer, out _)).Status);
        Assert.Equal(RefTokenStatus.InputTooLarge, Assert.Throws<RefTokenException>(() => StoreKeys.Compute(new string('A', 4097), "reference_token")).Status);
        Assert.Equal(RefTokenStatus.InputTooLarge, Assert.Throws<RefTokenException>(() => StoreKeys.Compute("abc", new string('g', 257))).Status);
        Assert.Equal(RefTokenStatus.InputTooLarge, Assert.Throws<RefTokenException>(() => StoreKeys.ForReferenceToken(new string('A', 4097))).Status);
        // 4096 bytes is the limit in UTF-8 bytes, not characters.
        Assert.Equal(RefTokenStatus.InputTooLarge, Assert.Throws<RefTokenException>(() => StoreKeys.Compute(new string('é', 2049), "reference_token")).Status);
        Assert.Throws<ArgumentNullException>(() => StoreKeys.Compute(null!, "x"));
        Assert.Throws<ArgumentNullException>(() => StoreKeys.Compute("x", null!));
        Assert.Throws<ArgumentNullException>(() => StoreKeys.ForReferenceToken(null!));
    }
}
