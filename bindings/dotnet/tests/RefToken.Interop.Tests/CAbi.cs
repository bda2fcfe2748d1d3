using System;
using System.Collections.Generic;
using System.Linq;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using RefToken.Native;

namespace RefToken.Tests;

/// <summary>Where a C type meets a .NET type: what the .NET side may use there.</summary>
public enum AbiSite
{
    /// <summary>A parameter of a <c>[LibraryImport]</c> method (marshalling applies: SafeHandle, ref/out, bool with MarshalAs).</summary>
    Parameter,

    /// <summary>The return value of a <c>[LibraryImport]</c> method.</summary>
    Return,

    /// <summary>A field of a struct passed by pointer: blittable types only.</summary>
    Field,

    /// <summary>A parameter or return value of an unmanaged function pointer: blittable types only.</summary>
    FunctionPointer,

    /// <summary>What a .NET pointer (<c>T*</c>) points at.</summary>
    Pointee,

    /// <summary>What a ref/out/in parameter refers to (marshalling applies).</summary>
    ByRefPointee,
}

/// <summary>
/// The header's C types against the binding's .NET types: which .NET types stand for a C type, and
/// the x86_64 (System V / LP64) C layout of the header's structs. Everything reftoken.h uses is
/// covered; a C type it does not know is reported as a mismatch, so a new kind of type in the
/// header fails the shape tests until it is taught here.
/// </summary>
public static class CAbi
{
    /// <summary>The fixed-width integers, as .NET spells them (<c>size_t</c> is <c>nuint</c>, <c>UIntPtr</c>).</summary>
    private static readonly Dictionary<string, Type> s_integers = new(StringComparer.Ordinal)
    {
        ["int8_t"] = typeof(sbyte),
        ["uint8_t"] = typeof(byte),
        ["int16_t"] = typeof(short),
        ["uint16_t"] = typeof(ushort),
        ["int32_t"] = typeof(int),
        ["uint32_t"] = typeof(uint),
        ["int64_t"] = typeof(long),
        ["uint64_t"] = typeof(ulong),
        ["size_t"] = typeof(nuint),
        ["uintptr_t"] = typeof(nuint),
        ["intptr_t"] = typeof(nint),
        ["ptrdiff_t"] = typeof(nint),
    };

    /// <summary>Abbreviations the header's field names use where .NET spells the word out.</summary>
    private static readonly Dictionary<string, string> s_abbreviations = new(StringComparer.Ordinal)
    {
        ["ctx"] = "context",
    };

    /// <summary>x86_64: pointers, function pointers and <c>size_t</c> are 8 bytes.</summary>
    public const int PointerSize = 8;

    public static Assembly Interop => typeof(RefTokenStatus).Assembly;

    private static CHeader Header => CHeader.Instance;

    /// <summary>
    /// The .NET struct that mirrors header struct <paramref name="cName"/>: <c>Native&lt;Name&gt;</c> or
    /// <c>&lt;Name&gt;</c> (<c>reftoken_http_request</c>: <c>NativeHttpRequest</c>; <c>reftoken_revocation_stats</c>:
    /// <c>RevocationStats</c>), compared without underscores or case; null when .NET declares none.
    /// </summary>
    public static Type? NetStruct(string cName)
    {
        string bare = Squash(Unprefixed(cName));
        Type[] candidates = Interop.GetTypes()
            .Where(t => t.IsValueType && !t.IsEnum && !t.IsNested && t.Namespace is "RefToken" or "RefToken.Native")
            .Where(t => Squash(t.Name) == "native" + bare || Squash(t.Name) == bare)
            .OrderBy(t => t.Name.StartsWith("Native", StringComparison.Ordinal) ? 0 : 1)
            .ToArray();
        return candidates.FirstOrDefault();
    }

    /// <summary>Whether <paramref name="safeHandle"/> is the SafeHandle of opaque struct <paramref name="cName"/> (<c>reftoken_keyring</c>: <c>KeyRingSafeHandle</c>).</summary>
    public static bool IsSafeHandleOf(Type safeHandle, string cName) =>
        typeof(SafeHandle).IsAssignableFrom(safeHandle) && Squash(safeHandle.Name) == Squash(Unprefixed(cName)) + "safehandle";

    /// <summary>Whether a .NET field name is the C field name (case, underscores and <see cref="s_abbreviations"/> aside).</summary>
    public static bool SameFieldName(string cName, string netName)
    {
        string net = Squash(netName);
        string[] words = cName.Split('_', StringSplitOptions.RemoveEmptyEntries);
        return net == Squash(cName)
            || net == string.Concat(words.Select(w => s_abbreviations.TryGetValue(w, out string? full) ? full : w));
    }

    /// <summary>
    /// Null when .NET type <paramref name="t"/> may stand for C type <paramref name="c"/> at
    /// <paramref name="site"/>; else what is wrong. <paramref name="marshalAs"/> is the parameter's or
    /// return value's <c>[MarshalAs]</c>, if any.
    /// </summary>
    public static string? Mismatch(CType c, Type t, MarshalAsAttribute? marshalAs, AbiSite site)
    {
        if (c.Pointers > 0)
        {
            return PointerMismatch(c, t, marshalAs, site);
        }

        string b = c.Base;
        if (b == "void")
        {
            return site is AbiSite.Return or AbiSite.Pointee or AbiSite.FunctionPointer && t == typeof(void)
                ? null
                : Expected(c, "void", t);
        }

        if (b == "bool")
        {
            // C's bool is one byte: a byte, or a bool the marshaller converts as one byte.
            if (t == typeof(byte))
            {
                return null;
            }

            if (t == typeof(bool))
            {
                return site switch
                {
                    AbiSite.Pointee => null, // C#'s bool* points at one byte
                    AbiSite.Parameter or AbiSite.Return or AbiSite.ByRefPointee when marshalAs?.Value == UnmanagedType.U1 => null,
                    AbiSite.Parameter or AbiSite.Return or AbiSite.ByRefPointee =>
                        $"C bool is one byte: a .NET bool there needs [MarshalAs(UnmanagedType.U1)] (found {(marshalAs is null ? "none" : "UnmanagedType." + marshalAs.Value)})",
                    _ => $"C bool is one byte: use byte here, where a .NET bool is not blittable (found {Show(t)})",
                };
            }

            return Expected(c, "byte or [MarshalAs(UnmanagedType.U1)] bool", t);
        }

        if (b == "char")
        {
            return t == typeof(byte) || t == typeof(sbyte) ? null : Expected(c, "byte or sbyte", t);
        }

        if (b == "reftoken_status")
        {
            return t == typeof(RefTokenStatus) || t == typeof(uint) ? null : Expected(c, "RefTokenStatus (or uint)", t);
        }

        if (s_integers.TryGetValue(b, out Type? integer))
        {
            if (t == integer)
            {
                return null;
            }

            // An enum over the same integer (a uint32_t kind as a .NET enum) crosses unchanged.
            return t.IsEnum && Enum.GetUnderlyingType(t) == integer && site != AbiSite.FunctionPointer
                ? null
                : Expected(c, Show(integer), t);
        }

        if (Header.FunctionPointerTypedefs.TryGetValue(b, out CFunction? fn))
        {
            if (t == typeof(nint))
            {
                return null;
            }

            if (!t.IsFunctionPointer || !t.IsUnmanagedFunctionPointer)
            {
                return Expected(c, "an unmanaged function pointer (delegate* unmanaged) or nint", t);
            }

            Type[] parameters = t.GetFunctionPointerParameterTypes();
            if (parameters.Length != fn.Parameters.Count)
            {
                return $"{b} takes {fn.Parameters.Count} parameters ({fn}); the function pointer takes {parameters.Length} ({Show(t)})";
            }

            var problems = new List<string>();
            if (Mismatch(fn.Return, t.GetFunctionPointerReturnType(), null, AbiSite.FunctionPointer) is { } r)
            {
                problems.Add($"return: {r}");
            }

            for (int i = 0; i < parameters.Length; i++)
            {
                if (Mismatch(fn.Parameters[i].Type, parameters[i], null, AbiSite.FunctionPointer) is { } p)
                {
                    problems.Add($"{fn.Parameters[i].Name}: {p}");
                }
            }

            return problems.Count == 0 ? null : $"{b} ({fn}) as {Show(t)}: {string.Join("; ", problems)}";
        }

        if (Header.Structs.ContainsKey(b))
        {
            Type? s = NetStruct(b);
            return s is null ? $"struct {b} has no .NET struct (Native<Name>)" : t == s ? null : Expected(c, Show(s), t);
        }

        if (Header.OpaqueStructs.Contains(b))
        {
            // Only reached behind a pointer: what a void* or nint* would point at.
            return site == AbiSite.Pointee && t == typeof(void) ? null : $"opaque struct {b} can only be passed by pointer (found {Show(t)})";
        }

        return $"this test does not know the C type {c}: teach CAbi what .NET type stands for it";
    }

    private static string? PointerMismatch(CType c, Type t, MarshalAsAttribute? marshalAs, AbiSite site)
    {
        // Any pointer may cross as an address.
        if (t == typeof(nint))
        {
            return null;
        }

        bool opaque = Header.OpaqueStructs.Contains(c.Base);
        if (opaque && c.Pointers == 1 && typeof(SafeHandle).IsAssignableFrom(t))
        {
            if (site is not (AbiSite.Parameter or AbiSite.Return or AbiSite.ByRefPointee))
            {
                return $"a SafeHandle cannot stand for {c} here (not marshalled)";
            }

            return IsSafeHandleOf(t, c.Base) ? null : $"{c} is a {PascalCase(Unprefixed(c.Base))}SafeHandle, not a {Show(t)}";
        }

        if (t.IsPointer)
        {
            return Mismatch(c.Pointee, t.GetElementType()!, null, AbiSite.Pointee);
        }

        if (t.IsByRef)
        {
            return site is AbiSite.Parameter
                ? Mismatch(c.Pointee, t.GetElementType()!, marshalAs, AbiSite.ByRefPointee)
                : $"{c} cannot be a ref here (found {Show(t)})";
        }

        return Expected(c, opaque ? $"a pointer, nint or {PascalCase(Unprefixed(c.Base))}SafeHandle" : "a pointer, ref or nint", t);
    }

    // ---- x86_64 C layout ----

    /// <summary>A field of a C struct as the compiler lays it out.</summary>
    public sealed record CField(CDeclaration Declaration, int Offset, int Size);

    /// <summary>A C struct as the compiler lays it out.</summary>
    public sealed record CStructLayout(string Name, int Size, int Alignment, IReadOnlyList<CField> Fields);

    /// <summary>
    /// Struct <paramref name="name"/> laid out by the x86_64 System V rules: each field at the next
    /// multiple of its alignment (its size for scalars, the largest member's for structs), the size
    /// rounded up to the struct's alignment.
    /// </summary>
    public static CStructLayout Layout(string name)
    {
        IReadOnlyList<CDeclaration> declarations = Header.Structs[name];
        var fields = new List<CField>();
        int offset = 0;
        int alignment = 1;
        foreach (CDeclaration d in declarations)
        {
            (int size, int align) = SizeAndAlignment(d.Type);
            offset = Align(offset, align);
            fields.Add(new CField(d, offset, size));
            offset += size;
            alignment = Math.Max(alignment, align);
        }

        return new CStructLayout(name, Align(offset, alignment), alignment, fields);
    }

    public static (int Size, int Alignment) SizeAndAlignment(CType c)
    {
        if (c.Pointers > 0 || Header.FunctionPointerTypedefs.ContainsKey(c.Base))
        {
            return (PointerSize, PointerSize);
        }

        if (c.Base is "bool" or "char")
        {
            return (1, 1);
        }

        if (c.Base == "reftoken_status")
        {
            return (4, 4);
        }

        if (s_integers.TryGetValue(c.Base, out Type? integer))
        {
            int n = integer == typeof(nuint) || integer == typeof(nint) ? PointerSize : Marshal.SizeOf(integer);
            return (n, n);
        }

        if (Header.Structs.ContainsKey(c.Base))
        {
            CStructLayout inner = Layout(c.Base);
            return (inner.Size, inner.Alignment);
        }

        throw new InvalidOperationException($"No x86_64 size for C type {c}: teach CAbi.");
    }

    /// <summary>The size of a .NET field's type in an unmanaged struct.</summary>
    public static int NetSize(Type t)
    {
        if (t.IsPointer || t.IsFunctionPointer || t == typeof(nint) || t == typeof(nuint))
        {
            return IntPtr.Size;
        }

        if (t.IsEnum)
        {
            return NetSize(Enum.GetUnderlyingType(t));
        }

        return t.IsPrimitive ? Marshal.SizeOf(t) : UnsafeSizeOf(t);
    }

    /// <summary><c>Unsafe.SizeOf&lt;T&gt;()</c> for a runtime type: the managed (blittable) size.</summary>
    public static int UnsafeSizeOf(Type t) =>
        (int)typeof(Unsafe).GetMethod(nameof(Unsafe.SizeOf))!.MakeGenericMethod(t).Invoke(null, null)!;

    public static string Show(Type t) => t switch
    {
        _ when t == typeof(nuint) => "nuint",
        _ when t == typeof(nint) => "nint",
        _ when t == typeof(byte) => "byte",
        _ when t == typeof(sbyte) => "sbyte",
        _ when t == typeof(bool) => "bool",
        _ when t == typeof(ushort) => "ushort",
        _ when t == typeof(short) => "short",
        _ when t == typeof(uint) => "uint",
        _ when t == typeof(int) => "int",
        _ when t == typeof(ulong) => "ulong",
        _ when t == typeof(long) => "long",
        _ when t == typeof(void) => "void",
        _ when t.IsPointer => Show(t.GetElementType()!) + "*",
        _ when t.IsByRef => "ref " + Show(t.GetElementType()!),
        _ when t.IsFunctionPointer => $"delegate* {(t.IsUnmanagedFunctionPointer ? "unmanaged" : "managed")}<{string.Join(", ", t.GetFunctionPointerParameterTypes().Append(t.GetFunctionPointerReturnType()).Select(Show))}>",
        _ => t.Name,
    };

    public static string Unprefixed(string cName) => cName.StartsWith("reftoken_", StringComparison.Ordinal) ? cName["reftoken_".Length..] : cName;

    /// <summary><c>BUFFER_TOO_SMALL</c> or <c>buffer_too_small</c>: <c>BufferTooSmall</c>.</summary>
    public static string PascalCase(string snake) =>
        string.Concat(snake.Split('_', StringSplitOptions.RemoveEmptyEntries)
            .Select(w => char.ToUpperInvariant(w[0]) + w[1..].ToLowerInvariant()));

    private static string Squash(string name) => name.Replace("_", string.Empty, StringComparison.Ordinal).ToLowerInvariant();

    private static int Align(int offset, int alignment) => (offset + alignment - 1) / alignment * alignment;

    private static string Expected(CType c, string expected, Type found) => $"C {c} is {expected}, not {Show(found)}";
}
