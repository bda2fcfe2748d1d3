// The batch protocol of the oracles: a JSON array of operations on stdin, a JSON array of
// results (same order) on stdout; an operation that throws gives
// {"ok": false, "error": "<exception type>: <message>"}. Linked into the EndpointOracle and GrantOracle projects.

using System.Text.Json;
using System.Text.Json.Nodes;

namespace RefToken.Oracles;

internal static class OracleBatch
{
    /// <summary>Answers every operation read from stdin with <paramref name="run"/>; the process's exit code.</summary>
    public static int Run(Func<JsonObject, JsonObject> run)
    {
        var input = Console.In.ReadToEnd();
        var ops = JsonNode.Parse(input)!.AsArray();
        var results = new JsonArray();
        foreach (var op in ops)
        {
            JsonObject result;
            try
            {
                result = run(op!.AsObject());
            }
            catch (Exception e)
            {
                result = new JsonObject { ["ok"] = false, ["error"] = Describe(e) };
            }
            results.Add(result);
        }
        var stdout = Console.OpenStandardOutput();
        using var writer = new Utf8JsonWriter(stdout);
        results.WriteTo(writer);
        writer.Flush();
        return 0;
    }

    /// <summary>An exception as the results name it: "<c>type: message</c>".</summary>
    public static string Describe(Exception e) => $"{e.GetType().Name}: {e.Message}";
}
