using System;
using System.Runtime.InteropServices;
using System.Threading;
using RefToken.Native;

namespace RefToken;

/// <summary>
/// A background thread that keeps one connection to PostgreSQL (<c>LISTEN</c>) or Redis
/// (<c>SUBSCRIBE</c>), listens on a channel, and evicts every store key published there from one
/// <see cref="TokenValidator"/>'s cache (<c>reftoken_revocation_listener</c>): a token revoked on
/// any node stops validating on every node the moment its row goes.
/// </summary>
/// <remarks>
/// The connection is made, and remade after failures with exponential backoff, on the listener's
/// own thread; each time it listens again the validator's cache is cleared (what was published
/// while disconnected is unknown). While the connection is down or unconfirmed, cached entries
/// older than the staleness bound are looked up again instead of served. The listener keeps its
/// validator's native object alive: disposing the <see cref="TokenValidator"/> first is safe, the
/// native validator is freed once the listener is too. Every member may be called from any
/// thread.
/// </remarks>
public sealed unsafe class RevocationListener : IDisposable
{
    /// <summary>The channel used when none is given: <c>reftoken_revocations</c>, the channel of the PostgreSQL migration's triggers.</summary>
    public const string DefaultChannel = "reftoken_revocations";

    /// <summary>The staleness bound used when none is given (10 seconds).</summary>
    public static readonly TimeSpan DefaultStaleBound = TimeSpan.FromSeconds(10);

    /// <summary>The smallest staleness bound the library accepts (50 milliseconds).</summary>
    public static readonly TimeSpan MinStaleBound = TimeSpan.FromMilliseconds(50);

    private readonly RevocationListenerSafeHandle _handle;

    private RevocationListener(RevocationListenerSafeHandle handle, TokenValidator validator)
    {
        _handle = handle;
        Validator = validator;
    }

    /// <summary>The validator this listener evicts from.</summary>
    public TokenValidator Validator { get; }

    /// <summary>The native object; valid until this listener is disposed.</summary>
    public RevocationListenerSafeHandle SafeHandle => _handle;

    /// <summary>
    /// Starts a listener that <c>LISTEN</c>s on <paramref name="channel"/> of the PostgreSQL database at
    /// <paramref name="connectionString"/> and evicts every store key notified there from
    /// <paramref name="validator"/>'s cache (<c>reftoken_revocation_listener_start_postgres</c>). The
    /// database is the one that holds IdentityServer's <c>PersistedGrants</c> table with the triggers of
    /// <c>migrations/postgres/0001_reftoken_revocation_notify.sql</c>, which notify the key of every deleted
    /// or changed row. Returns at once; see <see cref="WaitForConnection"/>.
    /// </summary>
    /// <param name="validator">The validator whose cache is kept in step with the store.</param>
    /// <param name="connectionString">A <c>postgresql://</c> URL or a libpq <c>key=value</c> connection string (not an Npgsql one). TLS is not supported on this connection.</param>
    /// <param name="channel">The channel; null or empty for <see cref="DefaultChannel"/>. At most 63 bytes.</param>
    /// <param name="staleBound">
    /// How long after its row is deleted a token can still be served from the cache when notifications
    /// are lost; null for <see cref="DefaultStaleBound"/>, otherwise at least <see cref="MinStaleBound"/>
    /// (whole milliseconds).
    /// </param>
    /// <returns>The listener; dispose it to stop it.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="validator"/> or <paramref name="connectionString"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="staleBound"/> is negative or longer than <see cref="uint.MaxValue"/> milliseconds.</exception>
    /// <exception cref="ObjectDisposedException"><paramref name="validator"/> is disposed.</exception>
    /// <exception cref="RefTokenException">
    /// <see cref="RefTokenStatus.MalformedInput"/> (the connection string); <see cref="RefTokenStatus.IoError"/>
    /// (no thread could be started).
    /// </exception>
    /// <exception cref="RefTokenArgumentException">
    /// <see cref="RefTokenStatus.InvalidArgument"/>: a channel over 63 bytes, a bound under 50 ms, or a
    /// library built without revocation support.
    /// </exception>
    public static RevocationListener StartPostgres(TokenValidator validator, string connectionString, string? channel = null, TimeSpan? staleBound = null) =>
        Start(postgres: true, validator, connectionString, channel, staleBound);

    /// <summary>
    /// Starts a listener subscribed to <paramref name="channel"/> of the Redis server at
    /// <paramref name="url"/>, evicting every store key published there from <paramref name="validator"/>'s
    /// cache (<c>reftoken_revocation_listener_start_redis</c>). Revoking nodes publish keys with
    /// <see cref="Revocation.PublishRedis(string, string?, string)"/>. Redis keeps no message for a
    /// disconnected subscriber; the staleness bound covers what is lost. Returns at once; see
    /// <see cref="WaitForConnection"/>.
    /// </summary>
    /// <param name="validator">The validator whose cache is kept in step.</param>
    /// <param name="url">The server: <c>redis://[user[:password]@]host[:port][/db]</c>.</param>
    /// <param name="channel">The channel; null or empty for <see cref="DefaultChannel"/>.</param>
    /// <param name="staleBound">As for <see cref="StartPostgres"/>.</param>
    /// <returns>The listener; dispose it to stop it.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="validator"/> or <paramref name="url"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="staleBound"/> is negative or longer than <see cref="uint.MaxValue"/> milliseconds.</exception>
    /// <exception cref="ObjectDisposedException"><paramref name="validator"/> is disposed.</exception>
    /// <exception cref="RefTokenException">As <see cref="StartPostgres"/> (<see cref="RefTokenStatus.MalformedInput"/>: the URL).</exception>
    /// <exception cref="RefTokenArgumentException">As <see cref="StartPostgres"/>.</exception>
    public static RevocationListener StartRedis(TokenValidator validator, string url, string? channel = null, TimeSpan? staleBound = null) =>
        Start(postgres: false, validator, url, channel, staleBound);

    /// <summary>
    /// Waits up to <paramref name="timeout"/> until the listener listens (<c>reftoken_revocation_listener_wait</c>).
    /// </summary>
    /// <param name="timeout">How long to wait; <see cref="Timeout.InfiniteTimeSpan"/> to wait without limit.</param>
    /// <returns>True when it listens; false when it did not within <paramref name="timeout"/> (it keeps trying).</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="timeout"/> is negative (other than infinite).</exception>
    /// <exception cref="ObjectDisposedException">The listener is disposed.</exception>
    public bool Wait(TimeSpan timeout)
    {
        RefTokenStatus status = NativeMethods.reftoken_revocation_listener_wait(_handle, ToMilliseconds(timeout, nameof(timeout)));
        if (status == RefTokenStatus.IoError)
        {
            return false;
        }

        RefTokenLibrary.Check(status);
        return true;
    }

    /// <summary>
    /// Waits up to <paramref name="timeout"/> until the listener listens, and throws with the connection
    /// error when it does not (<c>reftoken_revocation_listener_wait</c>). Call it at start-up to fail early
    /// on a wrong address or credentials.
    /// </summary>
    /// <param name="timeout">How long to wait; <see cref="Timeout.InfiniteTimeSpan"/> to wait without limit.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="timeout"/> is negative (other than infinite).</exception>
    /// <exception cref="ObjectDisposedException">The listener is disposed.</exception>
    /// <exception cref="RefTokenException">
    /// <see cref="RefTokenStatus.IoError"/>: not listening within <paramref name="timeout"/> (or stopped);
    /// <see cref="RefTokenException.NativeMessage"/> names the last connection error, without credentials.
    /// The listener keeps trying.
    /// </exception>
    public void WaitForConnection(TimeSpan timeout) =>
        RefTokenLibrary.Check(NativeMethods.reftoken_revocation_listener_wait(_handle, ToMilliseconds(timeout, nameof(timeout))));

    /// <summary>The listener's counters now (<c>reftoken_revocation_listener_stats</c>).</summary>
    /// <exception cref="ObjectDisposedException">The listener is disposed.</exception>
    public RevocationStats Stats
    {
        get
        {
            RevocationStats stats;
            RefTokenLibrary.Check(NativeMethods.reftoken_revocation_listener_stats(_handle, &stats));
            return stats;
        }
    }

    /// <summary>
    /// Stops the listener (<c>reftoken_revocation_listener_stop</c>): ends its thread and connection
    /// (normally within 100 ms; a connection blocked in I/O is waited for a few seconds at most) and
    /// removes its staleness bound from the validator, whose cache then relies on its TTL alone.
    /// Idempotent. <see cref="Dispose"/> stops it too.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The listener is disposed.</exception>
    public void Stop() => RefTokenLibrary.Check(NativeMethods.reftoken_revocation_listener_stop(_handle));

    /// <summary>
    /// Stops the listener (as <see cref="Stop"/>) and frees it (and with it its reference on the validator's native object).
    /// </summary>
    public void Dispose() => _handle.Dispose();

    private static RevocationListener Start(bool postgres, TokenValidator validator, string url, string? channel, TimeSpan? staleBound)
    {
        ArgumentNullException.ThrowIfNull(validator);
        ArgumentNullException.ThrowIfNull(url);
        uint boundMs = 0; // the library's default
        if (staleBound is TimeSpan bound)
        {
            if (bound < TimeSpan.Zero || bound.TotalMilliseconds > uint.MaxValue)
            {
                throw new ArgumentOutOfRangeException(nameof(staleBound), bound, "The staleness bound must be between 50 ms and uint.MaxValue ms.");
            }

            // 0 would mean the default: a bound under 1 ms is refused by the library as under 50 ms.
            boundMs = Math.Max(1u, (uint)bound.TotalMilliseconds);
        }

        RefTokenLibrary.EnsureLoaded();
        using var u = new Utf8Arg(url, stackalloc byte[Utf8Arg.StackBytes]);
        using var c = new Utf8Arg(channel, stackalloc byte[128]);
        RefTokenStatus status;
        RevocationListenerSafeHandle handle;
        // The marshaller keeps the validator's handle alive for the call; the native listener then
        // holds a reference of its own.
        fixed (byte* up = u.Span)
        fixed (byte* cp = c.Span)
        {
            status = postgres
                ? NativeMethods.reftoken_revocation_listener_start_postgres(validator.SafeHandle, up, (nuint)u.Length, cp, (nuint)c.Length, boundMs, out handle)
                : NativeMethods.reftoken_revocation_listener_start_redis(validator.SafeHandle, up, (nuint)u.Length, cp, (nuint)c.Length, boundMs, out handle);
        }

        return new RevocationListener(RefTokenLibrary.Owned(status, handle), validator);
    }

    /// <summary>A wait as the ABI's <c>uint32_t</c> milliseconds, rounded up; infinite as <see cref="uint.MaxValue"/>.</summary>
    private static uint ToMilliseconds(TimeSpan timeout, string name)
    {
        if (timeout == Timeout.InfiniteTimeSpan)
        {
            return uint.MaxValue;
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(timeout, TimeSpan.Zero, name);
        double ms = Math.Ceiling(timeout.TotalMilliseconds);
        return ms >= uint.MaxValue ? uint.MaxValue : (uint)ms;
    }
}

/// <summary>
/// A <see cref="RevocationListener"/>'s counters: <c>reftoken_revocation_stats</c>, field for field
/// (48 bytes: five <c>uint64_t</c> and a <c>bool</c>, padded).
/// </summary>
[StructLayout(LayoutKind.Sequential)]
public readonly struct RevocationStats
{
    private readonly ulong _connects;
    private readonly ulong _failures;
    private readonly ulong _notifications;
    private readonly ulong _flushes;
    private readonly ulong _confirmedAgeMs;
    private readonly byte _listening;

    /// <summary>Connections that reached the listening state (<c>connects</c>).</summary>
    public ulong Connects => _connects;

    /// <summary>Failed connection attempts and lost connections (<c>failures</c>).</summary>
    public ulong Failures => _failures;

    /// <summary>Store keys received, duplicates included (<c>notifications</c>).</summary>
    public ulong Notifications => _notifications;

    /// <summary>"Forget everything" payloads received (<c>flushes</c>: <c>*</c>, sent when the table is truncated).</summary>
    public ulong Flushes => _flushes;

    /// <summary>
    /// Milliseconds since delivery was last confirmed (on connecting, then by a heartbeat every quarter
    /// of the staleness bound); <see cref="ulong.MaxValue"/> when never (<c>confirmed_age_ms</c>).
    /// </summary>
    public ulong ConfirmedAgeMilliseconds => _confirmedAgeMs;

    /// <summary>As <see cref="ConfirmedAgeMilliseconds"/>; null when delivery was never confirmed.</summary>
    public TimeSpan? ConfirmedAge =>
        _confirmedAgeMs == ulong.MaxValue ? null
        : _confirmedAgeMs >= (ulong)(TimeSpan.MaxValue.Ticks / TimeSpan.TicksPerMillisecond) ? TimeSpan.MaxValue
        : TimeSpan.FromTicks((long)_confirmedAgeMs * TimeSpan.TicksPerMillisecond);

    /// <summary>Whether the listener listens now (<c>listening</c>).</summary>
    public bool IsListening => _listening != 0;

    /// <inheritdoc/>
    public override string ToString() =>
        $"listening={IsListening} connects={Connects} failures={Failures} notifications={Notifications} flushes={Flushes} confirmed_age_ms={(ConfirmedAge is null ? "never" : ConfirmedAgeMilliseconds.ToString(System.Globalization.CultureInfo.InvariantCulture))}";
}
