using System;
using System.Linq;
using System.Net;
using System.Net.Http;
using System.Security.Claims;
using System.Text;
using System.Threading.Tasks;
using Duende.IdentityModel.Client;
using Xunit;

namespace RefToken.AspNetCore.Tests;

/// <summary>
/// Claim for claim, the principal equals the one Duende's OAuth2 introspection handler builds from
/// IdentityServer's response for the same token. The expected claims come from the real
/// <c>Duende.IdentityModel</c> package (<c>TokenIntrospectionResponse.Claims</c>, what that handler puts
/// in its identity); the identity around them is built as that handler's <c>CreateTicket</c> does
/// (<c>new ClaimsIdentity(claims, AuthenticationType ?? scheme, NameClaimType, RoleClaimType)</c>).
/// The response is RefToken's introspection of the stored row, which other suites hold to a real
/// IdentityServer's endpoint.
/// </summary>
public class ParityTests
{
    private static async Task<ClaimsIdentity> DuendeIdentity(string json, string authenticationType, string nameType = "name", string roleType = "role")
    {
        using var http = new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        TokenIntrospectionResponse response = await ProtocolResponse.FromHttpResponseAsync<TokenIntrospectionResponse>(http);
        Assert.False(response.IsError, response.Error);
        Assert.True(response.IsActive);
        return new ClaimsIdentity(response.Claims, authenticationType, nameType, roleType);
    }

    private static void AssertSame(ClaimsIdentity expected, PrincipalView actual)
    {
        Assert.Equal(expected.AuthenticationType, actual.AuthenticationType);
        Assert.Equal(expected.NameClaimType, actual.NameClaimType);
        Assert.Equal(expected.RoleClaimType, actual.RoleClaimType);
        Assert.Equal(expected.Name, actual.Name);
        var principal = new ClaimsPrincipal(expected);
        Assert.Equal(principal.IsInRole("admin"), actual.IsAdmin);
        Assert.Equal(principal.IsInRole("user"), actual.IsUser);
        Assert.Equal(
            expected.Claims.Select(c => new ClaimView(c.Type, c.Value, c.ValueType, c.Issuer, c.OriginalIssuer)).ToArray(),
            actual.Claims);
    }

    public static TheoryData<string> Stores => new() { "sqlite", "postgres" };

    internal static IGrantStore NewStore(string kind) => kind == "sqlite" ? new SqliteGrantStore() : new PostgresGrantStore();

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task APrincipalClaimForClaimAsDuendesHandlerBuildsIt(string kind)
    {
        using IGrantStore store = NewStore(kind);
        DateTimeOffset now = DateTimeOffset.UtcNow;
        string data = Tokens.UserTokenData(now.AddMinutes(-1));
        (string handle, _) = Tokens.Issue(store, data);
        await using ApiHost api = await ApiHost.StartAsync(store.Configure);

        PrincipalView actual = await api.MeAsync(handle);

        string json = Introspection.IntrospectData(data, IntrospectionCaller.Api("api1", ["api1.read", "api1.write"]), DateTimeOffset.UtcNow);
        ClaimsIdentity expected = await DuendeIdentity(json, "token");
        AssertSame(expected, actual);
        // What the comparison covers, so that it cannot pass on an empty principal.
        Assert.Contains(actual.Claims, c => c.Type == "role" && c.Value == "user");
        Assert.Contains(actual.Claims, c => c.Type == "aud" && c.Value == "https://idp.example/resources");
        Assert.Equal(["api1.read", "api1.write"], actual.Claims.Where(c => c.Type == "scope").Select(c => c.Value));
        Assert.Contains(actual.Claims, c => c.Type == "active");
        Assert.Contains(actual.Claims, c => c.Type == "address");
        Assert.Equal("Alice Smith", actual.Name);
        Assert.True(actual.IsAdmin);
        Assert.Equal(handle, actual.AccessToken);
    }

    [Fact]
    public async Task OptionsOfTheSameNameMeanTheSame()
    {
        using var store = new SqliteGrantStore();
        DateTimeOffset now = DateTimeOffset.UtcNow;
        string data = Tokens.UserTokenData(now.AddMinutes(-1));
        (string handle, _) = Tokens.Issue(store, data);
        await using ApiHost api = await ApiHost.StartAsync(o =>
        {
            store.Configure(o);
            o.NameClaimType = "sub";
            o.RoleClaimType = "amr";
            o.AuthenticationType = "reference";
            o.SaveToken = false;
        });

        PrincipalView actual = await api.MeAsync(handle);

        string json = Introspection.IntrospectData(data, IntrospectionCaller.Api("api1", ["api1.read", "api1.write"]), DateTimeOffset.UtcNow);
        AssertSame(await DuendeIdentity(json, "reference", "sub", "amr"), actual);
        Assert.Equal("alice", actual.Name);
        Assert.Null(actual.AccessToken);
    }

    [Fact]
    public async Task AClientCredentialsTokenWithOneScopeAndOneAudience()
    {
        using var store = new SqliteGrantStore();
        DateTimeOffset now = DateTimeOffset.UtcNow;
        using Grant g = Grant.Create("machine", Tokens.Issuer, now.AddSeconds(-5), 600);
        g.AddAudience("api1");
        g.AddClaim("client_id", "machine");
        g.AddClaim("client_tier", "gold");
        g.AddClaim("scope", "api1.read");
        g.AddClaim("scope", "other.scope");
        string data = g.ToData();
        (string handle, _) = Tokens.Issue(store, data);
        await using ApiHost api = await ApiHost.StartAsync(store.Configure);

        PrincipalView actual = await api.MeAsync(handle);

        string json = Introspection.IntrospectData(data, IntrospectionCaller.Api("api1", ["api1.read", "api1.write"]), DateTimeOffset.UtcNow);
        AssertSame(await DuendeIdentity(json, "token"), actual);
        Assert.Null(actual.Name);
        Assert.Equal(["api1.read"], actual.Claims.Where(c => c.Type == "scope").Select(c => c.Value));
    }

    /// <summary>Shapes IdentityServer's responses can take and some they do not, against the package directly.</summary>
    [Theory]
    [InlineData("""{"iss":"https://i","a":[1,"x",true,null,{"k":1},[1,2]],"o":{"k":[1]},"n":null,"b":false,"num":1.50,"s":"t\u00e9\"","active":true,"scope":["s1","s2 s3"]}""")]
    [InlineData("""{"active":true,"scope":"a  b"}""")]
    [InlineData("""{"sub":"x","active":true}""")]
    [InlineData("""{"iss":"https://i","aud":["a","b"],"exp":1767229200,"cnf":{"x5t#S256":"abc"},"active":true,"scope":"api1.read"}""")]
    public async Task ClaimsOfAResponseAsIdentityModelMakesThem(string json)
    {
        using var http = new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        TokenIntrospectionResponse expected = await ProtocolResponse.FromHttpResponseAsync<TokenIntrospectionResponse>(http);

        var actual = IntrospectionClaims.From(Encoding.UTF8.GetBytes(json), out bool active);

        Assert.Equal(expected.IsActive, active);
        Assert.Equal(
            expected.Claims.Select(c => (c.Type, c.Value, c.ValueType, c.Issuer)).ToArray(),
            actual.Select(c => (c.Type, c.Value, c.ValueType, c.Issuer)).ToArray());
    }

    /// <summary>An identical active response's claims are made once; every identity still gets claims of its own.</summary>
    [Fact]
    public void TheClaimsOfAnIdenticalResponseAreMadeOnceAndClonedIntoEachIdentity()
    {
        byte[] json = Encoding.UTF8.GetBytes("""{"iss":"https://i","sub":"alice","role":["a","b"],"active":true,"scope":"api1.read"}""");
        var memo = new ClaimsMemo(capacity: 2);

        var first = memo.From(json, out bool active1);
        var second = memo.From((byte[])json.Clone(), out bool active2);

        Assert.True(active1 && active2);
        Assert.Same(first, second);
        Assert.Equal(1, memo.Count);
        var a = new ClaimsIdentity(second, "token");
        var b = new ClaimsIdentity(second, "token");
        Assert.All(a.Claims.Zip(b.Claims), p => Assert.NotSame(p.First, p.Second));
        Assert.All(a.Claims, c => Assert.Same(a, c.Subject));
        Assert.Equal(IntrospectionClaims.From(json, out _).Select(c => (c.Type, c.Value, c.ValueType, c.Issuer)), a.Claims.Select(c => (c.Type, c.Value, c.ValueType, c.Issuer)));

        // Inactive responses are not kept; at capacity it starts again.
        memo.From(Encoding.UTF8.GetBytes("""{"active":false}"""), out bool inactive);
        Assert.False(inactive);
        Assert.Equal(1, memo.Count);
        memo.From(Encoding.UTF8.GetBytes("""{"sub":"b","active":true}"""), out _);
        memo.From(Encoding.UTF8.GetBytes("""{"sub":"c","active":true}"""), out _);
        Assert.Equal(1, memo.Count);
        var off = new ClaimsMemo(capacity: 0);
        off.From(json, out _);
        Assert.Equal(0, off.Count);
    }
}
