// Batch oracle for tests/dataprotection.rs: reads a JSON array of operations on stdin and
// writes a JSON array of results (same order) on stdout. Every operation builds its own
// service provider exactly as an application does:
//
//   services.AddDataProtection()
//           .PersistKeysToFileSystem(dir)
//           [.SetApplicationName(app)]
//           [.UseCryptographicAlgorithms(...) | .UseCustomCryptographicAlgorithms(...)]
//           [.ProtectKeysWithCertificate(cert)]
//
// so nothing is cached between operations and every key ring is read back from disk.
//
// Operation fields (all optional unless noted):
//   op            genkey | protect | unprotect | revoke | revoke_all | b64decode | discriminator | bench_unprotect
//   dir           key directory (all but b64decode / discriminator)
//   app           SetApplicationName(app); absent or null: not called
//   content_root  registers an IHostEnvironment with this ContentRootPath
//   alg           EncryptionAlgorithm name (UseCryptographicAlgorithms); validation: ValidationAlgorithm name
//   descriptor    "managed" (UseCustomCryptographicAlgorithms, Aes + validation_type) | "cngcbc" | "cnggcm"
//   key_bits      AES key size for descriptor = managed / cngcbc / cnggcm
//   validation_type  HMACSHA256 | HMACSHA384 | HMACSHA512 (managed), SHA256 | SHA512 (cngcbc)
//   encryptor     "null" (NullXmlEncryptor) | "cert" (ProtectKeysWithCertificate, self-signed RSA)
//   activate_in_s, expire_in_s   genkey: activation / expiration relative to now (default 0 / 90 days)
//   purposes      string array for CreateProtector(purposes)
//   plaintext_b64 protect input (standard base64); binary: true uses the byte[] overloads
//   payload       unprotect input: the string form, or standard base64 when binary is true
//   key_id        revoke
//   input         b64decode input
//   iterations    bench_unprotect
//
// Results: {"ok": true, ...} or {"ok": false, "error": "<exception type>: <message>"}.

using System.Diagnostics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.DataProtection.AuthenticatedEncryption;
using Microsoft.AspNetCore.DataProtection.AuthenticatedEncryption.ConfigurationModel;
using Microsoft.AspNetCore.DataProtection.KeyManagement;
using Microsoft.AspNetCore.DataProtection.XmlEncryption;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.FileProviders;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace RefToken.DataProtectionOracle;

internal sealed class Environment : IHostEnvironment
{
    public Environment(string contentRoot) => ContentRootPath = contentRoot;
    public string EnvironmentName { get; set; } = "Production";
    public string ApplicationName { get; set; } = "RefTokenOracle";
    public string ContentRootPath { get; set; }
    public IFileProvider ContentRootFileProvider { get; set; } = new NullFileProvider();
}

internal static class Program
{
    private static X509Certificate2? s_certificate;

    public static int Main()
    {
        using var input = JsonDocument.Parse(Console.In.ReadToEnd());
        var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = false }))
        {
            w.WriteStartArray();
            foreach (var op in input.RootElement.EnumerateArray())
            {
                w.WriteStartObject();
                try
                {
                    Run(op, w);
                    w.WriteBoolean("ok", true);
                }
                catch (Exception e)
                {
                    w.WriteBoolean("ok", false);
                    w.WriteString("error", $"{e.GetType().Name}: {e.Message}");
                }
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }
        Console.Out.Write(Encoding.UTF8.GetString(buffer.ToArray()));
        return 0;
    }

    private static string? Str(JsonElement op, string name) =>
        op.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static long? Long(JsonElement op, string name) =>
        op.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetInt64() : null;

    private static bool Bool(JsonElement op, string name) =>
        op.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.True;

    private static string[] Purposes(JsonElement op) =>
        op.GetProperty("purposes").EnumerateArray().Select(p => p.GetString()!).ToArray();

    private static X509Certificate2 Certificate()
    {
        if (s_certificate is null)
        {
            using var rsa = RSA.Create(2048);
            var request = new CertificateRequest("CN=RefToken test", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
            s_certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1));
        }
        return s_certificate;
    }

    private static ServiceProvider Build(JsonElement op)
    {
        var services = new ServiceCollection();
        if (System.Environment.GetEnvironmentVariable("ORACLE_LOG") == "1")
        {
            // Diagnostics: ASP.NET Core's own Data Protection log on stderr.
            services.AddLogging(b => b.AddSimpleConsole(o => o.SingleLine = true)
                .SetMinimumLevel(LogLevel.Trace)
                .AddFilter(level => true));
            services.Configure<Microsoft.Extensions.Logging.Console.ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        }
        var contentRoot = Str(op, "content_root");
        if (contentRoot is not null)
        {
            services.AddSingleton<IHostEnvironment>(new Environment(contentRoot));
        }
        var builder = services.AddDataProtection();
        var dir = Str(op, "dir");
        if (dir is not null)
        {
            builder.PersistKeysToFileSystem(new DirectoryInfo(dir));
        }
        if (op.TryGetProperty("app", out var app) && app.ValueKind == JsonValueKind.String)
        {
            builder.SetApplicationName(app.GetString()!);
        }
        var alg = Str(op, "alg");
        if (alg is not null)
        {
            builder.UseCryptographicAlgorithms(new AuthenticatedEncryptorConfiguration
            {
                EncryptionAlgorithm = Enum.Parse<EncryptionAlgorithm>(alg),
                ValidationAlgorithm = Enum.Parse<ValidationAlgorithm>(Str(op, "validation") ?? "HMACSHA256"),
            });
        }
        var bits = (int)(Long(op, "key_bits") ?? 256);
        switch (Str(op, "descriptor"))
        {
            case null:
                break;
            case "managed":
                builder.UseCustomCryptographicAlgorithms(new ManagedAuthenticatedEncryptorConfiguration
                {
                    EncryptionAlgorithmType = typeof(Aes),
                    EncryptionAlgorithmKeySize = bits,
                    ValidationAlgorithmType = Str(op, "validation_type") switch
                    {
                        "HMACSHA384" => typeof(HMACSHA384),
                        "HMACSHA512" => typeof(HMACSHA512),
                        _ => typeof(HMACSHA256),
                    },
                });
                break;
            case "cngcbc":
                builder.UseCustomCryptographicAlgorithms(new CngCbcAuthenticatedEncryptorConfiguration
                {
                    EncryptionAlgorithm = "AES",
                    EncryptionAlgorithmKeySize = bits,
                    HashAlgorithm = Str(op, "validation_type") ?? "SHA256",
                });
                break;
            case "cnggcm":
                builder.UseCustomCryptographicAlgorithms(new CngGcmAuthenticatedEncryptorConfiguration
                {
                    EncryptionAlgorithm = "AES",
                    EncryptionAlgorithmKeySize = bits,
                });
                break;
            case var other:
                throw new ArgumentException($"unknown descriptor {other}");
        }
        switch (Str(op, "encryptor"))
        {
            case null:
                break;
            case "null":
                services.Configure<KeyManagementOptions>(o => o.XmlEncryptor = new NullXmlEncryptor());
                break;
            case "cert":
                builder.ProtectKeysWithCertificate(Certificate());
                break;
            case var other:
                throw new ArgumentException($"unknown encryptor {other}");
        }
        return services.BuildServiceProvider();
    }

    private static string KeyIdOf(byte[] payload) => new Guid(payload.AsSpan(4, 16)).ToString("D");

    private static void Run(JsonElement op, Utf8JsonWriter w)
    {
        switch (op.GetProperty("op").GetString())
        {
            case "genkey":
            {
                using var sp = Build(op);
                var now = DateTimeOffset.UtcNow;
                var key = sp.GetRequiredService<IKeyManager>().CreateNewKey(
                    now.AddSeconds(Long(op, "activate_in_s") ?? 0),
                    now.AddSeconds(Long(op, "expire_in_s") ?? 90L * 24 * 3600));
                w.WriteString("key_id", key.KeyId.ToString("D"));
                break;
            }
            case "protect":
            {
                using var sp = Build(op);
                var protector = sp.GetRequiredService<IDataProtectionProvider>().CreateProtector(Purposes(op));
                var plaintext = Convert.FromBase64String(Str(op, "plaintext_b64") ?? "");
                byte[] raw;
                if (Bool(op, "binary"))
                {
                    raw = protector.Protect(plaintext);
                    w.WriteString("payload", Convert.ToBase64String(raw));
                }
                else
                {
                    var s = protector.Protect(new UTF8Encoding(false, true).GetString(plaintext));
                    raw = WebEncoders.Base64UrlDecode(s);
                    w.WriteString("payload", s);
                }
                w.WriteString("key_id", KeyIdOf(raw));
                break;
            }
            case "unprotect":
            {
                using var sp = Build(op);
                var protector = sp.GetRequiredService<IDataProtectionProvider>().CreateProtector(Purposes(op));
                var payload = Str(op, "payload")!;
                var plaintext = Bool(op, "binary")
                    ? protector.Unprotect(Convert.FromBase64String(payload))
                    : Encoding.UTF8.GetBytes(protector.Unprotect(payload));
                w.WriteString("plaintext_b64", Convert.ToBase64String(plaintext));
                break;
            }
            case "revoke":
            {
                using var sp = Build(op);
                sp.GetRequiredService<IKeyManager>().RevokeKey(Guid.Parse(Str(op, "key_id")!), "RefToken test");
                break;
            }
            case "revoke_all":
            {
                using var sp = Build(op);
                sp.GetRequiredService<IKeyManager>().RevokeAllKeys(DateTimeOffset.UtcNow, "RefToken test");
                break;
            }
            case "b64decode":
                w.WriteString("bytes_b64", Convert.ToBase64String(WebEncoders.Base64UrlDecode(Str(op, "input")!)));
                break;
            case "discriminator":
            {
                using var sp = Build(op);
                var value = sp.GetRequiredService<IOptions<DataProtectionOptions>>().Value.ApplicationDiscriminator;
                if (value is null) w.WriteNull("discriminator"); else w.WriteString("discriminator", value);
                break;
            }
            case "bench_unprotect":
            {
                using var sp = Build(op);
                var protector = sp.GetRequiredService<IDataProtectionProvider>().CreateProtector(Purposes(op));
                var payload = Str(op, "payload")!;
                var iterations = (int)(Long(op, "iterations") ?? 100_000);
                for (var i = 0; i < Math.Min(iterations, 20_000); i++) protector.Unprotect(payload);
                var sw = Stopwatch.StartNew();
                for (var i = 0; i < iterations; i++) protector.Unprotect(payload);
                sw.Stop();
                w.WriteNumber("ns_per_op", sw.Elapsed.TotalNanoseconds / iterations);
                break;
            }
            case var other:
                throw new ArgumentException($"unknown op {other}");
        }
    }
}
