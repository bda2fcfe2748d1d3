using System;
using System.Runtime.InteropServices;
using RefToken.Native;

namespace RefToken;

/// <summary>Owns a native <c>reftoken_grant</c>; releasing it calls <c>reftoken_grant_free</c>.</summary>
public sealed class GrantSafeHandle : SafeHandle
{
    /// <summary>Creates an invalid handle (the marshaller fills it in).</summary>
    public GrantSafeHandle()
        : base(IntPtr.Zero, ownsHandle: true)
    {
    }

    /// <summary>Takes ownership of a grant the library handed out through a raw pointer.</summary>
    internal GrantSafeHandle(nint grant)
        : base(IntPtr.Zero, ownsHandle: true)
    {
        SetHandle(grant);
    }

    /// <inheritdoc/>
    public override bool IsInvalid => handle == IntPtr.Zero;

    /// <inheritdoc/>
    protected override bool ReleaseHandle()
    {
        NativeMethods.reftoken_grant_free(handle);
        return true;
    }
}

/// <summary>Owns a native <c>reftoken_keyring</c>; releasing it calls <c>reftoken_keyring_free</c>, which wipes the keys.</summary>
public sealed class KeyRingSafeHandle : SafeHandle
{
    /// <summary>Creates an invalid handle (the marshaller fills it in).</summary>
    public KeyRingSafeHandle()
        : base(IntPtr.Zero, ownsHandle: true)
    {
    }

    /// <inheritdoc/>
    public override bool IsInvalid => handle == IntPtr.Zero;

    /// <inheritdoc/>
    protected override bool ReleaseHandle()
    {
        NativeMethods.reftoken_keyring_free(handle);
        return true;
    }
}

/// <summary>Owns a native <c>reftoken_introspection_request</c>; releasing it calls <c>reftoken_introspection_request_free</c>.</summary>
public sealed class IntrospectionRequestSafeHandle : SafeHandle
{
    /// <summary>Creates an invalid handle (the marshaller fills it in).</summary>
    public IntrospectionRequestSafeHandle()
        : base(IntPtr.Zero, ownsHandle: true)
    {
    }

    /// <inheritdoc/>
    public override bool IsInvalid => handle == IntPtr.Zero;

    /// <inheritdoc/>
    protected override bool ReleaseHandle()
    {
        NativeMethods.reftoken_introspection_request_free(handle);
        return true;
    }
}

/// <summary>Owns a native <c>reftoken_signing_key</c>; releasing it calls <c>reftoken_signing_key_free</c>.</summary>
public sealed class SigningKeySafeHandle : SafeHandle
{
    /// <summary>Creates an invalid handle (the marshaller fills it in).</summary>
    public SigningKeySafeHandle()
        : base(IntPtr.Zero, ownsHandle: true)
    {
    }

    /// <inheritdoc/>
    public override bool IsInvalid => handle == IntPtr.Zero;

    /// <inheritdoc/>
    protected override bool ReleaseHandle()
    {
        NativeMethods.reftoken_signing_key_free(handle);
        return true;
    }
}

/// <summary>
/// Owns a native <c>reftoken_validator</c>; releasing it calls <c>reftoken_validator_free</c> and then
/// lets go of the managed lookup it calls back.
/// </summary>
public sealed class ValidatorSafeHandle : SafeHandle
{
    /// <summary>Creates an invalid handle (the marshaller fills it in).</summary>
    public ValidatorSafeHandle()
        : base(IntPtr.Zero, ownsHandle: true)
    {
    }

    /// <summary>The GCHandle of the lookup the native validator calls back; freed after the validator.</summary>
    internal GCHandle Lookup { get; set; }

    /// <inheritdoc/>
    public override bool IsInvalid => handle == IntPtr.Zero;

    /// <inheritdoc/>
    protected override bool ReleaseHandle()
    {
        NativeMethods.reftoken_validator_free(handle);
        if (Lookup.IsAllocated)
        {
            Lookup.Free();
        }

        return true;
    }
}

/// <summary>
/// Owns a native <c>reftoken_revocation_listener</c>; releasing it calls
/// <c>reftoken_revocation_listener_free</c> (which stops the listener). The native listener holds
/// its own reference on the validator it evicts from, so the two are freed in either order.
/// </summary>
public sealed class RevocationListenerSafeHandle : SafeHandle
{
    /// <summary>Creates an invalid handle (the marshaller fills it in).</summary>
    public RevocationListenerSafeHandle()
        : base(IntPtr.Zero, ownsHandle: true)
    {
    }

    /// <inheritdoc/>
    public override bool IsInvalid => handle == IntPtr.Zero;


    /// <inheritdoc/>
    protected override bool ReleaseHandle()
    {
        NativeMethods.reftoken_revocation_listener_free(handle);
        return true;
    }
}
