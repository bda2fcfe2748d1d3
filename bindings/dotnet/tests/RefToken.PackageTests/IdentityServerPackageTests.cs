#if REFTOKEN_IDENTITYSERVER
using System.IO.Compression;
using System.Linq;
using Duende.IdentityServer.ResponseHandling;
using Duende.IdentityServer.Services;
using Duende.IdentityServer.Stores;
using Duende.IdentityServer.Stores.Serialization;
using Microsoft.Extensions.DependencyInjection;
using RefToken.IdentityServer;
using Xunit;
using static RefToken.PackageTests.PackedPackages;

namespace RefToken.PackageTests;

/// <summary>RefToken.IdentityServer as a consumer gets it (only where Duende IdentityServer restores).</summary>
public class IdentityServerPackageTests
{
    [Fact]
    public void PackageLayout()
    {
        string nupkg = Nupkg("RefToken.IdentityServer");
        using ZipArchive zip = ZipFile.OpenRead(nupkg);
        var names = zip.Entries.Select(e => e.FullName).ToHashSet();
        foreach (string tfm in new[] { "net8.0", "net9.0", "net10.0" })
        {
            Assert.Contains($"lib/{tfm}/RefToken.IdentityServer.dll", names);
            Assert.Contains($"lib/{tfm}/RefToken.IdentityServer.xml", names);
        }
    }

    [Fact]
    public void AddRefTokenNativeRegistersTheNativeExtensionPoints()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        IIdentityServerBuilder builder = services.AddIdentityServer();
        Assert.Same(builder, builder.AddRefTokenNative());
        using ServiceProvider sp = services.BuildServiceProvider();
        using IServiceScope scope = sp.CreateScope();
        Assert.IsType<NativeHandleGenerationService>(scope.ServiceProvider.GetRequiredService<IHandleGenerationService>());
        Assert.IsType<NativeReferenceTokenStore>(scope.ServiceProvider.GetRequiredService<IReferenceTokenStore>());
        Assert.IsType<NativePersistentGrantSerializer>(scope.ServiceProvider.GetRequiredService<IPersistentGrantSerializer>());
        Assert.IsType<NativeIntrospectionResponseGenerator>(scope.ServiceProvider.GetRequiredService<IIntrospectionResponseGenerator>());
    }
}
#endif
