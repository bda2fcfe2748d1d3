using System;
using System.Text;
using RefToken.Native;

namespace RefToken;

/// <summary>Which credentials a request carries (<c>REFTOKEN_CREDENTIALS_NONE</c>, <c>_NO_SECRET</c>, <c>_SHARED_SECRET</c>).</summary>
public enum CredentialKind : uint
{
    /// <summary>No credentials.</summary>
    None = 0,

    /// <summary>A client id without a secret.</summary>
    NoSecret = 1,

    /// <summary>A client id (or API name) and a shared secret.</summary>
    SharedSecret = 2,
}

/// <summary>Where the credentials were found (<c>REFTOKEN_CREDENTIALS_FROM_*</c>).</summary>
public enum CredentialSource : uint
{
    /// <summary>Nowhere (no credentials).</summary>
    None = 0,

    /// <summary>The HTTP Basic <c>Authorization</c> header.</summary>
    BasicHeader = 1,

    /// <summary><c>client_id</c>/<c>client_secret</c> in the form body.</summary>
    PostBody = 2,
}

/// <summary>The <c>token_type_hint</c> (<c>REFTOKEN_HINT_*</c>).</summary>
public enum TokenTypeHint : uint
{
    /// <summary>No (supported) hint.</summary>
    None = 0,

    /// <summary><c>access_token</c>.</summary>
    AccessToken = 1,

    /// <summary><c>refresh_token</c>.</summary>
    RefreshToken = 2,
}

/// <summary>The caller's credentials in an introspection request (<c>reftoken_credentials</c>).</summary>
/// <param name="Kind">Which credentials were found.</param>
/// <param name="Source">Where they were found.</param>
/// <param name="ClientId">The client id or API resource name, or null.</param>
/// <param name="Secret">The shared secret, or null.</param>
public sealed record IntrospectionCredentials(CredentialKind Kind, CredentialSource Source, string? ClientId, string? Secret);

/// <summary>What the introspection endpoint answers (<c>reftoken_endpoint_answer</c>).</summary>
/// <param name="StatusCode">200, 400, 401, 405 or 415.</param>
/// <param name="Introspect">Status 200: build the response for <paramref name="Token"/> and send it with <paramref name="ContentType"/>.</param>
/// <param name="JwtRequested">The <c>Accept</c> header asked for <c>application/token-introspection+jwt</c>.</param>
/// <param name="NoStore">Send <c>Cache-Control: no-store, no-cache, max-age=0</c> and <c>Pragma: no-cache</c>.</param>
/// <param name="TokenTypeHint">With <paramref name="Introspect"/>: the hint.</param>
/// <param name="Token">With <paramref name="Introspect"/>: the presented token.</param>
/// <param name="ContentType">The content type to send, or null for none (and no body).</param>
/// <param name="Body">The body to send when not <paramref name="Introspect"/>.</param>
public sealed record EndpointAnswer(
    int StatusCode, bool Introspect, bool JwtRequested, bool NoStore, TokenTypeHint TokenTypeHint, string? Token, string? ContentType, string Body);

/// <summary>
/// An introspection request read as IdentityServer's endpoint reads it, up to the point where the
/// caller must be authenticated (<c>reftoken_introspection_request</c>). Immutable and thread-safe.
/// </summary>
public sealed unsafe class IntrospectionRequest : IDisposable
{
    private readonly IntrospectionRequestSafeHandle _handle;

    private IntrospectionRequest(IntrospectionRequestSafeHandle handle) => _handle = handle;

    /// <summary>The native object; valid until this request is disposed.</summary>
    public IntrospectionRequestSafeHandle SafeHandle => _handle;

    /// <summary>
    /// Reads an HTTP request: method, content type, credentials (Basic header first, then the
    /// form body) and the form parameters (<c>reftoken_introspection_request_parse</c>). HTTP-level
    /// problems are not exceptions: <see cref="Decide"/> answers them.
    /// </summary>
    /// <param name="method">The method, such as <c>POST</c>.</param>
    /// <param name="contentType">The <c>Content-Type</c> header, or null when not sent.</param>
    /// <param name="authorization">The first <c>Authorization</c> header, or null.</param>
    /// <param name="accept">The <c>Accept</c> header (several joined with <c>,</c>), or null.</param>
    /// <param name="body">The body (any bytes).</param>
    /// <returns>The request; dispose it.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="method"/> is null.</exception>
    public static IntrospectionRequest Parse(string method, string? contentType, string? authorization, string? accept, ReadOnlySpan<byte> body)
    {
        ArgumentNullException.ThrowIfNull(method);
        RefTokenLibrary.EnsureLoaded();
        using var m = new Utf8Arg(method, stackalloc byte[16]);
        using var ct = new Utf8Arg(contentType, stackalloc byte[128]);
        using var au = new Utf8Arg(authorization, stackalloc byte[Utf8Arg.StackBytes]);
        using var ac = new Utf8Arg(accept, stackalloc byte[128]);
        fixed (byte* mp = m.Span)
        fixed (byte* ctp = ct.Span)
        fixed (byte* aup = au.Span)
        fixed (byte* acp = ac.Span)
        fixed (byte* bp = body)
        {
            var request = new NativeHttpRequest
            {
                Method = new NativeStr(mp, m.Length),
                // An empty header means the same to the endpoint as one not sent.
                ContentType = new NativeStr(ctp, ct.Length),
                Authorization = new NativeStr(aup, au.Length),
                Accept = new NativeStr(acp, ac.Length),
                Body = bp,
                BodyLen = (nuint)body.Length,
            };
            RefTokenStatus status = NativeMethods.reftoken_introspection_request_parse(&request, out IntrospectionRequestSafeHandle handle);
            return Wrap(status, handle);
        }
    }

    /// <summary>
    /// Reads a form body alone, as a POST with <c>application/x-www-form-urlencoded</c> and no
    /// <c>Authorization</c> or <c>Accept</c> header (<c>reftoken_introspection_form_parse</c>).
    /// </summary>
    /// <param name="body">The form body.</param>
    /// <returns>The request; dispose it.</returns>
    public static IntrospectionRequest ParseForm(ReadOnlySpan<byte> body)
    {
        RefTokenLibrary.EnsureLoaded();
        fixed (byte* bp = body)
        {
            RefTokenStatus status = NativeMethods.reftoken_introspection_form_parse(bp, (nuint)body.Length, out IntrospectionRequestSafeHandle handle);
            return Wrap(status, handle);
        }
    }

    /// <summary>
    /// The caller's credentials (<c>reftoken_introspection_request_credentials</c>): what the host
    /// looks up (an API resource by that name first, then a client) and checks with <see cref="Secrets.Verify"/>.
    /// </summary>
    /// <returns>The credentials (<see cref="CredentialKind.None"/> when there are none).</returns>
    public IntrospectionCredentials GetCredentials()
    {
        NativeCredentials c;
        bool addRef = false;
        try
        {
            _handle.DangerousAddRef(ref addRef);
            RefTokenLibrary.Check(NativeMethods.reftoken_introspection_request_credentials(_handle, &c));
            return new IntrospectionCredentials((CredentialKind)c.Kind, (CredentialSource)c.Source, Text(c.ClientId), Text(c.Secret));
        }
        finally
        {
            if (addRef)
            {
                _handle.DangerousRelease();
            }
        }
    }

    /// <summary>
    /// What to answer, given whether the caller authenticated (<c>reftoken_introspection_request_decide</c>):
    /// 405, 415 or a bare 400 for requests refused before authentication; 401 when
    /// <paramref name="callerAuthenticated"/> is false; 400 <c>{"error":"missing_token"}</c>; else an introspection.
    /// </summary>
    /// <param name="callerAuthenticated">Whether the caller authenticated as an enabled API resource or client.</param>
    /// <returns>The answer.</returns>
    public EndpointAnswer Decide(bool callerAuthenticated)
    {
        NativeEndpointAnswer a;
        bool addRef = false;
        try
        {
            _handle.DangerousAddRef(ref addRef);
            RefTokenLibrary.Check(NativeMethods.reftoken_introspection_request_decide(_handle, callerAuthenticated, &a));
            return new EndpointAnswer(
                a.Status, a.Introspect != 0, a.JwtRequested != 0, a.NoStore != 0, (TokenTypeHint)a.TokenTypeHint,
                Text(a.Token), Text(a.ContentType), Text(a.Body) ?? string.Empty);
        }
        finally
        {
            if (addRef)
            {
                _handle.DangerousRelease();
            }
        }
    }

    /// <summary>Frees the native request.</summary>
    public void Dispose() => _handle.Dispose();

    private static string? Text(NativeStr s) => s.Ptr is null ? null : Encoding.UTF8.GetString(s.Ptr, checked((int)s.Len));

    private static IntrospectionRequest Wrap(RefTokenStatus status, IntrospectionRequestSafeHandle handle) =>
        new(RefTokenLibrary.Owned(status, handle));
}
