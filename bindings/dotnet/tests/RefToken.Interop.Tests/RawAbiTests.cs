using System;
using System.Runtime.CompilerServices;
using RefToken.Native;
using Xunit;

namespace RefToken.Tests;

/// <summary>
/// What the safe API never does: NULL pointers and the struct layouts, straight against the
/// imports, so that every native error path is exercised from .NET.
/// </summary>
public unsafe class RawAbiTests
{
    public RawAbiTests() => RefTokenLibrary.EnsureLoaded();

    [Fact]
    public void StructLayoutsMatchTheHeader()
    {
        Assert.Equal(16, sizeof(NativeStr));
        Assert.Equal(40, sizeof(NativeCaller));
        Assert.Equal(40, sizeof(NativeOptions));
        Assert.Equal(48, sizeof(NativeVerdict));
        Assert.Equal(80, sizeof(NativeHttpRequest));
        Assert.Equal(40, sizeof(NativeCredentials));
        Assert.Equal(64, sizeof(NativeEndpointAnswer));
        Assert.Equal(48, sizeof(RevocationStats));
    }

    [Fact]
    public void NullArguments()
    {
        byte* buf = stackalloc byte[128];
        nuint len;
        Assert.Equal(RefTokenStatus.NullArgument, NativeMethods.reftoken_last_error(buf, 128, null));
        Assert.Equal(RefTokenStatus.NullArgument, NativeMethods.reftoken_handle_new(buf, 128, null));
        Assert.Equal(RefTokenStatus.NullArgument, NativeMethods.reftoken_random_hex(32, buf, 128, null));
        Assert.Equal(RefTokenStatus.NullArgument, NativeMethods.reftoken_store_key(null, 3, buf, 1, buf, 128, &len));
        Assert.Equal(RefTokenStatus.NullArgument, NativeMethods.reftoken_reference_token_key(null, 3, buf, 128, &len));
        Assert.False(NativeMethods.reftoken_handle_is_wellformed(null, 66));

        Assert.Equal(RefTokenStatus.NullArgument, NativeMethods.reftoken_grant_parse(null, 10, out GrantSafeHandle g));
        Assert.True(g.IsInvalid);
        Assert.Equal(RefTokenStatus.NullArgument, NativeMethods.reftoken_grant_parse_token_json(null, 10, out g));
        Assert.True(g.IsInvalid);
        Assert.Equal(RefTokenStatus.NullArgument, NativeMethods.reftoken_grant_new(null, 1, buf, 0, 0, 0, out g));
        Assert.True(g.IsInvalid);
        Assert.Equal(0, NativeMethods.reftoken_grant_creation_time(new GrantSafeHandle()));
        Assert.Equal(0, NativeMethods.reftoken_grant_expiration(new GrantSafeHandle()));
        Assert.Equal(RefTokenStatus.NullArgument, NativeMethods.reftoken_grant_data(new GrantSafeHandle(), buf, 128, &len));
        Assert.Equal(RefTokenStatus.NullArgument, NativeMethods.reftoken_grant_token_json(new GrantSafeHandle(), buf, 128, &len));
        Assert.Equal(RefTokenStatus.NullArgument, NativeMethods.reftoken_grant_field(new GrantSafeHandle(), 1, buf, 128, &len));
        Assert.Equal(RefTokenStatus.NullArgument, NativeMethods.reftoken_grant_add_claim(new GrantSafeHandle(), buf, 1, buf, 1, null, 0));
        Assert.Equal(RefTokenStatus.NullArgument, NativeMethods.reftoken_grant_add_audience(new GrantSafeHandle(), buf, 1));
        Assert.Equal(RefTokenStatus.NullArgument, NativeMethods.reftoken_grant_set_confirmation(new GrantSafeHandle(), buf, 1));
        Assert.Equal(RefTokenStatus.NullArgument, NativeMethods.reftoken_grant_set_description(new GrantSafeHandle(), buf, 1));
        NativeMethods.reftoken_grant_free(0); // NULL is ignored
        NativeMethods.reftoken_keyring_free(0);

        using Grant grant = Grant.Create("c", "i", 0, 60);
        Assert.Equal(RefTokenStatus.NullArgument, NativeMethods.reftoken_grant_add_claim(grant.SafeHandle, null, 1, buf, 1, null, 0));
        Assert.Equal(RefTokenStatus.NullArgument, NativeMethods.reftoken_grant_data(grant.SafeHandle, buf, 128, null));
        Assert.Equal(RefTokenStatus.NullArgument, NativeMethods.reftoken_introspect(grant.SafeHandle, null, 0, null, buf, 128, &len));
        Assert.Equal(RefTokenStatus.NullArgument, NativeMethods.reftoken_evaluate(grant.SafeHandle, null, 0, null, null));
        NativeCaller caller = IntrospectionCaller.Client("c").Native;
        Assert.Equal(RefTokenStatus.NullArgument, NativeMethods.reftoken_introspect_data(null, 5, 0, &caller, 0, null, buf, 128, &len));
        NativeVerdict verdict;
        Assert.Equal(RefTokenStatus.NullArgument, NativeMethods.reftoken_evaluate(new GrantSafeHandle(), &caller, 0, null, &verdict));

        Assert.Equal(RefTokenStatus.NullArgument, NativeMethods.reftoken_keyring_new_from_dir(null, 4, null, 0, out KeyRingSafeHandle k));
        Assert.True(k.IsInvalid);
        Assert.Equal(RefTokenStatus.NullArgument, NativeMethods.reftoken_keyring_new_from_xml(null, 2, null, 0, out k));
        Assert.True(k.IsInvalid);
        Assert.Equal(RefTokenStatus.NullArgument, NativeMethods.reftoken_keyring_default_key_id(new KeyRingSafeHandle(), 0, buf, 128, &len));
        Assert.Equal(RefTokenStatus.NullArgument, NativeMethods.reftoken_protect(new KeyRingSafeHandle(), null, 0, buf, 1, 0, buf, 128, &len));
        Assert.Equal(RefTokenStatus.NullArgument, NativeMethods.reftoken_unprotect(new KeyRingSafeHandle(), null, 0, buf, 1, buf, 128, &len));
        Assert.Equal(RefTokenStatus.NullArgument, NativeMethods.reftoken_protect_bytes(new KeyRingSafeHandle(), null, 0, buf, 1, 0, buf, 128, &len));
        Assert.Equal(RefTokenStatus.NullArgument, NativeMethods.reftoken_unprotect_bytes(new KeyRingSafeHandle(), null, 0, buf, 1, buf, 128, &len));
        using KeyRing ring = KeyRing.FromXml([], "app");
        Assert.Equal(RefTokenStatus.NullArgument, NativeMethods.reftoken_protect(ring.SafeHandle, null, 3, buf, 1, 0, buf, 128, &len));
        using KeyRing fixtureRing = KeyRing.LoadDirectory(Fixtures.KeyRingDirectory, Fixtures.AppName);
        Assert.Equal(RefTokenStatus.NullArgument, NativeMethods.reftoken_keyring_default_key_id(fixtureRing.SafeHandle, Fixtures.KeyRingNow.ToUnixTimeSeconds(), buf, 128, null));

        Assert.Equal(RefTokenStatus.NullArgument, NativeMethods.reftoken_grant_parse_protected(null, 4, 0, out g));
        Assert.True(g.IsInvalid);
        Assert.Equal(RefTokenStatus.NullArgument, NativeMethods.reftoken_grant_data_protected(grant.SafeHandle, new KeyRingSafeHandle(), 0, buf, 128, &len));
        Assert.Equal(RefTokenStatus.NullArgument, NativeMethods.reftoken_secret_hash(null, 3, 1, buf, 128, &len));
        Assert.Equal(RefTokenStatus.NullArgument, NativeMethods.reftoken_secret_hash(buf, 0, 1, buf, 128, null));
        byte valid;
        nuint index;
        Assert.Equal(RefTokenStatus.NullArgument, NativeMethods.reftoken_secret_verify(buf, 1, null, null, 0, 0, null, &index));
        Assert.Equal(RefTokenStatus.NullArgument, NativeMethods.reftoken_secret_verify(buf, 1, null, null, 2, 0, &valid, &index));
        Assert.Equal(RefTokenStatus.NullArgument, NativeMethods.reftoken_basic_parse(null, 3, buf, 64, &len, buf + 64, 64, &len, &valid));
        Assert.Equal(RefTokenStatus.NullArgument, NativeMethods.reftoken_introspection_request_parse(null, out IntrospectionRequestSafeHandle r));
        Assert.True(r.IsInvalid);
        Assert.Equal(RefTokenStatus.NullArgument, NativeMethods.reftoken_introspection_form_parse(null, 3, out r));
        Assert.True(r.IsInvalid);
        NativeCredentials credentials;
        NativeEndpointAnswer answer;
        Assert.Equal(RefTokenStatus.NullArgument, NativeMethods.reftoken_introspection_request_credentials(new IntrospectionRequestSafeHandle(), &credentials));
        Assert.Equal(RefTokenStatus.NullArgument, NativeMethods.reftoken_introspection_request_decide(new IntrospectionRequestSafeHandle(), true, &answer));
        using IntrospectionRequest request = IntrospectionRequest.ParseForm("token=x"u8);
        Assert.Equal(RefTokenStatus.NullArgument, NativeMethods.reftoken_introspection_request_credentials(request.SafeHandle, null));
        Assert.Equal(RefTokenStatus.NullArgument, NativeMethods.reftoken_introspection_request_decide(request.SafeHandle, true, null));
        NativeMethods.reftoken_introspection_request_free(0);
        Assert.Equal(RefTokenStatus.NullArgument, NativeMethods.reftoken_signing_key_new_from_pem(null, 3, 0, null, 0, out SigningKeySafeHandle sk));
        Assert.True(sk.IsInvalid);
        Assert.Equal(RefTokenStatus.NullArgument, NativeMethods.reftoken_signing_key_new_from_jwk(null, 3, 0, null, 0, out sk));
        Assert.True(sk.IsInvalid);
        Assert.Equal(RefTokenStatus.NullArgument, NativeMethods.reftoken_signing_key_public_jwk(new SigningKeySafeHandle(), buf, 128, &len));
        Assert.Equal(RefTokenStatus.NullArgument, NativeMethods.reftoken_introspection_jwt(new SigningKeySafeHandle(), buf, 1, buf, 1, 0, buf, 2, buf, 128, &len));
        NativeMethods.reftoken_signing_key_free(0);
        Assert.Equal(RefTokenStatus.NullArgument, NativeMethods.reftoken_validator_new(null, null, 0, 0, 0, out ValidatorSafeHandle v));
        Assert.True(v.IsInvalid);
        Assert.Equal(RefTokenStatus.NullArgument, NativeMethods.reftoken_row_set(0, buf, 1, buf, 1));
        Assert.Equal(RefTokenStatus.NullArgument, NativeMethods.reftoken_validator_introspect(new ValidatorSafeHandle(), buf, 1, &caller, 0, null, buf, 128, &len));
        Assert.Equal(RefTokenStatus.NullArgument, NativeMethods.reftoken_validator_validate(new ValidatorSafeHandle(), buf, 1, &caller, 0, null, null, &verdict));
        Assert.Equal(RefTokenStatus.NullArgument, NativeMethods.reftoken_validator_evict(new ValidatorSafeHandle(), buf, 1));
        Assert.Equal(RefTokenStatus.NullArgument, NativeMethods.reftoken_validator_clear(new ValidatorSafeHandle()));
        Assert.Equal(0u, NativeMethods.reftoken_validator_cached(new ValidatorSafeHandle()));
        NativeMethods.reftoken_validator_free(0);

        Assert.False(string.IsNullOrEmpty(RefTokenLibrary.GetLastErrorMessage()));
    }

    [Fact]
    public void InvalidUtf8InHttpRequest()
    {
        byte* method = stackalloc byte[] { (byte)'P', 0xFF };
        var request = new NativeHttpRequest { Method = new NativeStr(method, 2) };
        Assert.Equal(RefTokenStatus.InvalidUtf8, NativeMethods.reftoken_introspection_request_parse(&request, out IntrospectionRequestSafeHandle r));
        Assert.True(r.IsInvalid);
        byte* header = stackalloc byte[] { (byte)'B', 0xFF };
        byte* id = stackalloc byte[64];
        nuint idLen, secretLen;
        byte has;
        Assert.Equal(RefTokenStatus.InvalidUtf8, NativeMethods.reftoken_basic_parse(header, 2, id, 32, &idLen, id + 32, 32, &secretLen, &has));
    }

    [Fact]
    public void EmptyTextMayBeNull()
    {
        nuint len;
        byte* buf = stackalloc byte[128];
        Assert.Equal(RefTokenStatus.Ok, NativeMethods.reftoken_store_key(null, 0, null, 0, buf, 128, &len));
        Assert.Equal(44u, len);
        Assert.Equal(StoreKeys.Compute("", ""), new string((sbyte*)buf, 0, (int)len));
    }

    [Fact]
    public void BufferTooSmallWritesNothing()
    {
        byte* buf = stackalloc byte[8];
        new Span<byte>(buf, 8).Fill(0xAA);
        nuint len;
        Assert.Equal(RefTokenStatus.BufferTooSmall, NativeMethods.reftoken_handle_new(buf, 8, &len));
        Assert.Equal(66u, len);
        Assert.True(new Span<byte>(buf, 8).ToArray() is var a && Array.TrueForAll(a, b => b == 0xAA));
        Assert.Equal(RefTokenStatus.BufferTooSmall, NativeMethods.reftoken_handle_new(null, 0, &len));
        Assert.Equal(66u, len);
    }

    [Fact]
    public void RevocationNullArguments()
    {
        ReadOnlySpan<byte> urlText = "redis://127.0.0.1:1/"u8;
        byte* url = stackalloc byte[urlText.Length];
        urlText.CopyTo(new Span<byte>(url, urlText.Length));
        nuint n = (nuint)urlText.Length;
        using TokenValidator validator = TokenValidator.Create(_ => null, null, 0, TimeSpan.Zero);
        ValidatorSafeHandle v = validator.SafeHandle;
        using ValidatorSafeHandle none = new();
        Assert.Equal(RefTokenStatus.NullArgument, NativeMethods.reftoken_revocation_listener_start_postgres(none, url, n, null, 0, 0, out RevocationListenerSafeHandle l));
        Assert.True(l.IsInvalid);
        Assert.Equal(RefTokenStatus.NullArgument, NativeMethods.reftoken_revocation_listener_start_redis(none, url, n, null, 0, 0, out l));
        Assert.True(l.IsInvalid);
        Assert.Equal(RefTokenStatus.NullArgument, NativeMethods.reftoken_revocation_listener_start_redis(v, null, n, null, 0, 0, out l));
        Assert.True(l.IsInvalid);
        Assert.Equal(RefTokenStatus.NullArgument, NativeMethods.reftoken_revocation_listener_start_redis(v, url, n, null, 3, 0, out l));
        Assert.True(l.IsInvalid);
        byte bad = 0xFF;
        Assert.Equal(RefTokenStatus.InvalidUtf8, NativeMethods.reftoken_revocation_listener_start_postgres(v, &bad, 1, null, 0, 0, out l));
        Assert.True(l.IsInvalid);
        Assert.Equal(RefTokenStatus.InvalidUtf8, NativeMethods.reftoken_revocation_listener_start_redis(v, url, n, &bad, 1, 0, out l));
        Assert.True(l.IsInvalid);

        RevocationStats stats;
        Assert.Equal(RefTokenStatus.NullArgument, NativeMethods.reftoken_revocation_listener_wait(new RevocationListenerSafeHandle(), 0));
        Assert.Equal(RefTokenStatus.NullArgument, NativeMethods.reftoken_revocation_listener_stats(new RevocationListenerSafeHandle(), &stats));
        Assert.Equal(RefTokenStatus.NullArgument, NativeMethods.reftoken_revocation_listener_stop(new RevocationListenerSafeHandle()));
        NativeMethods.reftoken_revocation_listener_free(0); // NULL is ignored

        // A started listener (port 1 refuses it).
        Assert.Equal(RefTokenStatus.Ok, NativeMethods.reftoken_revocation_listener_start_redis(v, url, n, null, 0, 0, out l));
        using (l)
        {
            Assert.Equal(RefTokenStatus.NullArgument, NativeMethods.reftoken_revocation_listener_stats(l, null));
            Assert.Equal(RefTokenStatus.Ok, NativeMethods.reftoken_revocation_listener_stop(l));
        }

        ulong receivers = 99;
        Assert.Equal(RefTokenStatus.NullArgument, NativeMethods.reftoken_revocation_publish_redis(null, 3, null, 0, url, 1, &receivers));
        Assert.Equal(0UL, receivers);
        Assert.Equal(RefTokenStatus.NullArgument, NativeMethods.reftoken_revocation_publish_redis(url, n, null, 0, null, 1, null));
    }
}
