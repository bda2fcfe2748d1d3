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
    private readonly NativeIntrospectionResponseGenerator _native = new(new NoEvents(), NullLogger<IntrospectionResponseGenerator>.Instance, Microsoft.Extensions.Options.Options.Create(new RefTokenNativeOptions()));
    private IntrospectionRequestValidationResult _result = null!;
    private Grant _grant = null!;
    private IntrospectionCaller _caller = null!;
    private DateTimeOffset _now;

    [GlobalSetup]
    public void Setup()
    {
        // A typical reference token from the token endpoint: client credentials with a subject-like
        // set of claims, two audiences and three scopes.
        var created = new DateTime(2025, 3, 1, 11, 59, 0, DateTimeKind.Utc);
        long t = new DateTimeOffset(created).ToUnixTimeSeconds();
        var claims = new List<Claim>
        {
            new("iss", "https://idsvr.test"),
            new("nbf", t.ToString(CultureInfo.InvariantCulture), ClaimValueTypes.Integer64),
            new("iat", t.ToString(CultureInfo.InvariantCulture), ClaimValueTypes.Integer64),
            new("exp", (t + 3600).ToString(CultureInfo.InvariantCulture), ClaimValueTypes.Integer64),
            new("aud", "api1"),
            new("aud", "api2"),
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
        };
        var api = new ApiResource("api1") { Scopes = ["api1.read", "api1.write"] };
        _result = new IntrospectionRequestValidationResult { IsActive = true, Token = TokenHandles.NewHandle(), Claims = claims, Api = api };

        // The raw Interop path starts from the parsed Data column.
        using Grant g = Grant.Create("client1", "https://idsvr.test", t, 3600);
        g.AddAudience("api1");
        g.AddAudience("api2");
        foreach (Claim c in claims.Skip(6))
        {
            g.AddClaim(c.Type, c.Value, c.ValueType == ClaimValueTypes.String ? null : c.ValueType);
        }

        _grant = Grant.Parse(g.ToData());
        _caller = IntrospectionCaller.Api("api1", "api1.read api1.write");
        _now = DateTimeOffset.FromUnixTimeSeconds(t + 60);

        string managed = Managed().Length.ToString(CultureInfo.InvariantCulture);
        if (System.Text.Encoding.UTF8.GetString(AddRefTokenNativeGenerator()) != System.Text.Encoding.UTF8.GetString(ManagedBytes())
            || System.Text.Encoding.UTF8.GetString(Interop()) != System.Text.Encoding.UTF8.GetString(ManagedBytes()))
        {
            throw new InvalidOperationException("responses differ: " + managed);
        }
    }

    private byte[] ManagedBytes() => JsonSerializer.SerializeToUtf8Bytes(_stock.ProcessAsync(_result).GetAwaiter().GetResult(), EndpointJson);

    [Benchmark(Baseline = true, Description = "IdentityServer IntrospectionResponseGenerator + endpoint JSON")]
    public byte[] Managed() => ManagedBytes();

    [Benchmark(Description = "NativeIntrospectionResponseGenerator + endpoint JSON (claims -> native grant -> P/Invoke)")]
    public byte[] AddRefTokenNativeGenerator() => JsonSerializer.SerializeToUtf8Bytes(_native.ProcessAsync(_result).GetAwaiter().GetResult(), EndpointJson);

    [Benchmark(Description = "RefToken.Interop Grant.IntrospectUtf8 (parsed Data -> response bytes)")]
    public byte[] Interop() => _grant.IntrospectUtf8(_caller, _now);

    private sealed class NoEvents : IEventService
    {
        public bool CanRaiseEventType(EventTypes evtType) => false;
        public Task RaiseAsync(Event evt) => Task.CompletedTask;
    }
}
