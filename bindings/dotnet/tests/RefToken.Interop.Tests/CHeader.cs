using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;

namespace RefToken.Tests;

/// <summary>A C type as written in the header: its base name (const and struct dropped) and pointer depth.</summary>
/// <param name="Base">Such as <c>char</c>, <c>size_t</c>, <c>reftoken_str</c>, <c>reftoken_lookup_fn</c>.</param>
/// <param name="Pointers">How many <c>*</c> follow it.</param>
public sealed record CType(string Base, int Pointers)
{
    public CType Pointee => this with { Pointers = Pointers - 1 };

    public override string ToString() => Base + new string('*', Pointers);
}

/// <summary>A named parameter or struct field.</summary>
public sealed record CDeclaration(CType Type, string Name)
{
    public override string ToString() => $"{Type} {Name}";
}

/// <summary>A function (or function pointer typedef) of the header.</summary>
public sealed record CFunction(string Name, CType Return, IReadOnlyList<CDeclaration> Parameters)
{
    public override string ToString() => $"{Return} {Name}({string.Join(", ", Parameters)})";
}

/// <summary>
/// What the .NET binding mirrors of include/reftoken.h, read from the header itself: the functions,
/// the function pointer typedefs, the structs with their fields, the opaque structs, the
/// <c>reftoken_status</c> enum and the <c>#define REFTOKEN_*</c> constants. The header is cbindgen's
/// output, so a handful of regular expressions over its comment-free text is enough.
/// </summary>
public sealed class CHeader
{
    private static readonly Lazy<CHeader> s_instance = new(() =>
    {
        string path = FindPath();
        return Parse(File.ReadAllText(path), path);
    });

    private CHeader()
    {
    }

    /// <summary>The repository's header, parsed once.</summary>
    public static CHeader Instance => s_instance.Value;

    /// <summary>The path of the header read.</summary>
    public string Path { get; private set; } = string.Empty;

    public IReadOnlyDictionary<string, CFunction> Functions { get; private set; } = null!;

    public IReadOnlyDictionary<string, CFunction> FunctionPointerTypedefs { get; private set; } = null!;

    public IReadOnlyDictionary<string, IReadOnlyList<CDeclaration>> Structs { get; private set; } = null!;

    public IReadOnlySet<string> OpaqueStructs { get; private set; } = null!;

    /// <summary>The <c>reftoken_status</c> enumerators and their numbers.</summary>
    public IReadOnlyDictionary<string, long> Statuses { get; private set; } = null!;

    /// <summary>Whether <c>reftoken_status</c> is declared as <c>uint32_t</c> (the enum base and the C typedef).</summary>
    public bool StatusIsUInt32 { get; private set; }

    /// <summary>The <c>#define REFTOKEN_*</c> constants (the include guard excepted): their numbers, null for a value that is not one.</summary>
    public IReadOnlyDictionary<string, long?> Defines { get; private set; } = null!;

    /// <summary>
    /// include/reftoken.h of the repository this test assembly was built from: the first folder up
    /// from the assembly's that holds Cargo.toml and include/reftoken.h.
    /// </summary>
    public static string FindPath()
    {
        for (DirectoryInfo? d = new(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            string header = System.IO.Path.Combine(d.FullName, "include", "reftoken.h");
            if (File.Exists(System.IO.Path.Combine(d.FullName, "Cargo.toml")) && File.Exists(header))
            {
                return header;
            }
        }

        throw new FileNotFoundException($"No folder above {AppContext.BaseDirectory} holds Cargo.toml and include/reftoken.h.");
    }

    public static CHeader Parse(string text, string path)
    {
        // Comments out (they quote names and code), then the preprocessor lines.
        string code = Regex.Replace(text, @"/\*.*?\*/", " ", RegexOptions.Singleline);
        code = Regex.Replace(code, @"//[^\n]*", " ");
        var header = new CHeader { Path = path };

        var defines = new Dictionary<string, long?>(StringComparer.Ordinal);
        foreach (Match m in Regex.Matches(code, @"^[ \t]*#[ \t]*define[ \t]+(REFTOKEN_\w+)[ \t]+(\S[^\n]*?)[ \t]*$", RegexOptions.Multiline))
        {
            defines.Add(m.Groups[1].Value, TryParseNumber(m.Groups[2].Value));
        }

        header.Defines = defines;

        Match status = Regex.Match(code, @"enum\s+reftoken_status\b(?<base>[^{]*)\{(?<body>[^}]*)\}", RegexOptions.Singleline);
        if (!status.Success)
        {
            throw new FormatException("reftoken.h: no enum reftoken_status.");
        }

        var statuses = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (Match m in Regex.Matches(status.Groups["body"].Value, @"(REFTOKEN_\w+)\s*=\s*([^,\s]+)\s*,?"))
        {
            statuses.Add(m.Groups[1].Value, TryParseNumber(m.Groups[2].Value)
                ?? throw new FormatException($"reftoken.h: {m.Groups[1].Value} is `{m.Groups[2].Value}`, not a number."));
        }

        header.Statuses = statuses;
        header.StatusIsUInt32 = Regex.IsMatch(status.Groups["base"].Value, @":\s*uint32_t\b")
            && Regex.IsMatch(code, @"typedef\s+uint32_t\s+reftoken_status\s*;");

        code = Regex.Replace(code, @"^[ \t]*#[^\n]*", " ", RegexOptions.Multiline);

        header.OpaqueStructs = Regex.Matches(code, @"typedef\s+struct\s+(reftoken_\w+)\s+\1\s*;")
            .Select(m => m.Groups[1].Value)
            .ToHashSet(StringComparer.Ordinal);

        var structs = new Dictionary<string, IReadOnlyList<CDeclaration>>(StringComparer.Ordinal);
        foreach (Match m in Regex.Matches(code, @"typedef\s+struct\s+(reftoken_\w+)\s*\{(?<body>[^}]*)\}\s*\1\s*;", RegexOptions.Singleline))
        {
            structs.Add(m.Groups[1].Value, m.Groups["body"].Value
                .Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(ParseDeclaration)
                .ToList());
        }

        header.Structs = structs;

        var typedefs = new Dictionary<string, CFunction>(StringComparer.Ordinal);
        foreach (Match m in Regex.Matches(code, @"typedef\s+(?<ret>[^;(){}]+?)\s*\(\s*\*\s*(?<name>reftoken_\w+)\s*\)\s*\((?<params>[^)]*)\)\s*;"))
        {
            typedefs.Add(m.Groups["name"].Value, new CFunction(m.Groups["name"].Value, ParseType(m.Groups["ret"].Value), ParseParameters(m.Groups["params"].Value)));
        }

        header.FunctionPointerTypedefs = typedefs;

        int externC = code.IndexOf("extern \"C\" {", StringComparison.Ordinal);
        if (externC < 0)
        {
            throw new FormatException("reftoken.h: no extern \"C\" block.");
        }

        var functions = new Dictionary<string, CFunction>(StringComparer.Ordinal);
        foreach (Match m in Regex.Matches(code[externC..], @"(?<ret>[A-Za-z_][\w\s\*]*?)\s*\b(?<name>reftoken_\w+)\s*\((?<params>[^)]*)\)\s*;"))
        {
            var f = new CFunction(m.Groups["name"].Value, ParseType(m.Groups["ret"].Value), ParseParameters(m.Groups["params"].Value));
            if (!functions.TryAdd(f.Name, f))
            {
                throw new FormatException($"reftoken.h declares {f.Name} twice.");
            }
        }

        header.Functions = functions;
        return header;
    }

    private static long? TryParseNumber(string value)
    {
        value = value.Trim();
        if (value.StartsWith('(') && value.EndsWith(')'))
        {
            value = value[1..^1].Trim();
        }

        value = value.TrimEnd('u', 'U', 'l', 'L');
        return value switch
        {
            "INT64_MAX" => long.MaxValue,
            "INT32_MAX" => int.MaxValue,
            "UINT32_MAX" => uint.MaxValue,
            _ when value.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
                && long.TryParse(value[2..], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out long hex) => hex,
            _ when long.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long n) => n,
            _ => null,
        };
    }

    private static List<CDeclaration> ParseParameters(string list)
    {
        list = list.Trim();
        return list.Length == 0 || list == "void"
            ? []
            : list.Split(',', StringSplitOptions.TrimEntries).Select(ParseDeclaration).ToList();
    }

    /// <summary><c>const struct reftoken_str *purposes</c>: the type, then the name.</summary>
    public static CDeclaration ParseDeclaration(string declaration)
    {
        string[] tokens = Tokens(declaration);
        if (tokens.Length < 2 || tokens[^1] == "*")
        {
            throw new FormatException($"reftoken.h: cannot read the declaration `{declaration}`.");
        }

        return new CDeclaration(ParseType(tokens[..^1]), tokens[^1]);
    }

    public static CType ParseType(string type) => ParseType(Tokens(type));

    private static CType ParseType(string[] tokens)
    {
        int pointers = tokens.Count(t => t == "*");
        string[] names = tokens.Where(t => t is not ("*" or "const" or "struct" or "volatile")).ToArray();
        if (names.Length != 1)
        {
            throw new FormatException($"reftoken.h: cannot read the type `{string.Join(' ', tokens)}`.");
        }

        return new CType(names[0], pointers);
    }

    private static string[] Tokens(string text) =>
        text.Replace("*", " * ", StringComparison.Ordinal).Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
}
