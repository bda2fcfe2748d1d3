using System;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;

namespace RefToken.AspNetCore;

/// <summary>Token retrieval strategies, as the OAuth2 introspection handler's <c>TokenRetrieval</c>.</summary>
public static class TokenRetrieval
{
    /// <summary>The token after <c>{scheme} </c> in the first <c>Authorization</c> header (scheme compared case-insensitively), trimmed.</summary>
    /// <param name="scheme">The scheme; <c>Bearer</c> by default.</param>
    /// <returns>The retriever.</returns>
    public static Func<HttpRequest, string?> FromAuthorizationHeader(string scheme = "Bearer")
    {
        ArgumentNullException.ThrowIfNull(scheme);
        string prefix = scheme + " ";
        return request =>
        {
            if (request.Headers.TryGetValue(HeaderNames.Authorization, out var values) && values.Count != 0)
            {
                string? authorization = values[0];
                if (!string.IsNullOrEmpty(authorization) && authorization.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
                {
                    return authorization.AsSpan(prefix.Length).Trim().ToString();
                }
            }

            return null;
        };
    }

    /// <summary>The first value of a query string parameter.</summary>
    /// <param name="name">The parameter; <c>access_token</c> by default.</param>
    /// <returns>The retriever.</returns>
    public static Func<HttpRequest, string?> FromQueryString(string name = "access_token")
    {
        ArgumentNullException.ThrowIfNull(name);
        return request => request.Query.TryGetValue(name, out var values) && values.Count > 0 ? values[0] : null;
    }
}
