using System;
using System.Collections.Generic;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Http;

namespace RefToken.AspNetCore;

/// <summary>
/// Options of the RefToken authentication handler. Where Duende's OAuth2 introspection handler
/// (<c>OAuth2IntrospectionOptions</c>) has an option of the same meaning it has the same name, so that
/// switching between the two changes the registration call and the store settings only.
/// </summary>
public sealed class RefTokenAuthenticationOptions : AuthenticationSchemeOptions
{
    /// <summary>Creates the options with the default events.</summary>
    public RefTokenAuthenticationOptions() => Events = new RefTokenEvents();

    // --- The API's identity: what IdentityServer knows as the ApiResource that introspects. ---

    /// <summary>
    /// The API's name: the <c>ApiResource</c> name the introspection handler sends as its client id
    /// (required). Tokens are judged as IdentityServer judges them for that caller.
    /// </summary>
    public string? ClientId { get; set; }

    /// <summary>
    /// The scopes of the <c>ApiResource</c> (its <c>Scopes</c> in IdentityServer's configuration; required):
    /// a token is active only when it carries at least one of them, and its <c>scope</c> claims are only those.
    /// </summary>
    public ICollection<string> ApiScopes { get; set; } = new List<string>();

    /// <summary>
    /// Whether the token's client exists and is enabled in IdentityServer's client store (IdentityServer
    /// answers inactive otherwise). Null: every client counts as enabled.
    /// </summary>
    public Func<string, bool>? IsClientEnabled { get; set; }

    // --- As OAuth2IntrospectionOptions. ---

    /// <summary>The claim type of the identity's name (defaults to <c>name</c>).</summary>
    public string NameClaimType { get; set; } = "name";

    /// <summary>The claim type of the identity's roles (defaults to <c>role</c>).</summary>
    public string RoleClaimType { get; set; } = "role";

    /// <summary>The identity's authentication type; null for the scheme's name.</summary>
    public string? AuthenticationType { get; set; }

    /// <summary>
    /// Whether tokens containing a dot (JWTs, most likely) are left to other handlers (<see cref="AuthenticateResult.NoResult"/>).
    /// Defaults to true: a reference handle never contains a dot.
    /// </summary>
    public bool SkipTokensWithDots { get; set; } = true;

    /// <summary>Whether the token is stored in the authentication properties as <c>access_token</c> (defaults to true).</summary>
    public bool SaveToken { get; set; } = true;

    /// <summary>Whether validated tokens are cached by the native validator (defaults to false, as the introspection handler).</summary>
    public bool EnableCaching { get; set; }

    /// <summary>
    /// The longest a cached token is served without reading its row again (defaults to 5 minutes); never
    /// beyond the token's own expiry. Whole seconds.
    /// </summary>
    public TimeSpan CacheDuration { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>The most tokens cached (defaults to 10,000); used when <see cref="EnableCaching"/> is true.</summary>
    public int CacheCapacity { get; set; } = 10_000;

    /// <summary>How the token is read from the request (defaults to the <c>Authorization: Bearer</c> header).</summary>
    public Func<HttpRequest, string?> TokenRetriever { get; set; } = TokenRetrieval.FromAuthorizationHeader();

    /// <summary>The events the handler raises.</summary>
    public new RefTokenEvents Events
    {
        get => (RefTokenEvents)base.Events!;
        set => base.Events = value;
    }

    // --- The store: exactly one of these. ---

    /// <summary>A Microsoft.Data.Sqlite connection string of the database holding IdentityServer's <c>PersistedGrants</c> table.</summary>
    public string? SqliteConnectionString { get; set; }

    /// <summary>An Npgsql connection string of the database holding IdentityServer's <c>PersistedGrants</c> table.</summary>
    public string? PostgresConnectionString { get; set; }

    /// <summary>
    /// The table the SQLite and PostgreSQL lookups read, as it is written in SQL (defaults to
    /// <c>"PersistedGrants"</c>; for a schema, e.g. <c>"identity"."PersistedGrants"</c>). Configuration, never user input.
    /// </summary>
    public string PersistedGrantsTable { get; set; } = "\"PersistedGrants\"";

    /// <summary>
    /// Any other store: returns the <c>Type</c> and <c>Data</c> columns of the row stored under
    /// <see cref="PersistedGrantLookupContext.StoreKey"/>, or null when there is none. Called synchronously,
    /// only when the token is not cached; an exception it throws is a store outage
    /// (<see cref="RefTokenStoreUnavailableException"/>).
    /// </summary>
    public Func<PersistedGrantLookupContext, PersistedGrantRow?>? Lookup { get; set; }

    // --- Data Protection (when IdentityServer protects its grants, as Duende 6 and later do by default). ---

    /// <summary>The folder of the IdentityServer hosts' Data Protection keys (what <c>PersistKeysToFileSystem</c> points at).</summary>
    public string? KeyRingDirectory { get; set; }

    /// <summary>Or: the key ring's <c>&lt;key&gt;</c> elements as XML, from wherever the hosts keep them; called again on each reload.</summary>
    public Func<IEnumerable<string>>? KeyRingXml { get; set; }

    /// <summary>The IdentityServer hosts' Data Protection application name (what <c>SetApplicationName</c> sets); required with a key ring.</summary>
    public string? ApplicationName { get; set; }

    /// <summary>The least time between two reloads of the key ring when a row names a key it does not hold (defaults to 1 minute).</summary>
    public TimeSpan KeyRingReloadInterval { get; set; } = TimeSpan.FromMinutes(1);

    // --- Push revocation (run by the hosted service AddRefToken registers). ---

    /// <summary>
    /// A libpq connection string (a <c>postgresql://</c> URL or <c>key=value</c> pairs, not an Npgsql one) of the
    /// database whose <c>PersistedGrants</c> triggers (<c>migrations/postgres/</c>) notify deleted keys.
    /// </summary>
    public string? RevocationPostgres { get; set; }

    /// <summary>A Redis URL (<c>redis://host:port/</c>) whose channel revoking nodes publish store keys on.</summary>
    public string? RevocationRedis { get; set; }

    /// <summary>The NOTIFY or Redis channel; null for <c>reftoken_revocations</c>.</summary>
    public string? RevocationChannel { get; set; }

    /// <summary>
    /// How long a cached token may still be served when revocations may have been missed (the listener down
    /// or unconfirmed): past it, cached entries are read again from the store. Null for 10 seconds.
    /// </summary>
    public TimeSpan? StaleBound { get; set; }

    // --- Failure policy. ---

    /// <summary>
    /// A scheme to authenticate with instead when the store cannot be reached (for example the HTTP
    /// introspection handler); null to fail closed with <see cref="RefTokenStoreUnavailableException"/>
    /// and a 503 challenge.
    /// </summary>
    public string? StoreUnavailableForwardScheme { get; set; }

    /// <inheritdoc/>
    public override void Validate()
    {
        base.Validate();
        if (string.IsNullOrEmpty(ClientId))
        {
            throw new InvalidOperationException("RefToken: set ClientId to the API's name (its ApiResource name in IdentityServer).");
        }

        if (ApiScopes is null || ApiScopes.Count == 0)
        {
            throw new InvalidOperationException("RefToken: set ApiScopes to the scopes of the API's ApiResource.");
        }

        int stores = (SqliteConnectionString is null ? 0 : 1) + (PostgresConnectionString is null ? 0 : 1) + (Lookup is null ? 0 : 1);
        if (stores != 1)
        {
            throw new InvalidOperationException("RefToken: set exactly one of SqliteConnectionString, PostgresConnectionString and Lookup.");
        }

        if ((KeyRingDirectory is not null || KeyRingXml is not null) && string.IsNullOrEmpty(ApplicationName))
        {
            throw new InvalidOperationException("RefToken: a key ring needs ApplicationName, the name IdentityServer's hosts pass to SetApplicationName.");
        }

        if (KeyRingDirectory is not null && KeyRingXml is not null)
        {
            throw new InvalidOperationException("RefToken: set KeyRingDirectory or KeyRingXml, not both.");
        }

        if (TokenRetriever is null)
        {
            throw new InvalidOperationException("RefToken: TokenRetriever must be set.");
        }

        if (CacheDuration < TimeSpan.Zero || CacheCapacity < 0)
        {
            throw new InvalidOperationException("RefToken: CacheDuration and CacheCapacity must not be negative.");
        }
    }
}

/// <summary>What a <see cref="RefTokenAuthenticationOptions.Lookup"/> delegate is asked.</summary>
/// <param name="StoreKey">The <c>PersistedGrants.Key</c> to read (never the handle itself).</param>
/// <param name="RequestServices">The request's services (a scoped <c>DbContext</c>, for example); the root provider outside a request.</param>
public sealed record PersistedGrantLookupContext(string StoreKey, IServiceProvider RequestServices);
