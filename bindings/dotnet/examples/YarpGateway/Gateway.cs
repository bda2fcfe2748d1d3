using System;
using System.Linq;
using System.Security.Claims;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Yarp.ReverseProxy.Transforms;

namespace YarpGateway;

/// <summary>The gateway: RefToken authentication in front of a YARP route, identity forwarded as headers.</summary>
public static class Gateway
{
    /// <summary>The subject (<c>sub</c>) forwarded upstream.</summary>
    public const string SubjectHeader = "X-Subject";

    /// <summary>The token's scopes for this API, space-separated.</summary>
    public const string ScopesHeader = "X-Scopes";

    /// <summary>The token's client.</summary>
    public const string ClientHeader = "X-Client-Id";

    /// <summary>
    /// Builds the gateway from configuration: the <c>RefToken</c> section binds
    /// <c>RefTokenAuthenticationOptions</c>, the <c>ReverseProxy</c> section is YARP's routes and clusters.
    /// </summary>
    /// <param name="builder">The application builder (its configuration already set).</param>
    /// <returns>The application, ready to run.</returns>
    public static WebApplication Build(WebApplicationBuilder builder)
    {
        builder.Services.AddAuthentication("reftoken")
            .AddRefToken("reftoken", o => builder.Configuration.GetSection("RefToken").Bind(o));
        builder.Services.AddAuthorizationBuilder()
            .AddPolicy("authenticated", p => p.AddAuthenticationSchemes("reftoken").RequireAuthenticatedUser());
        builder.Services.AddReverseProxy()
            .LoadFromConfig(builder.Configuration.GetSection("ReverseProxy"))
            .AddTransforms(t => t.AddRequestTransform(context =>
            {
                var headers = context.ProxyRequest.Headers;
                // Whatever the client sent under these names is dropped: upstream trusts them.
                headers.Remove(SubjectHeader);
                headers.Remove(ScopesHeader);
                headers.Remove(ClientHeader);
                // The handle stays at the gateway: upstream gets the identity, not a bearer credential.
                headers.Authorization = null;
                ClaimsPrincipal user = context.HttpContext.User;
                if (user.Identity?.IsAuthenticated == true)
                {
                    if (user.FindFirst("sub")?.Value is { } sub)
                    {
                        headers.TryAddWithoutValidation(SubjectHeader, sub);
                    }

                    headers.TryAddWithoutValidation(ScopesHeader, string.Join(' ', user.FindAll("scope").Select(c => c.Value)));
                    if (user.FindFirst("client_id")?.Value is { } client)
                    {
                        headers.TryAddWithoutValidation(ClientHeader, client);
                    }
                }

                return default;
            }));

        WebApplication app = builder.Build();
        app.UseAuthentication();
        app.UseAuthorization();
        app.MapReverseProxy();
        return app;
    }
}
