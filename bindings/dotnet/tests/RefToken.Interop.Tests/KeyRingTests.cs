using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.DataProtection.KeyManagement;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace RefToken.Tests;

public sealed class TempDir : IDisposable
{
    public TempDir()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "reftoken-tests-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public void Dispose() => Directory.Delete(Path, recursive: true);
}

public class KeyRingTests : IClassFixture<FixtureKeyRing>
{
    private readonly FixtureKeyRing _fixture;

    public KeyRingTests(FixtureKeyRing fixture) => _fixture = fixture;

    private static string FixtureKeyXml => File.ReadAllText(Directory.GetFiles(Fixtures.KeyRingDirectory, "key-*.xml").Single());

    private static Guid FixtureKeyId => Guid.Parse(Regex.Match(FixtureKeyXml, "key id=\"([0-9a-f-]+)\"").Groups[1].Value);

    /// <summary>ASP.NET Core's own Data Protection over a key folder: the independent reference.</summary>
    private static ServiceProvider AspNet(string dir, string appName = Fixtures.AppName, bool generateKeys = true)
    {
        var services = new ServiceCollection();
        IDataProtectionBuilder b = services.AddDataProtection().PersistKeysToFileSystem(new DirectoryInfo(dir)).SetApplicationName(appName);
        if (!generateKeys)
        {
            b.DisableAutomaticKeyGeneration();
        }

        return services.BuildServiceProvider();
    }

    [Fact]
    public void UnprotectsEveryFixturePayload()
    {
        int count = 0;
        foreach (GrantRow row in Fixtures.Grants.Where(r => r.DataProtected && r.Payload is not null))
        {
            using JsonDocument container = JsonDocument.Parse(row.Data);
            string payload = container.RootElement.GetProperty("Payload").GetString()!;
            Assert.Equal(row.Payload, _fixture.Protector.Unprotect(payload));

            byte[] ascii = Encoding.ASCII.GetBytes(payload);
            var buffer = new byte[ascii.Length];
            Assert.True(_fixture.Protector.TryUnprotect(ascii, buffer, out int n));
            Assert.Equal(row.Payload, Encoding.UTF8.GetString(buffer, 0, n));
            Assert.False(_fixture.Protector.TryUnprotect(ascii, new byte[4], out int needed));
            Assert.Equal(n, needed);
            count++;
        }

        Assert.True(count > 40);
    }

    [Fact]
    public void DefaultKeyId()
    {
        Assert.Equal(FixtureKeyId, _fixture.Ring.GetDefaultKeyId(Fixtures.KeyRingNow));
        var e = Assert.Throws<RefTokenException>(() => _fixture.Ring.GetDefaultKeyId(Fixtures.Now)); // before the key's activation
        Assert.Equal(RefTokenStatus.UnknownKey, e.Status);
        Assert.Equal(Fixtures.AppName, _fixture.Ring.ApplicationName);
        Assert.Equal([Fixtures.ProtectorPurpose], _fixture.Protector.Purposes);
        Assert.Same(_fixture.Ring, _fixture.Protector.KeyRing);
    }

    [Fact]
    public void AspNetCoreReadsWhatTheNativeRingProtects()
    {
        using var dir = new TempDir();
        File.Copy(Directory.GetFiles(Fixtures.KeyRingDirectory).Single(), Path.Combine(dir.Path, "key-fixture.xml"));
        using ServiceProvider sp = AspNet(dir.Path, generateKeys: false);
        IDataProtector aspnet = sp.GetRequiredService<IDataProtectionProvider>().CreateProtector(Fixtures.ProtectorPurpose);

        foreach (string text in new[] { "", "x", "héllo 😀", new string('z', 5000) })
        {
            string payload = _fixture.Protector.Protect(text, Fixtures.KeyRingNow);
            Assert.StartsWith("CfDJ8", payload);
            Assert.Equal(text, aspnet.Unprotect(payload));
            Assert.Equal(text, _fixture.Protector.Unprotect(payload));

            byte[] bytes = _fixture.Protector.ProtectBytes(Encoding.UTF8.GetBytes(text), Fixtures.KeyRingNow);
            Assert.Equal(new byte[] { 0x09, 0xF0, 0xC9, 0xF0 }, bytes[..4]);
            Assert.Equal(text, Encoding.UTF8.GetString(aspnet.Unprotect(bytes)));
            Assert.Equal(text, Encoding.UTF8.GetString(_fixture.Protector.UnprotectBytes(bytes)));
        }

        // Nested purposes: CreateProtector(a).CreateProtector(b) == CreateProtector(a, b).
        IDataProtector nested = sp.GetRequiredService<IDataProtectionProvider>().CreateProtector("a").CreateProtector("b");
        KeyRingProtector child = _fixture.Ring.CreateProtector("a").CreateProtector("b");
        Assert.Equal(["a", "b"], child.Purposes);
        Assert.Equal("n", nested.Unprotect(child.Protect("n", Fixtures.KeyRingNow)));
        Assert.Equal("n", nested.Unprotect(_fixture.Ring.CreateProtector("a", "b").Protect("n", Fixtures.KeyRingNow)));
    }

    [Fact]
    public void NativeRingReadsWhatAspNetCoreProtects()
    {
        using var dir = new TempDir();
        using ServiceProvider sp = AspNet(dir.Path, appName: "my-app");
        IDataProtector aspnet = sp.GetRequiredService<IDataProtectionProvider>().CreateProtector("purpose-1");
        string payload = aspnet.Protect("from asp.net core"); // creates a key in dir now
        byte[] bytes = aspnet.Protect(new byte[] { 1, 2, 3, 0, 255 });

        using KeyRing ring = KeyRing.LoadDirectory(dir.Path, "my-app");
        KeyRingProtector p = ring.CreateProtector("purpose-1");
        Assert.Equal("from asp.net core", p.Unprotect(payload));
        Assert.Equal(new byte[] { 1, 2, 3, 0, 255 }, p.UnprotectBytes(bytes));
        var buffer = new byte[64];
        Assert.True(p.TryUnprotectBytes(bytes, buffer, out int n));
        Assert.Equal(5, n);

        // Loaded from XML elements as a database holds them.
        using KeyRing fromXml = KeyRing.FromXml(Directory.GetFiles(dir.Path).Select(File.ReadAllText), "my-app");
        Assert.Equal("from asp.net core", fromXml.CreateProtector("purpose-1").Unprotect(payload));

        // ... and ASP.NET Core reads what the native ring protects with the key it made.
        Assert.Equal("back", aspnet.Unprotect(p.Protect("back")));
        var outBuf = new byte[512];
        Assert.True(p.TryProtect("back"u8, outBuf, out int written));
        Assert.Equal("back", aspnet.Unprotect(Encoding.ASCII.GetString(outBuf, 0, written)));
        Assert.False(p.TryProtect("back"u8, new byte[8], out int needed));
        Assert.Equal(written, needed);
        Assert.True(p.TryProtectBytes(new byte[] { 7 }, outBuf, out written));
        Assert.Equal(new byte[] { 7 }, aspnet.Unprotect(outBuf[..written]));
        Assert.False(p.TryProtectBytes(new byte[] { 7 }, new byte[8], out needed));
        Assert.Equal(written, needed);
    }

    [Fact]
    public void RevokedKeysAreRefused()
    {
        using var dir = new TempDir();
        using ServiceProvider sp = AspNet(dir.Path);
        IDataProtector aspnet = sp.GetRequiredService<IDataProtectionProvider>().CreateProtector("p");
        string payload = aspnet.Protect("secret");
        IKey key = sp.GetRequiredService<IKeyManager>().GetAllKeys().Single();
        sp.GetRequiredService<IKeyManager>().RevokeKey(key.KeyId, "test");

        using KeyRing ring = KeyRing.LoadDirectory(dir.Path, Fixtures.AppName);
        var e = Assert.Throws<RefTokenException>(() => ring.CreateProtector("p").Unprotect(payload));
        Assert.Equal(RefTokenStatus.KeyRevoked, e.Status);
    }

    [Fact]
    public void UnprotectErrors()
    {
        string good = _fixture.Protector.Protect("text", Fixtures.KeyRingNow);
        KeyRingProtector p = _fixture.Protector;
        Assert.Equal(RefTokenStatus.MalformedInput, Assert.Throws<RefTokenException>(() => p.Unprotect("!!! not base64 !!!")).Status);
        Assert.Equal(RefTokenStatus.CryptoFailure, Assert.Throws<RefTokenException>(() => p.Unprotect("AAAA")).Status);
        char[] tampered = good.ToCharArray();
        tampered[^5] = tampered[^5] == 'A' ? 'B' : 'A';
        Assert.Equal(RefTokenStatus.CryptoFailure, Assert.Throws<RefTokenException>(() => p.Unprotect(new string(tampered))).Status);
        Assert.Equal(RefTokenStatus.CryptoFailure, Assert.Throws<RefTokenException>(() => _fixture.Ring.CreateProtector("other").Unprotect(good)).Status);
        Assert.Equal(RefTokenStatus.CryptoFailure, Assert.Throws<RefTokenException>(() => p.UnprotectBytes(new byte[] { 1, 2, 3 })).Status);
        Assert.Equal(RefTokenStatus.InvalidUtf8, Assert.Throws<RefTokenException>(() => p.TryUnprotect(new byte[] { 0xFF }, new byte[8], out _)).Status);

        // Another application name: the row IdentityServer could not read either.
        GrantRow other = Fixtures.Grant("data_protected_other_app_name");
        using JsonDocument container = JsonDocument.Parse(other.Data);
        string otherPayload = container.RootElement.GetProperty("Payload").GetString()!;
        Assert.Equal(RefTokenStatus.CryptoFailure, Assert.Throws<RefTokenException>(() => p.Unprotect(otherPayload)).Status);
        using KeyRing anotherApp = KeyRing.LoadDirectory(Fixtures.KeyRingDirectory, "another-app");
        Assert.StartsWith("{", anotherApp.CreateProtector(Fixtures.ProtectorPurpose).Unprotect(otherPayload));

        // A key the ring does not have.
        using KeyRing empty = KeyRing.FromXml([], Fixtures.AppName);
        Assert.Equal(RefTokenStatus.UnknownKey, Assert.Throws<RefTokenException>(() => empty.CreateProtector(Fixtures.ProtectorPurpose).Unprotect(good)).Status);
        Assert.Equal(RefTokenStatus.UnknownKey, Assert.Throws<RefTokenException>(() => empty.CreateProtector("p").Protect("x")).Status);
        Assert.Equal(RefTokenStatus.UnknownKey, Assert.Throws<RefTokenException>(() => empty.CreateProtector("p").ProtectBytes(new byte[1])).Status);
        Assert.Equal(RefTokenStatus.UnknownKey, Assert.Throws<RefTokenException>(() => empty.GetDefaultKeyId(Fixtures.KeyRingNow)).Status);
    }

    [Fact]
    public void KeysEncryptedAtRestWithDpapiAreUnsupported()
    {
        string xml = Regex.Replace(
            FixtureKeyXml,
            "<masterKey.*</masterKey>",
            "<encryptedSecret decryptorType=\"Microsoft.AspNetCore.DataProtection.XmlEncryption.DpapiXmlDecryptor, Microsoft.AspNetCore.DataProtection\" xmlns=\"http://schemas.asp.net/2015/03/dataProtection\"><encryptedKey><value>AAAA</value></encryptedKey></encryptedSecret>",
            RegexOptions.Singleline);
        using KeyRing ring = KeyRing.FromXml([xml], Fixtures.AppName);
        string payload = _fixture.Protector.Protect("x", Fixtures.KeyRingNow);
        var e = Assert.Throws<RefTokenException>(() => ring.CreateProtector(Fixtures.ProtectorPurpose).Unprotect(payload));
        Assert.Equal(RefTokenStatus.UnsupportedProtector, e.Status);
        Assert.Contains("DPAPI", e.NativeMessage);
    }

    [Fact]
    public void ProtectErrors()
    {
        using KeyRing noApp = KeyRing.LoadDirectory(Fixtures.KeyRingDirectory, null);
        Assert.Null(noApp.ApplicationName);
        Assert.Equal(RefTokenStatus.InvalidArgument, Assert.Throws<RefTokenArgumentException>(() => noApp.CreateProtector().Protect("x", Fixtures.KeyRingNow)).Status);
        Assert.Equal(RefTokenStatus.InvalidArgument, Assert.Throws<RefTokenArgumentException>(() => noApp.CreateProtector().Unprotect("AAAA")).Status);
        Assert.Equal("x", noApp.CreateProtector("p").Unprotect(noApp.CreateProtector("p").Protect("x", Fixtures.KeyRingNow)));

        // The application name alone is a purpose chain.
        Assert.Equal("y", _fixture.Ring.CreateProtector().Unprotect(_fixture.Ring.CreateProtector().Protect("y", Fixtures.KeyRingNow)));

        string[] many = Enumerable.Range(0, 257).Select(i => "p" + i).ToArray();
        Assert.Equal(RefTokenStatus.InputTooLarge, Assert.Throws<RefTokenException>(() => _fixture.Ring.CreateProtector(many).Protect("x", Fixtures.KeyRingNow)).Status);
        Assert.Equal(RefTokenStatus.InputTooLarge, Assert.Throws<RefTokenException>(() => _fixture.Protector.Protect(new string('a', (1 << 20) + 1), Fixtures.KeyRingNow)).Status);
        Assert.Equal(RefTokenStatus.InvalidUtf8, Assert.Throws<RefTokenException>(() => _fixture.Protector.TryProtect(new byte[] { 0xFF }, new byte[256], out _, Fixtures.KeyRingNow)).Status);
        Assert.Equal(RefTokenStatus.UnknownKey, Assert.Throws<RefTokenException>(() => _fixture.Protector.Protect("x", Fixtures.Now)).Status);
        Assert.Throws<ArgumentNullException>(() => _fixture.Protector.Protect(null!));
        Assert.Throws<ArgumentNullException>(() => _fixture.Protector.Unprotect(null!));
        Assert.Throws<ArgumentNullException>(() => _fixture.Ring.CreateProtector(null!));
        Assert.Throws<ArgumentNullException>(() => _fixture.Ring.CreateProtector("a", null!));
        Assert.Throws<ArgumentNullException>(() => _fixture.Protector.CreateProtector(null!));
    }

    [Fact]
    public void LoadErrors()
    {
        Assert.Equal(RefTokenStatus.IoError, Assert.Throws<RefTokenException>(() => KeyRing.LoadDirectory("/nonexistent/reftoken", null)).Status);
        using (var dir = new TempDir())
        {
            File.WriteAllText(Path.Combine(dir.Path, "key-bad.xml"), "<key id=");
            Assert.Equal(RefTokenStatus.MalformedInput, Assert.Throws<RefTokenException>(() => KeyRing.LoadDirectory(dir.Path, null)).Status);
        }

        Assert.Equal(RefTokenStatus.MalformedInput, Assert.Throws<RefTokenException>(() => KeyRing.FromXml(["<not xml"], null)).Status);
        Assert.Equal(RefTokenStatus.MalformedInput, Assert.Throws<RefTokenException>(() => KeyRing.FromXml([FixtureKeyXml, FixtureKeyXml], null)).Status);
        Assert.Equal(RefTokenStatus.InputTooLarge, Assert.Throws<RefTokenException>(() => KeyRing.FromXml(Enumerable.Repeat("<x/>", 100_001), null)).Status);
        Assert.Throws<ArgumentNullException>(() => KeyRing.LoadDirectory(null!, null));
        Assert.Throws<ArgumentNullException>(() => KeyRing.FromXml(null!, null));
        Assert.Throws<ArgumentNullException>(() => KeyRing.FromXml(new string[] { null! }, null));

        using KeyRing fromXml = KeyRing.FromXml([FixtureKeyXml], Fixtures.AppName);
        Assert.Equal(FixtureKeyId, fromXml.GetDefaultKeyId(Fixtures.KeyRingNow));
    }

    [Fact]
    public void DisposedKeyRingThrowsObjectDisposed()
    {
        KeyRing ring = KeyRing.LoadDirectory(Fixtures.KeyRingDirectory, Fixtures.AppName);
        KeyRingProtector p = ring.CreateProtector("x");
        ring.Dispose();
        Assert.Throws<ObjectDisposedException>(() => p.Protect("a", Fixtures.KeyRingNow));
        Assert.Throws<ObjectDisposedException>(() => ring.GetDefaultKeyId(Fixtures.KeyRingNow));
        Assert.True(ring.SafeHandle.IsClosed);
    }
}
