using System.IO;
using System.Linq;
using System.Reflection;

namespace RefToken.PackageTests;

/// <summary>The packed packages under test: the folder and version the project file records as assembly metadata.</summary>
internal static class PackedPackages
{
    public static string Metadata(string key) =>
        typeof(PackedPackages).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == key).Value!;

    /// <summary>The path of package <paramref name="id"/>'s .nupkg.</summary>
    public static string Nupkg(string id) =>
        Path.Combine(Metadata("RefTokenPackageSource"), $"{id}.{Metadata("RefTokenPackageVersion")}.nupkg");
}
