using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics.Metrics;
using System.IO;
using System.Linq;
using System.Net;
using System.Security.Cryptography;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace RefToken.AspNetCore.Tests;

/// <summary>The cache, push revocation (PostgreSQL NOTIFY, Redis), the key ring, metrics and logs.</summary>
public class RevocationAndCacheTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(2);

    /// <summary>Waits until every listener of the host listens and has confirmed delivery (after which its cache clear has run).</summary>
    private static async Task WaitListening(ApiHost api)
    {
        var validators = api.Services.GetRequiredService<RefTokenValidators>();
        RefTokenSchemeValidator v = validators.Get("token");
        Assert.NotEmpty(v.Listeners);
        foreach (RevocationListener l in v.Listeners)
        {
            l.WaitForConnection(TimeSpan.FromSeconds(10));
            Assert.True(await Servers.Eventually(() => Task.FromResult(l.Stats.ConfirmedAge is not null), TimeSpan.FromSeconds(10)), l.Stats.ToString());
        }
    }

    /// <summary>Counts the handler's instruments of one host.</summary>
    private sealed class Counted : IDisposable
    {
        private readonly MeterListener _listener = new();

        public Counted(ApiHost api)
        {
            Meter meter = api.Services.GetRequiredService<RefTokenMetrics>().Meter;
            _listener.InstrumentPublished = (i, l) =>
            {
                if (ReferenceEquals(i.Meter, meter))
                {
                    l.EnableMeasurementEvents(i);
                }
            };
            _listener.SetMeasurementEventCallback<long>((i, value, tags, _) =>
            {
                string key = i.Name;
                foreach (KeyValuePair<string, object?> t in tags)
                {
                    if (t.Key == "result")
                    {
                        key += ":" + t.Value;
                    }
                }

                if (i.Name == "reftoken.evictions")
                {
                    Values[key] = value;   // observable: the total so far
                }
                else
                {
                    Values.AddOrUpdate(key, value, (_, old) => old + value);
                }
            });
            _listener.Start();
        }

        public ConcurrentDictionary<string, long> Values { get; } = new();

        public long this[string key]
        {
            get
            {
                _listener.RecordObservableInstruments();
                return Values.GetValueOrDefault(key);
            }
        }

        public void Dispose() => _listener.Dispose();
    }

    [Fact]
    public async Task DeletingTheRowEvictsTheCachedTokenThroughPostgresNotify()
    {
        using var store = new PostgresGrantStore();
        (string revoked, string revokedKey) = Tokens.IssueActive(store);
        (string kept, _) = Tokens.IssueActive(store);
        await using ApiHost api = await ApiHost.StartCachingAsync(store, o =>
        {
            o.RevocationPostgres = store.Url;
            o.StaleBound = Bound;
        });
        await WaitListening(api);
        using var counted = new Counted(api);

        Assert.Equal(HttpStatusCode.OK, (await api.GetAsync(revoked)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await api.GetAsync(revoked)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await api.GetAsync(kept)).StatusCode);
        Assert.Equal(2, counted["reftoken.store_lookups"]);
        Assert.Equal(1, counted["reftoken.cache_hits"]);
        Assert.Equal(3, counted["reftoken.validations:active"]);

        Assert.Equal(1, store.Delete(revokedKey));
        var watch = System.Diagnostics.Stopwatch.StartNew();
        Assert.True(await Servers.Eventually(async () => (await api.GetAsync(revoked)).StatusCode == HttpStatusCode.Unauthorized, Bound));
        Assert.True(watch.Elapsed < Bound, $"evicted after {watch.Elapsed}");
        Assert.True(counted["reftoken.evictions"] >= 1);
        Assert.True(counted["reftoken.validations:inactive"] >= 1);
        // The other token is still served from the cache.
        long lookups = counted["reftoken.store_lookups"];
        Assert.Equal(HttpStatusCode.OK, (await api.GetAsync(kept)).StatusCode);
        Assert.Equal(lookups, counted["reftoken.store_lookups"]);
    }

    [Fact]
    public async Task APublishedKeyEvictsTheCachedTokenThroughRedis()
    {
        using var store = new SqliteGrantStore();
        (string handle, string key) = Tokens.IssueActive(store);
        string channel = "reftoken-aspnet-" + Guid.NewGuid().ToString("N");
        await using ApiHost api = await ApiHost.StartCachingAsync(store, o =>
        {
            o.RevocationRedis = Servers.RedisUrl;
            o.RevocationChannel = channel;
            o.StaleBound = Bound;
        });
        await WaitListening(api);
        using var counted = new Counted(api);

        Assert.Equal(HttpStatusCode.OK, (await api.GetAsync(handle)).StatusCode);
        Assert.Equal(1, store.Delete(key));
        // Cached: the deleted row is not read again until the key is published.
        Assert.Equal(HttpStatusCode.OK, (await api.GetAsync(handle)).StatusCode);
        Assert.Equal(1, counted["reftoken.cache_hits"]);

        Assert.True(Revocation.PublishRedis(Servers.RedisUrl, channel, key) >= 1);
        Assert.True(await Servers.Eventually(async () => (await api.GetAsync(handle)).StatusCode == HttpStatusCode.Unauthorized, Bound));
        Assert.Equal(1, counted["reftoken.evictions"]);
    }

    [Fact]
    public async Task WithTheListenerDownCachedTokensAreReadAgainPastTheBound()
    {
        using var store = new SqliteGrantStore();
        (string handle, string key) = Tokens.IssueActive(store);
        await using ApiHost api = await ApiHost.StartCachingAsync(store, o =>
        {
            o.RevocationRedis = "redis://127.0.0.1:1/";   // nothing listens there: the listener never connects
            o.StaleBound = TimeSpan.FromMilliseconds(200);
        });
        using var counted = new Counted(api);

        Assert.Equal(HttpStatusCode.OK, (await api.GetAsync(handle)).StatusCode);
        Assert.Equal(1, store.Delete(key));
        await Task.Delay(400);

        // Revocations may have been missed: the entry is past the bound and is not served.
        Assert.Equal(HttpStatusCode.Unauthorized, (await api.GetAsync(handle)).StatusCode);
        Assert.Equal(2, counted["reftoken.store_lookups"]);
        Assert.Equal(0, counted["reftoken.cache_hits"]);
        Assert.Contains(api.Logs.Entries, e => e.Id.Name == "ListenerNotConnected");
    }

    [Fact]
    public async Task UnknownHandlesAreNeverCached()
    {
        using var store = new SqliteGrantStore();
        string handle = TokenHandles.NewHandle();
        await using ApiHost api = await ApiHost.StartCachingAsync(store, _ => { });
        using var counted = new Counted(api);

        Assert.Equal(HttpStatusCode.Unauthorized, (await api.GetAsync(handle)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await api.GetAsync(handle)).StatusCode);
        Assert.Equal(2, counted["reftoken.store_lookups"]);
        // Issued after the first attempt (a replica catching up): found at once.
        store.Insert(StoreKeys.ForReferenceToken(handle), "reference_token", Tokens.UserTokenData(DateTimeOffset.UtcNow.AddMinutes(-1)));
        Assert.Equal(HttpStatusCode.OK, (await api.GetAsync(handle)).StatusCode);
        Assert.Equal(2, counted["reftoken.validations:inactive"]);
        Assert.Equal(1, counted["reftoken.validations:active"]);
    }

    [Fact]
    public async Task ProtectedGrantsAreReadThroughTheKeyRingReloadedForANewKey()
    {
        using var store = new SqliteGrantStore();
        DirectoryInfo keys = Directory.CreateTempSubdirectory("reftoken-aspnet-keys-");
        try
        {
            DateTimeOffset now = DateTimeOffset.UtcNow;
            WriteKey(keys.FullName, Guid.NewGuid(), now.AddDays(-10));
            string firstData;
            using (KeyRing first = KeyRing.LoadDirectory(keys.FullName, "my-idp"))
            {
                firstData = Tokens.UserTokenData(now.AddMinutes(-1), ring: first);
            }

            Assert.Contains("\"DataProtected\":true", firstData);
            (string first1, _) = Tokens.Issue(store, firstData);
            await using ApiHost api = await ApiHost.StartAsync(o =>
            {
                store.Configure(o);
                o.KeyRingDirectory = keys.FullName;
                o.ApplicationName = "my-idp";
                o.KeyRingReloadInterval = TimeSpan.Zero;
            });
            PrincipalView me = await api.MeAsync(first1);
            Assert.Equal("Alice Smith", me.Name);

            // IdentityServer's hosts roll a new key the API has not read yet.
            Guid rolled = Guid.NewGuid();
            WriteKey(keys.FullName, rolled, now.AddMinutes(-5));
            string secondData;
            using (KeyRing second = KeyRing.LoadDirectory(keys.FullName, "my-idp"))
            {
                Assert.Equal(rolled, second.GetDefaultKeyId(now));
                secondData = Tokens.UserTokenData(now.AddMinutes(-1), ring: second);
            }

            (string second1, _) = Tokens.Issue(store, secondData);
            Assert.Equal("Alice Smith", (await api.MeAsync(second1)).Name);

            // Another application's payloads stay unreadable: not active, not an outage.
            using (KeyRing other = KeyRing.LoadDirectory(keys.FullName, "another-app"))
            {
                (string foreign, _) = Tokens.Issue(store, Tokens.UserTokenData(now.AddMinutes(-1), ring: other));
                Assert.Equal(HttpStatusCode.Unauthorized, (await api.GetAsync(foreign)).StatusCode);
            }
        }
        finally
        {
            keys.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task NoTokenOrSecretInAnyLogMessage()
    {
        using var store = new PostgresGrantStore();
        DateTimeOffset now = DateTimeOffset.UtcNow;
        (string valid, string validKey) = Tokens.IssueActive(store);
        (string expired, _) = Tokens.Issue(store, Tokens.UserTokenData(now.AddHours(-2)));
        string unknown = TokenHandles.NewHandle();
        const string password = "pg-secret-never-logged";
        await using ApiHost api = await ApiHost.StartAsync(o =>
        {
            store.Configure(o);
            o.EnableCaching = true;
            o.RevocationPostgres = store.Url;
            o.StaleBound = Bound;
        });
        await WaitListening(api);
        await using ApiHost down = await ApiHost.StartAsync(o =>
            o.PostgresConnectionString = $"Host=127.0.0.1;Port=1;Username=u;Password={password};Timeout=2");

        string[] tokens = [valid, expired, unknown, "eyJ.eyJ.sig", "not-a-handle-" + Guid.NewGuid()];
        foreach (string t in tokens)
        {
            await api.GetAsync(t);
            await api.GetAsync(t);
            await down.GetAsync(t);
        }

        store.Delete(validKey);
        await Servers.Eventually(async () => (await api.GetAsync(valid)).StatusCode == HttpStatusCode.Unauthorized, Bound);

        string[] logs = [.. api.Logs.Texts, .. down.Logs.Texts];
        Assert.True(logs.Length > 10, $"only {logs.Length} log lines");
        Assert.Contains(logs, l => l.Contains("token not active", StringComparison.Ordinal));
        Assert.Contains(logs, l => l.Contains("could not be reached", StringComparison.Ordinal));
        foreach (string t in tokens)
        {
            // The handle and its random part alike (a log could trim the "-1").
            string core = t.Length > 20 ? t[..20] : t;
            Assert.DoesNotContain(logs, l => l.Contains(core, StringComparison.OrdinalIgnoreCase));
        }

        Assert.DoesNotContain(logs, l => l.Contains(password, StringComparison.Ordinal));
    }

    /// <summary>One key as ASP.NET Core's PersistKeysToFileSystem writes it.</summary>
    private static void WriteKey(string folder, Guid id, DateTimeOffset created)
    {
        string masterKey = Convert.ToBase64String(RandomNumberGenerator.GetBytes(64));
        File.WriteAllText(Path.Combine(folder, $"key-{id}.xml"), $"""
            <key id="{id}" version="1">
              <creationDate>{created.UtcDateTime:O}</creationDate>
              <activationDate>{created.UtcDateTime:O}</activationDate>
              <expirationDate>{created.UtcDateTime.AddDays(90):O}</expirationDate>
              <descriptor deserializerType="Microsoft.AspNetCore.DataProtection.AuthenticatedEncryption.ConfigurationModel.AuthenticatedEncryptorDescriptorDeserializer, Microsoft.AspNetCore.DataProtection">
                <descriptor>
                  <encryption algorithm="AES_256_CBC" />
                  <validation algorithm="HMACSHA256" />
                  <masterKey p4:requiresEncryption="true" xmlns:p4="http://schemas.asp.net/2015/03/dataProtection">
                    <value>{masterKey}</value>
                  </masterKey>
                </descriptor>
              </descriptor>
            </key>
            """);
    }
}
