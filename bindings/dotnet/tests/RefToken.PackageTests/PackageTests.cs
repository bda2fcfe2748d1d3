using System;
using System.Collections.Generic;
using System.IO;
using System.IO.Compression;
using System.Linq;
using System.Security.Cryptography;
using System.Text;
using Xunit;
using static RefToken.PackageTests.PackedPackages;

namespace RefToken.PackageTests;

/// <summary>Runs against RefToken.Interop as a consumer gets it: from the .nupkg.</summary>
public class PackageTests
{
    [Fact]
    public void PackageLayout()
    {
        using ZipArchive zip = ZipFile.OpenRead(Nupkg("RefToken.Interop"));
        var names = zip.Entries.Select(e => e.FullName).ToHashSet();
        Assert.Contains("lib/net10.0/RefToken.Interop.dll", names);
        Assert.Contains("lib/net10.0/RefToken.Interop.xml", names);
        Assert.Contains("lib/net8.0/RefToken.Interop.dll", names);
        Assert.Contains("lib/net8.0/RefToken.Interop.xml", names);
        Assert.Contains("runtimes/linux-x64/native/libreftoken.so", names);
        Assert.Contains("README.md", names);
        Assert.All(names.Where(n => n.StartsWith("runtimes/", StringComparison.Ordinal)), n => Assert.Matches("^runtimes/[a-z0-9-]+/native/(lib)?reftoken\\.(so|dylib|dll)$", n));
    }

    [Fact]
    public void LoadsTheNativeLibraryThePackageCarries()
    {
        Assert.Equal(RefTokenLibrary.AbiVersion, RefTokenLibrary.NativeAbiVersion);
        string loaded = RefTokenLibrary.LoadedFrom!;
        Assert.EndsWith(Path.Combine("runtimes", "linux-x64", "native", "libreftoken.so"), loaded);
        Assert.StartsWith(AppContext.BaseDirectory, loaded);

        using ZipArchive zip = ZipFile.OpenRead(Nupkg("RefToken.Interop"));
        using Stream packed = zip.GetEntry("runtimes/linux-x64/native/libreftoken.so")!.Open();
        using var ms = new MemoryStream();
        packed.CopyTo(ms);
        Assert.Equal(SHA256.HashData(ms.ToArray()), SHA256.HashData(File.ReadAllBytes(loaded)));
    }

    [Fact]
    public void PackedLibraryIsStripped()
    {
        using ZipArchive zip = ZipFile.OpenRead(Nupkg("RefToken.Interop"));
        ZipArchiveEntry entry = zip.GetEntry("runtimes/linux-x64/native/libreftoken.so")!;
        Assert.InRange(entry.Length, 1, 6L * 1024 * 1024 - 1);
        using Stream packed = entry.Open();
        using var ms = new MemoryStream();
        packed.CopyTo(ms);
        var sections = ElfSections(ms.ToArray());
        Assert.Contains(".dynsym", sections.Keys);
        Assert.Contains(".text", sections.Keys);
        Assert.DoesNotContain(sections.Keys, n => n.StartsWith(".debug_", StringComparison.Ordinal));
        Assert.DoesNotContain(".symtab", sections.Keys);
        // Linked to the debug information kept beside the stripped copy (name, NUL, padding, CRC).
        Assert.StartsWith("libreftoken.so.debug\0", Encoding.ASCII.GetString(sections[".gnu_debuglink"]));
    }

    /// <summary>The sections of a 64-bit little-endian ELF file, by name, with their contents.</summary>
    private static Dictionary<string, byte[]> ElfSections(byte[] elf)
    {
        Assert.Equal(new byte[] { 0x7F, (byte)'E', (byte)'L', (byte)'F', 2, 1 }, elf[..6]); // ELFCLASS64, ELFDATA2LSB
        long shoff = BitConverter.ToInt64(elf, 0x28);
        int shentsize = BitConverter.ToUInt16(elf, 0x3A);
        int shnum = BitConverter.ToUInt16(elf, 0x3C);
        int shstrndx = BitConverter.ToUInt16(elf, 0x3E);
        (uint Name, uint Type, long Offset, long Size) Header(int i)
        {
            int h = checked((int)(shoff + ((long)i * shentsize)));
            return (BitConverter.ToUInt32(elf, h), BitConverter.ToUInt32(elf, h + 4), BitConverter.ToInt64(elf, h + 0x18), BitConverter.ToInt64(elf, h + 0x20));
        }

        long names = Header(shstrndx).Offset;
        var result = new Dictionary<string, byte[]>();
        for (int i = 1; i < shnum; i++)
        {
            var h = Header(i);
            int start = checked((int)(names + h.Name));
            string name = Encoding.ASCII.GetString(elf, start, Array.IndexOf(elf, (byte)0, start) - start);
            result[name] = h.Type == 8 ? [] : elf.AsSpan(checked((int)h.Offset), checked((int)h.Size)).ToArray(); // SHT_NOBITS: no contents
        }

        return result;
    }

    [Fact]
    public void Works()
    {
        string handle = TokenHandles.NewHandle();
        Assert.Matches("^[0-9A-F]{64}-1$", handle);
        Assert.Equal(Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(handle + ":reference_token"))), StoreKeys.ForReferenceToken(handle));

        var now = DateTimeOffset.FromUnixTimeSeconds(1740830400);
        using Grant g = Grant.Create("client1", "https://idsvr.test", now.AddMinutes(-1), 3600);
        g.AddAudience("api1");
        g.AddClaim("sub", "alice");
        g.AddClaim("client_id", "client1");
        g.AddClaim("scope", "api1.read");
        Assert.Equal(
            "{\"iss\":\"https://idsvr.test\",\"nbf\":1740830340,\"iat\":1740830340,\"exp\":1740833940,\"aud\":\"api1\",\"sub\":\"alice\",\"client_id\":\"client1\",\"active\":true,\"scope\":\"api1.read\"}",
            Introspection.IntrospectData(g.ToData(), IntrospectionCaller.Api("api1", "api1.read api1.write"), now));
        Assert.Equal(RefTokenStatus.InvalidArgument, Assert.Throws<RefTokenArgumentException>(() => TokenHandles.RandomHex(0)).Status);
    }
}
