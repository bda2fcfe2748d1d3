// Time from the DELETE of a token's PersistedGrants row to the API's first 401 for that token.
//
// Usage: BenchProbe token <IdentityServer URL>
//          prints a new reference token (client credentials, bench.client, scope api1.read)
//        BenchProbe revocation <API URL> <IdentityServer URL> <npgsql connection string> <trials> <poll ms> <timeout s>
//
// Each trial: a new token from IdentityServer's token endpoint; GET <API URL>/ with it until three
// answers in a row are 200 (so that a cache holds it); then the clock starts, the row is deleted (one
// autocommitted DELETE by its key, SHA-256 of "<handle>:reference_token" in uppercase hex, as
// IdentityServer keys it), and GET is repeated (every <poll ms>, 0 for back to back) until the answer
// is 401 or <timeout s> pass. One uncounted trial comes first. Prints each trial and then n, p50, p99 and max in milliseconds. A trial
// that times out counts as the timeout and is reported as such.

using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.Linq;
using System.Net;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Threading.Tasks;
using Npgsql;

if (args.Length == 2 && args[0] == "token")
{
    using var http = new HttpClient();
    Console.WriteLine(await IssueAsync(http, args[1]));
    return 0;
}

if (args.Length != 7 || args[0] != "revocation")
{
    Console.Error.WriteLine("usage: BenchProbe token <IdentityServer URL> | revocation <API URL> <IdentityServer URL> <npgsql> <trials> <poll ms> <timeout s>");
    return 2;
}

string api = args[1].TrimEnd('/') + "/";
string ids = args[2];
string store = args[3];
int trials = int.Parse(args[4], CultureInfo.InvariantCulture);
int pollMs = int.Parse(args[5], CultureInfo.InvariantCulture);
TimeSpan timeout = TimeSpan.FromSeconds(int.Parse(args[6], CultureInfo.InvariantCulture));

using var client = new HttpClient();
await using var db = new NpgsqlConnection(store);
await db.OpenAsync();
var times = new List<double>();
int timedOut = 0;
// Trial 0 is not counted: it runs this program's own first DELETE and polling code (JIT, Npgsql's
// first command), which would otherwise be timed as revocation delay.
for (int i = 0; i <= trials; i++)
{
    string token = await IssueAsync(client, ids);
    for (int ok = 0; ok < 3;)
    {
        ok = await GetAsync(client, api, token) == HttpStatusCode.OK ? ok + 1 : 0;
        if (ok == 0)
        {
            await Task.Delay(10);
        }
    }

    string key = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(token + ":reference_token")));
    await using var delete = new NpgsqlCommand("""DELETE FROM "PersistedGrants" WHERE "Key" = @k""", db);
    delete.Parameters.AddWithValue("k", key);
    var clock = Stopwatch.StartNew();
    if (await delete.ExecuteNonQueryAsync() != 1)
    {
        throw new InvalidOperationException("the token's row was not found");
    }

    bool refused = false;
    while (clock.Elapsed < timeout)
    {
        HttpStatusCode status = await GetAsync(client, api, token);
        if (status == HttpStatusCode.Unauthorized)
        {
            refused = true;
            break;
        }

        if (status != HttpStatusCode.OK)
        {
            throw new InvalidOperationException($"unexpected {(int)status}");
        }

        if (pollMs > 0)
        {
            await Task.Delay(pollMs);
        }
    }

    double ms = clock.Elapsed.TotalMilliseconds;
    Console.WriteLine(FormattableString.Invariant($"trial {i}{(i == 0 ? " (warm-up, not counted)" : "")}: {(refused ? "401 after" : "still 200 after")} {ms:F1} ms"));
    if (i > 0)
    {
        timedOut += refused ? 0 : 1;
        times.Add(ms);
    }
}

times.Sort();
Console.WriteLine(FormattableString.Invariant(
    $"revocation: n={times.Count} p50={Percentile(0.50):F1} ms p99={Percentile(0.99):F1} ms max={times[^1]:F1} ms timed_out={timedOut}"));
return 0;

double Percentile(double p) => times[Math.Clamp((int)Math.Ceiling(p * times.Count) - 1, 0, times.Count - 1)];

static async Task<HttpStatusCode> GetAsync(HttpClient http, string url, string token)
{
    using var request = new HttpRequestMessage(HttpMethod.Get, url);
    request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
    using HttpResponseMessage response = await http.SendAsync(request);
    return response.StatusCode;
}

static async Task<string> IssueAsync(HttpClient http, string ids)
{
    using var request = new HttpRequestMessage(HttpMethod.Post, ids.TrimEnd('/') + "/connect/token")
    {
        Content = new FormUrlEncodedContent(new Dictionary<string, string> { ["grant_type"] = "client_credentials", ["scope"] = "api1.read" }),
    };
    request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes("bench.client:bench-client-secret")));
    using HttpResponseMessage response = await http.SendAsync(request);
    string body = await response.Content.ReadAsStringAsync();
    if (!response.IsSuccessStatusCode)
    {
        throw new InvalidOperationException($"token endpoint: {(int)response.StatusCode} {body}");
    }

    using JsonDocument doc = JsonDocument.Parse(body);
    return doc.RootElement.GetProperty("access_token").GetString()!;
}
