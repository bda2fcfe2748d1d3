using System;
using System.Collections.Generic;
using System.Linq;
using System.Reflection;
using System.Runtime.InteropServices;
using RefToken.Native;
using Xunit;

namespace RefToken.Tests;

/// <summary>
/// include/reftoken.h against the .NET declarations, by reflection over RefToken.Interop: every
/// function has one import with the header's parameters, every status and mirrored constant has
/// the header's number, every struct the header's x86_64 layout. One case per function, status,
/// constant and struct, so that a failure names what drifted. The header is read from the
/// repository the test assembly was built in (the folder above it holding Cargo.toml).
/// </summary>
public class HeaderShapeTests
{
    private static CHeader H => CHeader.Instance;

    // ---- the imports, found by reflection ----

    /// <summary>A P/Invoke entry point and the method that declares it.</summary>
    public sealed record Import(string EntryPoint, MethodInfo Method)
    {
        public override string ToString() => $"{Method.DeclaringType?.Name}.{Method.Name} ({EntryPoint})";
    }

    private static readonly Lazy<MethodInfo[]> s_methods = new(() => CAbi.Interop.GetTypes()
        .SelectMany(t => t.GetMethods(BindingFlags.DeclaredOnly | BindingFlags.Static | BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic))
        .ToArray());

    private static bool IsLibreftoken(string? library, string entryPoint) =>
        library == NativeMethods.Library || entryPoint.StartsWith("reftoken_", StringComparison.Ordinal);

    /// <summary>
    /// The <c>[LibraryImport]</c> declarations: the partial methods the binding writes, whose
    /// signatures are the managed side of the ABI (SafeHandles, out parameters, MarshalAs).
    /// </summary>
    private static readonly Lazy<Import[]> s_declared = new(() => s_methods.Value
        .Select(m => (Method: m, Attribute: m.GetCustomAttribute<LibraryImportAttribute>()))
        .Where(x => x.Attribute is not null && IsLibreftoken(x.Attribute.LibraryName, x.Attribute.EntryPoint ?? x.Method.Name))
        .Select(x => new Import(x.Attribute!.EntryPoint ?? x.Method.Name, x.Method))
        .ToArray());

    /// <summary>
    /// The P/Invoke stubs the runtime binds (<c>static extern</c> methods carrying DllImport): the
    /// LibraryImport generator's <c>__PInvoke</c> local functions, or the partial method itself when
    /// no marshalling is needed, and any hand-written <c>[DllImport]</c>.
    /// </summary>
    private static readonly Lazy<Import[]> s_stubs = new(() => s_methods.Value
        .Where(m => (m.Attributes & MethodAttributes.PinvokeImpl) != 0)
        .Select(m => (Method: m, Attribute: m.GetCustomAttribute<DllImportAttribute>()!))
        .Where(x => IsLibreftoken(x.Attribute.Value, x.Attribute.EntryPoint ?? x.Method.Name))
        .Select(x => new Import(x.Attribute.EntryPoint ?? x.Method.Name, x.Method))
        .ToArray());

    public static TheoryData<string> HeaderFunctions => new(H.Functions.Keys.Order(StringComparer.Ordinal));

    public static TheoryData<string> NetEntryPoints =>
        new(s_declared.Value.Concat(s_stubs.Value).Select(i => i.EntryPoint).Distinct().Order(StringComparer.Ordinal));

    [Fact]
    public void TheHeaderIsTheRepositorys()
    {
        Assert.EndsWith(System.IO.Path.Combine("include", "reftoken.h"), H.Path);
        Assert.NotEmpty(H.Functions);
        Assert.NotEmpty(H.Structs);
        Assert.NotEmpty(H.Statuses);
        Assert.NotEmpty(H.Defines);
        Assert.Contains("reftoken_abi_version", H.Functions.Keys);
    }

    [Theory]
    [MemberData(nameof(HeaderFunctions))]
    public void HeaderFunctionHasExactlyOneImport(string function)
    {
        Import[] declared = s_declared.Value.Where(i => i.EntryPoint == function).ToArray();
        Assert.True(declared.Length == 1, $"{function} is declared in reftoken.h; RefToken.Interop has {declared.Length} [LibraryImport] declarations of it: {string.Join(", ", declared.Select(i => i.ToString()))}");
        Import[] stubs = s_stubs.Value.Where(i => i.EntryPoint == function).ToArray();
        Assert.True(stubs.Length == 1, $"{function}: {stubs.Length} P/Invoke stubs bind it: {string.Join(", ", stubs.Select(i => i.ToString()))}");
    }

    [Theory]
    [MemberData(nameof(NetEntryPoints))]
    public void ImportIsDeclaredInTheHeader(string entryPoint) =>
        Assert.True(H.Functions.ContainsKey(entryPoint), $"RefToken.Interop imports {entryPoint}, which {H.Path} does not declare (removed or renamed?)");

    [Theory]
    [MemberData(nameof(HeaderFunctions))]
    public void ImportSignatureMatchesTheHeader(string function)
    {
        CFunction c = H.Functions[function];
        Import? import = s_declared.Value.SingleOrDefault(i => i.EntryPoint == function);
        Assert.True(import is not null, $"{function}: no single [LibraryImport] (see {nameof(HeaderFunctionHasExactlyOneImport)})");
        MethodInfo m = import.Method;
        ParameterInfo[] parameters = m.GetParameters();
        Assert.True(parameters.Length == c.Parameters.Count, $"{function} takes {c.Parameters.Count} parameters in the header: {c}\n{import} takes {parameters.Length}: ({string.Join(", ", parameters.Select(p => CAbi.Show(p.ParameterType) + " " + p.Name))})");

        var problems = new List<string>();
        if (CAbi.Mismatch(c.Return, m.ReturnType, m.ReturnParameter.GetCustomAttribute<MarshalAsAttribute>(), AbiSite.Return) is { } r)
        {
            problems.Add($"return value: {r}");
        }

        for (int i = 0; i < parameters.Length; i++)
        {
            ParameterInfo p = parameters[i];
            if (CAbi.Mismatch(c.Parameters[i].Type, p.ParameterType, p.GetCustomAttribute<MarshalAsAttribute>(), AbiSite.Parameter) is { } problem)
            {
                problems.Add($"parameter {i} ({c.Parameters[i]} / {CAbi.Show(p.ParameterType)} {p.Name}): {problem}");
            }
        }

        // The stub the runtime binds carries as many native arguments (SafeHandles and out
        // parameters become pointers, never extra arguments).
        if (s_stubs.Value.SingleOrDefault(i => i.EntryPoint == function) is { } stub && stub.Method.GetParameters().Length != c.Parameters.Count)
        {
            problems.Add($"the P/Invoke stub {stub} takes {stub.Method.GetParameters().Length} arguments");
        }

        Assert.True(problems.Count == 0, $"{function}: the header says {c}\n{string.Join("\n", problems)}");
    }

    // ---- reftoken_status and RefTokenStatus ----

    public static TheoryData<string> HeaderStatuses => new(H.Statuses.Keys);

    public static TheoryData<string> NetStatuses => new(Enum.GetNames<RefTokenStatus>());

    /// <summary><c>REFTOKEN_BUFFER_TOO_SMALL</c>: <c>BufferTooSmall</c>.</summary>
    private static string NetStatusName(string constant) => CAbi.PascalCase(CAbi.Unprefixed(constant.ToLowerInvariant()));

    [Theory]
    [MemberData(nameof(HeaderStatuses))]
    public void HeaderStatusIsARefTokenStatusMember(string constant)
    {
        string name = NetStatusName(constant);
        Assert.True(Enum.GetNames<RefTokenStatus>().Contains(name), $"{constant} = {H.Statuses[constant]} has no RefTokenStatus.{name}");
        Assert.True(
            (long)(uint)Enum.Parse<RefTokenStatus>(name) == H.Statuses[constant],
            $"{constant} is {H.Statuses[constant]} in the header; RefTokenStatus.{name} is {(uint)Enum.Parse<RefTokenStatus>(name)}");
    }

    [Theory]
    [MemberData(nameof(NetStatuses))]
    public void RefTokenStatusMemberIsInTheHeader(string member)
    {
        string[] constants = H.Statuses.Keys.Where(k => NetStatusName(k) == member).ToArray();
        Assert.True(constants.Length == 1, $"RefTokenStatus.{member} = {(uint)Enum.Parse<RefTokenStatus>(member)} has {constants.Length} REFTOKEN_* status in the header's reftoken_status (an extra member, or a renamed status?)");
        Assert.Equal(H.Statuses[constants[0]], (long)(uint)Enum.Parse<RefTokenStatus>(member));
    }

    [Fact]
    public void StatusIsUInt32OnBothSides()
    {
        Assert.True(H.StatusIsUInt32, "reftoken_status is no longer uint32_t in the header (the enum base and the C typedef)");
        Assert.Equal(typeof(uint), Enum.GetUnderlyingType(typeof(RefTokenStatus)));
    }

    // ---- #define REFTOKEN_* ----

    /// <summary>Every .NET constant or enum member that stands for a header constant.</summary>
    private static readonly (string Define, string Mirror, long Value)[] s_mirrors =
    [
        ("REFTOKEN_ABI_VERSION", "NativeMethods.AbiVersion", NativeMethods.AbiVersion),
        ("REFTOKEN_ABI_VERSION", "RefTokenLibrary.AbiVersion", RefTokenLibrary.AbiVersion),
        ("REFTOKEN_HANDLE_LEN", "NativeMethods.HandleLength", NativeMethods.HandleLength),
        ("REFTOKEN_HANDLE_LEN", "TokenHandles.HandleLength", TokenHandles.HandleLength),
        ("REFTOKEN_MAX_KEY_LEN", "NativeMethods.MaxKeyLength", NativeMethods.MaxKeyLength),
        ("REFTOKEN_MAX_KEY_LEN", "StoreKeys.MaxLength", StoreKeys.MaxLength),
        ("REFTOKEN_MAX_RANDOM_BYTES", "NativeMethods.MaxRandomBytes", NativeMethods.MaxRandomBytes),
        ("REFTOKEN_MAX_RANDOM_BYTES", "TokenHandles.MaxRandomBytes", TokenHandles.MaxRandomBytes),
        ("REFTOKEN_MAX_SECRET_HASH_LEN", "Secrets.MaxHashLength", Secrets.MaxHashLength),
        ("REFTOKEN_MAX_STORED_SECRETS", "Secrets.MaxStoredSecrets", Secrets.MaxStoredSecrets),
        ("REFTOKEN_MAX_CLIENT_ID_LEN", "BasicCredentials.MaxClientIdLength", BasicCredentials.MaxClientIdLength),
        ("REFTOKEN_MAX_CLIENT_SECRET_LEN", "BasicCredentials.MaxSecretLength", BasicCredentials.MaxSecretLength),
        ("REFTOKEN_NO_EXPIRATION", "long.MaxValue (Secrets.Verify, a secret without expiration)", long.MaxValue),
        ("REFTOKEN_CALLER_API", "NativeMethods.CallerApi", NativeMethods.CallerApi),
        ("REFTOKEN_CALLER_CLIENT", "NativeMethods.CallerClient", NativeMethods.CallerClient),
        E("REFTOKEN_CALLER_API", IntrospectionCallerKind.Api),
        E("REFTOKEN_CALLER_CLIENT", IntrospectionCallerKind.Client),
        E("REFTOKEN_SECRET_SHA256", SecretHashAlgorithm.Sha256),
        E("REFTOKEN_SECRET_SHA512", SecretHashAlgorithm.Sha512),
        E("REFTOKEN_CREDENTIALS_NONE", CredentialKind.None),
        E("REFTOKEN_CREDENTIALS_NO_SECRET", CredentialKind.NoSecret),
        E("REFTOKEN_CREDENTIALS_SHARED_SECRET", CredentialKind.SharedSecret),
        E("REFTOKEN_CREDENTIALS_FROM_BASIC", CredentialSource.BasicHeader),
        E("REFTOKEN_CREDENTIALS_FROM_POST_BODY", CredentialSource.PostBody),
        E("REFTOKEN_HINT_NONE", TokenTypeHint.None),
        E("REFTOKEN_HINT_ACCESS_TOKEN", TokenTypeHint.AccessToken),
        E("REFTOKEN_HINT_REFRESH_TOKEN", TokenTypeHint.RefreshToken),
        E("REFTOKEN_JWT_ALG_DEFAULT", JwtAlgorithm.Default),
        E("REFTOKEN_JWT_ALG_RS256", JwtAlgorithm.RS256),
        E("REFTOKEN_JWT_ALG_PS256", JwtAlgorithm.PS256),
        E("REFTOKEN_JWT_ALG_ES256", JwtAlgorithm.ES256),
        E("REFTOKEN_IDENTITYSERVER_LATEST", IdentityServerVersion.Latest),
        E("REFTOKEN_IDENTITYSERVER_4", IdentityServerVersion.IdentityServer4),
        E("REFTOKEN_DUENDE_5_0", IdentityServerVersion.Duende5_0),
        E("REFTOKEN_DUENDE_6_1", IdentityServerVersion.Duende6_1),
        E("REFTOKEN_DUENDE_6_3", IdentityServerVersion.Duende6_3),
        E("REFTOKEN_DUENDE_7_1", IdentityServerVersion.Duende7_1),
        E("REFTOKEN_DUENDE_7_3", IdentityServerVersion.Duende7_3),
        E("REFTOKEN_ACTIVE", InactiveReason.None),
        E("REFTOKEN_INACTIVE_EXPIRED", InactiveReason.Expired),
        E("REFTOKEN_INACTIVE_CLIENT_DISABLED", InactiveReason.ClientDisabled),
        E("REFTOKEN_INACTIVE_NO_MATCHING_SCOPE", InactiveReason.NoMatchingScope),
        E("REFTOKEN_INACTIVE_OTHER_CLIENT", InactiveReason.OtherClient),
        E("REFTOKEN_INACTIVE_UNKNOWN_HANDLE", InactiveReason.UnknownHandle),
        E("REFTOKEN_FIELD_SUBJECT_ID", GrantField.SubjectId),
        E("REFTOKEN_FIELD_SESSION_ID", GrantField.SessionId),
        E("REFTOKEN_FIELD_CLIENT_ID", GrantField.ClientId),
        E("REFTOKEN_FIELD_DESCRIPTION", GrantField.Description),
        E("REFTOKEN_FIELD_ISSUER", GrantField.Issuer),
        E("REFTOKEN_FIELD_CONFIRMATION", GrantField.Confirmation),
        E("REFTOKEN_FIELD_CREATION_TIME", GrantField.CreationTime),
        E("REFTOKEN_FIELD_EXPIRATION", GrantField.Expiration),
    ];

    /// <summary>Header constants .NET deliberately has no copy of: the library enforces them.</summary>
    private static readonly Dictionary<string, string> s_unmirrored = new(StringComparer.Ordinal)
    {
        ["REFTOKEN_MAX_DATA_LEN"] = "the library refuses larger Data (InputTooLarge)",
        ["REFTOKEN_MAX_HANDLE_LEN"] = "the library refuses longer handles (InputTooLarge)",
        ["REFTOKEN_MAX_GRANT_TYPE_LEN"] = "the library refuses longer grant types (InputTooLarge)",
        ["REFTOKEN_MAX_CLAIMS"] = "the library refuses more claims (InputTooLarge)",
    };

    /// <summary>Members of mirroring enums that no header constant stands for.</summary>
    private static readonly HashSet<string> s_enumExtras = new(StringComparer.Ordinal)
    {
        "CredentialSource.None", // the header: `source` is 0 with no credentials, without a name
    };

    private static (string, string, long) E<T>(string define, T member)
        where T : struct, Enum => (define, $"{typeof(T).Name}.{member}", Convert.ToInt64(member, System.Globalization.CultureInfo.InvariantCulture));

    public static TheoryData<string> MirroredDefines => new(s_mirrors.Select(m => m.Define).Distinct());

    public static TheoryData<string> HeaderDefines => new(H.Defines.Keys);

    public static TheoryData<string> MirroringEnums => new(
        s_mirrors.Select(m => m.Mirror.Split('.')[0]).Distinct().Where(n => CAbi.Interop.GetType("RefToken." + n) is { IsEnum: true }));

    [Theory]
    [MemberData(nameof(MirroredDefines))]
    public void MirroredDefineHasTheHeaderValue(string define)
    {
        Assert.True(H.Defines.TryGetValue(define, out long? value), $"{define} is mirrored in .NET ({string.Join(", ", s_mirrors.Where(m => m.Define == define).Select(m => m.Mirror))}) but no longer in the header");
        Assert.True(value is not null, $"{define} is not a number in the header");
        string[] wrong = s_mirrors.Where(m => m.Define == define && m.Value != value).Select(m => $"{m.Mirror} is {m.Value}").ToArray();
        Assert.True(wrong.Length == 0, $"{define} is {value} in the header; {string.Join(", ", wrong)}");
    }

    [Theory]
    [MemberData(nameof(HeaderDefines))]
    public void HeaderDefineIsMirroredOrKnownUnmirrored(string define) =>
        Assert.True(
            s_mirrors.Any(m => m.Define == define) || s_unmirrored.ContainsKey(define),
            $"{define} = {H.Defines[define]} is new in the header: mirror it in .NET and add it to {nameof(HeaderShapeTests)}.{nameof(s_mirrors)}, or list it in {nameof(s_unmirrored)} with the reason .NET needs no copy");

    [Fact]
    public void UnmirroredDefinesAreStillInTheHeader()
    {
        string[] gone = s_unmirrored.Keys.Where(k => !H.Defines.ContainsKey(k)).ToArray();
        Assert.True(gone.Length == 0, $"no longer in the header: {string.Join(", ", gone)}");
    }

    [Theory]
    [MemberData(nameof(MirroringEnums))]
    public void MirroringEnumHasNoMemberOutsideTheHeader(string enumName)
    {
        Type type = CAbi.Interop.GetType("RefToken." + enumName)!;
        string[] extra = Enum.GetNames(type)
            .Select(n => $"{enumName}.{n}")
            .Where(n => !s_mirrors.Any(m => m.Mirror == n) && !s_enumExtras.Contains(n))
            .ToArray();
        Assert.True(extra.Length == 0, $"{string.Join(", ", extra)}: no REFTOKEN_* constant of the header stands for them");
    }

    [Fact]
    public void LoadedLibraryHasTheHeadersAbiVersion() =>
        Assert.Equal(H.Defines["REFTOKEN_ABI_VERSION"], RefTokenLibrary.NativeAbiVersion);

    // ---- struct layouts ----

    public static TheoryData<string> HeaderStructs => new(H.Structs.Keys.Order(StringComparer.Ordinal));

    [Theory]
    [MemberData(nameof(HeaderStructs))]
    public void StructLayoutMatchesTheHeader(string name)
    {
        Type? net = CAbi.NetStruct(name);
        if (net is null)
        {
            // Not mirrored in .NET; were an import to use it, its signature test would fail.
            return;
        }

        CAbi.CStructLayout c = CAbi.Layout(name);
        var problems = new List<string>();
        if (net.IsAutoLayout)
        {
            problems.Add($"{net.Name} has automatic layout: it needs [StructLayout(LayoutKind.Sequential)]");
        }

        FieldInfo[] fields = net.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic)
            .OrderBy(f => (long)Marshal.OffsetOf(net, f.Name))
            .ToArray();
        if (fields.Length != c.Fields.Count)
        {
            problems.Add($"{c.Fields.Count} fields in the header ({string.Join(", ", c.Fields.Select(f => f.Declaration.Name))}), {fields.Length} in {net.Name} ({string.Join(", ", fields.Select(f => f.Name))})");
        }

        for (int i = 0; i < Math.Min(fields.Length, c.Fields.Count); i++)
        {
            CAbi.CField cf = c.Fields[i];
            FieldInfo nf = fields[i];
            int offset = (int)Marshal.OffsetOf(net, nf.Name);
            string at = $"field {i}: {cf.Declaration} at {cf.Offset} ({cf.Size} bytes) / {CAbi.Show(nf.FieldType)} {nf.Name} at {offset} ({CAbi.NetSize(nf.FieldType)} bytes)";
            if (!CAbi.SameFieldName(cf.Declaration.Name, nf.Name))
            {
                problems.Add($"{at}: another name (fields reordered or renamed?)");
            }

            if (offset != cf.Offset)
            {
                problems.Add($"{at}: offset differs");
            }

            if (CAbi.NetSize(nf.FieldType) != cf.Size)
            {
                problems.Add($"{at}: size differs");
            }

            if (CAbi.Mismatch(cf.Declaration.Type, nf.FieldType, null, AbiSite.Field) is { } mismatch)
            {
                problems.Add($"{at}: {mismatch}");
            }
        }

        int marshalSize = Marshal.SizeOf(net);
        int managedSize = CAbi.UnsafeSizeOf(net);
        if (marshalSize != c.Size || managedSize != c.Size)
        {
            problems.Add($"size: {c.Size} bytes in C (x86_64), Marshal.SizeOf {marshalSize}, Unsafe.SizeOf {managedSize}");
        }

        Assert.True(problems.Count == 0, $"struct {name} / {net.FullName}:\n{string.Join("\n", problems)}");
    }
}
