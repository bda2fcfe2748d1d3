#if REFTOKEN_IDENTITYSERVER
using System.Collections.Generic;
using System.IO.Compression;
using System.Linq;
using System.Xml.Linq;
using Xunit;
using static RefToken.PackageTests.PackedPackages;

namespace RefToken.PackageTests;

/// <summary>
/// What RefToken.IdentityServer's package makes a host depend on: Duende.IdentityServer and
/// RefToken.Interop, nothing else, so that a host's own OpenIdConnect, IdentityModel and Data
/// Protection versions are Duende's or the host's, never raised by this package.
/// </summary>
public class IdentityServerNuspecTests
{
    [Fact]
    public void DependsOnDuendeIdentityServerAndRefTokenInteropOnly()
    {
        string version = Metadata("RefTokenPackageVersion");
        string nupkg = Nupkg("RefToken.IdentityServer");
        using ZipArchive zip = ZipFile.OpenRead(nupkg);
        ZipArchiveEntry entry = zip.Entries.Single(e => e.FullName == "RefToken.IdentityServer.nuspec");
        XDocument nuspec;
        using (System.IO.Stream s = entry.Open())
        {
            nuspec = XDocument.Load(s);
        }

        XNamespace ns = nuspec.Root!.Name.Namespace;
        XElement dependencies = nuspec.Root.Element(ns + "metadata")!.Element(ns + "dependencies")!;
        var groups = dependencies.Elements(ns + "group").ToDictionary(
            g => (string)g.Attribute("targetFramework")!,
            g => g.Elements(ns + "dependency").Select(d => $"{(string)d.Attribute("id")!} {(string)d.Attribute("version")!}").Order().ToArray());

        Assert.Equal(new[] { "net10.0", "net8.0", "net9.0" }, groups.Keys.Order().ToArray());
        foreach (KeyValuePair<string, string[]> g in groups)
        {
            Assert.Equal(new[] { "Duende.IdentityServer [7.4.8, 8.0.0)", $"RefToken.Interop {version}" }, g.Value);
        }

        // No dependency outside the groups either.
        Assert.Empty(dependencies.Elements(ns + "dependency"));
    }
}
#endif
