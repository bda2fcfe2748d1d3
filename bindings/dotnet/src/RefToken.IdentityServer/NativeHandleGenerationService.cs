using System.Threading.Tasks;
using Duende.IdentityServer.Services;

namespace RefToken.IdentityServer;

/// <summary>
/// <see cref="IHandleGenerationService"/> from libreftoken's CSPRNG: <c>length</c> random bytes as
/// uppercase hex, as IdentityServer's <c>DefaultHandleGenerationService</c> (IdentityServer 7.x signature).
/// Not sealed, with the same members as <c>DefaultHandleGenerationService</c>: a host's subclass of
/// that class (re-implementing <see cref="IHandleGenerationService"/> and calling
/// <c>base.GenerateAsync</c>) derives from this one unchanged.
/// </summary>
public class NativeHandleGenerationService : IHandleGenerationService
{
    /// <summary>Creates the service and checks that the native library loads.</summary>
    public NativeHandleGenerationService() => RefTokenLibrary.EnsureLoaded();

    /// <summary><paramref name="length"/> random bytes as <c>2 * length</c> uppercase hex characters.</summary>
    /// <param name="length">Random bytes, 1 to 65536.</param>
    /// <returns>The handle, without a suffix.</returns>
    /// <exception cref="RefTokenArgumentException">A length of 0 (<see cref="System.ArgumentOutOfRangeException"/> for a negative one).</exception>
    /// <exception cref="RefTokenException">A length over 65536.</exception>
    public Task<string> GenerateAsync(int length = 32) => Task.FromResult(TokenHandles.RandomHex(length));
}
