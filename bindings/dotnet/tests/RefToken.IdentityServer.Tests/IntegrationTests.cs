using System;
using System.Collections.Generic;
using System.Linq;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Threading.Tasks;
using Duende.IdentityServer.EntityFramework.DbContexts;
using Duende.IdentityServer.Models;
using Duende.IdentityServer.ResponseHandling;
using Duende.IdentityServer.Services;
using Duende.IdentityServer.Stores;
using Duende.IdentityServer.Stores.Serialization;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using RefToken.Tests;
using Xunit;

namespace RefToken.IdentityServer.Tests;

/// <summary>
/// One deployment with two IdentityServer hosts over the same EF Core SQLite store and key ring:
/// stock Duende, and Duende with AddRefTokenNative().
/// </summary>
public class MixedDeployment : IAsyncLifetime
{
    public MixedDeployment()
        : this(postgres: false)
    {
    }

    protected MixedDeployment(bool postgres) => Deployment = new Deployment(postgres);

    public Deployment Deployment { get; }
    public IdsHost Stock { get; private set; } = null!;
    public IdsHost Native { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Stock = await IdsHost.StartAsync(Deployment, native: false);
        Native = await IdsHost.StartAsync(Deployment, native: true);
    }

    public async Task DisposeAsync()
    {
        await Native.DisposeAsync();
        await Stock.DisposeAsync();
        Deployment.Dispose();
    }

    /// <summary>The stored row of a handle, found by the native store key.</summary>
    public async Task<PersistedGrant?> RowAsync(string handle, string grantType = "reference_token")
    {
        using IServiceScope scope = Stock.Services.CreateScope();
        var db = scope.ServiceProvider.GetRequiredService<PersistedGrantDbContext>();
        string key = StoreKeys.Compute(handle, grantType);
        var row = await db.PersistedGrants.AsNoTracking().SingleOrDefaultAsync(g => g.Key == key);
        return row is null ? null : new PersistedGrant { Key = row.Key, Type = row.Type, Data = row.Data, ClientId = row.ClientId, SubjectId = row.SubjectId };
    }

    /// <summary>What the native library answers from the stored row (with the deployment's key ring).</summary>
    public async Task<string> NativeFromRowAsync(string handle, IntrospectionCaller caller)
    {
        PersistedGrant? row = await RowAsync(handle);
        if (row is null || row.Type != "reference_token")
        {
            return "{\"active\":false}";
        }

        using KeyRing ring = KeyRing.LoadDirectory(Deployment.KeyRingDirectory, Deployment.AppName);
        var options = new IntrospectionOptions { IsClientEnabled = id => id is "client1" or "client2" };
        return Introspection.IntrospectData(row.Data, ring, caller, Deployment.Clock.Current, options);
    }
}

/// <summary>The same deployment with IdentityServer's EF Core operational store on PostgreSQL (Npgsql).</summary>
public sealed class PostgresMixedDeployment : MixedDeployment
{
    public PostgresMixedDeployment()
        : base(postgres: true)
    {
    }
}

/// <summary>The integration tests on IdentityServer's EF Core store over SQLite.</summary>
public sealed class IntegrationTests : IntegrationTestsBase, IClassFixture<MixedDeployment>
{
    public IntegrationTests(MixedDeployment d)
        : base(d)
    {
    }
}

/// <summary>The same tests on IdentityServer's EF Core store over PostgreSQL.</summary>
public sealed class PostgresIntegrationTests : IntegrationTestsBase, IClassFixture<PostgresMixedDeployment>
{
    public PostgresIntegrationTests(PostgresMixedDeployment d)
        : base(d)
    {
    }

    [Fact]
    public async Task RowsLiveInPostgres()
    {
        string handle = await _d.Native.IssueAsync("client1", "api1.read");
        await using var c = new Npgsql.NpgsqlConnection(_d.Deployment.PostgresConnectionString);
        await c.OpenAsync();
        await using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT \"Type\", \"ClientId\" FROM \"PersistedGrants\" WHERE \"Key\" = @k";
        cmd.Parameters.AddWithValue("k", StoreKeys.Compute(handle, "reference_token"));
        await using var r = await cmd.ExecuteReaderAsync();
        Assert.True(await r.ReadAsync());
        Assert.Equal("reference_token", r.GetString(0));
        Assert.Equal("client1", r.GetString(1));
    }
}

public abstract class IntegrationTestsBase
{
    private static readonly IntrospectionCaller Api1 = IntrospectionCaller.Api("api1", Deployment.Api1Scopes);
    private static readonly IntrospectionCaller Api2 = IntrospectionCaller.Api("api2", Deployment.Api2Scopes);

    protected readonly MixedDeployment _d;

    protected IntegrationTestsBase(MixedDeployment d)
    {
        _d = d;
        _d.Deployment.Clock.Current = DateTimeOffset.UtcNow;
    }

    private static void SameFields(string expected, string actual)
    {
        Assert.Equal(expected, actual);
        using JsonDocument e = JsonDocument.Parse(expected), a = JsonDocument.Parse(actual);
        Assert.Equal(
            e.RootElement.EnumerateObject().Select(p => (p.Name, p.Value.GetRawText())),
            a.RootElement.EnumerateObject().Select(p => (p.Name, p.Value.GetRawText())));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ClientCredentialsTokenIntrospectedByApiMatchesNativeFromRow(bool issuedByNative)
    {
        IdsHost issuer = issuedByNative ? _d.Native : _d.Stock;
        string handle = await issuer.IssueAsync("client1", "api1.read api2.read");
        Assert.Matches("^[0-9A-F]{64}-1$", handle);

        PersistedGrant row = (await _d.RowAsync(handle))!;
        Assert.NotNull(row);
        Assert.Equal(Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(handle + ":reference_token"))), row.Key);
        Assert.Contains("\"DataProtected\":true", row.Data);

        foreach (IdsHost host in new[] { _d.Stock, _d.Native })
        {
            var (status, contentType, body) = await host.IntrospectAsync(handle, "api1", "api1-secret");
            Assert.Equal(200, status);
            Assert.Equal("application/json; charset=UTF-8", contentType);
            Assert.Contains("\"active\":true", body);
            SameFields(await _d.NativeFromRowAsync(handle, Api1), body);

            (status, _, body) = await host.IntrospectAsync(handle, "api2", "api2-secret"); // SHA-512 secret
            Assert.Equal(200, status);
            SameFields(await _d.NativeFromRowAsync(handle, Api2), body);

            (status, _, body) = await host.IntrospectAsync(handle, "client1", "client1-secret");
            Assert.Equal(200, status);
            Assert.Contains("\"token_type\":\"access_token\"", body);
            SameFields(await _d.NativeFromRowAsync(handle, IntrospectionCaller.Client("client1")), body);

            (status, _, body) = await host.IntrospectAsync(handle, "client2", "client2-secret");
            Assert.Equal("{\"active\":false}", body);

            (status, _, _) = await host.IntrospectAsync(handle, "api1", "wrong");
            Assert.Equal(401, status);
        }
    }

    [Fact]
    public async Task JwtResponsesCarryTheSameIntrospection()
    {
        string handle = await _d.Native.IssueAsync("client1", "api1.read");
        var (_, _, json) = await _d.Stock.IntrospectAsync(handle, "api1", "api1-secret");
        foreach (IdsHost host in new[] { _d.Stock, _d.Native })
        {
            var (status, contentType, jwt) = await host.IntrospectAsync(handle, "api1", "api1-secret", jwt: true);
            Assert.Equal(200, status);
            Assert.Equal("application/token-introspection+jwt", contentType);
            string payload = jwt.Split('.')[1].Replace('-', '+').Replace('_', '/');
            payload = payload.PadRight(payload.Length + ((4 - (payload.Length % 4)) % 4), '=');
            using JsonDocument doc = JsonDocument.Parse(Convert.FromBase64String(payload));
            Assert.Equal(json, doc.RootElement.GetProperty("token_introspection").GetRawText());
        }
    }

    [Fact]
    public async Task LegacyBase64KeyRowsValidateOnBothHosts()
    {
        // An IdentityServer4 / Duende 5 handle: no "-1", base64 store key, written by the stock host.
        string handle = TokenHandles.RandomHex(32);
        var token = new Token(IdentityServerConstants_TokenTypes_AccessToken)
        {
            ClientId = "client1",
            Issuer = Deployment.Issuer,
            CreationTime = _d.Deployment.Clock.Current.UtcDateTime.AddSeconds(-10),
            Lifetime = 3600,
            AccessTokenType = AccessTokenType.Reference,
            Audiences = ["api1"],
            Claims = [new("client_id", "client1"), new("scope", "api1.read"), new("sub", "legacy-sub")],
        };
        using (IServiceScope scope = _d.Stock.Services.CreateScope())
        {
            var serializer = scope.ServiceProvider.GetRequiredService<IPersistentGrantSerializer>();
            await scope.ServiceProvider.GetRequiredService<IPersistedGrantStore>().StoreAsync(new PersistedGrant
            {
                Key = Convert.ToBase64String(SHA256.HashData(Encoding.UTF8.GetBytes(handle + ":reference_token"))),
                Type = "reference_token",
                ClientId = "client1",
                SubjectId = "legacy-sub",
                CreationTime = token.CreationTime,
                Expiration = token.CreationTime.AddSeconds(3600),
                Data = serializer.Serialize(token),
            });
        }

        Assert.Equal(44, (await _d.RowAsync(handle))!.Key.Length);
        var (_, _, stock) = await _d.Stock.IntrospectAsync(handle, "api1", "api1-secret");
        var (_, _, native) = await _d.Native.IntrospectAsync(handle, "api1", "api1-secret");
        Assert.Contains("\"sub\":\"legacy-sub\"", stock);
        Assert.Equal(stock, native);
        SameFields(await _d.NativeFromRowAsync(handle, Api1), native);
    }

    private const string IdentityServerConstants_TokenTypes_AccessToken = "access_token";

    public static IEnumerable<object[]> FixtureTokens() =>
        Fixtures.Grants
            .Where(r => r.Db == "persisted-grants.db" && r.Type == "reference_token" && r.GrantType == "reference_token" && r.Payload is not null && r.IsContainer)
            .Select(r => new object[] { r.Name });

    /// <summary>
    /// Every token of the Duende fixtures, stored through the stock host and introspected by both
    /// hosts as APIs and clients: the same status and the same bytes, and the native answer from the row.
    /// </summary>
    [Theory]
    [MemberData(nameof(FixtureTokens))]
    public async Task FixtureTokensAnswerTheSameOnBothHosts(string name)
    {
        _d.Deployment.Clock.Current = Fixtures.Now;
        GrantRow fixture = Fixtures.Grant(name);
        Token token = new PersistentGrantSerializer().Deserialize<Token>(fixture.Payload!);
        string handle;
        using (IServiceScope scope = _d.Stock.Services.CreateScope())
        {
            handle = await scope.ServiceProvider.GetRequiredService<IReferenceTokenStore>().StoreReferenceTokenAsync(token);
        }

        foreach (var (id, secret, caller) in new[]
        {
            ("api1", "api1-secret", Api1), ("api2", "api2-secret", Api2),
            ("client1", "client1-secret", IntrospectionCaller.Client("client1")), ("client2", "client2-secret", IntrospectionCaller.Client("client2")),
        })
        {
            var stock = await _d.Stock.IntrospectAsync(handle, id, secret);
            var native = await _d.Native.IntrospectAsync(handle, id, secret);
            Assert.Equal(stock.Status, native.Status);
            Assert.Equal(stock.Body, native.Body);
            if (stock.Status == 200)
            {
                SameFields(await _d.NativeFromRowAsync(handle, caller), native.Body);
            }
            else
            {
                Assert.Equal(500, stock.Status);
                await Assert.ThrowsAsync<RefTokenException>(() => _d.NativeFromRowAsync(handle, caller));
            }
        }
    }
}

/// <summary>The extension points one by one, against IdentityServer's own implementations.</summary>
public class ComponentTests : IClassFixture<MixedDeployment>
{
    private readonly MixedDeployment _d;

    public ComponentTests(MixedDeployment d) => _d = d;

    [Fact]
    public void AddRefTokenNativeReplacesTheDefaults()
    {
        using IServiceScope scope = _d.Native.Services.CreateScope();
        IServiceProvider sp = scope.ServiceProvider;
        Assert.IsType<NativeHandleGenerationService>(sp.GetRequiredService<IHandleGenerationService>());
        Assert.IsType<NativeReferenceTokenStore>(sp.GetRequiredService<IReferenceTokenStore>());
        var serializer = Assert.IsType<NativePersistentGrantSerializer>(sp.GetRequiredService<IPersistentGrantSerializer>());
        Assert.True(serializer.UsesNativeKeyRing);
        Assert.IsType<NativeIntrospectionResponseGenerator>(sp.GetRequiredService<IIntrospectionResponseGenerator>());

        using IServiceScope stock = _d.Stock.Services.CreateScope();
        Assert.IsNotType<NativeReferenceTokenStore>(stock.ServiceProvider.GetRequiredService<IReferenceTokenStore>());
    }

    [Fact]
    public async Task HandleGeneration()
    {
        var service = new NativeHandleGenerationService();
        Assert.Matches("^[0-9A-F]{64}$", await service.GenerateAsync());
        Assert.Matches("^[0-9A-F]{32}$", await service.GenerateAsync(16));
        var stock = new DefaultHandleGenerationService();
        Assert.Equal((await stock.GenerateAsync(32)).Length, (await service.GenerateAsync(32)).Length);
    }

    [Fact]
    public async Task HandleGenerationRefusesBadLengthsAsArguments()
    {
        var service = new NativeHandleGenerationService();
        ArgumentException zero = await Assert.ThrowsAnyAsync<ArgumentException>(() => service.GenerateAsync(0));
        Assert.Equal(RefTokenStatus.InvalidArgument, Assert.IsType<RefTokenArgumentException>(zero).Status);
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => service.GenerateAsync(-1));
        // Over the limit is a size failure, not a refused argument.
        var large = await Assert.ThrowsAsync<RefTokenException>(() => service.GenerateAsync(TokenHandles.MaxRandomBytes + 1));
        Assert.Equal(RefTokenStatus.InputTooLarge, large.Status);
    }

    private sealed class StockKeys : DefaultReferenceTokenStore
    {
        public StockKeys() : base(null!, null!, null!, null!) { }
        public string Key(string handle) => GetHashedKey(handle);
    }

    private sealed class NativeKeys : NativeReferenceTokenStore
    {
        public NativeKeys() : base(null!, null!, null!, null!) { }
        public string Key(string handle) => GetHashedKey(handle);
    }

    [Fact]
    public void StoreKeysAreIdentityServers()
    {
        var stock = new StockKeys();
        var native = new NativeKeys();
        string[] handles =
        [
            TokenHandles.NewHandle(), TokenHandles.RandomHex(), "", "-1", "é-1", "é", new string('A', 5000), new string('B', 4999) + "-1",
        ];
        foreach (string h in handles.Concat(Enumerable.Range(0, 200).Select(_ => TokenHandles.NewHandle())))
        {
            Assert.Equal(stock.Key(h), native.Key(h));
        }
    }

    [Fact]
    public void SerializerReadsAndWritesWhatIdentityServerDoes()
    {
        using IServiceScope n = _d.Native.Services.CreateScope();
        using IServiceScope s = _d.Stock.Services.CreateScope();
        var native = n.ServiceProvider.GetRequiredService<IPersistentGrantSerializer>();
        var stock = s.ServiceProvider.GetRequiredService<IPersistentGrantSerializer>();
        var token = new Token("access_token")
        {
            ClientId = "client1",
            Issuer = "https://i",
            CreationTime = new DateTime(2025, 3, 1, 12, 0, 0, DateTimeKind.Utc),
            Lifetime = 60,
            Audiences = ["api1"],
            Claims = [new("scope", "api1.read"), new("n", "1", "http://www.w3.org/2001/XMLSchema#integer")],
        };
        string fromNative = native.Serialize(token);
        string fromStock = stock.Serialize(token);
        Assert.StartsWith("{\"PersistentGrantDataContainerVersion\":1,\"DataProtected\":true,\"Payload\":\"CfDJ8", fromNative);
        string json = new PersistentGrantSerializer().Serialize(token);
        string expectedPayload = JsonDocument.Parse(json).RootElement.GetProperty("Payload").GetString()!;
        foreach (string data in new[] { fromNative, fromStock })
        {
            Assert.Equal(expectedPayload, new PersistentGrantSerializer().Serialize(native.Deserialize<Token>(data)) is var a ? JsonDocument.Parse(a).RootElement.GetProperty("Payload").GetString() : null);
            Assert.Equal(expectedPayload, JsonDocument.Parse(new PersistentGrantSerializer().Serialize(stock.Deserialize<Token>(data))).RootElement.GetProperty("Payload").GetString());
        }

        // Refresh tokens and other grants go through the same container.
        var refresh = new RefreshToken { ClientId = "client1", CreationTime = token.CreationTime, Lifetime = 100, Version = 5 };
        Assert.Equal("client1", stock.Deserialize<RefreshToken>(native.Serialize(refresh)).ClientId);

        // The host's own Data Protection when no native key ring is configured.
        var hostOnly = new NativePersistentGrantSerializer(
            new PersistentGrantOptions(),
            new NativeKeyRingSource(Microsoft.Extensions.Options.Options.Create(new RefTokenNativeOptions())),
            s.ServiceProvider.GetRequiredService<IDataProtectionProvider>());
        Assert.False(hostOnly.UsesNativeKeyRing);
        Assert.Equal("client1", native.Deserialize<Token>(hostOnly.Serialize(token)).ClientId);

        // Unprotected: byte for byte what IdentityServer writes.
        var plainNative = new NativePersistentGrantSerializer(new PersistentGrantOptions { DataProtectData = false }, n.ServiceProvider.GetRequiredService<NativeKeyRingSource>());
        Assert.Equal(json.Replace("\"DataProtected\":false", "\"DataProtected\":false"), plainNative.Serialize(token));
    }

    [Fact]
    public void NativeKeyRingNeedsAnApplicationName()
    {
        Assert.Throws<InvalidOperationException>(() => new NativeKeyRingSource(
            Microsoft.Extensions.Options.Options.Create(new RefTokenNativeOptions { KeyRingDirectory = _d.Deployment.KeyRingDirectory })));
    }
}
