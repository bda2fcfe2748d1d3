using System;
using System.Text;
using RefToken.Native;

namespace RefToken;

/// <summary>A text field of a grant: the <c>PersistedGrants</c> columns besides <c>Key</c>, <c>Type</c> and <c>Data</c> (<c>REFTOKEN_FIELD_*</c>).</summary>
public enum GrantField : uint
{
    /// <summary>The <c>sub</c> claim: the row's <c>SubjectId</c>.</summary>
    SubjectId = 1,

    /// <summary>The <c>sid</c> claim: the row's <c>SessionId</c>.</summary>
    SessionId = 2,

    /// <summary>The token's <c>ClientId</c>: the row's <c>ClientId</c>.</summary>
    ClientId = 3,

    /// <summary>The token's <c>Description</c>: the row's <c>Description</c>.</summary>
    Description = 4,

    /// <summary>The token's <c>Issuer</c>.</summary>
    Issuer = 5,

    /// <summary>The token's <c>Confirmation</c> (JSON text).</summary>
    Confirmation = 6,

    /// <summary>The row's <c>CreationTime</c> as IdentityServer writes it (ISO 8601, UTC).</summary>
    CreationTime = 7,

    /// <summary>The row's <c>Expiration</c> (<c>CreationTime + Lifetime</c>), ISO 8601, UTC.</summary>
    Expiration = 8,
}

/// <summary>
/// A reference token (IdentityServer's <c>Token</c>) held natively (<c>reftoken_grant</c>): parsed
/// from a <c>Data</c> column or built to be issued. Reading members may run on several threads at
/// once; the <c>Add*</c>/<c>Set*</c> members must not run concurrently with any other use.
/// </summary>
public sealed unsafe class Grant : IDisposable
{
    private readonly GrantSafeHandle _handle;

    private Grant(GrantSafeHandle handle) => _handle = handle;

    /// <summary>Wraps a grant the library handed out (owned from now on).</summary>
    internal static Grant Own(nint grant) => new(new GrantSafeHandle(grant));

    /// <summary>The native object; valid until this grant is disposed.</summary>
    public GrantSafeHandle SafeHandle => _handle;

    /// <summary>
    /// Parses a <c>Data</c> column: a version-1 container or an IdentityServer4 version-0 payload
    /// (<c>reftoken_grant_parse</c>).
    /// </summary>
    /// <param name="data">The <c>PersistedGrants.Data</c> value.</param>
    /// <returns>The grant; dispose it.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="data"/> is null.</exception>
    /// <exception cref="RefTokenException">
    /// <see cref="RefTokenStatus.MalformedInput"/> (not a container or not a token),
    /// <see cref="RefTokenStatus.UnsupportedVersion"/>, <see cref="RefTokenStatus.DataProtected"/>
    /// (the payload is protected with ASP.NET Core Data Protection), <see cref="RefTokenStatus.InputTooLarge"/>
    /// (over 1 MiB or 10000 claims).
    /// </exception>
    public static Grant Parse(string data)
    {
        ArgumentNullException.ThrowIfNull(data);
        using var d = new Utf8Arg(data, stackalloc byte[Utf8Arg.StackBytes]);
        return Parse(d.Span);
    }

    /// <summary>As <see cref="Parse(string)"/>, from UTF-8.</summary>
    /// <param name="utf8Data">The <c>Data</c> value, UTF-8.</param>
    /// <returns>The grant; dispose it.</returns>
    /// <exception cref="RefTokenException">As <see cref="Parse(string)"/>, and <see cref="RefTokenStatus.InvalidUtf8"/>.</exception>
    public static Grant Parse(ReadOnlySpan<byte> utf8Data) => Parse(&NativeMethods.reftoken_grant_parse, utf8Data);

    /// <summary>
    /// Parses a <c>Data</c> column like <see cref="Parse(string)"/>, unprotecting a
    /// <c>"DataProtected":true</c> payload with <paramref name="keyRing"/> (purposes: the key ring's
    /// application name, then <c>PersistentGrantSerializer</c>) (<c>reftoken_grant_parse_protected</c>).
    /// </summary>
    /// <param name="data">The <c>PersistedGrants.Data</c> value.</param>
    /// <param name="keyRing">The key ring; null behaves as <see cref="Parse(string)"/>.</param>
    /// <returns>The grant; dispose it.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="data"/> is null.</exception>
    /// <exception cref="RefTokenException">
    /// As <see cref="Parse(string)"/>, and for protected payloads <see cref="RefTokenStatus.CryptoFailure"/>
    /// (tampered, truncated, another application name), <see cref="RefTokenStatus.UnknownKey"/>,
    /// <see cref="RefTokenStatus.KeyRevoked"/>, <see cref="RefTokenStatus.UnsupportedProtector"/>.
    /// </exception>
    public static Grant ParseProtected(string data, KeyRing? keyRing)
    {
        ArgumentNullException.ThrowIfNull(data);
        using var d = new Utf8Arg(data, stackalloc byte[Utf8Arg.StackBytes]);
        return ParseProtected(d.Span, keyRing);
    }

    /// <summary>As <see cref="ParseProtected(string, KeyRing?)"/>, from UTF-8.</summary>
    /// <param name="utf8Data">The <c>Data</c> value, UTF-8.</param>
    /// <param name="keyRing">The key ring; null behaves as <see cref="Parse(ReadOnlySpan{byte})"/>.</param>
    /// <returns>The grant; dispose it.</returns>
    /// <exception cref="RefTokenException">As <see cref="ParseProtected(string, KeyRing?)"/>, and <see cref="RefTokenStatus.InvalidUtf8"/>.</exception>
    public static Grant ParseProtected(ReadOnlySpan<byte> utf8Data, KeyRing? keyRing)
    {
        RefTokenLibrary.EnsureLoaded();
        GrantSafeHandle handle;
        RefTokenStatus status;
        using (var ring = new OptionalHandle(keyRing?.SafeHandle))
        {
            fixed (byte* p = utf8Data)
            {
                status = NativeMethods.reftoken_grant_parse_protected(p, (nuint)utf8Data.Length, ring.Pointer, out handle);
            }
        }

        return Wrap(status, handle);
    }

    /// <summary>Parses the <c>Token</c> JSON itself, the container's payload (<c>reftoken_grant_parse_token_json</c>).</summary>
    /// <param name="json">The payload JSON.</param>
    /// <returns>The grant; dispose it.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="json"/> is null.</exception>
    /// <exception cref="RefTokenException">As <see cref="Parse(string)"/>, without <see cref="RefTokenStatus.DataProtected"/>.</exception>
    public static Grant ParseTokenJson(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        using var j = new Utf8Arg(json, stackalloc byte[Utf8Arg.StackBytes]);
        return ParseTokenJson(j.Span);
    }

    /// <summary>As <see cref="ParseTokenJson(string)"/>, from UTF-8.</summary>
    /// <param name="utf8Json">The payload JSON, UTF-8.</param>
    /// <returns>The grant; dispose it.</returns>
    /// <exception cref="RefTokenException">As <see cref="ParseTokenJson(string)"/>, and <see cref="RefTokenStatus.InvalidUtf8"/>.</exception>
    public static Grant ParseTokenJson(ReadOnlySpan<byte> utf8Json) => Parse(&NativeMethods.reftoken_grant_parse_token_json, utf8Json);

    /// <summary>
    /// A new reference token for <paramref name="clientId"/>, issued by <paramref name="issuer"/>,
    /// with no claims or audiences yet (<c>reftoken_grant_new</c>). IdentityServer's own tokens also
    /// carry a <c>client_id</c> claim and one <c>scope</c> claim per scope.
    /// </summary>
    /// <param name="clientId">The token's client.</param>
    /// <param name="issuer">The issuer URI.</param>
    /// <param name="creationTime">When it was created (whole seconds are kept).</param>
    /// <param name="lifetimeSeconds">Its lifetime in seconds.</param>
    /// <returns>The grant; dispose it.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="RefTokenArgumentException"><see cref="RefTokenStatus.InvalidArgument"/>: a negative lifetime, or an expiration (creation time + lifetime) past 9999-12-31, which IdentityServer cannot store.</exception>
    public static Grant Create(string clientId, string issuer, DateTimeOffset creationTime, int lifetimeSeconds) =>
        Create(clientId, issuer, creationTime.ToUnixTimeSeconds(), lifetimeSeconds);

    /// <summary>As <see cref="Create(string, string, DateTimeOffset, int)"/>, with the creation time in Unix seconds.</summary>
    /// <param name="clientId">The token's client.</param>
    /// <param name="issuer">The issuer URI.</param>
    /// <param name="creationTimeUnixSeconds">When it was created, Unix seconds.</param>
    /// <param name="lifetimeSeconds">Its lifetime in seconds.</param>
    /// <returns>The grant; dispose it.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="RefTokenArgumentException"><see cref="RefTokenStatus.InvalidArgument"/>: a negative lifetime, or a creation time or expiration (creation time + lifetime) outside years 1 to 9999.</exception>
    public static Grant Create(string clientId, string issuer, long creationTimeUnixSeconds, int lifetimeSeconds)
    {
        ArgumentNullException.ThrowIfNull(clientId);
        ArgumentNullException.ThrowIfNull(issuer);
        RefTokenLibrary.EnsureLoaded();
        using var c = new Utf8Arg(clientId, stackalloc byte[Utf8Arg.StackBytes]);
        using var i = new Utf8Arg(issuer, stackalloc byte[Utf8Arg.StackBytes]);
        GrantSafeHandle handle;
        RefTokenStatus status;
        fixed (byte* cp = c.Span)
        fixed (byte* ip = i.Span)
        {
            status = NativeMethods.reftoken_grant_new(cp, (nuint)c.Length, ip, (nuint)i.Length, creationTimeUnixSeconds, lifetimeSeconds, out handle);
        }

        return Wrap(status, handle);
    }

    /// <summary>
    /// Appends a claim (<c>reftoken_grant_add_claim</c>). Claims keep the order added, which the
    /// introspection response follows.
    /// </summary>
    /// <param name="type">The claim type.</param>
    /// <param name="value">The value.</param>
    /// <param name="valueType">A <c>ClaimValueTypes</c> URI such as <c>http://www.w3.org/2001/XMLSchema#integer64</c>, or <c>json</c>; null or empty for a plain string.</param>
    /// <exception cref="ArgumentNullException"><paramref name="type"/> or <paramref name="value"/> is null.</exception>
    /// <exception cref="RefTokenException"><see cref="RefTokenStatus.InputTooLarge"/>: over 10000 claims.</exception>
    public void AddClaim(string type, string value, string? valueType = null)
    {
        ArgumentNullException.ThrowIfNull(type);
        ArgumentNullException.ThrowIfNull(value);
        using var t = new Utf8Arg(type, stackalloc byte[Utf8Arg.StackBytes]);
        using var v = new Utf8Arg(value, stackalloc byte[Utf8Arg.StackBytes]);
        using var vt = new Utf8Arg(valueType, stackalloc byte[Utf8Arg.StackBytes]);
        AddClaim(t.Span, v.Span, vt.Span);
    }

    /// <summary>As <see cref="AddClaim(string, string, string?)"/>, from UTF-8; an empty <paramref name="utf8ValueType"/> is a plain string.</summary>
    /// <param name="utf8Type">The claim type, UTF-8.</param>
    /// <param name="utf8Value">The value, UTF-8.</param>
    /// <param name="utf8ValueType">The value type, UTF-8; empty for a plain string.</param>
    /// <exception cref="RefTokenException"><see cref="RefTokenStatus.InvalidUtf8"/>, <see cref="RefTokenStatus.InputTooLarge"/>.</exception>
    public void AddClaim(ReadOnlySpan<byte> utf8Type, ReadOnlySpan<byte> utf8Value, ReadOnlySpan<byte> utf8ValueType)
    {
        RefTokenStatus status;
        fixed (byte* tp = utf8Type)
        fixed (byte* vp = utf8Value)
        fixed (byte* vtp = utf8ValueType)
        {
            status = NativeMethods.reftoken_grant_add_claim(
                _handle, tp, (nuint)utf8Type.Length, vp, (nuint)utf8Value.Length, vtp, (nuint)utf8ValueType.Length);
        }

        RefTokenLibrary.Check(status);
    }

    /// <summary>Appends an audience, an <c>aud</c> value (<c>reftoken_grant_add_audience</c>).</summary>
    /// <param name="audience">The audience.</param>
    /// <exception cref="ArgumentNullException"><paramref name="audience"/> is null.</exception>
    public void AddAudience(string audience)
    {
        ArgumentNullException.ThrowIfNull(audience);
        using var a = new Utf8Arg(audience, stackalloc byte[Utf8Arg.StackBytes]);
        AddAudience(a.Span);
    }

    /// <summary>As <see cref="AddAudience(string)"/>, from UTF-8.</summary>
    /// <param name="utf8Audience">The audience, UTF-8.</param>
    /// <exception cref="RefTokenException"><see cref="RefTokenStatus.InvalidUtf8"/>.</exception>
    public void AddAudience(ReadOnlySpan<byte> utf8Audience) => SetText(&NativeMethods.reftoken_grant_add_audience, utf8Audience);

    /// <summary>Sets the confirmation (<c>cnf</c>) as JSON text, such as <c>{"x5t#S256":"..."}</c>; null or empty clears it.</summary>
    /// <param name="json">The JSON value, or null.</param>
    /// <exception cref="RefTokenException"><see cref="RefTokenStatus.MalformedInput"/>: not a JSON value.</exception>
    public void SetConfirmation(string? json)
    {
        using var j = new Utf8Arg(json, stackalloc byte[Utf8Arg.StackBytes]);
        SetConfirmation(j.Span);
    }

    /// <summary>As <see cref="SetConfirmation(string?)"/>, from UTF-8; empty clears it.</summary>
    /// <param name="utf8Json">The JSON value, UTF-8.</param>
    /// <exception cref="RefTokenException"><see cref="RefTokenStatus.InvalidUtf8"/>, <see cref="RefTokenStatus.MalformedInput"/>.</exception>
    public void SetConfirmation(ReadOnlySpan<byte> utf8Json) => SetText(&NativeMethods.reftoken_grant_set_confirmation, utf8Json);

    /// <summary>Sets the description; null or empty clears it.</summary>
    /// <param name="description">The description, or null.</param>
    public void SetDescription(string? description)
    {
        using var d = new Utf8Arg(description, stackalloc byte[Utf8Arg.StackBytes]);
        SetDescription(d.Span);
    }

    /// <summary>As <see cref="SetDescription(string?)"/>, from UTF-8; empty clears it.</summary>
    /// <param name="utf8Description">The description, UTF-8.</param>
    /// <exception cref="RefTokenException"><see cref="RefTokenStatus.InvalidUtf8"/>.</exception>
    public void SetDescription(ReadOnlySpan<byte> utf8Description) => SetText(&NativeMethods.reftoken_grant_set_description, utf8Description);

    /// <summary>A text field of the grant (<c>reftoken_grant_field</c>), or null when the grant has none (the column is NULL).</summary>
    /// <param name="field">Which field.</param>
    /// <returns>The value, or null.</returns>
    /// <exception cref="RefTokenArgumentException"><see cref="RefTokenStatus.InvalidArgument"/>: an unknown field.</exception>
    public string? GetField(GrantField field)
    {
        var writer = new FieldWriter(_handle, (uint)field);
        return NativeOutput.ReadStringOrNull(ref writer, 256);
    }

    /// <summary>
    /// Writes a text field of the grant into <paramref name="destination"/>. Returns false when the
    /// grant has no such value (<paramref name="bytesWritten"/> 0) or when <paramref name="destination"/>
    /// is too small (<paramref name="bytesWritten"/> is then the size needed, larger than the destination).
    /// </summary>
    /// <param name="field">Which field.</param>
    /// <param name="destination">Where the UTF-8 value goes.</param>
    /// <param name="bytesWritten">Bytes written, 0 when absent, or the size needed.</param>
    /// <returns>Whether the value was written.</returns>
    /// <exception cref="RefTokenArgumentException"><see cref="RefTokenStatus.InvalidArgument"/>: an unknown field.</exception>
    public bool TryGetField(GrantField field, Span<byte> destination, out int bytesWritten)
    {
        nuint length;
        RefTokenStatus status;
        fixed (byte* p = destination)
        {
            status = NativeMethods.reftoken_grant_field(_handle, (uint)field, p, (nuint)destination.Length, &length);
        }

        switch (status)
        {
            case RefTokenStatus.Ok:
            case RefTokenStatus.BufferTooSmall:
                bytesWritten = checked((int)length);
                return status == RefTokenStatus.Ok;
            case RefTokenStatus.NotFound:
                bytesWritten = 0;
                return false;
            default:
                RefTokenLibrary.Throw(status);
                bytesWritten = 0;
                return false;
        }
    }

    /// <summary>The <c>sub</c> claim (the row's <c>SubjectId</c>), or null.</summary>
    public string? SubjectId => GetField(GrantField.SubjectId);

    /// <summary>The <c>sid</c> claim (the row's <c>SessionId</c>), or null.</summary>
    public string? SessionId => GetField(GrantField.SessionId);

    /// <summary>The token's client id, or null.</summary>
    public string? ClientId => GetField(GrantField.ClientId);

    /// <summary>The token's description, or null.</summary>
    public string? Description => GetField(GrantField.Description);

    /// <summary>The token's issuer, or null.</summary>
    public string? Issuer => GetField(GrantField.Issuer);

    /// <summary>The token's confirmation (JSON text), or null.</summary>
    public string? Confirmation => GetField(GrantField.Confirmation);

    /// <summary>Unix seconds of the token's <c>CreationTime</c>, rounded down (<c>reftoken_grant_creation_time</c>).</summary>
    public long CreationTimeUnixSeconds => NativeMethods.reftoken_grant_creation_time(_handle);

    /// <summary>Unix seconds of <c>CreationTime + Lifetime</c>, the <c>exp</c> claim, rounded down (<c>reftoken_grant_expiration</c>).</summary>
    public long ExpirationUnixSeconds => NativeMethods.reftoken_grant_expiration(_handle);

    /// <summary><see cref="CreationTimeUnixSeconds"/> as a time.</summary>
    public DateTimeOffset CreationTime => DateTimeOffset.FromUnixTimeSeconds(CreationTimeUnixSeconds);

    /// <summary><see cref="ExpirationUnixSeconds"/> as a time.</summary>
    public DateTimeOffset Expiration => DateTimeOffset.FromUnixTimeSeconds(ExpirationUnixSeconds);

    /// <summary>The token serialized exactly as IdentityServer's <c>PersistentGrantSerializer</c> does, without the container (<c>reftoken_grant_token_json</c>).</summary>
    /// <returns>The payload JSON.</returns>
    public string ToTokenJson()
    {
        var writer = new TokenJsonWriter(_handle);
        return NativeOutput.ReadString(ref writer, 2048);
    }

    /// <summary>As <see cref="ToTokenJson"/>, into the caller's buffer.</summary>
    /// <param name="destination">Where the UTF-8 JSON goes.</param>
    /// <param name="bytesWritten">Bytes written, or the size needed when <paramref name="destination"/> is too small.</param>
    /// <returns>False when <paramref name="destination"/> is too small (nothing written).</returns>
    public bool TryWriteTokenJson(Span<byte> destination, out int bytesWritten)
    {
        var writer = new TokenJsonWriter(_handle);
        return NativeOutput.TryWrite(ref writer, destination, out bytesWritten);
    }

    /// <summary>
    /// The <c>Data</c> column IdentityServer writes for this token with Data Protection off:
    /// <c>{"PersistentGrantDataContainerVersion":1,"DataProtected":false,"Payload":"..."}</c> (<c>reftoken_grant_data</c>).
    /// </summary>
    /// <returns>The <c>Data</c> value.</returns>
    public string ToData()
    {
        var writer = new DataWriter(_handle);
        return NativeOutput.ReadString(ref writer, 2048);
    }

    /// <summary>As <see cref="ToData"/>, into the caller's buffer.</summary>
    /// <param name="destination">Where the UTF-8 value goes.</param>
    /// <param name="bytesWritten">Bytes written, or the size needed when <paramref name="destination"/> is too small.</param>
    /// <returns>False when <paramref name="destination"/> is too small (nothing written).</returns>
    public bool TryWriteData(Span<byte> destination, out int bytesWritten)
    {
        var writer = new DataWriter(_handle);
        return NativeOutput.TryWrite(ref writer, destination, out bytesWritten);
    }

    /// <summary>
    /// The <c>Data</c> column IdentityServer writes for this token with Data Protection on (its
    /// default): the token protected with <paramref name="keyRing"/>'s default key at <paramref name="now"/>
    /// under the purposes [application name, <c>PersistentGrantSerializer</c>], in the version-1
    /// container with <c>"DataProtected":true</c> (<c>reftoken_grant_data_protected</c>).
    /// </summary>
    /// <param name="keyRing">The key ring shared with the IdentityServer hosts.</param>
    /// <param name="now">The time that picks the default key.</param>
    /// <returns>The <c>Data</c> value.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="keyRing"/> is null.</exception>
    /// <exception cref="RefTokenException"><see cref="RefTokenStatus.UnknownKey"/> (no key is active at <paramref name="now"/>), <see cref="RefTokenStatus.RngFailure"/>.</exception>
    public string ToProtectedData(KeyRing keyRing, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(keyRing);
        var writer = new ProtectedDataWriter(_handle, keyRing.SafeHandle, now.ToUnixTimeSeconds());
        return NativeOutput.ReadString(ref writer, 4096);
    }

    /// <summary>As <see cref="ToProtectedData"/>, into the caller's buffer.</summary>
    /// <param name="keyRing">The key ring.</param>
    /// <param name="now">The time that picks the default key.</param>
    /// <param name="destination">Where the UTF-8 value goes.</param>
    /// <param name="bytesWritten">Bytes written, or the size needed when <paramref name="destination"/> is too small.</param>
    /// <returns>False when <paramref name="destination"/> is too small (nothing written).</returns>
    /// <exception cref="ArgumentNullException"><paramref name="keyRing"/> is null.</exception>
    /// <exception cref="RefTokenException">As <see cref="ToProtectedData"/>.</exception>
    public bool TryWriteProtectedData(KeyRing keyRing, DateTimeOffset now, Span<byte> destination, out int bytesWritten)
    {
        ArgumentNullException.ThrowIfNull(keyRing);
        var writer = new ProtectedDataWriter(_handle, keyRing.SafeHandle, now.ToUnixTimeSeconds());
        return NativeOutput.TryWrite(ref writer, destination, out bytesWritten);
    }

    /// <summary>
    /// The RFC 7662 response IdentityServer's endpoint returns for this token, asked by
    /// <paramref name="caller"/> at <paramref name="now"/> (<c>reftoken_introspect</c>):
    /// <c>{"active":false}</c> when inactive, else the claims, <c>"active":true</c> and
    /// <c>scope</c>, byte for byte as IdentityServer writes them.
    /// </summary>
    /// <param name="caller">Who asks.</param>
    /// <param name="now">The time to judge expiry at (whole seconds).</param>
    /// <param name="options">Null for <see cref="IntrospectionOptions.Default"/>.</param>
    /// <returns>The response JSON.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="caller"/> is null.</exception>
    /// <exception cref="RefTokenException">
    /// <see cref="RefTokenStatus.MalformedInput"/> where IdentityServer itself fails (a claim named
    /// <c>active</c>, a non-finite double, two <c>client_id</c> claims for a client caller).
    /// </exception>
    /// <exception cref="RefTokenArgumentException"><see cref="RefTokenStatus.InvalidArgument"/>: caller kind or version.</exception>
    public string Introspect(IntrospectionCaller caller, DateTimeOffset now, IntrospectionOptions? options = null) =>
        Encoding.UTF8.GetString(IntrospectUtf8(caller, now, options));

    /// <summary>As <see cref="Introspect"/>, as UTF-8 bytes.</summary>
    /// <param name="caller">Who asks.</param>
    /// <param name="now">The time to judge expiry at (whole seconds).</param>
    /// <param name="options">Null for <see cref="IntrospectionOptions.Default"/>.</param>
    /// <returns>The response JSON, UTF-8.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="caller"/> is null.</exception>
    /// <exception cref="RefTokenException">As <see cref="Introspect"/>.</exception>
    /// <exception cref="RefTokenArgumentException">As <see cref="Introspect"/>.</exception>
    public byte[] IntrospectUtf8(IntrospectionCaller caller, DateTimeOffset now, IntrospectionOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(caller);
        NativeCaller nativeCaller = caller.Native;
        using var scope = new OptionsScope(options);
        NativeOptions nativeOptions = scope.Native;
        var writer = new IntrospectWriter(_handle, &nativeCaller, now.ToUnixTimeSeconds(), scope.HasOptions ? &nativeOptions : null);
        byte[] result = scope.ReadBytes(ref writer);
        GC.KeepAlive(caller);
        return result;
    }

    /// <summary>As <see cref="Introspect"/>, into the caller's buffer.</summary>
    /// <param name="caller">Who asks.</param>
    /// <param name="now">The time to judge expiry at (whole seconds).</param>
    /// <param name="options">Null for <see cref="IntrospectionOptions.Default"/>.</param>
    /// <param name="destination">Where the UTF-8 JSON goes.</param>
    /// <param name="bytesWritten">Bytes written, or the size needed when <paramref name="destination"/> is too small.</param>
    /// <returns>False when <paramref name="destination"/> is too small (nothing written).</returns>
    /// <exception cref="ArgumentNullException"><paramref name="caller"/> is null.</exception>
    /// <exception cref="RefTokenException">As <see cref="Introspect"/>.</exception>
    /// <exception cref="RefTokenArgumentException">As <see cref="Introspect"/>.</exception>
    public bool TryIntrospect(IntrospectionCaller caller, DateTimeOffset now, IntrospectionOptions? options, Span<byte> destination, out int bytesWritten)
    {
        ArgumentNullException.ThrowIfNull(caller);
        NativeCaller nativeCaller = caller.Native;
        using var scope = new OptionsScope(options);
        NativeOptions nativeOptions = scope.Native;
        var writer = new IntrospectWriter(_handle, &nativeCaller, now.ToUnixTimeSeconds(), scope.HasOptions ? &nativeOptions : null);
        bool done = scope.TryWrite(ref writer, destination, out bytesWritten);
        GC.KeepAlive(caller);
        return done;
    }

    /// <summary>Decides whether the token is active for <paramref name="caller"/> at <paramref name="now"/>, without building JSON (<c>reftoken_evaluate</c>).</summary>
    /// <param name="caller">Who asks.</param>
    /// <param name="now">The time to judge expiry at (whole seconds).</param>
    /// <param name="options">Null for <see cref="IntrospectionOptions.Default"/>.</param>
    /// <returns>The verdict.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="caller"/> is null.</exception>
    /// <exception cref="RefTokenException"><see cref="RefTokenStatus.MalformedInput"/> (a token IdentityServer's validator fails on: an expiration past 9999-12-31, no <c>Issuer</c>, a null <c>Audiences</c> or <c>Claims</c>).</exception>
    /// <exception cref="RefTokenArgumentException"><see cref="RefTokenStatus.InvalidArgument"/>: caller kind or version.</exception>
    public IntrospectionVerdict Evaluate(IntrospectionCaller caller, DateTimeOffset now, IntrospectionOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(caller);
        NativeCaller nativeCaller = caller.Native;
        using var scope = new OptionsScope(options);
        NativeOptions nativeOptions = scope.Native;
        NativeVerdict verdict;
        bool addRef = false;
        try
        {
            // The verdict's strings borrow from the grant: hold it until they are copied.
            _handle.DangerousAddRef(ref addRef);
            RefTokenStatus status = NativeMethods.reftoken_evaluate(
                _handle, &nativeCaller, now.ToUnixTimeSeconds(), scope.HasOptions ? &nativeOptions : null, &verdict);
            scope.RethrowCallbackException();
            RefTokenLibrary.Check(status);
            return new IntrospectionVerdict(
                verdict.Active != 0,
                (InactiveReason)verdict.Reason,
                verdict.Expiration,
                ToStringOrNull(verdict.Subject),
                ToStringOrNull(verdict.ClientId));
        }
        finally
        {
            if (addRef)
            {
                _handle.DangerousRelease();
            }

            GC.KeepAlive(caller);
        }
    }

    /// <summary>Frees the native grant.</summary>
    public void Dispose() => _handle.Dispose();

    private static string? ToStringOrNull(NativeStr s) =>
        s.Ptr is null ? null : Encoding.UTF8.GetString(s.Ptr, checked((int)s.Len));

    private static Grant Wrap(RefTokenStatus status, GrantSafeHandle handle) => new(RefTokenLibrary.Owned(status, handle));

    /// <summary>Runs one of the native parsers that read a grant from a single UTF-8 text.</summary>
    private static Grant Parse(delegate*<byte*, nuint, out GrantSafeHandle, RefTokenStatus> parse, ReadOnlySpan<byte> utf8)
    {
        RefTokenLibrary.EnsureLoaded();
        GrantSafeHandle handle;
        RefTokenStatus status;
        fixed (byte* p = utf8)
        {
            status = parse(p, (nuint)utf8.Length, out handle);
        }

        return Wrap(status, handle);
    }

    /// <summary>Runs one of the grant's setters that take a single UTF-8 text.</summary>
    private void SetText(delegate*<GrantSafeHandle, byte*, nuint, RefTokenStatus> set, ReadOnlySpan<byte> utf8)
    {
        RefTokenStatus status;
        fixed (byte* p = utf8)
        {
            status = set(_handle, p, (nuint)utf8.Length);
        }

        RefTokenLibrary.Check(status);
    }

    private readonly struct FieldWriter(GrantSafeHandle grant, uint field) : INativeWriter
    {
        public RefTokenStatus Write(byte* output, nuint capacity, nuint* length) =>
            NativeMethods.reftoken_grant_field(grant, field, output, capacity, length);
    }

    private readonly struct TokenJsonWriter(GrantSafeHandle grant) : INativeWriter
    {
        public RefTokenStatus Write(byte* output, nuint capacity, nuint* length) =>
            NativeMethods.reftoken_grant_token_json(grant, output, capacity, length);
    }

    private readonly struct DataWriter(GrantSafeHandle grant) : INativeWriter
    {
        public RefTokenStatus Write(byte* output, nuint capacity, nuint* length) =>
            NativeMethods.reftoken_grant_data(grant, output, capacity, length);
    }

    private readonly struct ProtectedDataWriter(GrantSafeHandle grant, KeyRingSafeHandle keyRing, long now) : INativeWriter
    {
        public RefTokenStatus Write(byte* output, nuint capacity, nuint* length) =>
            NativeMethods.reftoken_grant_data_protected(grant, keyRing, now, output, capacity, length);
    }

    private readonly struct IntrospectWriter(GrantSafeHandle grant, NativeCaller* caller, long now, NativeOptions* options) : INativeWriter
    {
        public RefTokenStatus Write(byte* output, nuint capacity, nuint* length) =>
            NativeMethods.reftoken_introspect(grant, caller, now, options, output, capacity, length);
    }
}
