using System;
using System.Collections.Generic;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Threading.Tasks;

namespace RefToken.TestSupport;

/// <summary>
/// IdentityServer's token endpoint as the test clients call it, each with the secret
/// "<c>&lt;client id&gt;-secret</c>". Linked into both test projects that host a real IdentityServer.
/// </summary>
internal static class TokenEndpoint
{
    /// <summary>HTTP Basic credentials, both parts form-URL-escaped as IdentityServer unescapes them.</summary>
    public static AuthenticationHeaderValue Basic(string id, string secret) =>
        new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(Uri.EscapeDataString(id) + ":" + Uri.EscapeDataString(secret))));

    /// <summary>POSTs <paramref name="form"/> to <c>connect/token</c> as <paramref name="clientId"/>; the <c>access_token</c> it answers.</summary>
    public static async Task<string> AccessTokenAsync(HttpClient http, string clientId, Dictionary<string, string> form)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "connect/token") { Content = new FormUrlEncodedContent(form) };
        request.Headers.Authorization = Basic(clientId, clientId + "-secret");
        using HttpResponseMessage response = await http.SendAsync(request);
        string body = await response.Content.ReadAsStringAsync();
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"token endpoint: {(int)response.StatusCode} {body}");
        }

        using JsonDocument doc = JsonDocument.Parse(body);
        return doc.RootElement.GetProperty("access_token").GetString()!;
    }
}
