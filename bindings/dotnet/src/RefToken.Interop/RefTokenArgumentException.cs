using System;

namespace RefToken;

/// <summary>
/// A libreftoken function refused an argument the caller passed: <see cref="Status"/> is
/// <see cref="RefTokenStatus.InvalidArgument"/> or <see cref="RefTokenStatus.NullArgument"/>.
/// An <see cref="ArgumentException"/>, as .NET callers expect for a bad argument, with the same
/// members as <see cref="RefTokenException"/> (which the library throws for every other failure).
/// </summary>
public sealed class RefTokenArgumentException : ArgumentException
{
    /// <summary>Creates an exception for a native status and the library's message about it.</summary>
    /// <param name="status">The status the native function returned.</param>
    /// <param name="nativeMessage">The library's detail message (may be empty).</param>
    /// <param name="paramName">The parameter that was refused, when known.</param>
    public RefTokenArgumentException(RefTokenStatus status, string nativeMessage, string? paramName = null)
        : base(RefTokenException.Format(status, nativeMessage), paramName)
    {
        Status = status;
        NativeMessage = nativeMessage;
    }

    /// <summary>The status the native function returned.</summary>
    public RefTokenStatus Status { get; }

    /// <summary>The library's detail message about the failure (UTF-8 from <c>reftoken_last_error</c>; may be empty).</summary>
    public string NativeMessage { get; }

    /// <summary>The native name of <see cref="Status"/>, such as <c>REFTOKEN_INVALID_ARGUMENT</c>.</summary>
    public string StatusName => RefTokenLibrary.GetStatusName(Status);
}
