using System;
using Xunit;

namespace RefToken.Tests;

/// <summary>Argument exceptions name the public parameter the caller passed, not an internal helper's.</summary>
public class ArgumentValidationTests
{
    [Fact]
    public void ANullXmlElementNamesElements()
    {
        var e = Assert.Throws<ArgumentNullException>(() => KeyRing.FromXml(["<key/>", null!], "app"));
        Assert.Equal("elements", e.ParamName);
    }

    [Fact]
    public void ANullPurposeNamesPurposes()
    {
        using KeyRing ring = KeyRing.FromXml([], "app");
        var e = Assert.Throws<ArgumentNullException>(() => ring.CreateProtector("a", null!));
        Assert.Equal("purposes", e.ParamName);
    }

    [Fact]
    public void ANullStoredSecretNamesStored()
    {
        var e = Assert.Throws<ArgumentNullException>(() => Secrets.Verify("secret", [new StoredSecret(null!)], DateTimeOffset.UnixEpoch));
        Assert.Equal("stored", e.ParamName);
        Assert.StartsWith("A stored secret's value is null.", e.Message);
    }

    [Fact]
    public void OutOfRangeArgumentsAreNamed()
    {
        Assert.Equal("length", Assert.Throws<ArgumentOutOfRangeException>(() => TokenHandles.RandomHex(-1)).ParamName);
        Assert.Equal("cacheCapacity", Assert.Throws<ArgumentOutOfRangeException>(() => TokenValidator.Create(_ => null, null, -1, TimeSpan.Zero)).ParamName);
        using TokenValidator validator = TokenValidator.Create(_ => null, null, 0, TimeSpan.Zero);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => RevocationListener.StartRedis(validator, "redis://127.0.0.1:1/", null, TimeSpan.FromMilliseconds(-1)));
        Assert.Equal("staleBound", e.ParamName);
    }
}
