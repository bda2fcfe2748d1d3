using System;
using System.Collections.Generic;
using System.Diagnostics.Metrics;
using System.Linq;
using System.Reflection;
using System.Text.Json;
using System.Threading.Tasks;
using Duende.IdentityServer.Configuration;
using Duende.IdentityServer.Models;
using Duende.IdentityServer.ResponseHandling;
using Duende.IdentityServer.Services;
using Duende.IdentityServer.Stores.Serialization;
using Duende.IdentityServer.Validation;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using RefToken.Tests;
using Xunit;

namespace RefToken.IdentityServer.Tests;

/// <summary>
/// The extension points as a host extends and operates them: subclassing the handle service as
/// IdentityServer's default is subclassed, the serializer without a native key ring, and the log
/// line and metric that say who built each introspection response.
/// </summary>
public class ExtensionPointTests
{
    [Fact]
    public void HandleServiceHasTheMembersOfIdentityServersDefault()
    {
        Assert.False(typeof(NativeHandleGenerationService).IsSealed);
        static string[] Surface(Type t) => t.GetMethods(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.DeclaredOnly)
            .Where(m => m.IsPublic || m.IsFamily || m.IsFamilyOrAssembly)
            .Select(m => $"{(m.IsPublic ? "public" : "protected")} {(m.IsVirtual && !m.IsFinal ? "virtual " : "")}{m.ReturnType} {m.Name}({string.Join(", ", m.GetParameters().Select(p => p.ParameterType.Name))})")
            .Order(StringComparer.Ordinal)
            .ToArray();
        Assert.Equal(Surface(typeof(DefaultHandleGenerationService)), Surface(typeof(NativeHandleGenerationService)));
        Assert.Equal(
            typeof(DefaultHandleGenerationService).GetConstructors().Select(c => c.GetParameters().Length),
            typeof(NativeHandleGenerationService).GetConstructors().Select(c => c.GetParameters().Length));
    }

    [Fact]
    public async Task HandleServiceSubclassReplacesTheNativeOne()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddIdentityServer().AddRefTokenNative();
        services.AddTransient<IHandleGenerationService, PrefixedHandles>();
        using ServiceProvider sp = services.BuildServiceProvider();
        IHandleGenerationService handles = sp.GetRequiredService<IHandleGenerationService>();
        Assert.IsType<PrefixedHandles>(handles);

        string handle = await handles.GenerateAsync(16);
        Assert.StartsWith("P-", handle, StringComparison.Ordinal);
        Assert.Matches("^P-[0-9A-F]{32}$", handle);
        // Through the base type too, as IdentityServer's own subclassing pattern resolves it.
        Assert.Matches("^P-[0-9A-F]{64}$", await ((IHandleGenerationService)new PrefixedHandles()).GenerateAsync());
    }

    /// <summary>A host's subclass, written as for IdentityServer's DefaultHandleGenerationService.</summary>
    private sealed class PrefixedHandles : NativeHandleGenerationService, IHandleGenerationService
    {
        public new async Task<string> GenerateAsync(int length = 32) => "P-" + await base.GenerateAsync(length);
    }

    [Fact]
    public void SerializerWithoutKeyRingIsIdentityServersWithoutDataProtection()
    {
        Token token = new PersistentGrantSerializer().Deserialize<Token>(Fixtures.Grant("basic").Payload!);
        var options = new PersistentGrantOptions(); // DataProtectData = true, but no provider
        var stock = new PersistentGrantSerializer(options);
        var native = new NativePersistentGrantSerializer(options);
        Assert.False(native.UsesNativeKeyRing);
        string written = native.Serialize(token);
        Assert.Equal(stock.Serialize(token), written);
        Assert.Contains("\"DataProtected\":false", written, StringComparison.Ordinal);
        Assert.Equal(token.ClientId, native.Deserialize<Token>(written).ClientId);

        // A protected row: IdentityServer's serializer refuses it without a provider, and so does this one.
        string protectedRow = Fixtures.Grant("basic").Data;
        Assert.Contains("\"DataProtected\":true", protectedRow, StringComparison.Ordinal);
        Exception expected = Assert.ThrowsAny<Exception>(() => stock.Deserialize<Token>(protectedRow));
        Exception actual = Assert.ThrowsAny<Exception>(() => native.Deserialize<Token>(protectedRow));
        Assert.Equal(expected.GetType(), actual.GetType());
        Assert.Equal(expected.Message, actual.Message);

        // From DI with neither a key ring source nor Data Protection registered.
        var services = new ServiceCollection();
        services.AddSingleton(options);
        using ServiceProvider sp = services.BuildServiceProvider();
        var fromDi = ActivatorUtilities.CreateInstance<NativePersistentGrantSerializer>(sp);
        Assert.Equal(stock.Serialize(token), fromDi.Serialize(token));

        // With the host's Data Protection and no key ring: the host's provider protects.
        var dp = new ServiceCollection().AddDataProtection().SetApplicationName("reftoken-tests").Services.BuildServiceProvider();
        var hostProtected = new NativePersistentGrantSerializer(options, null, dp.GetRequiredService<IDataProtectionProvider>());
        string row = hostProtected.Serialize(token);
        Assert.Contains("\"DataProtected\":true", row, StringComparison.Ordinal);
        Assert.Equal(token.ClientId, new PersistentGrantSerializer(options, dp.GetRequiredService<IDataProtectionProvider>()).Deserialize<Token>(row).ClientId);
    }

    [Fact]
    public void NativeIntrospectionIsOffByDefault()
    {
        Assert.False(new RefTokenNativeOptions().NativeIntrospection);
    }

    [Fact]
    public async Task EachResponseIsLoggedAndCountedAsNativeOrFallback()
    {
        var services = new ServiceCollection();
        services.AddMetrics();
        services.AddSingleton<RefTokenIdentityServerMetrics>();
        using ServiceProvider sp = services.BuildServiceProvider();
        var metrics = sp.GetRequiredService<RefTokenIdentityServerMetrics>();
        var measured = new List<(string Path, string? Reason)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (ReferenceEquals(instrument.Meter, metrics.Meter) && instrument.Name == "reftoken.introspection.responses")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, state) =>
        {
            Assert.Equal(1, value);
            var t = tags.ToArray().ToDictionary(kv => kv.Key, kv => kv.Value as string);
            measured.Add((t["path"]!, t.GetValueOrDefault("reason")));
        });
        listener.Start();

        var logger = new ListLogger();
        NativeIntrospectionResponseGenerator Generator(bool on) =>
            new(new NoEvents(), logger, Microsoft.Extensions.Options.Options.Create(new RefTokenNativeOptions { NativeIntrospection = on }), metrics);
        var stock = new IntrospectionResponseGenerator(new NoEvents(), NullLogger<IntrospectionResponseGenerator>.Instance);
        Token token = new PersistentGrantSerializer().Deserialize<Token>(Fixtures.Grant("basic").Payload!);

        // On: built natively, the same response as IdentityServer's.
        IntrospectionRequestValidationResult result = GeneratorTests.Result(token, api: true);
        string expected = JsonSerializer.Serialize(await stock.ProcessAsync(result), GeneratorTests.EndpointJson);
        Assert.Contains("\"active\":true", expected, StringComparison.Ordinal);
        Assert.Equal(expected, JsonSerializer.Serialize(await Generator(true).ProcessAsync(result), GeneratorTests.EndpointJson));
        Assert.Equal(("native", null), Assert.Single(measured));
        Assert.Contains(logger.Lines, l => l.Level == LogLevel.Debug && l.Id == 7401 && l.Message == "RefToken: introspection response for api1 built natively");

        // Off (the default): IdentityServer's generator, counted and logged as the fallback.
        measured.Clear();
        Assert.Equal(expected, JsonSerializer.Serialize(await Generator(false).ProcessAsync(result), GeneratorTests.EndpointJson));
        Assert.Equal(("fallback", "disabled"), Assert.Single(measured));
        Assert.Contains(logger.Lines, l => l.Level == LogLevel.Debug && l.Id == 7402 && l.Message == "RefToken: introspection response for api1 left to IdentityServer's generator (disabled)");

        // A shape the native library leaves to IdentityServer (a Confirmation that is not JSON).
        measured.Clear();
        Token odd = new PersistentGrantSerializer().Deserialize<Token>(Fixtures.Grant("confirmation_invalid_json").Payload!);
        IntrospectionRequestValidationResult oddResult = GeneratorTests.Result(odd, api: true);
        Assert.Equal(JsonSerializer.Serialize(await stock.ProcessAsync(oddResult), GeneratorTests.EndpointJson), JsonSerializer.Serialize(await Generator(true).ProcessAsync(oddResult), GeneratorTests.EndpointJson));
        Assert.Equal(("fallback", "unsupported"), Assert.Single(measured));

        // Inactive tokens and JWTs are IdentityServer's.
        measured.Clear();
        await Generator(true).ProcessAsync(new IntrospectionRequestValidationResult { IsActive = false, Token = "x", Api = new ApiResource("api1") });
        IntrospectionRequestValidationResult jwt = GeneratorTests.Result(token, api: false);
        jwt.Token = "eyJ.eyJ.sig";
        await Generator(true).ProcessAsync(jwt);
        Assert.Equal([("fallback", "inactive"), ("fallback", "not_reference_token")], measured);

        // Nothing below Debug is needed, and nothing logged carries the token.
        Assert.DoesNotContain(logger.Lines, l => l.Message.Contains(result.Token!, StringComparison.Ordinal));
    }

    private sealed class ListLogger : ILogger<IntrospectionResponseGenerator>
    {
        public List<(LogLevel Level, int Id, string Message)> Lines { get; } = [];

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Lines.Add((logLevel, eventId.Id, formatter(state, exception)));
    }

    private sealed class NoEvents : IEventService
    {
        public bool CanRaiseEventType(Duende.IdentityServer.Events.EventTypes evtType) => false;
        public Task RaiseAsync(Duende.IdentityServer.Events.Event evt) => Task.CompletedTask;
    }
}
