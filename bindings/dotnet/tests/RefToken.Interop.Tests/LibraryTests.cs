using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Threading;
using RefToken.Native;
using Xunit;

namespace RefToken.Tests;

public class LibraryTests
{
    [Fact]
    public void AbiVersionMatchesTheHeader()
    {
        Assert.Equal(1u, RefTokenLibrary.AbiVersion);
        Assert.Equal(RefTokenLibrary.AbiVersion, RefTokenLibrary.NativeAbiVersion);
        RefTokenLibrary.EnsureLoaded();
    }

    [Fact]
    public void LoadsFromRuntimesFolderBesideTheAssembly()
    {
        string? from = RefTokenLibrary.LoadedFrom;
        if (Environment.GetEnvironmentVariable(RefTokenLibrary.LibraryPathVariable) is { Length: > 0 } explicitPath)
        {
            Assert.Equal(Path.GetFullPath(explicitPath), from);
            return;
        }

        Assert.NotNull(from);
        Assert.EndsWith(Path.Combine("runtimes", "linux-x64", "native", "libreftoken.so"), from);
    }

    [Theory]
    [InlineData(RefTokenStatus.Ok, "REFTOKEN_OK")]
    [InlineData(RefTokenStatus.NullArgument, "REFTOKEN_NULL_ARGUMENT")]
    [InlineData(RefTokenStatus.InvalidUtf8, "REFTOKEN_INVALID_UTF8")]
    [InlineData(RefTokenStatus.BufferTooSmall, "REFTOKEN_BUFFER_TOO_SMALL")]
    [InlineData(RefTokenStatus.InvalidArgument, "REFTOKEN_INVALID_ARGUMENT")]
    [InlineData(RefTokenStatus.InputTooLarge, "REFTOKEN_INPUT_TOO_LARGE")]
    [InlineData(RefTokenStatus.MalformedInput, "REFTOKEN_MALFORMED_INPUT")]
    [InlineData(RefTokenStatus.DataProtected, "REFTOKEN_DATA_PROTECTED")]
    [InlineData(RefTokenStatus.UnsupportedVersion, "REFTOKEN_UNSUPPORTED_VERSION")]
    [InlineData(RefTokenStatus.NotFound, "REFTOKEN_NOT_FOUND")]
    [InlineData(RefTokenStatus.CryptoFailure, "REFTOKEN_CRYPTO_FAILURE")]
    [InlineData(RefTokenStatus.UnknownKey, "REFTOKEN_UNKNOWN_KEY")]
    [InlineData(RefTokenStatus.KeyRevoked, "REFTOKEN_KEY_REVOKED")]
    [InlineData(RefTokenStatus.UnsupportedProtector, "REFTOKEN_UNSUPPORTED_PROTECTOR")]
    [InlineData(RefTokenStatus.RngFailure, "REFTOKEN_RNG_FAILURE")]
    [InlineData(RefTokenStatus.IoError, "REFTOKEN_IO_ERROR")]
    [InlineData(RefTokenStatus.InternalPanic, "REFTOKEN_INTERNAL_PANIC")]
    [InlineData((RefTokenStatus)999, "REFTOKEN_UNKNOWN_STATUS")]
    public void StatusNamesAreTheNativeOnes(RefTokenStatus status, string name) =>
        Assert.Equal(name, RefTokenLibrary.GetStatusName(status));

    [Fact]
    public void EveryEnumValueHasANativeName()
    {
        foreach (RefTokenStatus s in Enum.GetValues<RefTokenStatus>())
        {
            Assert.NotEqual("REFTOKEN_UNKNOWN_STATUS", RefTokenLibrary.GetStatusName(s));
        }
    }

    [Fact]
    public void LastErrorIsPerThreadAndCarriedByTheException()
    {
        string? before = null;
        var t = new Thread(() => before = RefTokenLibrary.GetLastErrorMessage());
        t.Start();
        t.Join();
        Assert.Equal(string.Empty, before);

        var e = Assert.Throws<RefTokenArgumentException>(() => TokenHandles.RandomHex(0));
        Assert.Equal(RefTokenStatus.InvalidArgument, e.Status);
        Assert.Equal("REFTOKEN_INVALID_ARGUMENT", e.StatusName);
        Assert.False(string.IsNullOrEmpty(e.NativeMessage));
        Assert.Equal(e.NativeMessage, RefTokenLibrary.GetLastErrorMessage());
        Assert.StartsWith("REFTOKEN_INVALID_ARGUMENT: ", e.Message);

        // Another thread still sees nothing; success does not clear this thread's message.
        string? other = null;
        t = new Thread(() => other = RefTokenLibrary.GetLastErrorMessage());
        t.Start();
        t.Join();
        Assert.Equal(string.Empty, other);
        TokenHandles.NewHandle();
        Assert.Equal(e.NativeMessage, RefTokenLibrary.GetLastErrorMessage());
    }

    [Fact]
    public void LongLastErrorMessagesAreReadWhole()
    {
        // A message longer than the 256-byte first buffer: the path is quoted in it.
        string path = "/nonexistent/" + new string('x', 400);
        var e = Assert.Throws<RefTokenException>(() => KeyRing.LoadDirectory(path, null));
        Assert.Equal(RefTokenStatus.IoError, e.Status);
        Assert.Contains(path, e.NativeMessage);
        Assert.Equal(e.NativeMessage, RefTokenLibrary.GetLastErrorMessage());
    }

    [Fact]
    public void ExceptionWithoutMessageIsTheStatusName()
    {
        var e = new RefTokenException(RefTokenStatus.NotFound, "");
        Assert.Equal("REFTOKEN_NOT_FOUND", e.Message);
        Assert.Equal(RefTokenStatus.NotFound, e.Status);
    }

    [Fact]
    public void ArgumentExceptionWithoutMessageIsTheStatusName()
    {
        var e = new RefTokenArgumentException(RefTokenStatus.NullArgument, "");
        Assert.Equal("REFTOKEN_NULL_ARGUMENT", e.Message);
        Assert.Equal(RefTokenStatus.NullArgument, e.Status);
        Assert.Null(e.ParamName);
    }

    public static TheoryData<RefTokenStatus> EveryStatus() => new(Enum.GetValues<RefTokenStatus>());

    [Theory]
    [MemberData(nameof(EveryStatus))]
    public void ErrorIsAnArgumentExceptionExactlyForRefusedArguments(RefTokenStatus status)
    {
        Exception e = RefTokenLibrary.Error(status, "detail", null);
        string name = RefTokenLibrary.GetStatusName(status);
        Assert.Equal(name + ": detail", e.Message);
        if (status is RefTokenStatus.InvalidArgument or RefTokenStatus.NullArgument)
        {
            var a = Assert.IsType<RefTokenArgumentException>(e);
            Assert.Equal(status, a.Status);
            Assert.Equal("detail", a.NativeMessage);
            Assert.Equal(name, a.StatusName);
        }
        else
        {
            var n = Assert.IsType<RefTokenException>(e);
            Assert.Equal(status, n.Status);
            Assert.Equal("detail", n.NativeMessage);
            Assert.Equal(name, n.StatusName);
        }
    }

    [Fact]
    public void ErrorTakesTheThreadsMessageAndTheParameterName()
    {
        Assert.Throws<RefTokenArgumentException>(() => TokenHandles.RandomHex(0));
        string message = RefTokenLibrary.GetLastErrorMessage();
        Assert.NotEmpty(message);

        var a = Assert.IsType<RefTokenArgumentException>(RefTokenLibrary.Error(RefTokenStatus.InvalidArgument, "length"));
        Assert.Equal(message, a.NativeMessage);
        Assert.Equal("length", a.ParamName);
        Assert.StartsWith("REFTOKEN_INVALID_ARGUMENT: " + message, a.Message);

        // A data failure has no parameter to blame: the name is not kept.
        var n = Assert.IsType<RefTokenException>(RefTokenLibrary.Error(RefTokenStatus.MalformedInput, "length"));
        Assert.Equal(message, n.NativeMessage);
    }

    [Fact]
    public void ARefusedArgumentIsCatchableAsArgumentException()
    {
        ArgumentException e = Assert.ThrowsAny<ArgumentException>(() => TokenHandles.RandomHex(0));
        Assert.Equal(RefTokenStatus.InvalidArgument, Assert.IsType<RefTokenArgumentException>(e).Status);
    }

    [Fact]
    public void ARefusedArgumentNamesTheParameterWhereItIsKnown()
    {
        var e = Assert.Throws<RefTokenArgumentException>(() => TokenValidator.Create(_ => null, null, 1, TimeSpan.FromSeconds(-1)));
        Assert.Equal(RefTokenStatus.InvalidArgument, e.Status);
        Assert.Equal("cacheTtl", e.ParamName);
    }

    [Fact]
    public void ADataFailureIsStillARefTokenException()
    {
        Exception e = Record.Exception(() => Grant.Parse("not json"));
        Assert.Equal(RefTokenStatus.MalformedInput, Assert.IsType<RefTokenException>(e).Status);
        Assert.IsNotAssignableFrom<ArgumentException>(e);
    }

    [Fact]
    public void AbiMismatchIsRefused()
    {
        Assert.Null(RefTokenLibrary.CheckAbiVersion(RefTokenLibrary.AbiVersion, null));
        var e = RefTokenLibrary.CheckAbiVersion(RefTokenLibrary.AbiVersion + 1, "/x/libreftoken.so");
        Assert.NotNull(e);
        Assert.Contains("ABI version 2", e!.Message);
        Assert.Contains("ABI version 1", e.Message);
        Assert.Contains("/x/libreftoken.so", e.Message);
        Assert.Contains(RefTokenLibrary.PackageId, e.Message);
    }

    [Fact]
    public void MissingLibraryMessageNamesThePackageAndTheRuntimeFolder()
    {
        var e = RefTokenLibrary.MissingLibrary(new DllNotFoundException("nope"));
        Assert.Contains("RefToken.Interop", e.Message);
        Assert.Contains("runtimes/linux-x64/native/libreftoken.so", e.Message);
        Assert.Contains(RefTokenLibrary.LibraryPathVariable, e.Message);
        Assert.Contains("nope", e.Message);
        Assert.IsType<DllNotFoundException>(e.InnerException);
    }

    [Fact]
    public void CandidatePathsLookUnderRuntimesRidNative()
    {
        var paths = RefTokenLibrary.CandidatePaths(["/a", null, "/a", "/b"]).ToList();
        Assert.Contains(Path.Combine("/a", "runtimes", "linux-x64", "native", "libreftoken.so"), paths);
        Assert.Contains(Path.Combine("/b", "runtimes", "linux-x64", "native", "libreftoken.so"), paths);
        Assert.Equal(paths.Count, paths.Distinct().Count());
    }

    [Fact]
    public void AFreshProcessWithoutTheLibraryGetsPlatformNotSupported()
    {
        (int code, string output) = RunProbe("/nonexistent/libreftoken.so");
        Assert.Equal(3, code);
        Assert.StartsWith("System.PlatformNotSupportedException: RefToken's native library (libreftoken.so) could not be loaded", output);
        Assert.Contains("Add the NuGet package RefToken.Interop", output);
    }

    [Fact]
    public void AFreshProcessLoadsAndChecksTheLibrary()
    {
        (int code, string output) = RunProbe(null);
        Assert.Equal(0, code);
        Assert.StartsWith("loaded 1 ", output);
    }

    private static (int, string) RunProbe(string? libraryPath)
    {
        string dll = typeof(Probe).Assembly.Location;
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add("exec");
        psi.ArgumentList.Add(dll);
        psi.ArgumentList.Add("probe");
        if (libraryPath is null)
        {
            psi.Environment.Remove(RefTokenLibrary.LibraryPathVariable);
        }
        else
        {
            psi.Environment[RefTokenLibrary.LibraryPathVariable] = libraryPath;
        }

        using var p = Process.Start(psi)!;
        string output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, output.Trim());
    }
}
