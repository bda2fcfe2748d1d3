using System;
using System.Data.Common;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace RefToken.AspNetCore;

/// <summary>
/// Lookups over IdentityServer's <c>PersistedGrants</c> table by ADO.NET: the row's <c>Type</c> and
/// <c>Data</c> under a <c>Key</c>, as IdentityServer's operational store reads it (the validator checks
/// the type and the token's own expiry; <c>Expiration</c> is not consulted, as IdentityServer does not).
/// </summary>
internal static class PersistedGrantStores
{
    public static Func<PersistedGrantLookupContext, PersistedGrantRow?> Sqlite(string connectionString, string table)
    {
        string sql = $"SELECT \"Type\", \"Data\" FROM {table} WHERE \"Key\" = $key";
        // Mode=ReadOnly: the handler never writes; an unreachable file then fails instead of being created.
        var builder = new SqliteConnectionStringBuilder(connectionString);
        if (builder.Mode == SqliteOpenMode.ReadWriteCreate)
        {
            builder.Mode = SqliteOpenMode.ReadOnly;
        }

        string cs = builder.ConnectionString;
        return context =>
        {
            using var connection = new SqliteConnection(cs);
            connection.Open();
            using SqliteCommand command = connection.CreateCommand();
            command.CommandText = sql;
            command.Parameters.AddWithValue("$key", context.StoreKey);
            return Read(command);
        };
    }

    public static (Func<PersistedGrantLookupContext, PersistedGrantRow?> Lookup, IDisposable Owner) Postgres(string connectionString, string table)
    {
        string sql = $"SELECT \"Type\", \"Data\" FROM {table} WHERE \"Key\" = $1";
        NpgsqlDataSource source = NpgsqlDataSource.Create(connectionString);
        return (context =>
        {
            using NpgsqlCommand command = source.CreateCommand(sql);
            command.Parameters.Add(new NpgsqlParameter { Value = context.StoreKey });
            return Read(command);
        }, source);
    }

    private static PersistedGrantRow? Read(DbCommand command)
    {
        using DbDataReader reader = command.ExecuteReader();
        return reader.Read() ? new PersistedGrantRow(reader.GetString(0), reader.GetString(1)) : null;
    }
}
