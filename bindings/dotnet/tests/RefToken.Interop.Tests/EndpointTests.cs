using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Xunit;

namespace RefToken.Tests;

public class SecretTests
{
    private static JsonElement SecretsJson => JsonDocument.Parse(File.ReadAllText(Path.Combine(Fixtures.Directory, "secrets.json"))).RootElement;

    public static IEnumerable<object[]> FixtureSecrets() =>
        SecretsJson.GetProperty("secrets").EnumerateArray()
            .Select(s => new object[] { s.GetProperty("secret").GetString()!, s.GetProperty("hash").GetString()!, s.GetProperty("stored").GetString()! });

    [Theory]
    [MemberData(nameof(FixtureSecrets))]
    public void HashesAsIdentityServerStores(string secret, string hash, string stored)
    {
        SecretHashAlgorithm alg = hash == "sha512" ? SecretHashAlgorithm.Sha512 : SecretHashAlgorithm.Sha256;
        Assert.Equal(stored, Secrets.Hash(secret, alg));
        var buffer = new byte[Secrets.MaxHashLength];
        Assert.True(Secrets.TryHash(Encoding.UTF8.GetBytes(secret), alg, buffer, out int n));
        Assert.Equal(stored, Encoding.ASCII.GetString(buffer, 0, n));
        Assert.Equal(new SecretVerification(true, 0), Secrets.Verify(secret, [new StoredSecret(stored)], Fixtures.Now));
    }

    [Theory]
    [InlineData("secret")]
    [InlineData("héllo wörld 😀")]
    [InlineData("a")]
    public void MatchesDotNetDigests(string secret)
    {
        Assert.Equal(Convert.ToBase64String(SHA256.HashData(Encoding.UTF8.GetBytes(secret))), Secrets.Hash(secret));
        Assert.Equal(Convert.ToBase64String(SHA512.HashData(Encoding.UTF8.GetBytes(secret))), Secrets.Hash(secret, SecretHashAlgorithm.Sha512));
    }

    [Fact]
    public void EmptyOrWhitespaceSecrets()
    {
        Assert.Equal("", Secrets.Hash(""));
        Assert.Equal("", Secrets.Hash("  \t"));
        Assert.False(Secrets.Verify("", [new StoredSecret(Secrets.Hash("x"))], Fixtures.Now).IsValid);
    }

    [Fact]
    public void VerifySkipsExpiredAndFindsTheMatch()
    {
        string a = Secrets.Hash("a"), b = Secrets.Hash("b", SecretHashAlgorithm.Sha512);
        Assert.Equal(new SecretVerification(true, 1), Secrets.Verify("b", [new StoredSecret(a), new StoredSecret(b)], Fixtures.Now));
        Assert.Equal(new SecretVerification(false, 2), Secrets.Verify("c", [new StoredSecret(a), new StoredSecret(b)], Fixtures.Now));
        Assert.Equal(new SecretVerification(false, 1), Secrets.Verify("a", [new StoredSecret(a, Fixtures.Now.AddSeconds(-1))], Fixtures.Now));
        Assert.True(Secrets.Verify("a", [new StoredSecret(a, Fixtures.Now)], Fixtures.Now).IsValid);
        Assert.Equal(new SecretVerification(false, 0), Secrets.Verify("a", [], Fixtures.Now));
    }

    [Fact]
    public void Errors()
    {
        Assert.Equal(RefTokenStatus.InvalidArgument, Assert.Throws<RefTokenArgumentException>(() => Secrets.Hash("x", (SecretHashAlgorithm)3)).Status);
        Assert.Equal(RefTokenStatus.InvalidUtf8, Assert.Throws<RefTokenException>(() => Secrets.TryHash(new byte[] { 0xFF }, SecretHashAlgorithm.Sha256, new byte[88], out _)).Status);
        Assert.False(Secrets.TryHash("x"u8, SecretHashAlgorithm.Sha256, new byte[4], out int needed));
        Assert.Equal(44, needed);
        Assert.Equal(RefTokenStatus.MalformedInput, Assert.Throws<RefTokenException>(() => Secrets.Verify("x", [new StoredSecret("not base64!")], Fixtures.Now)).Status);
        var many = Enumerable.Repeat(new StoredSecret(Secrets.Hash("a")), Secrets.MaxStoredSecrets + 1).ToArray();
        Assert.Equal(RefTokenStatus.InputTooLarge, Assert.Throws<RefTokenException>(() => Secrets.Verify("x", many, Fixtures.Now)).Status);
        Assert.Throws<ArgumentNullException>(() => Secrets.Hash(null!));
        Assert.Throws<ArgumentNullException>(() => Secrets.Verify(null!, [], Fixtures.Now));
        Assert.Throws<ArgumentNullException>(() => Secrets.Verify("x", null!, Fixtures.Now));
        Assert.Throws<ArgumentNullException>(() => Secrets.Verify("x", [new StoredSecret(null!)], Fixtures.Now));
    }
}

public class BasicCredentialsTests
{
    private static string Basic(string raw) => "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes(raw));

    [Fact]
    public void ParsesAsIdentityServer()
    {
        Assert.Equal(new BasicCredentials("api1", "api1-secret", true), BasicCredentials.Parse("Basic YXBpMTphcGkxLXNlY3JldA=="));
        Assert.Equal(new BasicCredentials("a b", "c:d+", true), BasicCredentials.Parse(Basic("a+b:c%3Ad%2B")));
        Assert.Equal(new BasicCredentials("client", "", false), BasicCredentials.Parse(Basic("client:  ")));
        Assert.Equal(new BasicCredentials("x", "y", true), BasicCredentials.Parse("bAsIc " + Convert.ToBase64String("x:y"u8.ToArray())));
        Assert.True(BasicCredentials.TryParse(Basic("é:ü"), out var c));
        Assert.Equal(new BasicCredentials("é", "ü", true), c);
    }

    [Theory]
    [InlineData("")]
    [InlineData("Bearer abc")]
    [InlineData("Basic !!!")]
    [InlineData("Basic bm9jb2xvbg==")] // "nocolon"
    [InlineData("Basic OnNlY3JldA==")] // ":secret"
    public void NoCredentials(string header)
    {
        Assert.False(BasicCredentials.TryParse(header, out _));
        Assert.Equal(RefTokenStatus.MalformedInput, Assert.Throws<RefTokenException>(() => BasicCredentials.Parse(header)).Status);
    }

    [Fact]
    public void Limits()
    {
        Assert.Equal(RefTokenStatus.InputTooLarge, Assert.Throws<RefTokenException>(() => BasicCredentials.Parse(Basic(new string('a', 101) + ":s"))).Status);
        Assert.Equal(RefTokenStatus.InputTooLarge, Assert.Throws<RefTokenException>(() => BasicCredentials.Parse(Basic("a:" + new string('s', 101)))).Status);
        Assert.Equal(RefTokenStatus.InputTooLarge, Assert.Throws<RefTokenException>(() => BasicCredentials.Parse("Basic " + new string('A', 900))).Status);
        Assert.False(BasicCredentials.TryParse(null, out _));
        Assert.Throws<ArgumentNullException>(() => BasicCredentials.Parse(null!));
    }
}

public class EndpointTests
{
    private static readonly JsonElement SecretsJson = JsonDocument.Parse(File.ReadAllText(Path.Combine(Fixtures.Directory, "secrets.json"))).RootElement;

    public static IEnumerable<object[]> Requests() =>
        Fixtures.Introspection.Where(e => e.Request.ValueKind == JsonValueKind.Object).Select(e => new object[] { e.Name });

    /// <summary>Authenticates as IdentityServer would: an API resource by that name first, then an enabled client.</summary>
    private static bool Authenticate(IntrospectionCredentials c)
    {
        if (c.Kind != CredentialKind.SharedSecret)
        {
            return false;
        }

        foreach (JsonElement s in SecretsJson.GetProperty("secrets").EnumerateArray())
        {
            if (s.GetProperty("name").GetString() == c.ClientId)
            {
                bool enabled = s.GetProperty("kind").GetString() == "api" || Fixtures.EnabledClients.Contains(c.ClientId);
                return enabled && Secrets.Verify(c.Secret!, [new StoredSecret(s.GetProperty("stored").GetString()!)], Fixtures.Now).IsValid;
            }
        }

        return false;
    }

    private static string? Str(JsonElement e, string name) => e.GetProperty(name).ValueKind == JsonValueKind.Null ? null : e.GetProperty(name).GetString();

    [Theory]
    [MemberData(nameof(Requests))]
    public void AnswersAsIdentityServer(string name)
    {
        IntrospectionEntry entry = Fixtures.Introspection.Single(e => e.Name == name);
        JsonElement r = entry.Request;
        using IntrospectionRequest request = IntrospectionRequest.Parse(
            r.GetProperty("method").GetString()!, Str(r, "content_type"), Str(r, "authorization"), Str(r, "accept"), Encoding.UTF8.GetBytes(Str(r, "form") ?? ""));
        IntrospectionCredentials credentials = request.GetCredentials();
        EndpointAnswer answer = request.Decide(Authenticate(credentials));

        if (entry.Status == 500)
        {
            Assert.True(answer.Introspect); // IdentityServer threw while building the response
            return;
        }

        Assert.Equal(entry.Status, answer.StatusCode);
        if (answer.Introspect)
        {
            Assert.Equal(entry.Handle, answer.Token);
            Assert.Equal(entry.IsJwt, answer.JwtRequested);
            Assert.Equal(entry.ContentType, answer.ContentType);
            Assert.True(answer.NoStore);
        }
        else
        {
            Assert.Equal(entry.Body ?? "", answer.Body);
            Assert.Equal(string.IsNullOrEmpty(entry.ContentType) ? null : entry.ContentType, answer.ContentType);
        }
    }

    [Fact]
    public void CredentialsFromHeaderAndBody()
    {
        using var basic = IntrospectionRequest.Parse("POST", "application/x-www-form-urlencoded", "Basic YXBpMTphcGkxLXNlY3JldA==", null, "token=t"u8);
        Assert.Equal(new IntrospectionCredentials(CredentialKind.SharedSecret, CredentialSource.BasicHeader, "api1", "api1-secret"), basic.GetCredentials());

        using var form = IntrospectionRequest.ParseForm("token=abc&token_type_hint=refresh_token&client_id=c1"u8);
        Assert.Equal(new IntrospectionCredentials(CredentialKind.NoSecret, CredentialSource.PostBody, "c1", null), form.GetCredentials());
        EndpointAnswer a = form.Decide(callerAuthenticated: true);
        Assert.Equal(200, a.StatusCode);
        Assert.True(a.Introspect);
        Assert.Equal("abc", a.Token);
        Assert.Equal(TokenTypeHint.RefreshToken, a.TokenTypeHint);
        Assert.False(a.JwtRequested);

        using var none = IntrospectionRequest.ParseForm(ReadOnlySpan<byte>.Empty);
        Assert.Equal(new IntrospectionCredentials(CredentialKind.None, CredentialSource.None, null, null), none.GetCredentials());
        Assert.Equal(401, none.Decide(false).StatusCode);
        Assert.Equal(400, none.Decide(true).StatusCode);
        Assert.Equal("{\"error\":\"missing_token\"}", none.Decide(true).Body);
    }

    [Fact]
    public void Errors()
    {
        Assert.Throws<ArgumentNullException>(() => IntrospectionRequest.Parse(null!, null, null, null, default));
        var r = IntrospectionRequest.ParseForm("token=x"u8);
        r.Dispose();
        Assert.Throws<ObjectDisposedException>(() => r.Decide(true));
        Assert.Throws<ObjectDisposedException>(() => r.GetCredentials());
    }
}

public class SigningKeyTests
{
    private static readonly byte[] D = SHA256.HashData(Encoding.UTF8.GetBytes("reftoken-fixtures ES256 signing key"));

    private static string FixtureJwk => JsonSerializer.Serialize(new Dictionary<string, string>
    {
        ["kty"] = "EC",
        ["crv"] = "P-256",
        ["d"] = Base64Url(D),
    });

    private static string Base64Url(byte[] b) => Convert.ToBase64String(b).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static byte[] FromBase64Url(string s)
    {
        s = s.Replace('-', '+').Replace('_', '/');
        return Convert.FromBase64String(s.PadRight(s.Length + ((4 - (s.Length % 4)) % 4), '='));
    }

    private static ECDsa DotNetKey()
    {
        var ec = ECDsa.Create(new ECParameters { Curve = ECCurve.NamedCurves.nistP256, D = D });
        return ec;
    }

    [Fact]
    public void PublicJwkIsTheFixtureJwks()
    {
        using SigningKey key = SigningKey.FromJwk(FixtureJwk, JwtAlgorithm.ES256, "reftoken-fixtures-es256");
        using JsonDocument jwks = JsonDocument.Parse(File.ReadAllText(Path.Combine(Fixtures.Directory, "signing-jwks.json")));
        JsonElement expected = jwks.RootElement.GetProperty("keys")[0];
        using JsonDocument actual = JsonDocument.Parse(key.GetPublicJwk());
        foreach (string name in new[] { "kty", "use", "kid", "alg", "x", "y", "crv" })
        {
            Assert.Equal(expected.GetProperty(name).GetString(), actual.RootElement.GetProperty(name).GetString());
        }

        // The same key from PEM (exported by .NET).
        using ECDsa ec = DotNetKey();
        using SigningKey fromPem = SigningKey.FromPem(ec.ExportPkcs8PrivateKeyPem(), keyId: "reftoken-fixtures-es256");
        Assert.Equal(key.GetPublicJwk(), fromPem.GetPublicJwk());
        using SigningKey sec1 = SigningKey.FromPem(ec.ExportECPrivateKeyPem(), JwtAlgorithm.ES256, "reftoken-fixtures-es256");
        Assert.Equal(key.GetPublicJwk(), sec1.GetPublicJwk());
    }

    public static IEnumerable<object[]> JwtEntries() =>
        Fixtures.Introspection.Where(e => e.IsJwt).Select(e => new object[] { e.Name });

    [Theory]
    [MemberData(nameof(JwtEntries))]
    public void IntrospectionJwtAsIdentityServer(string name)
    {
        IntrospectionEntry entry = Fixtures.Introspection.Single(e => e.Name == name);
        using JsonDocument raw = JsonDocument.Parse(File.ReadAllText(Path.Combine(Fixtures.Directory, "introspection.json")));
        JsonElement e = raw.RootElement.EnumerateArray().Single(x => x.GetProperty("name").GetString() == name);
        string header = e.GetProperty("jwt_header").GetString()!;
        string payloadText = e.GetProperty("jwt_payload").GetString()!;
        using JsonDocument payloadDoc = JsonDocument.Parse(payloadText);
        JsonElement payload = payloadDoc.RootElement;
        string response = payload.GetProperty("token_introspection").GetRawText();

        using SigningKey key = SigningKey.FromJwk(FixtureJwk, keyId: "reftoken-fixtures-es256");
        string jwt = key.CreateIntrospectionJwt(payload.GetProperty("iss").GetString()!, payload.GetProperty("aud").GetString()!, Fixtures.Now, response);
        string[] parts = jwt.Split('.');
        Assert.Equal(3, parts.Length);
        Assert.Equal(header, Encoding.UTF8.GetString(FromBase64Url(parts[0])));
        Assert.Equal(payloadText, Encoding.UTF8.GetString(FromBase64Url(parts[1])));
        // And IdentityServer's own body decodes to the same header and payload.
        string[] theirs = entry.Body!.Split('.');
        Assert.Equal(parts[0], theirs[0]);
        Assert.Equal(parts[1], theirs[1]);

        using ECDsa ec = DotNetKey();
        Assert.True(ec.VerifyData(Encoding.ASCII.GetBytes(parts[0] + "." + parts[1]), FromBase64Url(parts[2]), HashAlgorithmName.SHA256));

        var buffer = new byte[8192];
        Assert.True(key.TryCreateIntrospectionJwt(Encoding.UTF8.GetBytes(payload.GetProperty("iss").GetString()!), Encoding.UTF8.GetBytes(payload.GetProperty("aud").GetString()!), Fixtures.Now, Encoding.UTF8.GetBytes(response), buffer, out int n));
        Assert.StartsWith(parts[0] + "." + parts[1] + ".", Encoding.ASCII.GetString(buffer, 0, n));
        Assert.False(key.TryCreateIntrospectionJwt("i"u8, "a"u8, Fixtures.Now, "{}"u8, new byte[10], out int needed));
        Assert.True(needed > 10);
    }

    [Fact]
    public void RsaKeysSignRs256AndPs256()
    {
        using RSA rsa = RSA.Create(2048);
        string pem = rsa.ExportPkcs8PrivateKeyPem();
        foreach (var (alg, padding, name) in new[] { (JwtAlgorithm.RS256, RSASignaturePadding.Pkcs1, "RS256"), (JwtAlgorithm.PS256, RSASignaturePadding.Pss, "PS256") })
        {
            using SigningKey key = SigningKey.FromPem(pem, alg);
            string jwt = key.CreateIntrospectionJwt("https://i", "api1", Fixtures.Now, "{\"active\":false}");
            string[] parts = jwt.Split('.');
            Assert.Contains("\"alg\":\"" + name + "\"", Encoding.UTF8.GetString(FromBase64Url(parts[0])));
            Assert.DoesNotContain("kid", Encoding.UTF8.GetString(FromBase64Url(parts[0])));
            Assert.True(rsa.VerifyData(Encoding.ASCII.GetBytes(parts[0] + "." + parts[1]), FromBase64Url(parts[2]), HashAlgorithmName.SHA256, padding));
            Assert.Contains("\"kty\":\"RSA\"", key.GetPublicJwk());
        }

        using SigningKey pkcs1 = SigningKey.FromPem(rsa.ExportRSAPrivateKeyPem());
        Assert.Contains("\"alg\":\"RS256\"", pkcs1.GetPublicJwk());
    }

    [Fact]
    public void Errors()
    {
        Assert.Equal(RefTokenStatus.MalformedInput, Assert.Throws<RefTokenException>(() => SigningKey.FromPem("not pem")).Status);
        Assert.Equal(RefTokenStatus.MalformedInput, Assert.Throws<RefTokenException>(() => SigningKey.FromJwk("{")).Status);
        using ECDsa ec = DotNetKey();
        Assert.Equal(RefTokenStatus.InvalidArgument, Assert.Throws<RefTokenArgumentException>(() => SigningKey.FromPem(ec.ExportPkcs8PrivateKeyPem(), JwtAlgorithm.RS256)).Status);
        Assert.Equal(RefTokenStatus.InvalidArgument, Assert.Throws<RefTokenArgumentException>(() => SigningKey.FromPem(ec.ExportSubjectPublicKeyInfoPem())).Status);
        Assert.Equal(RefTokenStatus.InvalidArgument, Assert.Throws<RefTokenArgumentException>(() => SigningKey.FromPem(ec.ExportPkcs8PrivateKeyPem(), (JwtAlgorithm)9)).Status);
        using RSA small = RSA.Create(1024);
        Assert.Equal(RefTokenStatus.InvalidArgument, Assert.Throws<RefTokenArgumentException>(() => SigningKey.FromPem(small.ExportPkcs8PrivateKeyPem())).Status);
        Assert.Equal(RefTokenStatus.InputTooLarge, Assert.Throws<RefTokenException>(() => SigningKey.FromPem(new string('A', 70000))).Status);
        Assert.Equal(RefTokenStatus.InvalidArgument, Assert.Throws<RefTokenArgumentException>(() => SigningKey.FromJwk("{\"kty\":\"EC\",\"crv\":\"P-256\",\"alg\":\"ES256\",\"d\":\"" + Base64Url(D) + "\"}", JwtAlgorithm.RS256)).Status);

        using SigningKey key = SigningKey.FromJwk(FixtureJwk);
        Assert.Equal(RefTokenStatus.MalformedInput, Assert.Throws<RefTokenException>(() => key.CreateIntrospectionJwt("i", "a", Fixtures.Now, "[1]")).Status);
        Assert.Equal(RefTokenStatus.InvalidUtf8, Assert.Throws<RefTokenException>(() => key.TryCreateIntrospectionJwt(new byte[] { 0xFF }, "a"u8, Fixtures.Now, "{}"u8, new byte[1024], out _)).Status);
        Assert.Equal(RefTokenStatus.InputTooLarge, Assert.Throws<RefTokenException>(() => key.CreateIntrospectionJwt("i", "a", Fixtures.Now, "{\"x\":\"" + new string('a', 1 << 20) + "\"}")).Status);
        Assert.Throws<ArgumentNullException>(() => SigningKey.FromPem(null!));
        Assert.Throws<ArgumentNullException>(() => SigningKey.FromJwk(null!));
        Assert.Throws<ArgumentNullException>(() => key.CreateIntrospectionJwt(null!, "a", Fixtures.Now, "{}"));

        SigningKey disposed = SigningKey.FromJwk(FixtureJwk);
        disposed.Dispose();
        Assert.Throws<ObjectDisposedException>(() => disposed.GetPublicJwk());
    }
}
