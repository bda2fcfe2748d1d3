using System;

namespace RefToken;

/// <summary>
/// A libreftoken function failed. <see cref="Status"/> is the native status and
/// <see cref="NativeMessage"/> the library's detail message about the failure
/// (<c>reftoken_last_error</c> on the calling thread). A refused argument
/// (<see cref="RefTokenStatus.InvalidArgument"/>, <see cref="RefTokenStatus.NullArgument"/>) is a
/// <see cref="RefTokenArgumentException"/> instead.
/// </summary>
public sealed class RefTokenException : Exception
{
    /// <summary>Creates an exception for a native status and the library's message about it.</summary>
    /// <param name="status">The status the native function returned.</param>
    /// <param name="nativeMessage">The library's detail message (may be empty).</param>
    public RefTokenException(RefTokenStatus status, string nativeMessage)
        : base(Format(status, nativeMessage))
    {
        Status = status;
        NativeMessage = nativeMessage;
    }

    /// <summary>The status the native function returned.</summary>
    public RefTokenStatus Status { get; }

    /// <summary>The library's detail message about the failure (UTF-8 from <c>reftoken_last_error</c>; may be empty).</summary>
    public string NativeMessage { get; }

    /// <summary>The native name of <see cref="Status"/>, such as <c>REFTOKEN_MALFORMED_INPUT</c>.</summary>
    public string StatusName => RefTokenLibrary.GetStatusName(Status);

    /// <summary>The message of both exception types: the status name, then the native message.</summary>
    internal static string Format(RefTokenStatus status, string message)
    {
        string name = RefTokenLibrary.GetStatusName(status);
        return string.IsNullOrEmpty(message) ? name : name + ": " + message;
    }
}
