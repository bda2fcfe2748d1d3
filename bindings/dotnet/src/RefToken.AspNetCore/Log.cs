using System;
using Microsoft.Extensions.Logging;

namespace RefToken.AspNetCore;

// No message carries a token, a store key's row or a secret: only scheme names, reasons and exception types.
internal static class Log
{
    public static readonly Action<ILogger, Exception?> SkippingDotToken =
        LoggerMessage.Define(LogLevel.Debug, new EventId(1, "SkippingDotToken"), "RefToken: skipping a token that contains dots (SkipTokensWithDots).");

    public static readonly Action<ILogger, string, bool, Exception?> TokenInactive =
        LoggerMessage.Define<string, bool>(LogLevel.Information, new EventId(2, "TokenInactive"), "RefToken: token not active for API {ApiName} (store read: {StoreRead}).");

    public static readonly Action<ILogger, string, string, Exception?> StoreUnavailable =
        LoggerMessage.Define<string, string>(LogLevel.Error, new EventId(3, "StoreUnavailable"),
            "RefToken: the persisted-grant store of scheme {Scheme} could not be reached ({ExceptionType}); the request fails closed.");

    public static readonly Action<ILogger, string, string, Exception?> StoreUnavailableForwarded =
        LoggerMessage.Define<string, string>(LogLevel.Warning, new EventId(4, "StoreUnavailableForwarded"),
            "RefToken: the persisted-grant store of scheme {Scheme} could not be reached; authenticating with scheme {ForwardScheme} instead.");

    public static readonly Action<ILogger, string, Exception?> NoRevocation =
        LoggerMessage.Define<string>(LogLevel.Warning, new EventId(5, "NoRevocation"),
            "RefToken: scheme {Scheme} caches tokens without a revocation listener: a revoked token is served until CacheDuration passes.");

    public static readonly Action<ILogger, string, string, Exception?> ListenerNotConnected =
        LoggerMessage.Define<string, string>(LogLevel.Warning, new EventId(6, "ListenerNotConnected"),
            "RefToken: the revocation listener of scheme {Scheme} is not listening yet ({Error}); cached tokens are read again past the staleness bound until it does.");

    public static readonly Action<ILogger, string, Exception?> TokenValidated =
        LoggerMessage.Define<string>(LogLevel.Debug, new EventId(7, "TokenValidated"), "RefToken: token validated for API {ApiName}.");

    public static readonly Action<ILogger, string, Exception?> TokenUnjudgeable =
        LoggerMessage.Define<string>(LogLevel.Warning, new EventId(8, "TokenUnjudgeable"), "RefToken: the token could not be judged ({Status}).");
}
