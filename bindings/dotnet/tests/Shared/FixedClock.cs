using System;
using Duende.IdentityServer;

namespace RefToken.TestSupport;

/// <summary>
/// A clock that stands still until moved: IdentityServer's IClock and the hosts' TimeProvider.
/// Linked into both test projects that host a real IdentityServer.
/// </summary>
public sealed class FixedClock : TimeProvider, IClock
{
    public DateTimeOffset Current { get; set; } = DateTimeOffset.UtcNow;
    public override DateTimeOffset GetUtcNow() => Current;
    public DateTimeOffset UtcNow => Current;
}
