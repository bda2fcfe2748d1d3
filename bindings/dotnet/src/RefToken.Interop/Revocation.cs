using System;
using RefToken.Native;

namespace RefToken;

/// <summary>
/// The revoking side of revocation that reaches every node: "evict this key on all nodes" for stores
/// that cannot notify by themselves (PostgreSQL can: see <see cref="RevocationListener.StartPostgres"/>).
/// </summary>
public static unsafe class Revocation
{
    /// <summary>
    /// "Evict this key on all nodes" (<c>reftoken_revocation_publish_redis</c>): publishes
    /// <paramref name="storeKey"/> on <paramref name="channel"/> of the Redis server at <paramref name="url"/>,
    /// where every node's listener (<see cref="RevocationListener.StartRedis"/>) evicts it. Call it from the
    /// revocation path after the row is deleted. Opens one connection per call, with a 5-second timeout.
    /// </summary>
    /// <param name="url">The server: <c>redis://[user[:password]@]host[:port][/db]</c>.</param>
    /// <param name="channel">The channel; null or empty for <see cref="RevocationListener.DefaultChannel"/>.</param>
    /// <param name="storeKey">The revoked grant's store key (see <see cref="StoreKeys"/>), not its handle.</param>
    /// <returns>How many subscribers received it, this node's own listener included.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="url"/> or <paramref name="storeKey"/> is null.</exception>
    /// <exception cref="RefTokenArgumentException">
    /// <see cref="RefTokenStatus.InvalidArgument"/>: an empty key, or a library built without revocation support.
    /// </exception>
    /// <exception cref="RefTokenException">
    /// <see cref="RefTokenStatus.MalformedInput"/> (the URL); <see cref="RefTokenStatus.IoError"/>
    /// (Redis could not be reached from this node: the nodes were not told). Then publish the key again until
    /// it succeeds: listeners that still reach Redis confirm their own connection, so their staleness bound
    /// does not cover a publish that never left, and they serve a cached entry until its TTL ends.
    /// </exception>
    public static long PublishRedis(string url, string? channel, string storeKey)
    {
        ArgumentNullException.ThrowIfNull(url);
        ArgumentNullException.ThrowIfNull(storeKey);
        using var u = new Utf8Arg(url, stackalloc byte[Utf8Arg.StackBytes]);
        using var c = new Utf8Arg(channel, stackalloc byte[128]);
        using var k = new Utf8Arg(storeKey, stackalloc byte[128]);
        return PublishRedisUtf8(u.Span, c.Span, k.Span);
    }

    /// <summary>As <see cref="PublishRedis(string, string?, string)"/>, with UTF-8 arguments.</summary>
    /// <param name="utf8Url">The server's URL, UTF-8.</param>
    /// <param name="utf8Channel">The channel, UTF-8; empty for <see cref="RevocationListener.DefaultChannel"/>.</param>
    /// <param name="utf8StoreKey">The store key, UTF-8.</param>
    /// <returns>How many subscribers received it.</returns>
    /// <exception cref="RefTokenException">As <see cref="PublishRedis(string, string?, string)"/>, and <see cref="RefTokenStatus.InvalidUtf8"/>.</exception>
    /// <exception cref="RefTokenArgumentException">As <see cref="PublishRedis(string, string?, string)"/>.</exception>
    public static long PublishRedisUtf8(ReadOnlySpan<byte> utf8Url, ReadOnlySpan<byte> utf8Channel, ReadOnlySpan<byte> utf8StoreKey)
    {
        RefTokenLibrary.EnsureLoaded();
        ulong receivers;
        fixed (byte* up = utf8Url)
        fixed (byte* cp = utf8Channel)
        fixed (byte* kp = utf8StoreKey)
        {
            RefTokenLibrary.Check(NativeMethods.reftoken_revocation_publish_redis(
                up, (nuint)utf8Url.Length, cp, (nuint)utf8Channel.Length, kp, (nuint)utf8StoreKey.Length, &receivers));
        }

        return checked((long)receivers);
    }
}
