// The C ABI of libreftoken (include/reftoken.h), verbatim: one import per exported function,
// native names kept, size_t as nuint, text as (byte*, nuint). Nothing here is public; the safe
// API around it lives in the other files of this assembly.

using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace RefToken.Native;

/// <summary>A borrowed UTF-8 string: <c>reftoken_str</c>.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct NativeStr
{
    public byte* Ptr;
    public nuint Len;

    public NativeStr(byte* ptr, int len)
    {
        Ptr = ptr;
        Len = (nuint)len;
    }
}

/// <summary><c>reftoken_caller</c>.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct NativeCaller
{
    public uint Kind;
    public NativeStr Name;
    public NativeStr Scopes;
}

/// <summary><c>reftoken_options</c>.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct NativeOptions
{
    public uint IdentityServerVersion;
    public delegate* unmanaged[Cdecl]<void*, byte*, nuint, byte> ClientEnabled;
    public void* ClientEnabledContext;
    public delegate* unmanaged[Cdecl]<void*, byte*, nuint, byte> ClientOfflineAccess;
    public void* ClientOfflineAccessContext;
}

/// <summary><c>reftoken_verdict</c>.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct NativeVerdict
{
    public byte Active;
    public uint Reason;
    public long Expiration;
    public NativeStr Subject;
    public NativeStr ClientId;
}

/// <summary><c>reftoken_http_request</c>.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct NativeHttpRequest
{
    public NativeStr Method;
    public NativeStr ContentType;
    public NativeStr Authorization;
    public NativeStr Accept;
    public byte* Body;
    public nuint BodyLen;
}

/// <summary><c>reftoken_credentials</c>.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct NativeCredentials
{
    public uint Kind;
    public uint Source;
    public NativeStr ClientId;
    public NativeStr Secret;
}

/// <summary><c>reftoken_endpoint_answer</c>.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct NativeEndpointAnswer
{
    public ushort Status;
    public byte Introspect;
    public byte JwtRequested;
    public byte NoStore;
    public uint TokenTypeHint;
    public NativeStr Token;
    public NativeStr ContentType;
    public NativeStr Body;
}

/// <summary>Every function libreftoken exports.</summary>
internal static unsafe partial class NativeMethods
{
    /// <summary>The library name given to the loader (libreftoken.so, libreftoken.dylib, reftoken.dll).</summary>
    internal const string Library = "reftoken";

    /// <summary><c>REFTOKEN_ABI_VERSION</c> of the header these imports were written against.</summary>
    internal const uint AbiVersion = 1;

    internal const int HandleLength = 66;          // REFTOKEN_HANDLE_LEN
    internal const int MaxKeyLength = 64;          // REFTOKEN_MAX_KEY_LEN
    internal const int MaxRandomBytes = 65536;     // REFTOKEN_MAX_RANDOM_BYTES
    internal const uint CallerApi = 1;             // REFTOKEN_CALLER_API
    internal const uint CallerClient = 2;          // REFTOKEN_CALLER_CLIENT

    // ---- library ----

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial uint reftoken_abi_version();

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial byte* reftoken_status_str(uint status);

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial RefTokenStatus reftoken_last_error(byte* @out, nuint out_cap, nuint* out_len);

    // ---- handles and store keys ----

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial RefTokenStatus reftoken_random_hex(nuint length, byte* @out, nuint out_cap, nuint* out_len);

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial RefTokenStatus reftoken_handle_new(byte* @out, nuint out_cap, nuint* out_len);

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial RefTokenStatus reftoken_store_key(
        byte* handle, nuint handle_len, byte* grant_type, nuint grant_type_len, byte* @out, nuint out_cap, nuint* out_len);

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    [return: MarshalAs(UnmanagedType.U1)]
    internal static partial bool reftoken_handle_is_wellformed(byte* handle, nuint handle_len);

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial RefTokenStatus reftoken_reference_token_key(byte* handle, nuint handle_len, byte* @out, nuint out_cap, nuint* out_len);

    // ---- grants ----

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial RefTokenStatus reftoken_grant_parse(byte* data, nuint data_len, out GrantSafeHandle @out);

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial RefTokenStatus reftoken_grant_parse_token_json(byte* json_text, nuint json_len, out GrantSafeHandle @out);

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial RefTokenStatus reftoken_grant_new(
        byte* client_id, nuint client_id_len, byte* issuer, nuint issuer_len, long creation_time, int lifetime, out GrantSafeHandle @out);

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial void reftoken_grant_free(nint grant);

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial RefTokenStatus reftoken_grant_add_claim(
        GrantSafeHandle grant, byte* claim_type, nuint claim_type_len, byte* value, nuint value_len, byte* value_type, nuint value_type_len);

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial RefTokenStatus reftoken_grant_add_audience(GrantSafeHandle grant, byte* audience, nuint audience_len);

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial RefTokenStatus reftoken_grant_set_confirmation(GrantSafeHandle grant, byte* cnf_json, nuint cnf_json_len);

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial RefTokenStatus reftoken_grant_set_description(GrantSafeHandle grant, byte* description, nuint description_len);

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial RefTokenStatus reftoken_grant_field(GrantSafeHandle grant, uint field, byte* @out, nuint out_cap, nuint* out_len);

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial long reftoken_grant_creation_time(GrantSafeHandle grant);

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial long reftoken_grant_expiration(GrantSafeHandle grant);

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial RefTokenStatus reftoken_grant_token_json(GrantSafeHandle grant, byte* @out, nuint out_cap, nuint* out_len);

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial RefTokenStatus reftoken_grant_data(GrantSafeHandle grant, byte* @out, nuint out_cap, nuint* out_len);

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial RefTokenStatus reftoken_grant_parse_protected(byte* data, nuint data_len, nint keyring, out GrantSafeHandle @out);

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial RefTokenStatus reftoken_grant_data_protected(
        GrantSafeHandle grant, KeyRingSafeHandle keyring, long now, byte* @out, nuint out_cap, nuint* out_len);

    // ---- introspection ----

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial RefTokenStatus reftoken_introspect(
        GrantSafeHandle grant, NativeCaller* caller, long now, NativeOptions* options, byte* @out, nuint out_cap, nuint* out_len);

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial RefTokenStatus reftoken_introspect_data(
        byte* data, nuint data_len, nint keyring, NativeCaller* caller, long now, NativeOptions* options, byte* @out, nuint out_cap, nuint* out_len);

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial RefTokenStatus reftoken_evaluate(
        GrantSafeHandle grant, NativeCaller* caller, long now, NativeOptions* options, NativeVerdict* @out);

    // ---- ASP.NET Core Data Protection key rings ----

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial RefTokenStatus reftoken_keyring_new_from_dir(
        byte* dir, nuint dir_len, byte* app_name, nuint app_name_len, out KeyRingSafeHandle @out);

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial RefTokenStatus reftoken_keyring_new_from_xml(
        NativeStr* elements, nuint count, byte* app_name, nuint app_name_len, out KeyRingSafeHandle @out);

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial void reftoken_keyring_free(nint keyring);

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial RefTokenStatus reftoken_keyring_default_key_id(
        KeyRingSafeHandle keyring, long now_unix_seconds, byte* @out, nuint out_cap, nuint* out_len);

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial RefTokenStatus reftoken_protect(
        KeyRingSafeHandle keyring, NativeStr* purposes, nuint purpose_count, byte* plaintext, nuint plaintext_len,
        long now_unix_seconds, byte* @out, nuint out_cap, nuint* out_len);

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial RefTokenStatus reftoken_unprotect(
        KeyRingSafeHandle keyring, NativeStr* purposes, nuint purpose_count, byte* payload, nuint payload_len,
        byte* @out, nuint out_cap, nuint* out_len);

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial RefTokenStatus reftoken_protect_bytes(
        KeyRingSafeHandle keyring, NativeStr* purposes, nuint purpose_count, byte* plaintext, nuint plaintext_len,
        long now_unix_seconds, byte* @out, nuint out_cap, nuint* out_len);

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial RefTokenStatus reftoken_unprotect_bytes(
        KeyRingSafeHandle keyring, NativeStr* purposes, nuint purpose_count, byte* payload, nuint payload_len,
        byte* @out, nuint out_cap, nuint* out_len);

    // ---- API and client secrets, HTTP Basic ----

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial RefTokenStatus reftoken_secret_hash(byte* secret, nuint secret_len, uint algorithm, byte* @out, nuint out_cap, nuint* out_len);

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial RefTokenStatus reftoken_secret_verify(
        byte* presented, nuint presented_len, NativeStr* stored, long* expirations, nuint count, long now, byte* out_valid, nuint* out_index);

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial RefTokenStatus reftoken_basic_parse(
        byte* header, nuint header_len, byte* client_id_out, nuint client_id_cap, nuint* client_id_len,
        byte* secret_out, nuint secret_cap, nuint* secret_len, byte* out_has_secret);

    // ---- the introspection endpoint ----

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial RefTokenStatus reftoken_introspection_request_parse(NativeHttpRequest* request, out IntrospectionRequestSafeHandle @out);

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial RefTokenStatus reftoken_introspection_form_parse(byte* body, nuint body_len, out IntrospectionRequestSafeHandle @out);

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial void reftoken_introspection_request_free(nint request);

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial RefTokenStatus reftoken_introspection_request_credentials(IntrospectionRequestSafeHandle request, NativeCredentials* @out);

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial RefTokenStatus reftoken_introspection_request_decide(
        IntrospectionRequestSafeHandle request, [MarshalAs(UnmanagedType.U1)] bool caller_authenticated, NativeEndpointAnswer* @out);

    // ---- RFC 9701 JWT responses ----

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial RefTokenStatus reftoken_signing_key_new_from_pem(
        byte* pem, nuint pem_len, uint alg, byte* kid, nuint kid_len, out SigningKeySafeHandle @out);

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial RefTokenStatus reftoken_signing_key_new_from_jwk(
        byte* jwk, nuint jwk_len, uint alg, byte* kid, nuint kid_len, out SigningKeySafeHandle @out);

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial void reftoken_signing_key_free(nint key);

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial RefTokenStatus reftoken_signing_key_public_jwk(SigningKeySafeHandle key, byte* @out, nuint out_cap, nuint* out_len);

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial RefTokenStatus reftoken_introspection_jwt(
        SigningKeySafeHandle key, byte* issuer, nuint issuer_len, byte* audience, nuint audience_len, long now,
        byte* response, nuint response_len, byte* @out, nuint out_cap, nuint* out_len);

    // ---- validation against the caller's store ----

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial RefTokenStatus reftoken_row_set(nint row, byte* grant_type, nuint grant_type_len, byte* data, nuint data_len);

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial RefTokenStatus reftoken_validator_new(
        delegate* unmanaged[Cdecl]<void*, byte*, nuint, nint, uint> lookup, void* lookup_ctx, nint keyring,
        nuint cache_capacity, long cache_ttl, out ValidatorSafeHandle @out);

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial void reftoken_validator_free(nint validator);

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial RefTokenStatus reftoken_validator_introspect(
        ValidatorSafeHandle validator, byte* handle, nuint handle_len, NativeCaller* caller, long now, NativeOptions* options,
        byte* @out, nuint out_cap, nuint* out_len);

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial RefTokenStatus reftoken_validator_validate(
        ValidatorSafeHandle validator, byte* handle, nuint handle_len, NativeCaller* caller, long now, NativeOptions* options,
        nint* out_grant, NativeVerdict* @out);

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial RefTokenStatus reftoken_validator_check(
        ValidatorSafeHandle validator, byte* handle, nuint handle_len, NativeCaller* caller, long now, NativeOptions* options,
        nint* out_grant, NativeVerdict* @out, byte* out_json, nuint out_json_cap, nuint* out_json_len);

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial RefTokenStatus reftoken_validator_evict(ValidatorSafeHandle validator, byte* key, nuint key_len);

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial RefTokenStatus reftoken_validator_clear(ValidatorSafeHandle validator);

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial nuint reftoken_validator_cached(ValidatorSafeHandle validator);

    // ---- revocation: listeners and "evict this key on all nodes" ----

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial RefTokenStatus reftoken_revocation_listener_start_postgres(
        ValidatorSafeHandle validator, byte* url, nuint url_len, byte* channel, nuint channel_len, uint stale_bound_ms,
        out RevocationListenerSafeHandle @out);

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial RefTokenStatus reftoken_revocation_listener_start_redis(
        ValidatorSafeHandle validator, byte* url, nuint url_len, byte* channel, nuint channel_len, uint stale_bound_ms,
        out RevocationListenerSafeHandle @out);

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial RefTokenStatus reftoken_revocation_listener_wait(RevocationListenerSafeHandle listener, uint timeout_ms);

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial RefTokenStatus reftoken_revocation_listener_stats(RevocationListenerSafeHandle listener, RevocationStats* @out);

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial RefTokenStatus reftoken_revocation_listener_stop(RevocationListenerSafeHandle listener);

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial void reftoken_revocation_listener_free(nint listener);

    [LibraryImport(Library)]
    [UnmanagedCallConv(CallConvs = [typeof(CallConvCdecl)])]
    internal static partial RefTokenStatus reftoken_revocation_publish_redis(
        byte* url, nuint url_len, byte* channel, nuint channel_len, byte* key, nuint key_len, ulong* out_receivers);
}
