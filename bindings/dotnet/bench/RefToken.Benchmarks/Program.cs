using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Security.Claims;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Threading.Tasks;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Running;
using Duende.IdentityServer.Events;
using Duende.IdentityServer.Models;
using Duende.IdentityServer.ResponseHandling;
using Duende.IdentityServer.Services;
using Duende.IdentityServer.Stores;
using Duende.IdentityServer.Stores.Serialization;
using Duende.IdentityServer.Validation;
using Microsoft.Extensions.Logging.Abstractions;
using RefToken;
using RefToken.IdentityServer;
using Grant = RefToken.Grant;

// Side by side in one process: IdentityServer's managed implementations against the P/Invoke path.
// ShortRun with MemoryDiagnoser; the Ratio column is each mean divided by the managed baseline's.
string[] arguments = args.Length == 0 ? ["--filter", "*"] : args;
if (!arguments.Contains("--artifacts"))
{
    // Results land beside the build output (git-ignored), not in the current folder.
    arguments = [.. arguments, "--artifacts", System.IO.Path.Combine(AppContext.BaseDirectory, "BenchmarkDotNet.Artifacts")];
}

BenchmarkSwitcher.FromAssembly(typeof(KeyHashing).Assembly).Run(arguments);

[ShortRunJob]
[MemoryDiagnoser]
public class KeyHashing
{
    private readonly StockStore _stock = new();
    private readonly NativeStore _native = new();
    private string _handle = "";

    [GlobalSetup]
    public void Setup()
    {
        _handle = TokenHandles.NewHandle();
        if (_stock.Key(_handle) != _native.Key(_handle))
        {
            throw new InvalidOperationException("keys differ");
        }
    }

    [Benchmark(Baseline = true, Description = "IdentityServer DefaultReferenceTokenStore.GetHashedKey")]
    public string Managed() => _stock.Key(_handle);

    [Benchmark(Description = "NativeReferenceTokenStore.GetHashedKey (P/Invoke)")]
    public string Native() => _native.Key(_handle);

    private sealed class StockStore : DefaultReferenceTokenStore
    {
        public StockStore() : base(null!, null!, null!, null!) { }
        public string Key(string handle) => GetHashedKey(handle);
    }

    private sealed class NativeStore : NativeReferenceTokenStore
    {
        public NativeStore() : base(null!, null!, null!, null!) { }
        public string Key(string handle) => GetHashedKey(handle);
    }
}

[ShortRunJob]
[MemoryDiagnoser]
public class HandleGeneration
{
    private readonly IHandleGenerationService _stock = new DefaultHandleGenerationService();
    private readonly IHandleGenerationService _native = new NativeHandleGenerationService();

    [Benchmark(Baseline = true, Description = "IdentityServer DefaultHandleGenerationService.GenerateAsync(32)")]
    public string Managed() => _stock.GenerateAsync(32).GetAwaiter().GetResult();

    [Benchmark(Description = "NativeHandleGenerationService.GenerateAsync(32) (P/Invoke)")]
    public string Native() => _native.GenerateAsync(32).GetAwaiter().GetResult();
}

[ShortRunJob]
[MemoryDiagnoser]
public class IntrospectionBuilding
{
    private static readonly JsonSerializerOptions EndpointJson = new() { DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };
    private readonly IntrospectionResponseGenerator _stock = new(new NoEvents(), NullLogger<IntrospectionResponseGenerator>.Instance);
    private readonly NativeIntrospectionResponseGenerator _native = new(new NoEvents(), NullLogger<IntrospectionResponseGenerator>.Instance, Microsoft.Extensions.Options.Options.Create(new RefTokenNativeOptions { NativeIntrospection = true }));
    private readonly NativeIntrospectionResponseGenerator _default = new(new NoEvents(), NullLogger<IntrospectionResponseGenerator>.Instance, Microsoft.Extensions.Options.Options.Create(new RefTokenNativeOptions()));
    private readonly PersistentGrantSerializer _serializer = new();
    private readonly byte[] _buffer = new byte[4096];
    private IntrospectionRequestValidationResult _result = null!;
    private ApiResource _api = null!;
    private string _handle = "";
    private string _data = "";
    private byte[] _dataUtf8 = [];
    private Grant _grant = null!;
    private IntrospectionCaller _caller = null!;
    private DateTimeOffset _now;

    [GlobalSetup]
    public void Setup()
    {
        // A typical reference token from the token endpoint: a user's token with two audiences,
        // three scopes and the usual session claims, stored as IdentityServer stores it.
        var created = new DateTime(2025, 3, 1, 11, 59, 0, DateTimeKind.Utc);
        long t = new DateTimeOffset(created).ToUnixTimeSeconds();
        var token = new Token("access_token")
        {
            CreationTime = created,
            Issuer = "https://idsvr.test",
            Lifetime = 3600,
            ClientId = "client1",
            AccessTokenType = AccessTokenType.Reference,
            Audiences = ["api1", "api2"],
            Claims =
            [
                new("client_id", "client1"),
                new("sub", "alice"),
                new("auth_time", t.ToString(CultureInfo.InvariantCulture), ClaimValueTypes.Integer64),
                new("idp", "local"),
                new("amr", "pwd"),
                new("sid", "5E3F1A2B4C6D8E0F"),
                new("jti", "9A8B7C6D5E4F3A2B1C0D9E8F7A6B5C4D"),
                new("scope", "api1.read"),
                new("scope", "api1.write"),
                new("scope", "api2.read"),
            ],
        };
        _data = _serializer.Serialize(token);
        _dataUtf8 = System.Text.Encoding.UTF8.GetBytes(_data);
        _api = new ApiResource("api1") { Scopes = ["api1.read", "api1.write"] };
        _handle = TokenHandles.NewHandle();
        _result = Validated(token);

        _grant = Grant.Parse(_data);
        _caller = IntrospectionCaller.Api("api1", "api1.read api1.write");
        _now = DateTimeOffset.FromUnixTimeSeconds(t + 60);

        string expected = System.Text.Encoding.UTF8.GetString(Managed());
        foreach (byte[] other in new[] { AddRefTokenNativeGenerator(), AddRefTokenNativeDefault(), InteropBytes(), FromRowManaged(), Span(_buffer.AsSpan(0, InteropSpan())), Span(_buffer.AsSpan(0, FromRowNative())) })
        {
            if (System.Text.Encoding.UTF8.GetString(other) != expected)
            {
                throw new InvalidOperationException("responses differ: " + System.Text.Encoding.UTF8.GetString(other) + " vs " + expected);
            }
        }

        static byte[] Span(Span<byte> s) => s.ToArray();
    }

    /// <summary>What IdentityServer's token validator hands the endpoint for a reference token (TokenValidator.ReferenceTokenToClaims).</summary>
    private IntrospectionRequestValidationResult Validated(Token token)
    {
        string nbf = new DateTimeOffset(token.CreationTime).ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        var claims = new List<Claim>
        {
            new("iss", token.Issuer),
            new("nbf", nbf, ClaimValueTypes.Integer64),
            new("iat", nbf, ClaimValueTypes.Integer64),
            new("exp", new DateTimeOffset(token.CreationTime).AddSeconds(token.Lifetime).ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture), ClaimValueTypes.Integer64),
        };
        foreach (string aud in token.Audiences)
        {
            claims.Add(new Claim("aud", aud));
        }

        claims.AddRange(token.Claims.Where(c => c.Type is not ("iat" or "iss" or "nbf" or "exp")));
        return new IntrospectionRequestValidationResult { IsActive = true, Token = _handle, Claims = claims, Api = _api };
    }

    [Benchmark(Baseline = true, Description = "validated claims: IdentityServer IntrospectionResponseGenerator + endpoint JSON")]
    public byte[] Managed() => JsonSerializer.SerializeToUtf8Bytes(_stock.ProcessAsync(_result).GetAwaiter().GetResult(), EndpointJson);

    [Benchmark(Description = "validated claims: AddRefTokenNative()'s generator by default (NativeIntrospection off) + endpoint JSON")]
    public byte[] AddRefTokenNativeDefault() => JsonSerializer.SerializeToUtf8Bytes(_default.ProcessAsync(_result).GetAwaiter().GetResult(), EndpointJson);

    [Benchmark(Description = "validated claims: NativeIntrospectionResponseGenerator (NativeIntrospection on) + endpoint JSON")]
    public byte[] AddRefTokenNativeGenerator() => JsonSerializer.SerializeToUtf8Bytes(_native.ProcessAsync(_result).GetAwaiter().GetResult(), EndpointJson);

    [Benchmark(Description = "parsed grant: Grant.IntrospectUtf8 (new byte[])")]
    public byte[] InteropBytes() => _grant.IntrospectUtf8(_caller, _now);

    [Benchmark(Description = "parsed grant: Grant.TryIntrospect (into a Span<byte>)")]
    public int InteropSpan() => _grant.TryIntrospect(_caller, _now, null, _buffer, out int n) ? n : -1;

    [Benchmark(Description = "stored row: PersistentGrantSerializer + token validator claims + generator + JSON")]
    public byte[] FromRowManaged()
    {
        Token token = _serializer.Deserialize<Token>(_data);
        return JsonSerializer.SerializeToUtf8Bytes(_stock.ProcessAsync(Validated(token)).GetAwaiter().GetResult(), EndpointJson);
    }

    [Benchmark(Description = "stored row: Introspection.TryIntrospectData (Data column -> Span<byte>)")]
    public int FromRowNative() => Introspection.TryIntrospectData(_dataUtf8, null, _caller, _now, null, _buffer, out int n) ? n : -1;

    private sealed class NoEvents : IEventService
    {
        public bool CanRaiseEventType(EventTypes evtType) => false;
        public Task RaiseAsync(Event evt) => Task.CompletedTask;
    }
}
