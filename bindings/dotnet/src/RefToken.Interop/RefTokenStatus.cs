namespace RefToken;

/// <summary>
/// The status codes libreftoken's functions return (<c>reftoken_status</c>). The numbers are the
/// native ones and never change.
/// </summary>
public enum RefTokenStatus : uint
{
    /// <summary>Success (<c>REFTOKEN_OK</c>).</summary>
    Ok = 0,

    /// <summary>A required pointer argument was NULL (<c>REFTOKEN_NULL_ARGUMENT</c>).</summary>
    NullArgument = 1,

    /// <summary>A text argument was not valid UTF-8 (<c>REFTOKEN_INVALID_UTF8</c>).</summary>
    InvalidUtf8 = 2,

    /// <summary>The output buffer is too small (<c>REFTOKEN_BUFFER_TOO_SMALL</c>).</summary>
    BufferTooSmall = 3,

    /// <summary>An argument is outside the accepted range (<c>REFTOKEN_INVALID_ARGUMENT</c>).</summary>
    InvalidArgument = 4,

    /// <summary>An input is larger than the documented limit (<c>REFTOKEN_INPUT_TOO_LARGE</c>).</summary>
    InputTooLarge = 5,

    /// <summary>Input is not well-formed: JSON, base64, XML, date (<c>REFTOKEN_MALFORMED_INPUT</c>).</summary>
    MalformedInput = 10,

    /// <summary>
    /// The grant's <c>Data</c> is protected with ASP.NET Core Data Protection and no key ring was
    /// supplied to read it (<c>REFTOKEN_DATA_PROTECTED</c>).
    /// </summary>
    DataProtected = 11,

    /// <summary>The persisted-grant container has an unknown version (<c>REFTOKEN_UNSUPPORTED_VERSION</c>).</summary>
    UnsupportedVersion = 12,

    /// <summary>The requested value is absent (<c>REFTOKEN_NOT_FOUND</c>).</summary>
    NotFound = 13,

    /// <summary>
    /// Decryption or authentication failed: tampered, truncated or foreign payload, wrong purpose
    /// (<c>REFTOKEN_CRYPTO_FAILURE</c>).
    /// </summary>
    CryptoFailure = 20,

    /// <summary>The payload names a key that is not in the key ring, or no key is usable (<c>REFTOKEN_UNKNOWN_KEY</c>).</summary>
    UnknownKey = 21,

    /// <summary>The payload's key has been revoked (<c>REFTOKEN_KEY_REVOKED</c>).</summary>
    KeyRevoked = 22,

    /// <summary>
    /// A key's master key is encrypted at rest with a protector the library cannot use
    /// (<c>REFTOKEN_UNSUPPORTED_PROTECTOR</c>).
    /// </summary>
    UnsupportedProtector = 23,

    /// <summary>The operating system's random number generator failed (<c>REFTOKEN_RNG_FAILURE</c>).</summary>
    RngFailure = 30,

    /// <summary>
    /// Reading a file or directory failed, or a server (PostgreSQL, Redis) could not be reached
    /// (<c>REFTOKEN_IO_ERROR</c>).
    /// </summary>
    IoError = 31,

    /// <summary>The library panicked: a bug in libreftoken (<c>REFTOKEN_INTERNAL_PANIC</c>).</summary>
    InternalPanic = 100,
}
