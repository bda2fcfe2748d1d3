// An IdentityServer host whose reference-token handles, store keys and protected grants come
// from libreftoken, through the RefToken.IdentityServer package.
using System.IO;
using Duende.IdentityServer.Models;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.DependencyInjection;
using Secret = Duende.IdentityServer.Models.Secret;

var builder = WebApplication.CreateBuilder(args);
string keys = builder.Configuration["KeyRingDirectory"] ?? "/var/lib/my-idp/keys";

// ASP.NET Core's key ring and application name: the native key ring reads the same files.
builder.Services.AddDataProtection()
    .PersistKeysToFileSystem(new DirectoryInfo(keys))
    .SetApplicationName("my-idp");

builder.Services.AddIdentityServer()
    .AddInMemoryApiScopes([new ApiScope("api1.read")])
    .AddInMemoryApiResources([new ApiResource("api1")
    {
        Scopes = { "api1.read" },
        ApiSecrets = { new Secret("api1-secret".Sha256()) },
    }])
    .AddInMemoryClients([new Client
    {
        ClientId = "client1",
        ClientSecrets = { new Secret("client1-secret".Sha256()) },
        AllowedGrantTypes = GrantTypes.ClientCredentials,
        AccessTokenType = AccessTokenType.Reference,
        AllowedScopes = { "api1.read" },
    }])
    // After AddIdentityServer(): replaces handle generation, the reference-token store's key
    // hashing and the persisted-grant serializer (introspection responses stay IdentityServer's
    // unless options.NativeIntrospection is set: slower inside IdentityServer).
    .AddRefTokenNative(options =>
    {
        options.KeyRingDirectory = keys;
        options.ApplicationName = "my-idp";
    });

var app = builder.Build();
app.UseIdentityServer();
app.Run();
