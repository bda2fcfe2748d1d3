using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Linq;
using System.Text;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using Xunit;

namespace RefToken.Tests;

public class ValidatorTests : IClassFixture<FixtureKeyRing>
{
    private static readonly IntrospectionOptions Enabled = new()
    {
        IsClientEnabled = id => Fixtures.EnabledClients.Contains(id),
        IsOfflineAccessAllowed = id => id == "ropc.client",
    };

    private readonly FixtureKeyRing _ring;

    public ValidatorTests(FixtureKeyRing ring) => _ring = ring;

    /// <summary>A lookup over one fixture database (as IdentityServer's EF store held it), counting calls.</summary>
    private sealed class Store(string db)
    {
        private readonly Dictionary<string, GrantRow> _rows = Fixtures.Grants.Where(r => r.Db == db).ToDictionary(r => r.Key);
        public int Calls;

        public PersistedGrantRow? Lookup(string key)
        {
            Interlocked.Increment(ref Calls);
            return _rows.TryGetValue(key, out GrantRow? r) ? new PersistedGrantRow(r.Type, r.Data) : null;
        }
    }

    [Theory]
    [MemberData(nameof(Fixtures.ReferenceTokenIntrospections), MemberType = typeof(Fixtures))]
    public void ValidatesPresentedHandlesAsIdentityServer(string name)
    {
        IntrospectionEntry entry = Fixtures.Introspection.Single(e => e.Name == name);
        var store = new Store(entry.GrantsDb);
        using TokenValidator validator = TokenValidator.Create(store.Lookup, _ring.Ring, cacheCapacity: 0, TimeSpan.Zero);
        IntrospectionCaller caller = entry.ToCaller()!;
        DateTimeOffset now = DateTimeOffset.FromUnixTimeSeconds(entry.NowUnix);
        if (entry.Status == 500)
        {
            Assert.Equal(RefTokenStatus.MalformedInput, Assert.Throws<RefTokenException>(() => validator.Introspect(entry.Handle!, caller, now, Enabled)).Status);
            return;
        }

        Assert.Equal(entry.Body, validator.Introspect(entry.Handle!, caller, now, Enabled));
        var buffer = new byte[65536];
        Assert.True(validator.TryIntrospect(Encoding.UTF8.GetBytes(entry.Handle!), caller, now, Enabled, buffer, out int n));
        Assert.Equal(entry.Body, Encoding.UTF8.GetString(buffer, 0, n));

        bool active = entry.Body != "{\"active\":false}";
        IntrospectionVerdict v = validator.Validate(entry.Handle!, caller, now, Enabled, out Grant? grant);
        using (grant)
        {
            Assert.Equal(active, v.IsActive);
            if (grant is not null)
            {
                Assert.Equal(grant.SubjectId, v.SubjectId);
                Assert.Equal(grant.ClientId, v.ClientId);
            }
            else
            {
                Assert.Equal(InactiveReason.UnknownHandle, v.Reason);
            }
        }

        Assert.Equal(active, validator.Validate(entry.Handle!, caller, now, Enabled).IsActive);
    }

    [Fact]
    public void CachesByStoreKeyAndEvicts()
    {
        GrantRow row = Fixtures.Grant("basic");
        var store = new Store(row.Db);
        using TokenValidator validator = TokenValidator.Create(store.Lookup, _ring.Ring, cacheCapacity: 100, TimeSpan.FromMinutes(5));
        var api1 = IntrospectionCaller.Api("api1", "api1.read");
        string first = validator.Introspect(row.Handle, api1, Fixtures.Now);
        Assert.Contains("\"active\":true", first);
        Assert.Equal(1, store.Calls);
        Assert.Equal(1, validator.CachedCount);
        Assert.Equal(first, validator.Introspect(row.Handle, api1, Fixtures.Now));
        Assert.Equal(1, store.Calls);

        validator.Evict(StoreKeys.ForReferenceToken(row.Handle));
        Assert.Equal(0, validator.CachedCount);
        Assert.Equal(first, validator.Introspect(row.Handle, api1, Fixtures.Now));
        Assert.Equal(2, store.Calls);
        validator.Clear();
        Assert.Equal(0, validator.CachedCount);

        // Malformed handles never reach the store.
        Assert.Equal("{\"active\":false}", validator.Introspect("not a handle", api1, Fixtures.Now));
        Assert.Equal(2, store.Calls);
        Assert.Equal(InactiveReason.UnknownHandle, validator.Validate(TokenHandles.NewHandle(), api1, Fixtures.Now).Reason);
    }

    [Fact]
    public void LookupExceptionsReachTheCaller()
    {
        var boom = new TimeoutException("database down");
        using TokenValidator validator = TokenValidator.Create(_ => throw boom, null, 0, TimeSpan.Zero);
        var api1 = IntrospectionCaller.Api("api1", "api1.read");
        string handle = TokenHandles.NewHandle();
        Assert.Same(boom, Assert.Throws<TimeoutException>(() => validator.Introspect(handle, api1, Fixtures.Now)));
        Assert.Same(boom, Assert.Throws<TimeoutException>(() => validator.Validate(handle, api1, Fixtures.Now)));
        Assert.Same(boom, Assert.Throws<TimeoutException>(() => validator.Validate(handle, api1, Fixtures.Now, null, out _)));
        Assert.Same(boom, Assert.Throws<TimeoutException>(() => validator.TryIntrospect(Encoding.ASCII.GetBytes(handle), api1, Fixtures.Now, null, new byte[100], out _)));
    }

    [Fact]
    public void ProtectedRowsWithoutAKeyRingAreUnknown()
    {
        GrantRow row = Fixtures.Grant("basic");
        using TokenValidator validator = TokenValidator.Create(new Store(row.Db).Lookup, null, 0, TimeSpan.Zero);
        Assert.Equal("{\"active\":false}", validator.Introspect(row.Handle, IntrospectionCaller.Api("api1", "api1.read"), Fixtures.Now));
    }

    [Fact]
    public void RowSetErrorsAndArguments()
    {
        // Data over 1 MiB: reftoken_row_set refuses it and the validation fails with that status.
        using TokenValidator big = TokenValidator.Create(_ => new PersistedGrantRow("reference_token", new string('x', (1 << 20) + 1)), null, 0, TimeSpan.Zero);
        var e = Assert.Throws<RefTokenException>(() => big.Introspect(TokenHandles.NewHandle(), IntrospectionCaller.Client("c"), Fixtures.Now));
        Assert.Equal(RefTokenStatus.InputTooLarge, e.Status);

        Assert.Equal(RefTokenStatus.InvalidArgument, Assert.Throws<RefTokenArgumentException>(() => TokenValidator.Create(_ => null, null, 1, TimeSpan.FromSeconds(-1))).Status);
        Assert.Throws<ArgumentNullException>(() => TokenValidator.Create(null!, null, 0, TimeSpan.Zero));
        Assert.Throws<ArgumentOutOfRangeException>(() => TokenValidator.Create(_ => null, null, -1, TimeSpan.Zero));
        GrantRow basic = Fixtures.Grant("basic");
        using TokenValidator v = TokenValidator.Create(new Store(basic.Db).Lookup, _ring.Ring, 0, TimeSpan.Zero);
        var badKind = IntrospectionCaller.Raw(9, "x", "");
        // (Checked once a token is found: an unknown handle answers {"active":false} first.)
        Assert.Equal(RefTokenStatus.InvalidArgument, Assert.Throws<RefTokenArgumentException>(() => v.Introspect(basic.Handle, badKind, Fixtures.Now)).Status);
        Assert.Equal(RefTokenStatus.InvalidArgument, Assert.Throws<RefTokenArgumentException>(() => v.Validate(basic.Handle, badKind, Fixtures.Now)).Status);
        Assert.Equal(RefTokenStatus.InvalidUtf8, Assert.Throws<RefTokenException>(() => v.TryIntrospect(new byte[] { 0xFF }, IntrospectionCaller.Client("c"), Fixtures.Now, null, new byte[64], out _)).Status);
        Assert.Throws<ArgumentNullException>(() => v.Introspect(null!, IntrospectionCaller.Client("c"), Fixtures.Now));
        Assert.Throws<ArgumentNullException>(() => v.Evict(null!));
        v.Dispose();
        Assert.Throws<ObjectDisposedException>(() => v.Clear());
    }

    [Fact]
    public void ConcurrentValidation()
    {
        GrantRow row = Fixtures.Grant("basic");
        var store = new Store(row.Db);
        using TokenValidator validator = TokenValidator.Create(store.Lookup, _ring.Ring, 16, TimeSpan.FromMinutes(1));
        var api1 = IntrospectionCaller.Api("api1", "api1.read");
        string expected = validator.Introspect(row.Handle, api1, Fixtures.Now);
        Parallel.For(0, 2000, new ParallelOptions { MaxDegreeOfParallelism = 8 }, _ =>
            Assert.Equal(expected, validator.Introspect(row.Handle, api1, Fixtures.Now, Enabled)));
    }
}
