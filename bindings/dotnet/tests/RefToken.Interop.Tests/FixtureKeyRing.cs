using System;
using System.Text.Json;

namespace RefToken.Tests;

/// <summary>The fixtures' key ring, and reading a fixture row with it.</summary>
public sealed class FixtureKeyRing : IDisposable
{
    public FixtureKeyRing()
    {
        Ring = KeyRing.LoadDirectory(Fixtures.KeyRingDirectory, Fixtures.AppName);
        Protector = Ring.CreateProtector(Fixtures.ProtectorPurpose);
    }

    public KeyRing Ring { get; }

    public KeyRingProtector Protector { get; }

    /// <summary>
    /// The row's token, as IdentityServer's serializer would read it: unprotect a protected
    /// container's payload; null where IdentityServer could not read it either.
    /// </summary>
    public Grant? Decode(GrantRow row)
    {
        try
        {
            if (row.IsContainer && row.DataProtected)
            {
                using JsonDocument container = JsonDocument.Parse(row.Data);
                string payload = Protector.Unprotect(container.RootElement.GetProperty("Payload").GetString()!);
                return Grant.ParseTokenJson(payload);
            }

            return Grant.Parse(row.Data);
        }
        catch (RefTokenException)
        {
            return null;
        }
    }

    public void Dispose() => Ring.Dispose();
}
