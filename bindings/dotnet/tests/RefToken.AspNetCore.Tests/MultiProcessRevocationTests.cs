using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Net;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Reflection;
using System.Threading.Tasks;
using Xunit;

namespace RefToken.AspNetCore.Tests;

/// <summary>
/// Push revocation across processes: two separate API processes (RefToken.AspNetCore.TestApi, started
/// with <c>dotnet &lt;dll&gt;</c> on free ports of 127.0.0.1) warm their caches with a token; the row is
/// deleted (PostgreSQL: the migration's trigger sends NOTIFY; Redis: the key is published as well), and
/// the next request after the notification is refused on both.
/// </summary>
public class MultiProcessRevocationTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(2);

    [Fact]
    public async Task ADeletedRowIsRefusedOnTwoProcessesThroughPostgresNotify()
    {
        using var store = new PostgresGrantStore();
        (string revoked, string revokedKey) = Tokens.IssueActive(store);
        (string kept, _) = Tokens.IssueActive(store);
        string[] args = ["--store-postgres", store.ConnectionString, "--revocation-postgres", store.Url];
        await using var a = await ApiProcess.StartAsync(args);
        await using var b = await ApiProcess.StartAsync(args);
        await RevokeAndCheck([a, b], revoked, kept, () => Assert.Equal(1, store.Delete(revokedKey)), store);
    }

    [Fact]
    public async Task ADeletedAndPublishedRowIsRefusedOnTwoProcessesThroughRedis()
    {
        using var store = new SqliteGrantStore();
        (string revoked, string revokedKey) = Tokens.IssueActive(store);
        (string kept, _) = Tokens.IssueActive(store);
        string channel = "reftoken-aspnet-mp-" + Guid.NewGuid().ToString("N");
        string[] args = ["--store-sqlite", store.ConnectionString, "--revocation-redis", Servers.RedisUrl, "--channel", channel];
        await using var a = await ApiProcess.StartAsync(args);
        await using var b = await ApiProcess.StartAsync(args);
        await RevokeAndCheck([a, b], revoked, kept, () =>
        {
            Assert.Equal(1, store.Delete(revokedKey));
            Assert.Equal(2, Revocation.PublishRedis(Servers.RedisUrl, channel, revokedKey));   // both processes subscribe
        }, store);
    }

    private static async Task RevokeAndCheck(ApiProcess[] apis, string revoked, string kept, Action revoke, IGrantStore store)
    {
        foreach (ApiProcess api in apis)
        {
            Assert.True(await Servers.Eventually(async () => (await api.Client.GetAsync("/ready")).StatusCode == HttpStatusCode.OK, TimeSpan.FromSeconds(15)),
                $"the {store.Kind} listener of process {api.Pid} never confirmed delivery: {await api.Client.GetStringAsync("/stats")}\n{api.Output}");
            Assert.Equal(HttpStatusCode.OK, await api.Status(revoked));
            Assert.Equal(HttpStatusCode.OK, await api.Status(kept));
        }

        Assert.NotEqual(apis[0].Pid, apis[1].Pid);
        revoke();
        var watch = Stopwatch.StartNew();
        foreach (ApiProcess api in apis)
        {
            Assert.True(await Servers.Eventually(async () => await api.Status(revoked) == HttpStatusCode.Unauthorized, Bound),
                $"process {api.Pid} still accepts the revoked token after {watch.Elapsed}\n{api.Output}");
        }

        // The bound is the staleness bound: past it the caches would have been dropped anyway; the
        // notification must have done it well before.
        Assert.True(watch.Elapsed < Bound, $"refused on both after {watch.Elapsed}");
        foreach (ApiProcess api in apis)
        {
            Assert.Equal(HttpStatusCode.OK, await api.Status(kept));
        }
    }

    /// <summary>One RefToken.AspNetCore.TestApi process.</summary>
    private sealed class ApiProcess : IAsyncDisposable
    {
        private readonly Process _process;
        private readonly List<string> _output;

        private ApiProcess(Process process, Uri url, List<string> output)
        {
            _process = process;
            _output = output;
            Client = new HttpClient { BaseAddress = url, Timeout = TimeSpan.FromSeconds(10) };
        }

        public HttpClient Client { get; }

        public int Pid => _process.Id;

        public string Output
        {
            get
            {
                lock (_output)
                {
                    return string.Join("\n", _output);
                }
            }
        }

        public static async Task<ApiProcess> StartAsync(string[] args)
        {
            string dll = typeof(ApiProcess).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
                .Single(m => m.Key == "TestApiAssembly").Value!;
            Assert.True(File.Exists(dll), dll + " was not built");
            var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            start.ArgumentList.Add(dll);
            foreach (string a in args)
            {
                start.ArgumentList.Add(a);
            }

            var process = Process.Start(start)!;
            var lines = new List<string>();
            var bound = new TaskCompletionSource<Uri>(TaskCreationOptions.RunContinuationsAsynchronously);
            process.OutputDataReceived += (_, e) =>
            {
                if (e.Data is null)
                {
                    bound.TrySetException(new InvalidOperationException("the API process ended: " + string.Join("\n", lines)));
                    return;
                }

                lock (lines)
                {
                    lines.Add(e.Data);
                }

                if (e.Data.StartsWith("listening ", StringComparison.Ordinal))
                {
                    bound.TrySetResult(new Uri(e.Data["listening ".Length..]));
                }
            };
            process.ErrorDataReceived += (_, e) =>
            {
                if (e.Data is not null)
                {
                    lock (lines)
                    {
                        lines.Add(e.Data);
                    }
                }
            };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            try
            {
                Uri url = await bound.Task.WaitAsync(TimeSpan.FromSeconds(30));
                return new ApiProcess(process, url, lines);
            }
            catch
            {
                process.Kill(entireProcessTree: true);
                throw;
            }
        }

        public async Task<HttpStatusCode> Status(string token)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/me");
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            using HttpResponseMessage r = await Client.SendAsync(request);
            return r.StatusCode;
        }

        public async ValueTask DisposeAsync()
        {
            Client.Dispose();
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }

            await _process.WaitForExitAsync();
            _process.Dispose();
        }
    }
}
