using System;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading;
using Xunit;

namespace RefToken.Tests;

/// <summary>
/// <see cref="RevocationListener"/> and <see cref="Revocation"/> against real servers (see
/// <see cref="TestServers"/>): a grant a validator cached is evicted when its row is deleted from
/// IdentityServer's <c>PersistedGrants</c> table (through the migration's trigger and PostgreSQL
/// NOTIFY) or when another node publishes its key on Redis; and every error path.
/// </summary>
public class RevocationTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);
    private static readonly IntrospectionCaller Api1 = IntrospectionCaller.Api("api1", "api1.read");
    private const string Inactive = "{\"active\":false}";

    /// <summary>The Data column of an unprotected reference token for client1, valid for an hour.</summary>
    private static string TokenData()
    {
        using Grant token = Grant.Create("client1", "https://idp.example", DateTimeOffset.UtcNow, 3600);
        token.AddAudience("api1");
        token.AddClaim("client_id", "client1");
        token.AddClaim("scope", "api1.read");
        token.AddClaim("sub", "alice");
        return token.ToData();
    }

    /// <summary>A lookup that counts its calls.</summary>
    private sealed class CountingLookup(Func<string, PersistedGrantRow?> inner)
    {
        private int _calls;

        public int Calls => Volatile.Read(ref _calls);

        public PersistedGrantRow? Lookup(string key)
        {
            Interlocked.Increment(ref _calls);
            return inner(key);
        }
    }

    /// <summary>
    /// Waits until the listener listens and has confirmed delivery: by then the cache clear that
    /// follows every connection has happened, so whatever is cached afterwards stays until evicted.
    /// </summary>
    private static void WaitReady(RevocationListener listener)
    {
        listener.WaitForConnection(Patience);
        Assert.True(TestServers.Eventually(() => listener.Stats.ConfirmedAge is not null, Patience), listener.Stats.ToString());
    }

    private static string UniqueChannel() => "reftoken-dotnet-" + Guid.NewGuid().ToString("N");

    [ServersFact]
    public void DeletingTheRowEvictsTheCachedGrantThroughPostgresNotify()
    {
        using var db = new GrantsDatabase("notify");
        string data = TokenData();
        string revoked = TokenHandles.NewHandle();
        string kept = TokenHandles.NewHandle();
        string revokedKey = db.InsertReferenceToken(revoked, "client1", data);
        db.InsertReferenceToken(kept, "client1", data);
        var store = new CountingLookup(db.Lookup);
        using TokenValidator validator = TokenValidator.Create(store.Lookup, null, cacheCapacity: 100, TimeSpan.FromMinutes(5));
        using RevocationListener listener = RevocationListener.StartPostgres(validator, db.Url, channel: null, staleBound: TimeSpan.FromSeconds(10));
        Assert.Same(validator, listener.Validator);
        WaitReady(listener);
        RevocationStats before = listener.Stats;
        Assert.True(before.IsListening);
        Assert.Equal(1UL, before.Connects);
        Assert.Equal(0UL, before.Failures);
        Assert.Equal(0UL, before.Notifications);
        Assert.Equal(0UL, before.Flushes);
        Assert.True(before.ConfirmedAgeMilliseconds < 10_000, before.ToString());

        // Both tokens cached: a second validation does not reach the store.
        string response = validator.Introspect(revoked, Api1, DateTimeOffset.UtcNow);
        Assert.Contains("\"active\":true", response);
        Assert.Contains("\"active\":true", validator.Introspect(kept, Api1, DateTimeOffset.UtcNow));
        Assert.Equal(2, store.Calls);
        Assert.Equal(response, validator.Introspect(revoked, Api1, DateTimeOffset.UtcNow));
        Assert.Equal(2, store.Calls);
        Assert.Equal(2, validator.CachedCount);

        // IdentityServer revokes: it deletes the row. The trigger notifies its key at commit.
        Assert.Equal(1, db.Execute("""DELETE FROM "PersistedGrants" WHERE "Key" = @key""", revokedKey));
        Assert.True(TestServers.Eventually(() => validator.CachedCount == 1, Patience), listener.Stats.ToString());
        Assert.True(TestServers.Eventually(() => listener.Stats.Notifications == 1, Patience), listener.Stats.ToString());

        // Only that token went: the other is still served from the cache.
        Assert.Contains("\"active\":true", validator.Introspect(kept, Api1, DateTimeOffset.UtcNow));
        Assert.Equal(2, store.Calls);
        Assert.Equal(Inactive, validator.Introspect(revoked, Api1, DateTimeOffset.UtcNow));
        Assert.Equal(3, store.Calls);

        // TRUNCATE sends "forget everything".
        db.Execute("""TRUNCATE "PersistedGrants" """);
        Assert.True(TestServers.Eventually(() => listener.Stats.Flushes == 1, Patience), listener.Stats.ToString());
        Assert.Equal(0, validator.CachedCount);
        RevocationStats after = listener.Stats;
        Assert.Equal(1UL, after.Notifications);
        Assert.Equal(1UL, after.Connects);
        Assert.Equal(0UL, after.Failures);

        listener.Stop();
        listener.Stop(); // idempotent
        Assert.False(listener.Stats.IsListening);
        Assert.False(listener.Wait(TimeSpan.FromMilliseconds(10)));
    }

    [ServersFact]
    public void AnotherChannelHearsNothingFromTheTrigger()
    {
        using var db = new GrantsDatabase("channel");
        string handle = TokenHandles.NewHandle();
        string key = db.InsertReferenceToken(handle, "client1", TokenData());
        using TokenValidator validator = TokenValidator.Create(db.Lookup, null, 10, TimeSpan.FromMinutes(5));
        using RevocationListener listener = RevocationListener.StartPostgres(validator, db.Url, "reftoken_other_channel", TimeSpan.FromSeconds(1));
        WaitReady(listener);
        Assert.Contains("\"active\":true", validator.Introspect(handle, Api1, DateTimeOffset.UtcNow));
        Assert.Equal(1, db.Execute("""DELETE FROM "PersistedGrants" WHERE "Key" = @key""", key));
        var sinceCommit = Stopwatch.StartNew();

        // A heartbeat round trip delivers every notification committed before it started: wait for
        // one that started after the DELETE committed (confirmed more recently than the commit).
        Assert.True(TestServers.Eventually(
            () =>
            {
                TimeSpan elapsed = sinceCommit.Elapsed;
                return listener.Stats.ConfirmedAge < elapsed;
            },
            Patience));
        RevocationStats s = listener.Stats;
        Assert.True(s.IsListening);
        Assert.Equal(0UL, s.Notifications);
        Assert.Equal(1, validator.CachedCount);
    }

    [ServersFact]
    public void PublishingOnRedisEvictsOnEveryNode()
    {
        string channel = UniqueChannel();
        string handle = TokenHandles.NewHandle();
        string key = StoreKeys.ForReferenceToken(handle);
        var rows = new ConcurrentDictionary<string, PersistedGrantRow>();
        rows[key] = new PersistedGrantRow(GrantTypes.ReferenceToken, TokenData());
        PersistedGrantRow? Lookup(string k) => rows.TryGetValue(k, out PersistedGrantRow? r) ? r : null;
        var storeA = new CountingLookup(Lookup);
        var storeB = new CountingLookup(Lookup);
        using TokenValidator nodeA = TokenValidator.Create(storeA.Lookup, null, 10, TimeSpan.FromMinutes(5));
        using TokenValidator nodeB = TokenValidator.Create(storeB.Lookup, null, 10, TimeSpan.FromMinutes(5));
        using RevocationListener listenerA = RevocationListener.StartRedis(nodeA, TestServers.RedisUrl, channel, TimeSpan.FromSeconds(5));
        using RevocationListener listenerB = RevocationListener.StartRedis(nodeB, TestServers.RedisUrl, channel);
        WaitReady(listenerA);
        WaitReady(listenerB);
        foreach (TokenValidator node in new[] { nodeA, nodeB })
        {
            Assert.Contains("\"active\":true", node.Introspect(handle, Api1, DateTimeOffset.UtcNow));
            Assert.Contains("\"active\":true", node.Introspect(handle, Api1, DateTimeOffset.UtcNow));
            Assert.Equal(1, node.CachedCount);
        }

        Assert.Equal(1, storeA.Calls);
        Assert.Equal(1, storeB.Calls);

        // Node A revokes: it deletes the row, then tells every node.
        rows.TryRemove(key, out _);
        Assert.Equal(2, Revocation.PublishRedis(TestServers.RedisUrl, channel, key));
        Assert.True(TestServers.Eventually(() => nodeA.CachedCount == 0 && nodeB.CachedCount == 0, Patience));
        Assert.Equal(1UL, listenerA.Stats.Notifications);
        Assert.Equal(1UL, listenerB.Stats.Notifications);
        Assert.Equal(Inactive, nodeB.Introspect(handle, Api1, DateTimeOffset.UtcNow));
        Assert.Equal(2, storeB.Calls);

        // A key published on another channel reaches no one here.
        Assert.Equal(0, Revocation.PublishRedis(TestServers.RedisUrl, UniqueChannel(), key));

        // A stopped listener is no subscriber any more (once Redis has seen its connection close).
        listenerB.Stop();
        ulong published = 1;
        Assert.True(TestServers.Eventually(
            () =>
            {
                published++;
                return Revocation.PublishRedis(TestServers.RedisUrl, channel, key) == 1;
            },
            Patience));
        Assert.True(TestServers.Eventually(() => listenerA.Stats.Notifications == published, Patience), listenerA.Stats.ToString());
        Assert.Equal(1UL, listenerB.Stats.Notifications);

        // The UTF-8 overload.
        Assert.Equal(1, Revocation.PublishRedisUtf8(Encoding.UTF8.GetBytes(TestServers.RedisUrl), Encoding.UTF8.GetBytes(channel), Encoding.UTF8.GetBytes(key)));
        Assert.True(TestServers.Eventually(() => listenerA.Stats.Notifications == published + 1, Patience), listenerA.Stats.ToString());
    }

    [ServersFact]
    public void TheListenerKeepsItsValidatorAliveAfterTheValidatorIsDisposed()
    {
        string channel = UniqueChannel();
        var validator = TokenValidator.Create(_ => null, null, 10, TimeSpan.FromMinutes(1));
        using RevocationListener listener = RevocationListener.StartRedis(validator, TestServers.RedisUrl, channel);
        WaitReady(listener);

        // Disposing the validator first is allowed: the managed handle closes at once, and the
        // native validator lives on under the listener's own reference, evicting as before.
        validator.Dispose();
        Assert.True(validator.SafeHandle.IsClosed);
        Assert.Throws<ObjectDisposedException>(() => validator.CachedCount);
        Assert.Equal(1, Revocation.PublishRedis(TestServers.RedisUrl, channel, "SOMEKEY"));
        Assert.True(TestServers.Eventually(() => listener.Stats.Notifications == 1, Patience));
        GC.Collect();
        GC.WaitForPendingFinalizers();
        Assert.Equal(1, Revocation.PublishRedis(TestServers.RedisUrl, channel, "OTHERKEY"));
        Assert.True(TestServers.Eventually(() => listener.Stats.Notifications == 2, Patience));
        Assert.Equal(0UL, listener.Stats.Failures);

        // Freeing the listener lets go of the last reference; its subscription ends.
        listener.Dispose();
        Assert.True(listener.SafeHandle.IsClosed);
        Assert.True(TestServers.Eventually(() => Revocation.PublishRedis(TestServers.RedisUrl, channel, "SOMEKEY") == 0, Patience));
    }

    [Fact]
    public void AnUnreachableServerIsReportedAndRetried()
    {
        using TokenValidator validator = TokenValidator.Create(_ => null, null, 10, TimeSpan.FromMinutes(1));
        // Port 1 on loopback refuses at once.
        using RevocationListener listener = RevocationListener.StartRedis(validator, "redis://:secret@127.0.0.1:1/", null, TimeSpan.FromMilliseconds(200));
        Assert.False(listener.Wait(TimeSpan.FromMilliseconds(300)));
        var e = Assert.Throws<RefTokenException>(() => listener.WaitForConnection(TimeSpan.FromMilliseconds(300)));
        Assert.Equal(RefTokenStatus.IoError, e.Status);
        Assert.Contains("127.0.0.1:1", e.NativeMessage);
        Assert.DoesNotContain("secret", e.NativeMessage);
        Assert.True(TestServers.Eventually(() => listener.Stats.Failures >= 2, Patience), listener.Stats.ToString());
        RevocationStats s = listener.Stats;
        Assert.False(s.IsListening);
        Assert.Equal(0UL, s.Connects);
        Assert.Null(s.ConfirmedAge);
        Assert.Equal(ulong.MaxValue, s.ConfirmedAgeMilliseconds);
        Assert.Contains("confirmed_age_ms=never", s.ToString());

        using RevocationListener pg = RevocationListener.StartPostgres(validator, "postgresql://nobody@127.0.0.1:1/none", null, TimeSpan.FromMilliseconds(200));
        e = Assert.Throws<RefTokenException>(() => pg.WaitForConnection(TimeSpan.FromMilliseconds(300)));
        Assert.Equal(RefTokenStatus.IoError, e.Status);
        Assert.Contains("127.0.0.1", e.NativeMessage);
    }

    [Fact]
    public void ArgumentErrors()
    {
        using TokenValidator validator = TokenValidator.Create(_ => null, null, 10, TimeSpan.FromMinutes(1));
        const string Url = "redis://127.0.0.1:1/";
        const string PgUrl = "postgresql://nobody@127.0.0.1:1/none";

        Assert.Throws<ArgumentNullException>(() => RevocationListener.StartPostgres(null!, PgUrl));
        Assert.Throws<ArgumentNullException>(() => RevocationListener.StartPostgres(validator, null!));
        Assert.Throws<ArgumentNullException>(() => RevocationListener.StartRedis(null!, Url));
        Assert.Throws<ArgumentNullException>(() => RevocationListener.StartRedis(validator, null!));

        // Malformed URLs: refused before any connection, with the library's reason.
        RefTokenException e = Assert.Throws<RefTokenException>(() => RevocationListener.StartPostgres(validator, "postgresql://h:notaport/db"));
        Assert.Equal(RefTokenStatus.MalformedInput, e.Status);
        Assert.NotEmpty(e.NativeMessage);
        Assert.StartsWith("REFTOKEN_MALFORMED_INPUT", e.Message);
        Assert.Equal(RefTokenStatus.MalformedInput, Assert.Throws<RefTokenException>(() => RevocationListener.StartRedis(validator, "http://example.com/")).Status);
        Assert.Equal(RefTokenStatus.MalformedInput, Assert.Throws<RefTokenException>(() => RevocationListener.StartRedis(validator, "nonsense")).Status);

        // Staleness bounds: under 50 ms (zero included) refused by the library; unrepresentable ones here.
        foreach (TimeSpan tooShort in new[] { TimeSpan.Zero, TimeSpan.FromTicks(1), TimeSpan.FromMilliseconds(49) })
        {
            RefTokenArgumentException refused = Assert.Throws<RefTokenArgumentException>(() => RevocationListener.StartRedis(validator, Url, null, tooShort));
            Assert.Equal(RefTokenStatus.InvalidArgument, refused.Status);
            Assert.Contains("50 ms", refused.NativeMessage);
            Assert.Equal(RefTokenStatus.InvalidArgument, Assert.Throws<RefTokenArgumentException>(() => RevocationListener.StartPostgres(validator, PgUrl, null, tooShort)).Status);
        }

        Assert.Throws<ArgumentOutOfRangeException>(() => RevocationListener.StartRedis(validator, Url, null, TimeSpan.FromMilliseconds(-1)));
        Assert.Throws<ArgumentOutOfRangeException>(() => RevocationListener.StartRedis(validator, Url, null, TimeSpan.FromDays(50)));
        using (RevocationListener.StartRedis(validator, Url, null, RevocationListener.MinStaleBound))
        {
        }

        // A PostgreSQL channel is an identifier of at most 63 bytes.
        Assert.Equal(RefTokenStatus.InvalidArgument, Assert.Throws<RefTokenArgumentException>(() => RevocationListener.StartPostgres(validator, PgUrl, new string('c', 64))).Status);
        using (RevocationListener.StartPostgres(validator, PgUrl, new string('c', 63)))
        {
        }

        // Waits.
        using RevocationListener listener = RevocationListener.StartRedis(validator, Url);
        Assert.Throws<ArgumentOutOfRangeException>(() => listener.Wait(TimeSpan.FromMilliseconds(-2)));
        Assert.Throws<ArgumentOutOfRangeException>(() => listener.WaitForConnection(TimeSpan.FromMilliseconds(-2)));
        Assert.False(listener.Wait(TimeSpan.Zero));

        // Publishing.
        Assert.Throws<ArgumentNullException>(() => Revocation.PublishRedis(null!, null, "KEY"));
        Assert.Throws<ArgumentNullException>(() => Revocation.PublishRedis(Url, null, null!));
        Assert.Equal(RefTokenStatus.InvalidArgument, Assert.Throws<RefTokenArgumentException>(() => Revocation.PublishRedis(Url, null, "")).Status);
        Assert.Equal(RefTokenStatus.MalformedInput, Assert.Throws<RefTokenException>(() => Revocation.PublishRedis("nonsense", null, "KEY")).Status);
        e = Assert.Throws<RefTokenException>(() => Revocation.PublishRedis(Url, null, "KEY"));
        Assert.Equal(RefTokenStatus.IoError, e.Status);
        Assert.Contains("127.0.0.1:1", e.NativeMessage);
        Assert.Equal(RefTokenStatus.InvalidUtf8, Assert.Throws<RefTokenException>(() => Revocation.PublishRedisUtf8("redis://h/"u8, default, [0xFF])).Status);
        Assert.Equal(RefTokenStatus.InvalidUtf8, Assert.Throws<RefTokenException>(() => Revocation.PublishRedisUtf8([0xC3], default, "KEY"u8)).Status);
    }

    [Fact]
    public void DisposedObjects()
    {
        var validator = TokenValidator.Create(_ => null, null, 10, TimeSpan.FromMinutes(1));
        RevocationListener listener = RevocationListener.StartRedis(validator, "redis://127.0.0.1:1/");
        listener.Dispose();
        listener.Dispose(); // idempotent
        Assert.Throws<ObjectDisposedException>(() => listener.Stats);
        Assert.Throws<ObjectDisposedException>(() => listener.Stop());
        Assert.Throws<ObjectDisposedException>(() => listener.Wait(TimeSpan.Zero));
        Assert.Throws<ObjectDisposedException>(() => listener.WaitForConnection(TimeSpan.Zero));

        // The listener gave back its reference on the validator: disposing the validator frees it.
        Assert.False(validator.SafeHandle.IsClosed);
        validator.Dispose();
        Assert.True(validator.SafeHandle.IsClosed);

        // A listener that failed to start holds no reference either.
        using (var other = TokenValidator.Create(_ => null, null, 10, TimeSpan.FromMinutes(1)))
        {
            Assert.Throws<RefTokenException>(() => RevocationListener.StartRedis(other, "nonsense"));
            other.Dispose();
            Assert.True(other.SafeHandle.IsClosed);
        }

        Assert.Throws<ObjectDisposedException>(() => RevocationListener.StartRedis(validator, "redis://127.0.0.1:1/"));
        Assert.Throws<ObjectDisposedException>(() => RevocationListener.StartPostgres(validator, "postgresql://h/db"));
    }

    [Fact]
    public unsafe void StatsMapsTheNativeStructExactly()
    {
        // reftoken_revocation_stats: five uint64_t and a bool, padded to 8.
        Assert.Equal(48, sizeof(RevocationStats));
        Assert.Equal(48, Unsafe.SizeOf<RevocationStats>());
        Assert.Equal(48, Marshal.SizeOf<RevocationStats>());
        Assert.Equal(0, (int)Marshal.OffsetOf<RevocationStats>("_connects"));
        Assert.Equal(8, (int)Marshal.OffsetOf<RevocationStats>("_failures"));
        Assert.Equal(16, (int)Marshal.OffsetOf<RevocationStats>("_notifications"));
        Assert.Equal(24, (int)Marshal.OffsetOf<RevocationStats>("_flushes"));
        Assert.Equal(32, (int)Marshal.OffsetOf<RevocationStats>("_confirmedAgeMs"));
        Assert.Equal(40, (int)Marshal.OffsetOf<RevocationStats>("_listening"));

        // Field order, through memory laid out as the C struct.
        ulong* raw = stackalloc ulong[6] { 1, 2, 3, 4, 5, 1 };
        RevocationStats s = *(RevocationStats*)raw;
        Assert.Equal((1UL, 2UL, 3UL, 4UL, 5UL, true), (s.Connects, s.Failures, s.Notifications, s.Flushes, s.ConfirmedAgeMilliseconds, s.IsListening));
        Assert.Equal(TimeSpan.FromMilliseconds(5), s.ConfirmedAge);
        raw[4] = ulong.MaxValue - 1;
        Assert.Equal(TimeSpan.MaxValue, (*(RevocationStats*)raw).ConfirmedAge);
        Assert.False(default(RevocationStats).IsListening);
    }
}
