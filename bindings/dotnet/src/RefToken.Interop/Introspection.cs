using System;
using System.Collections.Generic;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using System.Text;
using RefToken.Native;

namespace RefToken;

/// <summary>Which IdentityServer's introspection behaviour to reproduce (<c>reftoken_options.identityserver_version</c>).</summary>
public enum IdentityServerVersion : uint
{
    /// <summary>The newest supported: Duende 7.3 and later, 7.4.x (<c>REFTOKEN_IDENTITYSERVER_LATEST</c>).</summary>
    Latest = 0,

    /// <summary>IdentityServer4 4.x: no <c>iat</c>, no <c>cnf</c>, no typed doubles; stored <c>iss</c>/<c>nbf</c>/<c>iat</c>/<c>exp</c> merged (<c>REFTOKEN_IDENTITYSERVER_4</c>).</summary>
    IdentityServer4 = 40000,

    /// <summary>Duende 5.0 to 6.1.0: adds <c>iat</c> (<c>REFTOKEN_DUENDE_5_0</c>).</summary>
    Duende5_0 = 50000,

    /// <summary>Duende 6.1.1 to 6.2: <c>double</c> claims are numbers (<c>REFTOKEN_DUENDE_6_1</c>).</summary>
    Duende6_1 = 60100,

    /// <summary>Duende 6.3 to 7.0: adds <c>cnf</c> (<c>REFTOKEN_DUENDE_6_3</c>).</summary>
    Duende6_3 = 60300,

    /// <summary>Duende 7.1 and 7.2: stored claims named <c>iss</c>, <c>nbf</c>, <c>iat</c>, <c>exp</c> are dropped (<c>REFTOKEN_DUENDE_7_1</c>).</summary>
    Duende7_1 = 70100,

    /// <summary>Duende 7.3 and later: the <c>json</c> value type matches case-insensitively (<c>REFTOKEN_DUENDE_7_3</c>).</summary>
    Duende7_3 = 70300,
}

/// <summary>Who asks for introspection (<c>reftoken_caller.kind</c>).</summary>
public enum IntrospectionCallerKind : uint
{
    /// <summary>An API resource authenticated with its secret (<c>REFTOKEN_CALLER_API</c>).</summary>
    Api = 1,

    /// <summary>A client authenticated with its secret (<c>REFTOKEN_CALLER_CLIENT</c>).</summary>
    Client = 2,
}

/// <summary>Why a token is inactive (<c>reftoken_verdict.reason</c>).</summary>
public enum InactiveReason : uint
{
    /// <summary>The token is active (<c>REFTOKEN_ACTIVE</c>).</summary>
    None = 0,

    /// <summary><c>now &gt; CreationTime + Lifetime</c> (<c>REFTOKEN_INACTIVE_EXPIRED</c>).</summary>
    Expired = 1,

    /// <summary>The token's client is unknown or disabled (<c>REFTOKEN_INACTIVE_CLIENT_DISABLED</c>).</summary>
    ClientDisabled = 2,

    /// <summary>An API caller, and none of the token's scopes is the API's (<c>REFTOKEN_INACTIVE_NO_MATCHING_SCOPE</c>).</summary>
    NoMatchingScope = 3,

    /// <summary>A client caller, and the token belongs to another client (<c>REFTOKEN_INACTIVE_OTHER_CLIENT</c>).</summary>
    OtherClient = 4,

    /// <summary>The presented handle led to no readable token (<c>REFTOKEN_INACTIVE_UNKNOWN_HANDLE</c>; <see cref="TokenValidator"/> only).</summary>
    UnknownHandle = 5,
}

/// <summary>
/// The caller of introspection: an API resource with its scopes, or a client. Its UTF-8 form is
/// made once, so one instance can be reused for any number of calls from any thread.
/// </summary>
public sealed unsafe class IntrospectionCaller
{
    // Pinned (on the pinned object heap) so that the native struct can point into it for the
    // life of this object without per-call pinning.
    private readonly byte[] _utf8;
    private readonly NativeCaller _native;

    private IntrospectionCaller(IntrospectionCallerKind kind, string name, string scopes)
    {
        Kind = kind;
        Name = name;
        Scopes = scopes;
        int nameBytes = Encoding.UTF8.GetByteCount(name);
        int scopeBytes = Encoding.UTF8.GetByteCount(scopes);
        _utf8 = GC.AllocateUninitializedArray<byte>(nameBytes + scopeBytes + 1, pinned: true);
        Encoding.UTF8.GetBytes(name, _utf8);
        Encoding.UTF8.GetBytes(scopes, _utf8.AsSpan(nameBytes));
        byte* p = (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_utf8));
        _native = new NativeCaller
        {
            Kind = (uint)kind,
            Name = new NativeStr(p, nameBytes),
            Scopes = new NativeStr(p + nameBytes, scopeBytes),
        };
    }

    /// <summary>API resource or client.</summary>
    public IntrospectionCallerKind Kind { get; }

    /// <summary>The API resource's name, or the client id.</summary>
    public string Name { get; }

    /// <summary>For an API: its scopes, separated by spaces; empty for a client.</summary>
    public string Scopes { get; }

    /// <summary>An API resource caller with its scopes.</summary>
    /// <param name="name">The API resource's name.</param>
    /// <param name="scopes">The API resource's scopes.</param>
    /// <returns>The caller.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    public static IntrospectionCaller Api(string name, IEnumerable<string> scopes)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(scopes);
        return new IntrospectionCaller(IntrospectionCallerKind.Api, name, string.Join(' ', scopes));
    }

    /// <summary>An API resource caller with its scopes as one space-separated string.</summary>
    /// <param name="name">The API resource's name.</param>
    /// <param name="spaceSeparatedScopes">The API resource's scopes, separated by spaces.</param>
    /// <returns>The caller.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    public static IntrospectionCaller Api(string name, string spaceSeparatedScopes)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(spaceSeparatedScopes);
        return new IntrospectionCaller(IntrospectionCallerKind.Api, name, spaceSeparatedScopes);
    }

    /// <summary>A client caller.</summary>
    /// <param name="clientId">The client id.</param>
    /// <returns>The caller.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="clientId"/> is null.</exception>
    public static IntrospectionCaller Client(string clientId)
    {
        ArgumentNullException.ThrowIfNull(clientId);
        return new IntrospectionCaller(IntrospectionCallerKind.Client, clientId, string.Empty);
    }

    /// <summary>A caller with any kind value, to reach the library's own argument checks (tests).</summary>
    internal static IntrospectionCaller Raw(uint kind, string name, string scopes) =>
        new((IntrospectionCallerKind)kind, name, scopes);

    /// <summary>The native struct; valid while this object is alive (call <see cref="GC.KeepAlive"/> after use).</summary>
    internal NativeCaller Native => _native;

    /// <inheritdoc/>
    public override string ToString() => Kind == IntrospectionCallerKind.Api ? $"api {Name} ({Scopes})" : $"client {Name}";
}

/// <summary>How to introspect (<c>reftoken_options</c>). Immutable once built; may be shared across threads.</summary>
public sealed class IntrospectionOptions
{
    /// <summary>The defaults: the newest IdentityServer, every client counts as enabled.</summary>
    public static IntrospectionOptions Default { get; } = new();

    /// <summary>Which IdentityServer's behaviour to reproduce.</summary>
    public IdentityServerVersion IdentityServerVersion { get; init; } = IdentityServerVersion.Latest;

    /// <summary>
    /// Asked with a token's client id: whether that client exists and is enabled (IdentityServer
    /// requires it). Null: every client counts as enabled. Called on the calling thread, possibly
    /// more than once per call; an exception it throws is rethrown after the native call returns.
    /// </summary>
    public Func<string, bool>? IsClientEnabled { get; init; }

    /// <summary>
    /// Asked with a client id when a client introspects one of its refresh tokens: whether that
    /// client may still use refresh tokens (<c>Client.AllowOfflineAccess</c>). Null: every client
    /// may. Called like <see cref="IsClientEnabled"/>.
    /// </summary>
    public Func<string, bool>? IsOfflineAccessAllowed { get; init; }
}

/// <summary>The outcome of introspection without the JSON (<c>reftoken_verdict</c>).</summary>
public readonly struct IntrospectionVerdict
{
    internal IntrospectionVerdict(bool isActive, InactiveReason reason, long expiration, string? subjectId, string? clientId)
    {
        IsActive = isActive;
        Reason = reason;
        ExpirationUnixSeconds = expiration;
        SubjectId = subjectId;
        ClientId = clientId;
    }

    /// <summary>Whether the token is active for the caller.</summary>
    public bool IsActive { get; }

    /// <summary><see cref="InactiveReason.None"/> when active, else why not.</summary>
    public InactiveReason Reason { get; }

    /// <summary>The <c>exp</c> value: Unix seconds of <c>CreationTime + Lifetime</c>, rounded down.</summary>
    public long ExpirationUnixSeconds { get; }

    /// <summary><see cref="ExpirationUnixSeconds"/> as a time.</summary>
    public DateTimeOffset Expiration => DateTimeOffset.FromUnixTimeSeconds(ExpirationUnixSeconds);

    /// <summary>The <c>sub</c> claim, or null.</summary>
    public string? SubjectId { get; }

    /// <summary>The token's client id, or null.</summary>
    public string? ClientId { get; }
}

/// <summary>The RFC 7662 response IdentityServer's introspection endpoint returns, straight from a <c>Data</c> column.</summary>
public static class Introspection
{
    /// <summary>
    /// Parses a <c>Data</c> column and builds the introspection response in one call
    /// (<c>reftoken_introspect_data</c>): <c>{"active":false}</c> when inactive, else the claims,
    /// <c>"active":true</c> and <c>scope</c>, byte for byte as IdentityServer writes them.
    /// </summary>
    /// <param name="data">The <c>PersistedGrants.Data</c> value.</param>
    /// <param name="keyRing">Unprotects a <c>"DataProtected":true</c> payload; null for unprotected rows.</param>
    /// <param name="caller">Who asks.</param>
    /// <param name="now">The time to judge expiry at.</param>
    /// <param name="options">Null for <see cref="IntrospectionOptions.Default"/>.</param>
    /// <returns>The response JSON.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="data"/> or <paramref name="caller"/> is null.</exception>
    /// <exception cref="RefTokenException">As <see cref="Grant.ParseProtected(string, KeyRing?)"/> and <see cref="Grant.Introspect(IntrospectionCaller, DateTimeOffset, IntrospectionOptions?)"/>.</exception>
    /// <exception cref="RefTokenArgumentException">As <see cref="Grant.Introspect(IntrospectionCaller, DateTimeOffset, IntrospectionOptions?)"/>.</exception>
    public static string IntrospectData(string data, KeyRing? keyRing, IntrospectionCaller caller, DateTimeOffset now, IntrospectionOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(data);
        using var d = new Utf8Arg(data, stackalloc byte[Utf8Arg.StackBytes]);
        return Encoding.UTF8.GetString(IntrospectDataUtf8(d.Span, keyRing, caller, now, options));
    }

    /// <summary>As <see cref="IntrospectData(string, KeyRing?, IntrospectionCaller, DateTimeOffset, IntrospectionOptions?)"/> for an unprotected <c>Data</c> value.</summary>
    /// <param name="data">The <c>PersistedGrants.Data</c> value (a protected payload gives <see cref="RefTokenStatus.DataProtected"/>).</param>
    /// <param name="caller">Who asks.</param>
    /// <param name="now">The time to judge expiry at.</param>
    /// <param name="options">Null for <see cref="IntrospectionOptions.Default"/>.</param>
    /// <returns>The response JSON.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="data"/> or <paramref name="caller"/> is null.</exception>
    /// <exception cref="RefTokenException">As <see cref="Grant.Parse(string)"/> and <see cref="Grant.Introspect(IntrospectionCaller, DateTimeOffset, IntrospectionOptions?)"/>.</exception>
    /// <exception cref="RefTokenArgumentException">As <see cref="Grant.Introspect(IntrospectionCaller, DateTimeOffset, IntrospectionOptions?)"/>.</exception>
    public static string IntrospectData(string data, IntrospectionCaller caller, DateTimeOffset now, IntrospectionOptions? options = null) =>
        IntrospectData(data, null, caller, now, options);

    /// <summary>As <see cref="IntrospectData(string, KeyRing?, IntrospectionCaller, DateTimeOffset, IntrospectionOptions?)"/>, UTF-8 in and out.</summary>
    /// <param name="utf8Data">The <c>Data</c> value, UTF-8.</param>
    /// <param name="keyRing">Unprotects a protected payload; null for unprotected rows.</param>
    /// <param name="caller">Who asks.</param>
    /// <param name="now">The time to judge expiry at.</param>
    /// <param name="options">Null for <see cref="IntrospectionOptions.Default"/>.</param>
    /// <returns>The response JSON, UTF-8.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="caller"/> is null.</exception>
    /// <exception cref="RefTokenException">As <see cref="IntrospectData(string, KeyRing?, IntrospectionCaller, DateTimeOffset, IntrospectionOptions?)"/>, and <see cref="RefTokenStatus.InvalidUtf8"/>.</exception>
    /// <exception cref="RefTokenArgumentException">As <see cref="IntrospectData(string, KeyRing?, IntrospectionCaller, DateTimeOffset, IntrospectionOptions?)"/>.</exception>
    public static unsafe byte[] IntrospectDataUtf8(ReadOnlySpan<byte> utf8Data, KeyRing? keyRing, IntrospectionCaller caller, DateTimeOffset now, IntrospectionOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(caller);
        RefTokenLibrary.EnsureLoaded();
        NativeCaller nativeCaller = caller.Native;
        using var ring = new OptionalHandle(keyRing?.SafeHandle);
        using var scope = new OptionsScope(options);
        NativeOptions nativeOptions = scope.Native;
        byte[] result;
        fixed (byte* dp = utf8Data)
        {
            var writer = new DataWriter(dp, (nuint)utf8Data.Length, ring.Pointer, &nativeCaller, now.ToUnixTimeSeconds(), scope.HasOptions ? &nativeOptions : null);
            result = scope.ReadBytes(ref writer);
        }

        GC.KeepAlive(caller);
        return result;
    }

    /// <summary>As <see cref="IntrospectDataUtf8"/>, into the caller's buffer.</summary>
    /// <param name="utf8Data">The <c>Data</c> value, UTF-8.</param>
    /// <param name="keyRing">Unprotects a protected payload; null for unprotected rows.</param>
    /// <param name="caller">Who asks.</param>
    /// <param name="now">The time to judge expiry at.</param>
    /// <param name="options">Null for <see cref="IntrospectionOptions.Default"/>.</param>
    /// <param name="destination">Where the response JSON goes.</param>
    /// <param name="bytesWritten">The bytes written, or the size needed when <paramref name="destination"/> is too small.</param>
    /// <returns>False when <paramref name="destination"/> is too small (nothing written).</returns>
    /// <exception cref="ArgumentNullException"><paramref name="caller"/> is null.</exception>
    /// <exception cref="RefTokenException">As <see cref="IntrospectDataUtf8"/>.</exception>
    /// <exception cref="RefTokenArgumentException">As <see cref="IntrospectDataUtf8"/>.</exception>
    public static unsafe bool TryIntrospectData(ReadOnlySpan<byte> utf8Data, KeyRing? keyRing, IntrospectionCaller caller, DateTimeOffset now, IntrospectionOptions? options, Span<byte> destination, out int bytesWritten)
    {
        ArgumentNullException.ThrowIfNull(caller);
        RefTokenLibrary.EnsureLoaded();
        NativeCaller nativeCaller = caller.Native;
        using var ring = new OptionalHandle(keyRing?.SafeHandle);
        using var scope = new OptionsScope(options);
        NativeOptions nativeOptions = scope.Native;
        bool done;
        fixed (byte* dp = utf8Data)
        {
            var writer = new DataWriter(dp, (nuint)utf8Data.Length, ring.Pointer, &nativeCaller, now.ToUnixTimeSeconds(), scope.HasOptions ? &nativeOptions : null);
            done = scope.TryWrite(ref writer, destination, out bytesWritten);
        }

        GC.KeepAlive(caller);
        return done;
    }

    private readonly unsafe struct DataWriter(byte* data, nuint dataLength, nint keyRing, NativeCaller* caller, long now, NativeOptions* options) : INativeWriter
    {
        public RefTokenStatus Write(byte* output, nuint capacity, nuint* length) =>
            NativeMethods.reftoken_introspect_data(data, dataLength, keyRing, caller, now, options, output, capacity, length);
    }
}

/// <summary>
/// The native options for one call: the version, and the client callbacks through a GCHandle to
/// the options, whose exception (if a callback throws) is kept for the calling thread and
/// rethrown after the native call.
/// </summary>
internal unsafe ref struct OptionsScope
{
    [ThreadStatic]
    private static ExceptionDispatchInfo? t_callbackException;

    private GCHandle _handle;

    public NativeOptions Native;

    public readonly bool HasOptions;

    public OptionsScope(IntrospectionOptions? options)
    {
        _handle = default;
        Native = default;
        HasOptions = options is not null
            && (options.IdentityServerVersion != IdentityServerVersion.Latest || options.IsClientEnabled is not null || options.IsOfflineAccessAllowed is not null);
        if (!HasOptions)
        {
            return;
        }

        Native.IdentityServerVersion = (uint)options!.IdentityServerVersion;
        if (options.IsClientEnabled is not null || options.IsOfflineAccessAllowed is not null)
        {
            t_callbackException = null;
            _handle = GCHandle.Alloc(options);
            void* context = (void*)GCHandle.ToIntPtr(_handle);
            if (options.IsClientEnabled is not null)
            {
                Native.ClientEnabled = &ClientEnabled;
                Native.ClientEnabledContext = context;
            }

            if (options.IsOfflineAccessAllowed is not null)
            {
                Native.ClientOfflineAccess = &OfflineAccess;
                Native.ClientOfflineAccessContext = context;
            }
        }
    }

    public readonly void RethrowCallbackException()
    {
        if (_handle.IsAllocated)
        {
            RethrowPending();
        }
    }

    /// <summary>
    /// <see cref="NativeOutput.ReadBytes"/> for a call made with these options: a callback's
    /// exception is rethrown in place of the status it led to, or of the output.
    /// </summary>
    public readonly byte[] ReadBytes<TWriter>(ref TWriter writer)
        where TWriter : struct, INativeWriter =>
        ReadBytes(ref writer, 2048, rethrow: _handle.IsAllocated);

    /// <summary>As <see cref="ReadBytes{TWriter}(ref TWriter)"/>, with <see cref="NativeOutput.TryWrite"/>.</summary>
    public readonly bool TryWrite<TWriter>(ref TWriter writer, Span<byte> destination, out int bytesWritten)
        where TWriter : struct, INativeWriter =>
        TryWrite(ref writer, destination, out bytesWritten, rethrow: _handle.IsAllocated);

    /// <summary>
    /// <see cref="NativeOutput.ReadBytes"/>, then, when <paramref name="rethrow"/>, the exception a
    /// callback on this thread left behind (also when the call failed: it is the cause).
    /// </summary>
    internal static byte[] ReadBytes<TWriter>(ref TWriter writer, int firstSize, bool rethrow)
        where TWriter : struct, INativeWriter
    {
        byte[] result;
        try
        {
            result = NativeOutput.ReadBytes(ref writer, firstSize);
        }
        catch (Exception e) when (rethrow && (e is RefTokenException or RefTokenArgumentException))
        {
            RethrowPending();
            throw;
        }

        if (rethrow)
        {
            RethrowPending();
        }

        return result;
    }

    /// <summary>As <see cref="ReadBytes{TWriter}(ref TWriter, int, bool)"/>, with <see cref="NativeOutput.TryWrite"/>.</summary>
    internal static bool TryWrite<TWriter>(ref TWriter writer, Span<byte> destination, out int bytesWritten, bool rethrow)
        where TWriter : struct, INativeWriter
    {
        bool done;
        try
        {
            done = NativeOutput.TryWrite(ref writer, destination, out bytesWritten);
        }
        catch (Exception e) when (rethrow && (e is RefTokenException or RefTokenArgumentException))
        {
            RethrowPending();
            throw;
        }

        if (rethrow)
        {
            RethrowPending();
        }

        return done;
    }

    /// <summary>Rethrows (and clears) an exception a callback on this thread left behind.</summary>
    internal static void RethrowPending()
    {
        if (t_callbackException is { } e)
        {
            t_callbackException = null;
            e.Throw();
        }
    }

    /// <summary>Keeps the first exception a callback throws on this thread.</summary>
    internal static void Capture(Exception e) => t_callbackException ??= ExceptionDispatchInfo.Capture(e);

    /// <summary>Forgets an exception left by an earlier call on this thread.</summary>
    internal static void Reset() => t_callbackException = null;

    public void Dispose()
    {
        if (_handle.IsAllocated)
        {
            _handle.Free();
        }
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static byte ClientEnabled(void* context, byte* clientId, nuint clientIdLength) =>
        Ask(context, clientId, clientIdLength, offlineAccess: false);

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static byte OfflineAccess(void* context, byte* clientId, nuint clientIdLength) =>
        Ask(context, clientId, clientIdLength, offlineAccess: true);

    private static byte Ask(void* context, byte* clientId, nuint clientIdLength, bool offlineAccess)
    {
        try
        {
            var options = (IntrospectionOptions)GCHandle.FromIntPtr((nint)context).Target!;
            Func<string, bool> callback = (offlineAccess ? options.IsOfflineAccessAllowed : options.IsClientEnabled)!;
            return callback(Encoding.UTF8.GetString(clientId, checked((int)clientIdLength))) ? (byte)1 : (byte)0;
        }
        catch (Exception e)
        {
            Capture(e);
            return 0;
        }
    }
}
