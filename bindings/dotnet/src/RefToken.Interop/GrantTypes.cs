namespace RefToken;

/// <summary>IdentityServer's persisted-grant types (the <c>PersistedGrants.Type</c> column).</summary>
public static class GrantTypes
{
    /// <summary><c>reference_token</c>.</summary>
    public const string ReferenceToken = "reference_token";

    /// <summary><c>refresh_token</c>.</summary>
    public const string RefreshToken = "refresh_token";

    /// <summary><c>authorization_code</c>.</summary>
    public const string AuthorizationCode = "authorization_code";

    /// <summary><c>user_consent</c>.</summary>
    public const string UserConsent = "user_consent";

    /// <summary><c>backchannel_authentication_request</c>.</summary>
    public const string BackChannelAuthenticationRequest = "backchannel_authentication_request";
}
