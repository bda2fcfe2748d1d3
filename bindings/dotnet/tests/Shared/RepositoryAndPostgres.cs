using System;
using System.IO;
using Npgsql;

namespace RefToken.TestSupport;

/// <summary>
/// The repository's files and PostgreSQL URLs, as the Interop and AspNetCore test projects both need
/// them (each links this file; they differ only in the connection options they pass).
/// </summary>
internal static class RepositoryAndPostgres
{
    /// <summary>
    /// A <c>postgresql://user[:password]@host[:port]/db</c> URL as an Npgsql connection string:
    /// the database <c>postgres</c> when the URL names none, port 5432 when it gives none.
    /// </summary>
    public static string ToNpgsql(string url, bool pooling, int timeoutSeconds)
    {
        var uri = new Uri(url);
        var b = new NpgsqlConnectionStringBuilder
        {
            Host = uri.Host,
            Port = uri.IsDefaultPort || uri.Port <= 0 ? 5432 : uri.Port,
            Database = Uri.UnescapeDataString(uri.AbsolutePath.TrimStart('/')) is { Length: > 0 } db ? db : "postgres",
        };
        if (!pooling)
        {
            b.Pooling = false;
        }

        b.Timeout = timeoutSeconds;
        string[] user = uri.UserInfo.Split(':', 2);
        b.Username = Uri.UnescapeDataString(user[0]);
        if (user.Length == 2)
        {
            b.Password = Uri.UnescapeDataString(user[1]);
        }

        return b.ConnectionString;
    }

    /// <summary>A file of the repository, found above the test's output folder.</summary>
    public static string RepositoryFile(string relative)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, relative);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new FileNotFoundException(relative + " not found above " + AppContext.BaseDirectory);
    }
}
