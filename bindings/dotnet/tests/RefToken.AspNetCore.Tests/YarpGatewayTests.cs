using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Linq;
using System.Net;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Threading.Tasks;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Xunit;
using YarpGateway;

namespace RefToken.AspNetCore.Tests;

/// <summary>
/// The example gateway (examples/YarpGateway) in front of a real upstream on loopback: reference tokens
/// authenticated by RefToken, the subject and scopes forwarded, the token and spoofed headers not.
/// </summary>
public class YarpGatewayTests
{
    private sealed record Seen(string? Subject, string? Scopes, string? Client, bool HadAuthorization, string Path);

    [Fact]
    public async Task TheGatewayAuthenticatesAndForwardsSubjectAndScopes()
    {
        var seen = new ConcurrentQueue<Seen>();
        WebApplicationBuilder upstreamBuilder = ApiHost.NewBuilder();
        upstreamBuilder.Logging.ClearProviders();
        upstreamBuilder.WebHost.UseUrls("http://127.0.0.1:0");
        await using WebApplication upstream = upstreamBuilder.Build();
        upstream.MapGet("/api/{**rest}", (HttpRequest r) =>
        {
            seen.Enqueue(new Seen(r.Headers[Gateway.SubjectHeader].FirstOrDefault(), r.Headers[Gateway.ScopesHeader].FirstOrDefault(),
                r.Headers[Gateway.ClientHeader].FirstOrDefault(), r.Headers.ContainsKey("Authorization"), r.Path));
            return "upstream says hi";
        });
        await upstream.StartAsync();
        string upstreamAddress = upstream.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();

        using var store = new SqliteGrantStore();
        (string handle, string key) = Tokens.IssueActive(store);
        (string otherApi, _) = Tokens.Issue(store, Tokens.UserTokenData(DateTimeOffset.UtcNow.AddMinutes(-1), scopes: ["api2.read"]));

        WebApplicationBuilder builder = ApiHost.NewBuilder();
        builder.WebHost.UseTestServer();
        builder.Logging.ClearProviders();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["RefToken:ClientId"] = "api1",
            ["RefToken:ApiScopes:0"] = "api1.read",
            ["RefToken:ApiScopes:1"] = "api1.write",
            ["RefToken:SqliteConnectionString"] = store.ConnectionString,
            ["ReverseProxy:Routes:api:ClusterId"] = "api",
            ["ReverseProxy:Routes:api:AuthorizationPolicy"] = "authenticated",
            ["ReverseProxy:Routes:api:Match:Path"] = "/api/{**rest}",
            ["ReverseProxy:Clusters:api:Destinations:primary:Address"] = upstreamAddress,
        });
        await using WebApplication gateway = Gateway.Build(builder);
        await gateway.StartAsync();
        HttpClient client = gateway.GetTestClient();

        async Task<HttpResponseMessage> Get(string? token)
        {
            var request = new HttpRequestMessage(HttpMethod.Get, "/api/orders/7");
            if (token is not null)
            {
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            }

            request.Headers.TryAddWithoutValidation(Gateway.SubjectHeader, "mallory");   // spoofed
            return await client.SendAsync(request);
        }

        HttpResponseMessage ok = await Get(handle);
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        Assert.Equal("upstream says hi", await ok.Content.ReadAsStringAsync());
        Seen forwarded = Assert.Single(seen);
        Assert.Equal("alice", forwarded.Subject);
        Assert.Equal("api1.read api1.write", forwarded.Scopes);
        Assert.Equal("client1", forwarded.Client);
        Assert.False(forwarded.HadAuthorization);
        Assert.Equal("/api/orders/7", forwarded.Path);

        Assert.Equal(HttpStatusCode.Unauthorized, (await Get(null)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await Get(TokenHandles.NewHandle())).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await Get(otherApi)).StatusCode);
        Assert.Equal(1, store.Delete(key));
        Assert.Equal(HttpStatusCode.Unauthorized, (await Get(handle)).StatusCode);
        Assert.Single(seen);   // nothing unauthenticated reached upstream

        await gateway.StopAsync();
        await upstream.StopAsync();
    }
}
