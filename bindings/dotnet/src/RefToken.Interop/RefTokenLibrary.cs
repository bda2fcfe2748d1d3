using System;
using System.Collections.Generic;
using System.Diagnostics.CodeAnalysis;
using System.IO;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using RefToken.Native;

namespace RefToken;

/// <summary>
/// The native library itself: where it is loaded from, its ABI version, status names and the
/// last-error message.
/// </summary>
/// <remarks>
/// The library is found, in this order: the file named by the environment variable
/// <see cref="LibraryPathVariable"/>; <c>runtimes/&lt;rid&gt;/native/</c> beside this assembly or
/// the application (where the RefToken.Interop package puts it); the runtime's own probing
/// (the application's <c>.deps.json</c>, its folder, the system's library path). When it is
/// first used, its <c>reftoken_abi_version()</c> must equal <see cref="AbiVersion"/>.
/// </remarks>
public static class RefTokenLibrary
{
    /// <summary>The NuGet package that carries the native library.</summary>
    public const string PackageId = "RefToken.Interop";

    /// <summary>
    /// The environment variable that, when set, names the native library file to load
    /// (for example a <c>target/release/libreftoken.so</c> built from source).
    /// </summary>
    public const string LibraryPathVariable = "REFTOKEN_NATIVE_LIBRARY";

    /// <summary>The C ABI version these bindings were written for (<c>REFTOKEN_ABI_VERSION</c>).</summary>
    public const uint AbiVersion = NativeMethods.AbiVersion;

    private static string? s_loadedFrom;

    // Initialised on first use. Read in the hot paths: after tier-1 compilation a null static
    // readonly field is a constant, so the check costs nothing.
    private static readonly Exception? s_loadFailure = Initialize();

    /// <summary>
    /// The path the native library was loaded from, or <see langword="null"/> when the runtime's
    /// default probing found it by name.
    /// </summary>
    public static string? LoadedFrom
    {
        get
        {
            EnsureLoaded();
            return s_loadedFrom;
        }
    }

    /// <summary>The ABI version the loaded native library reports (<c>reftoken_abi_version()</c>).</summary>
    /// <exception cref="PlatformNotSupportedException">The native library cannot be loaded or has another ABI version.</exception>
    public static uint NativeAbiVersion
    {
        get
        {
            EnsureLoaded();
            return NativeMethods.reftoken_abi_version();
        }
    }

    /// <summary>
    /// Loads the native library if that has not happened yet and checks its ABI version.
    /// Every other member does this itself; call it to fail early, at start-up.
    /// </summary>
    /// <exception cref="PlatformNotSupportedException">
    /// The native library is missing for this platform, cannot be loaded, or reports an ABI
    /// version other than <see cref="AbiVersion"/>.
    /// </exception>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void EnsureLoaded()
    {
        if (s_loadFailure is not null)
        {
            ThrowLoadFailure();
        }
    }

    /// <summary>The native name of a status code, such as <c>REFTOKEN_BUFFER_TOO_SMALL</c> (<c>reftoken_status_str</c>).</summary>
    /// <param name="status">Any status value; unknown ones are named <c>REFTOKEN_UNKNOWN_STATUS</c>.</param>
    /// <returns>The name.</returns>
    public static unsafe string GetStatusName(RefTokenStatus status)
    {
        EnsureLoaded();
        byte* name = NativeMethods.reftoken_status_str((uint)status);
        return name is null ? "REFTOKEN_UNKNOWN_STATUS" : Marshal.PtrToStringUTF8((nint)name) ?? string.Empty;
    }

    /// <summary>
    /// The detail message of the last failure of a native call on the calling thread
    /// (<c>reftoken_last_error</c>); empty when nothing has failed on this thread yet.
    /// </summary>
    /// <returns>The message.</returns>
    public static unsafe string GetLastErrorMessage()
    {
        EnsureLoaded();
        const int StackSize = 256;
        byte* stack = stackalloc byte[StackSize];
        nuint len;
        RefTokenStatus status = NativeMethods.reftoken_last_error(stack, StackSize, &len);
        if (status == RefTokenStatus.Ok)
        {
            return Encoding.UTF8.GetString(stack, (int)len);
        }

        while (status == RefTokenStatus.BufferTooSmall)
        {
            byte[] buffer = new byte[checked((int)len + 1)];
            fixed (byte* p = buffer)
            {
                status = NativeMethods.reftoken_last_error(p, (nuint)buffer.Length, &len);
                if (status == RefTokenStatus.Ok)
                {
                    return Encoding.UTF8.GetString(p, (int)len);
                }
            }
        }

        return string.Empty;
    }

    /// <summary>
    /// The exception for a failed native call, with the thread's last-error message: the one place
    /// that decides its type (see <see cref="Error(RefTokenStatus, string, string?)"/>).
    /// </summary>
    /// <param name="status">The status the native function returned.</param>
    /// <param name="paramName">The parameter a refused argument was passed as, when the caller knows it.</param>
    internal static Exception Error(RefTokenStatus status, string? paramName = null) =>
        Error(status, GetLastErrorMessage(), paramName);

    /// <summary>
    /// <see cref="RefTokenArgumentException"/> for the statuses that blame the caller's arguments,
    /// <see cref="RefTokenException"/> for every other (they describe data, keys, servers or the library).
    /// </summary>
    internal static Exception Error(RefTokenStatus status, string nativeMessage, string? paramName) =>
        status is RefTokenStatus.InvalidArgument or RefTokenStatus.NullArgument
            ? new RefTokenArgumentException(status, nativeMessage, paramName)
            : new RefTokenException(status, nativeMessage);

    /// <summary>Throws <see cref="Error(RefTokenStatus, string?)"/> for a failed native call.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    [DoesNotReturn]
    internal static void Throw(RefTokenStatus status, string? paramName = null) => throw Error(status, paramName);

    /// <summary>
    /// The handle a native constructor returned with <paramref name="status"/>; on failure it is
    /// disposed and the exception thrown.
    /// </summary>
    internal static T Owned<T>(RefTokenStatus status, T handle)
        where T : SafeHandle
    {
        if (status != RefTokenStatus.Ok)
        {
            handle.Dispose();
            Throw(status);
        }

        return handle;
    }

    /// <summary>Throws unless <paramref name="status"/> is <see cref="RefTokenStatus.Ok"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Check(RefTokenStatus status)
    {
        if (status != RefTokenStatus.Ok)
        {
            Throw(status);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    [DoesNotReturn]
    private static void ThrowLoadFailure() => throw s_loadFailure!;

    // ---- loading ----

    /// <summary>The file name of the native library on this operating system.</summary>
    internal static string NativeFileName =>
        OperatingSystem.IsWindows() ? "reftoken.dll" : OperatingSystem.IsMacOS() ? "libreftoken.dylib" : "libreftoken.so";

    /// <summary>The runtime identifiers to look under, most specific first.</summary>
    internal static IEnumerable<string> RuntimeIdentifierCandidates()
    {
        string rid = RuntimeInformation.RuntimeIdentifier;
        yield return rid;
        string arch = RuntimeInformation.ProcessArchitecture.ToString().ToLowerInvariant();
        string os = OperatingSystem.IsWindows() ? "win"
            : OperatingSystem.IsMacOS() ? "osx"
            : rid.Contains("musl", StringComparison.Ordinal) ? "linux-musl"
            : "linux";
        string portable = os + "-" + arch;
        if (portable != rid)
        {
            yield return portable;
        }
    }

    /// <summary>Candidate files under <c>runtimes/&lt;rid&gt;/native</c> of the given folders.</summary>
    internal static IEnumerable<string> CandidatePaths(IEnumerable<string?> folders)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (string? folder in folders)
        {
            if (string.IsNullOrEmpty(folder) || !seen.Add(folder))
            {
                continue;
            }

            foreach (string rid in RuntimeIdentifierCandidates())
            {
                yield return Path.Combine(folder, "runtimes", rid, "native", NativeFileName);
            }
        }
    }

    /// <summary>The message when the library cannot be found or loaded.</summary>
    internal static PlatformNotSupportedException MissingLibrary(Exception? inner)
    {
        string rid = RuntimeInformation.RuntimeIdentifier;
        string message =
            $"RefToken's native library ({NativeFileName}) could not be loaded for {rid}. " +
            $"Add the NuGet package {PackageId}, which carries it under runtimes/<rid>/native/ " +
            $"(for this platform: runtimes/{rid}/native/{NativeFileName}), or build it from source with " +
            $"`cargo build --release` and set {LibraryPathVariable} to the built file.";
        if (inner is not null)
        {
            message += " Loader: " + inner.Message;
        }

        return new PlatformNotSupportedException(message, inner);
    }

    /// <summary>The failure for a library of another ABI version, or null when it matches.</summary>
    internal static PlatformNotSupportedException? CheckAbiVersion(uint nativeVersion, string? loadedFrom)
    {
        if (nativeVersion == AbiVersion)
        {
            return null;
        }

        return new PlatformNotSupportedException(
            $"The native library {loadedFrom ?? NativeFileName} has C ABI version {nativeVersion}, but {PackageId} " +
            $"{typeof(RefTokenLibrary).Assembly.GetName().Version} was built for ABI version {AbiVersion}. " +
            $"Use the {PackageId} package that matches the library (the package carries its own copy).");
    }

    private static Exception? Initialize()
    {
        try
        {
            NativeLibrary.SetDllImportResolver(typeof(RefTokenLibrary).Assembly, Resolve);
        }
        catch (InvalidOperationException)
        {
            // A resolver is already set for this assembly (by the host): use it.
        }

        uint version;
        try
        {
            version = NativeMethods.reftoken_abi_version();
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or BadImageFormatException)
        {
            return MissingLibrary(e);
        }

        return CheckAbiVersion(version, s_loadedFrom);
    }

    [UnconditionalSuppressMessage("SingleFile", "IL3000", Justification = "An empty Location (single-file apps) is handled: AppContext.BaseDirectory is probed too.")]
    private static nint Resolve(string libraryName, Assembly assembly, DllImportSearchPath? searchPath)
    {
        if (libraryName != NativeMethods.Library)
        {
            return 0;
        }

        string? explicitPath = Environment.GetEnvironmentVariable(LibraryPathVariable);
        if (!string.IsNullOrEmpty(explicitPath))
        {
            // An explicit choice: no fallback, so that a wrong path is reported, not hidden.
            nint h = NativeLibrary.Load(explicitPath);
            s_loadedFrom = Path.GetFullPath(explicitPath);
            return h;
        }

        string? assemblyFolder = string.IsNullOrEmpty(assembly.Location) ? null : Path.GetDirectoryName(assembly.Location);
        foreach (string candidate in CandidatePaths([assemblyFolder, AppContext.BaseDirectory]))
        {
            if (File.Exists(candidate) && NativeLibrary.TryLoad(candidate, out nint handle))
            {
                s_loadedFrom = candidate;
                return handle;
            }
        }

        // The runtime's probing: the .deps.json native assets, the application folder, the
        // system library path. Zero makes the runtime report DllNotFoundException.
        return NativeLibrary.TryLoad(libraryName, assembly, searchPath, out nint fallback) ? fallback : 0;
    }
}
