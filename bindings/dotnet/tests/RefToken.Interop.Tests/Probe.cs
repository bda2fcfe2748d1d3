using System;

namespace RefToken.Tests;

/// <summary>
/// The test assembly's entry point, used as a child process by <see cref="LibraryTests"/> to
/// observe how the library loads in a fresh process (xUnit never calls it).
/// </summary>
public static class Probe
{
    public static int Main(string[] args)
    {
        if (args.Length == 1 && args[0] == "probe")
        {
            try
            {
                Console.WriteLine("loaded " + RefTokenLibrary.NativeAbiVersion + " " + RefTokenLibrary.LoadedFrom);
                return 0;
            }
            catch (Exception e)
            {
                Console.WriteLine(e.GetType().FullName + ": " + e.Message);
                return 3;
            }
        }

        Console.Error.WriteLine("usage: RefToken.Interop.Tests probe");
        return 2;
    }
}
