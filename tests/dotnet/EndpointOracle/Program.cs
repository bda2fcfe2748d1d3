// Batch oracle for tests/endpoint.rs: reads a JSON array of operations on stdin and writes a
// JSON array of results (same order) on stdout. Every answer comes from .NET itself:
//
//   hash        {"alg": "sha256" | "sha512", "input"}: Duende's HashExtensions.Sha256/Sha512
//               (IsNullOrWhiteSpace -> "", else Convert.ToBase64String(SHA256/512.HashData(UTF-8)))
//   base64      {"input"}: Convert.FromBase64String, as hex
//   unescape    {"input"}: Uri.UnescapeDataString
//   basic       {"header"}: the steps of Duende's BasicAuthenticationSecretParser (is-7.4.8) with
//               .NET's Convert.FromBase64String, Encoding.UTF8, Uri.UnescapeDataString and
//               string.Length; "parsed" is null where Duende returns no secret, with "reason"
//   form        {"body_b64"}: ASP.NET Core's FormPipeReader (what HttpRequest.ReadFormAsync
//               uses), then Duende's AsNameValueCollection and PostBodySecretParser lookups
//   media_type  {"content_type"}: Duende's HasApplicationFormContentType
//               (MediaTypeHeaderValue.TryParse, media type compared ignoring case)
//   genkeys     {"rsa_bits"?}: a fresh RSA (2048 bits unless told) and P-256 key as PKCS#1 / SEC1 /
//               PKCS#8 PEM, SubjectPublicKeyInfo PEM and private JWK; also the RSA key as
//               encrypted PKCS#8 and a P-384 key, which RefToken refuses
//   verify      {"jwt", "alg": RS256 | PS256 | ES256, "pem" | "jwk"}: the signature checked with
//               .NET's RSA / ECDsa (public part of the key only); header and payload decoded
//
// Results: {"ok": true, ...} or {"ok": false, "error": "<exception type>: <message>"}.

using System.IO.Pipelines;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Primitives;
using Microsoft.Net.Http.Headers;
using RefToken.Oracles;

namespace RefToken.EndpointOracle;

internal static class Program
{
    private const int MaxClientId = 100; // InputLengthRestrictions.ClientId
    private const int MaxClientSecret = 100; // InputLengthRestrictions.ClientSecret

    private static int Main() => OracleBatch.Run(Run);

    private static string Str(JsonObject o, string name) => o[name]!.GetValue<string>();

    private static JsonObject Ok() => new() { ["ok"] = true };

    private static JsonObject Run(JsonObject op) => Str(op, "op") switch
    {
        "hash" => Hash(Str(op, "alg"), Str(op, "input")),
        "base64" => Base64(Str(op, "input")),
        "unescape" => new JsonObject { ["ok"] = true, ["value"] = Uri.UnescapeDataString(Str(op, "input")) },
        "basic" => Basic(op["header"]?.GetValue<string>()),
        "form" => Form(Convert.FromBase64String(Str(op, "body_b64"))),
        "media_type" => MediaType(op["content_type"]?.GetValue<string>()),
        "genkeys" => GenKeys(op["rsa_bits"]?.GetValue<int>() ?? 2048),
        "verify" => Verify(op),
        var other => throw new ArgumentException($"unknown op {other}"),
    };

    // Duende.IdentityServer.Models.HashExtensions.
    private static JsonObject Hash(string alg, string input)
    {
        string value;
        if (string.IsNullOrWhiteSpace(input))
        {
            value = string.Empty;
        }
        else
        {
            var bytes = Encoding.UTF8.GetBytes(input);
            value = Convert.ToBase64String(alg == "sha512" ? SHA512.HashData(bytes) : SHA256.HashData(bytes));
        }
        var r = Ok();
        r["value"] = value;
        return r;
    }

    private static JsonObject Base64(string input)
    {
        var r = Ok();
        r["hex"] = Convert.ToHexString(Convert.FromBase64String(input));
        return r;
    }

    private static JsonObject NotParsed(string reason)
    {
        var r = Ok();
        r["parsed"] = null;
        r["reason"] = reason;
        return r;
    }

    private static string UrlDecode(string value)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            return string.Empty;
        }
        return Uri.UnescapeDataString(value.Replace("+", "%20", StringComparison.InvariantCulture));
    }

    // The steps of BasicAuthenticationSecretParser.ParseAsync, in order.
    private static JsonObject Basic(string? header)
    {
        if (string.IsNullOrWhiteSpace(header))
        {
            return NotParsed("missing");
        }
        if (!header.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase))
        {
            return NotParsed("scheme");
        }
        if (header.Length > 4 * (MaxClientId + MaxClientSecret) + 10)
        {
            return NotParsed("header_too_long");
        }
        string pair;
        try
        {
            pair = Encoding.UTF8.GetString(Convert.FromBase64String(header.Substring("Basic ".Length)));
        }
        catch (FormatException)
        {
            return NotParsed("base64");
        }
        var ix = pair.IndexOf(':', StringComparison.InvariantCulture);
        if (ix == -1)
        {
            return NotParsed("no_colon");
        }
        var id = UrlDecode(pair.Substring(0, ix));
        var secret = UrlDecode(pair.Substring(ix + 1));
        if (string.IsNullOrWhiteSpace(id))
        {
            return NotParsed("empty_id");
        }
        if (id.Length > MaxClientId)
        {
            return NotParsed("id_too_long");
        }
        var r = Ok();
        if (string.IsNullOrWhiteSpace(secret))
        {
            r["parsed"] = new JsonObject { ["id"] = id, ["secret"] = null, ["type"] = "NoSecret" };
            r["pair"] = pair;
            return r;
        }
        if (secret.Length > MaxClientSecret)
        {
            return NotParsed("secret_too_long");
        }
        r["parsed"] = new JsonObject { ["id"] = id, ["secret"] = secret, ["type"] = "SharedSecret" };
        r["pair"] = pair;
        return r;
    }

    private static JsonNode? Values(StringValues v)
    {
        var a = new JsonArray();
        foreach (var s in v)
        {
            a.Add(s);
        }
        return a;
    }

    // HttpRequest.ReadFormAsync reads application/x-www-form-urlencoded bodies with FormPipeReader
    // (UTF-8, FormOptions' default limits); Duende then uses AsNameValueCollection (drops null or
    // whitespace values) for the introspection parameters, and the form itself (first value) in
    // PostBodySecretParser.
    private static JsonObject Form(byte[] body)
    {
        var reader = new FormPipeReader(PipeReader.Create(new MemoryStream(body)), Encoding.UTF8);
        var form = reader.ReadFormAsync().GetAwaiter().GetResult();
        var collection = new Microsoft.AspNetCore.Http.FormCollection(form);
        var fields = new JsonArray();
        foreach (var kv in collection)
        {
            fields.Add(new JsonArray(kv.Key, Values(kv.Value)));
        }
        var nv = new System.Collections.Specialized.NameValueCollection();
        foreach (var field in collection)
        {
            foreach (var val in field.Value)
            {
                if (!string.IsNullOrWhiteSpace(val))
                {
                    nv.Add(field.Key, val);
                }
            }
        }
        var r = Ok();
        r["fields"] = fields;
        r["token"] = nv.Get("token");
        r["token_type_hint"] = nv.Get("token_type_hint");
        r["client_id"] = collection["client_id"].FirstOrDefault();
        r["client_secret"] = collection["client_secret"].FirstOrDefault();
        return r;
    }

    private static JsonObject MediaType(string? contentType)
    {
        var r = Ok();
        if (contentType is null)
        {
            r["is_form"] = false;
            return r;
        }
        if (MediaTypeHeaderValue.TryParse(contentType, out var header))
        {
            r["is_form"] = header.MediaType.Equals("application/x-www-form-urlencoded", StringComparison.OrdinalIgnoreCase);
            r["charset"] = header.Charset.HasValue ? header.Charset.Value : null;
        }
        else
        {
            r["is_form"] = false;
            r["parse_failed"] = true;
        }
        return r;
    }

    private static string B64Url(byte[] b) => Base64UrlEncoder(b);

    private static string Base64UrlEncoder(byte[] b) =>
        Convert.ToBase64String(b).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static byte[] FromB64Url(string s)
    {
        s = s.Replace('-', '+').Replace('_', '/');
        s += (s.Length % 4) switch { 2 => "==", 3 => "=", _ => "" };
        return Convert.FromBase64String(s);
    }

    private static JsonObject GenKeys(int rsaBits)
    {
        using var rsa = RSA.Create(rsaBits);
        var p = rsa.ExportParameters(true);
        using var ec = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var q = ec.ExportParameters(true);
        var r = Ok();
        r["rsa_pkcs1"] = rsa.ExportRSAPrivateKeyPem();
        r["rsa_pkcs8"] = rsa.ExportPkcs8PrivateKeyPem();
        r["rsa_public"] = rsa.ExportSubjectPublicKeyInfoPem();
        r["rsa_jwk"] = new JsonObject
        {
            ["kty"] = "RSA",
            ["n"] = B64Url(p.Modulus!),
            ["e"] = B64Url(p.Exponent!),
            ["d"] = B64Url(p.D!),
            ["p"] = B64Url(p.P!),
            ["q"] = B64Url(p.Q!),
            ["dp"] = B64Url(p.DP!),
            ["dq"] = B64Url(p.DQ!),
            ["qi"] = B64Url(p.InverseQ!),
        };
        r["rsa_encrypted_pkcs8"] = rsa.ExportEncryptedPkcs8PrivateKeyPem(
            "password", new PbeParameters(PbeEncryptionAlgorithm.Aes256Cbc, HashAlgorithmName.SHA256, 1000));
        using var ec384 = ECDsa.Create(ECCurve.NamedCurves.nistP384);
        r["ec384_pkcs8"] = ec384.ExportPkcs8PrivateKeyPem();
        r["ec384_sec1"] = ec384.ExportECPrivateKeyPem();
        r["ec_pkcs8"] = ec.ExportPkcs8PrivateKeyPem();
        r["ec_sec1"] = ec.ExportECPrivateKeyPem();
        r["ec_public"] = ec.ExportSubjectPublicKeyInfoPem();
        r["ec_jwk"] = new JsonObject
        {
            ["kty"] = "EC",
            ["crv"] = "P-256",
            ["x"] = B64Url(q.Q.X!),
            ["y"] = B64Url(q.Q.Y!),
            ["d"] = B64Url(q.D!),
        };
        return r;
    }

    private static JsonObject Verify(JsonObject op)
    {
        var jwt = Str(op, "jwt");
        var alg = Str(op, "alg");
        var parts = jwt.Split('.');
        if (parts.Length != 3)
        {
            throw new FormatException("not a compact JWS");
        }
        var signed = Encoding.ASCII.GetBytes(parts[0] + "." + parts[1]);
        var signature = FromB64Url(parts[2]);
        var pem = op["pem"]?.GetValue<string>();
        var jwk = op["jwk"]?.AsObject();
        bool valid;
        if (alg == "ES256")
        {
            using var ec = ECDsa.Create();
            if (pem is not null)
            {
                using var full = ECDsa.Create();
                full.ImportFromPem(pem);
                ec.ImportParameters(full.ExportParameters(false));
            }
            else
            {
                ec.ImportParameters(new ECParameters
                {
                    Curve = ECCurve.NamedCurves.nistP256,
                    Q = new ECPoint { X = FromB64Url(Str(jwk!, "x")), Y = FromB64Url(Str(jwk!, "y")) },
                });
            }
            valid = ec.VerifyData(signed, signature, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
        }
        else
        {
            using var rsa = RSA.Create();
            if (pem is not null)
            {
                using var full = RSA.Create();
                full.ImportFromPem(pem);
                rsa.ImportParameters(full.ExportParameters(false));
            }
            else
            {
                rsa.ImportParameters(new RSAParameters { Modulus = FromB64Url(Str(jwk!, "n")), Exponent = FromB64Url(Str(jwk!, "e")) });
            }
            var padding = alg switch
            {
                "RS256" => RSASignaturePadding.Pkcs1,
                "PS256" => RSASignaturePadding.Pss,
                _ => throw new ArgumentException($"unknown alg {alg}"),
            };
            valid = rsa.VerifyData(signed, signature, HashAlgorithmName.SHA256, padding);
        }
        var r = Ok();
        r["valid"] = valid;
        r["header"] = Encoding.UTF8.GetString(FromB64Url(parts[0]));
        r["payload"] = Encoding.UTF8.GetString(FromB64Url(parts[1]));
        return r;
    }
}
