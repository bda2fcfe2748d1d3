using System;
using System.Runtime.InteropServices;
using System.Text;
using RefToken.Native;

namespace RefToken;

/// <summary>A <c>PersistedGrants</c> row as a <see cref="TokenValidator"/> lookup returns it.</summary>
/// <param name="Type">The <c>Type</c> column.</param>
/// <param name="Data">The <c>Data</c> column.</param>
public sealed record PersistedGrantRow(string Type, string Data);

/// <summary>
/// Validates presented handles against the caller's store, without the HTTP round trip
/// (<c>reftoken_validator</c>): the store key is computed, the row fetched through
/// <c>lookup</c>, unprotected with the key ring, and kept in a bounded cache keyed by store key.
/// One validator serves any number of threads at once.
/// </summary>
public sealed unsafe class TokenValidator : IDisposable
{
    private readonly ValidatorSafeHandle _handle;

    private TokenValidator(ValidatorSafeHandle handle) => _handle = handle;

    /// <summary>The native object; valid until this validator is disposed.</summary>
    public ValidatorSafeHandle SafeHandle => _handle;

    /// <summary>Creates a validator (<c>reftoken_validator_new</c>).</summary>
    /// <param name="lookup">
    /// Fetches the row stored under a store key, or null when there is none. Called synchronously
    /// on the validating thread, possibly from several threads at once; it must not call back into
    /// the same validator. An exception it throws is rethrown by the validating call.
    /// </param>
    /// <param name="keyRing">Unprotects protected rows; null when none is protected. The validator keeps its own reference.</param>
    /// <param name="cacheCapacity">The most tokens cached; 0 for no cache.</param>
    /// <param name="cacheTtl">The longest an entry is served (whole seconds), however long its token lives.</param>
    /// <returns>The validator; dispose it.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="lookup"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="cacheCapacity"/> is negative.</exception>
    /// <exception cref="RefTokenArgumentException"><see cref="RefTokenStatus.InvalidArgument"/>: a negative TTL.</exception>
    public static TokenValidator Create(Func<string, PersistedGrantRow?> lookup, KeyRing? keyRing, int cacheCapacity, TimeSpan cacheTtl)
    {
        ArgumentNullException.ThrowIfNull(lookup);
        ArgumentOutOfRangeException.ThrowIfNegative(cacheCapacity);
        RefTokenLibrary.EnsureLoaded();
        GCHandle context = GCHandle.Alloc(lookup);
        RefTokenStatus status;
        ValidatorSafeHandle handle;
        using (var ring = new OptionalHandle(keyRing?.SafeHandle))
        {
            status = NativeMethods.reftoken_validator_new(&Lookup, (void*)GCHandle.ToIntPtr(context), ring.Pointer, (nuint)cacheCapacity, (long)Math.Floor(cacheTtl.TotalSeconds), out handle);
        }

        if (status != RefTokenStatus.Ok)
        {
            handle.Dispose();
            context.Free();
            // The TTL is the only argument the library can refuse here.
            RefTokenLibrary.Throw(status, status == RefTokenStatus.InvalidArgument ? nameof(cacheTtl) : null);
        }

        handle.Lookup = context;
        return new TokenValidator(handle);
    }

    /// <summary>
    /// The response IdentityServer's introspection endpoint would return to <paramref name="caller"/> for
    /// the presented <paramref name="handle"/> (<c>reftoken_validator_introspect</c>): <c>{"active":false}</c>
    /// for malformed or unknown handles, unreadable rows and tokens inactive for the caller.
    /// </summary>
    /// <param name="handle">The presented handle.</param>
    /// <param name="caller">Who asks.</param>
    /// <param name="now">The time to judge expiry at.</param>
    /// <param name="options">Null for <see cref="IntrospectionOptions.Default"/>.</param>
    /// <returns>The response JSON.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="handle"/> or <paramref name="caller"/> is null.</exception>
    /// <exception cref="RefTokenException"><see cref="RefTokenStatus.MalformedInput"/> (a token IdentityServer cannot answer for either).</exception>
    /// <exception cref="RefTokenArgumentException"><see cref="RefTokenStatus.InvalidArgument"/> (caller kind or version).</exception>
    public string Introspect(string handle, IntrospectionCaller caller, DateTimeOffset now, IntrospectionOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(handle);
        using var h = new Utf8Arg(handle, stackalloc byte[Utf8Arg.StackBytes]);
        return Encoding.UTF8.GetString(IntrospectUtf8(h.Span, caller, now, options));
    }

    /// <summary>As <see cref="Introspect"/>, UTF-8 in and out.</summary>
    /// <param name="utf8Handle">The presented handle, UTF-8.</param>
    /// <param name="caller">Who asks.</param>
    /// <param name="now">The time to judge expiry at.</param>
    /// <param name="options">Null for <see cref="IntrospectionOptions.Default"/>.</param>
    /// <returns>The response JSON, UTF-8.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="caller"/> is null.</exception>
    /// <exception cref="RefTokenException">As <see cref="Introspect"/>, and <see cref="RefTokenStatus.InvalidUtf8"/>.</exception>
    /// <exception cref="RefTokenArgumentException">As <see cref="Introspect"/>.</exception>
    public byte[] IntrospectUtf8(ReadOnlySpan<byte> utf8Handle, IntrospectionCaller caller, DateTimeOffset now, IntrospectionOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(caller);
        NativeCaller nativeCaller = caller.Native;
        using var scope = new OptionsScope(options);
        NativeOptions nativeOptions = scope.Native;
        OptionsScope.Reset();
        byte[] result;
        fixed (byte* hp = utf8Handle)
        {
            var writer = new IntrospectWriter(_handle, hp, (nuint)utf8Handle.Length, &nativeCaller, now.ToUnixTimeSeconds(), scope.HasOptions ? &nativeOptions : null);
            // Always rethrow: the lookup callback leaves its exception as the options' callbacks do.
            result = OptionsScope.ReadBytes(ref writer, 2048, rethrow: true);
        }

        GC.KeepAlive(caller);
        return result;
    }

    /// <summary>As <see cref="Introspect"/>, into the caller's buffer.</summary>
    /// <param name="utf8Handle">The presented handle, UTF-8.</param>
    /// <param name="caller">Who asks.</param>
    /// <param name="now">The time to judge expiry at.</param>
    /// <param name="options">Null for <see cref="IntrospectionOptions.Default"/>.</param>
    /// <param name="destination">Where the response JSON goes.</param>
    /// <param name="bytesWritten">Bytes written, or the size needed when <paramref name="destination"/> is too small.</param>
    /// <returns>False when <paramref name="destination"/> is too small.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="caller"/> is null.</exception>
    /// <exception cref="RefTokenException">As <see cref="IntrospectUtf8"/>.</exception>
    /// <exception cref="RefTokenArgumentException">As <see cref="IntrospectUtf8"/>.</exception>
    public bool TryIntrospect(ReadOnlySpan<byte> utf8Handle, IntrospectionCaller caller, DateTimeOffset now, IntrospectionOptions? options, Span<byte> destination, out int bytesWritten)
    {
        ArgumentNullException.ThrowIfNull(caller);
        NativeCaller nativeCaller = caller.Native;
        using var scope = new OptionsScope(options);
        NativeOptions nativeOptions = scope.Native;
        OptionsScope.Reset();
        bool done;
        fixed (byte* hp = utf8Handle)
        {
            var writer = new IntrospectWriter(_handle, hp, (nuint)utf8Handle.Length, &nativeCaller, now.ToUnixTimeSeconds(), scope.HasOptions ? &nativeOptions : null);
            done = OptionsScope.TryWrite(ref writer, destination, out bytesWritten, rethrow: true);
        }

        GC.KeepAlive(caller);
        return done;
    }

    /// <summary>
    /// Whether the presented handle is active for <paramref name="caller"/>, without JSON
    /// (<c>reftoken_validator_validate</c>); <see cref="InactiveReason.UnknownHandle"/> when it led to no readable token.
    /// </summary>
    /// <param name="handle">The presented handle.</param>
    /// <param name="caller">Who asks.</param>
    /// <param name="now">The time to judge expiry at.</param>
    /// <param name="options">Null for <see cref="IntrospectionOptions.Default"/>.</param>
    /// <param name="grant">The token when one was found (dispose it), else null.</param>
    /// <returns>The verdict.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="handle"/> or <paramref name="caller"/> is null.</exception>
    /// <exception cref="RefTokenException"><see cref="RefTokenStatus.MalformedInput"/> (a token IdentityServer's validator fails on, as for <see cref="Grant.Evaluate"/>).</exception>
    /// <exception cref="RefTokenArgumentException"><see cref="RefTokenStatus.InvalidArgument"/> (caller kind or version).</exception>
    public IntrospectionVerdict Validate(string handle, IntrospectionCaller caller, DateTimeOffset now, IntrospectionOptions? options, out Grant? grant)
    {
        NativeVerdict verdict;
        nint raw = 0;
        RefTokenStatus status = ValidateNative(handle, caller, now, options, &raw, &verdict);
        grant = raw == 0 ? null : Grant.Own(raw);
        try
        {
            OptionsScope.RethrowPending();
            RefTokenLibrary.Check(status);
            return new IntrospectionVerdict(
                verdict.Active != 0,
                (InactiveReason)verdict.Reason,
                verdict.Expiration,
                verdict.Subject.Ptr is null ? null : Encoding.UTF8.GetString(verdict.Subject.Ptr, checked((int)verdict.Subject.Len)),
                verdict.ClientId.Ptr is null ? null : Encoding.UTF8.GetString(verdict.ClientId.Ptr, checked((int)verdict.ClientId.Len)));
        }
        catch
        {
            grant?.Dispose();
            grant = null;
            throw;
        }
    }

    /// <summary>As <see cref="Validate(string, IntrospectionCaller, DateTimeOffset, IntrospectionOptions?, out Grant?)"/>, without the token (the verdict's subject and client are null).</summary>
    /// <param name="handle">The presented handle.</param>
    /// <param name="caller">Who asks.</param>
    /// <param name="now">The time to judge expiry at.</param>
    /// <param name="options">Null for <see cref="IntrospectionOptions.Default"/>.</param>
    /// <returns>The verdict.</returns>
    public IntrospectionVerdict Validate(string handle, IntrospectionCaller caller, DateTimeOffset now, IntrospectionOptions? options = null)
    {
        NativeVerdict verdict;
        RefTokenStatus status = ValidateNative(handle, caller, now, options, null, &verdict);
        OptionsScope.RethrowPending();
        RefTokenLibrary.Check(status);
        return new IntrospectionVerdict(verdict.Active != 0, (InactiveReason)verdict.Reason, verdict.Expiration, null, null);
    }

    /// <summary>
    /// The native call of both <c>Validate</c> overloads (<paramref name="grant"/> null when the token
    /// is not wanted); a callback's exception is left for the caller to rethrow.
    /// </summary>
    private RefTokenStatus ValidateNative(string handle, IntrospectionCaller caller, DateTimeOffset now, IntrospectionOptions? options, nint* grant, NativeVerdict* verdict)
    {
        ArgumentNullException.ThrowIfNull(handle);
        ArgumentNullException.ThrowIfNull(caller);
        using var h = new Utf8Arg(handle, stackalloc byte[Utf8Arg.StackBytes]);
        NativeCaller nativeCaller = caller.Native;
        using var scope = new OptionsScope(options);
        NativeOptions nativeOptions = scope.Native;
        OptionsScope.Reset();
        RefTokenStatus status;
        fixed (byte* hp = h.Span)
        {
            status = NativeMethods.reftoken_validator_validate(_handle, hp, (nuint)h.Length, &nativeCaller, now.ToUnixTimeSeconds(), scope.HasOptions ? &nativeOptions : null, grant, verdict);
        }

        GC.KeepAlive(caller);
        return status;
    }

    /// <summary>Forgets the cached token stored under <paramref name="storeKey"/> (<c>reftoken_validator_evict</c>).</summary>
    /// <param name="storeKey">The token's store key (see <see cref="StoreKeys"/>).</param>
    /// <exception cref="ArgumentNullException"><paramref name="storeKey"/> is null.</exception>
    public void Evict(string storeKey)
    {
        ArgumentNullException.ThrowIfNull(storeKey);
        using var k = new Utf8Arg(storeKey, stackalloc byte[Utf8Arg.StackBytes]);
        fixed (byte* kp = k.Span)
        {
            RefTokenLibrary.Check(NativeMethods.reftoken_validator_evict(_handle, kp, (nuint)k.Length));
        }
    }

    /// <summary>Forgets every cached token (<c>reftoken_validator_clear</c>).</summary>
    public void Clear() => RefTokenLibrary.Check(NativeMethods.reftoken_validator_clear(_handle));

    /// <summary>How many tokens the cache holds (<c>reftoken_validator_cached</c>).</summary>
    public int CachedCount => checked((int)NativeMethods.reftoken_validator_cached(_handle));

    /// <summary>Frees the validator and its cache.</summary>
    public void Dispose() => _handle.Dispose();

    [UnmanagedCallersOnly(CallConvs = [typeof(System.Runtime.CompilerServices.CallConvCdecl)])]
    private static uint Lookup(void* context, byte* key, nuint keyLength, nint row)
    {
        try
        {
            var lookup = (Func<string, PersistedGrantRow?>)GCHandle.FromIntPtr((nint)context).Target!;
            PersistedGrantRow? found = lookup(Encoding.UTF8.GetString(key, checked((int)keyLength)));
            if (found is null)
            {
                return (uint)RefTokenStatus.NotFound;
            }

            using var type = new Utf8Arg(found.Type, stackalloc byte[64]);
            using var data = new Utf8Arg(found.Data, stackalloc byte[Utf8Arg.StackBytes]);
            fixed (byte* tp = type.Span)
            fixed (byte* dp = data.Span)
            {
                return (uint)NativeMethods.reftoken_row_set(row, tp, (nuint)type.Length, dp, (nuint)data.Length);
            }
        }
        catch (Exception e)
        {
            OptionsScope.Capture(e);
            return (uint)RefTokenStatus.IoError;
        }
    }

    private readonly struct IntrospectWriter(ValidatorSafeHandle validator, byte* handle, nuint handleLength, NativeCaller* caller, long now, NativeOptions* options) : INativeWriter
    {
        public RefTokenStatus Write(byte* output, nuint capacity, nuint* length) =>
            NativeMethods.reftoken_validator_introspect(validator, handle, handleLength, caller, now, options, output, capacity, length);
    }
}
