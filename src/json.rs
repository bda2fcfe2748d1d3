//! JSON output that matches System.Text.Json byte for byte.
//!
//! IdentityServer writes its JSON with System.Text.Json's default encoder, which escapes every
//! non-ASCII character and the HTML-sensitive ones (`" & ' + < > \` and the backtick) as
//! `\uXXXX` (with `\n`, `\r`, `\t`, `\b`, `\f` and `\\` in their short forms). RefToken writes
//! the same bytes, so its responses and rows can be compared with IdentityServer's verbatim.

use zeroize::Zeroizing;

const HEX: &[u8; 16] = b"0123456789ABCDEF";

// 1: a byte written as is (ASCII that System.Text.Json leaves alone).
static PLAIN: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 128 {
        t[i] = (ASCII_ESCAPE[i] == 0) as u8;
        i += 1;
    }
    t
};

// 0: written as is; 1: `\uXXXX`; other: the short escape letter.
static ASCII_ESCAPE: [u8; 128] = {
    let mut t = [0u8; 128];
    let mut i = 0;
    while i < 0x20 {
        t[i] = 1;
        i += 1;
    }
    t[0x08] = b'b';
    t[0x09] = b't';
    t[0x0A] = b'n';
    t[0x0C] = b'f';
    t[0x0D] = b'r';
    t[b'"' as usize] = 1;
    t[b'&' as usize] = 1;
    t[b'\'' as usize] = 1;
    t[b'+' as usize] = 1;
    t[b'<' as usize] = 1;
    t[b'>' as usize] = 1;
    t[b'`' as usize] = 1;
    t[b'\\' as usize] = b'\\';
    t[0x7F] = 1;
    t
};

fn push_u(out: &mut String, unit: u16) {
    let b = [
        b'\\',
        b'u',
        HEX[(unit >> 12) as usize & 0xF],
        HEX[(unit >> 8) as usize & 0xF],
        HEX[(unit >> 4) as usize & 0xF],
        HEX[unit as usize & 0xF],
    ];
    out.push_str(std::str::from_utf8(&b).expect("ASCII"));
}

/// Appends `s` as a quoted JSON string.
pub fn write_str(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    write_str_content(out, s);
    out.push('"');
}

/// Appends `s` escaped, without the quotes.
pub fn write_str_content(out: &mut String, s: &str) {
    let bytes = s.as_bytes();
    let mut run = 0;
    let mut i = 0;
    while i < bytes.len() {
        // The plain run: eight bytes per test while they last (a fold, so no branch per byte),
        // then one table test per byte.
        while let Some(word) = bytes.get(i..i + 8) {
            if word.iter().fold(1, |plain, &b| plain & PLAIN[b as usize]) == 0 {
                break;
            }
            i += 8;
        }
        match bytes[i..].iter().position(|&b| PLAIN[b as usize] == 0) {
            Some(n) => i += n,
            None => break,
        }
        let b = bytes[i];
        out.push_str(&s[run..i]);
        if b < 0x80 {
            match ASCII_ESCAPE[b as usize] {
                1 => push_u(out, u16::from(b)),
                letter => {
                    out.push('\\');
                    out.push(letter as char);
                }
            }
            i += 1;
        } else {
            let ch = s[i..].chars().next().expect("a char starts here");
            let mut units = [0u16; 2];
            for u in ch.encode_utf16(&mut units) {
                push_u(out, *u);
            }
            i += ch.len_utf8();
        }
        run = i;
    }
    out.push_str(&s[run..]);
}

/// Appends an integer.
pub fn write_i64(out: &mut String, v: i64) {
    out.push_str(itoa::Buffer::new().format(v));
}

/// Appends a double as .NET Core 3.0+ formats it (`double.ToString("R")`, which
/// System.Text.Json uses): the shortest round-tripping digits, in scientific form
/// (`1E+17`, `1E-05`) when the decimal exponent is 17 or more or below -4.
/// Non-finite values are not valid JSON and are written as strings, as .NET would fail to.
pub fn write_f64(out: &mut String, v: f64) {
    if !v.is_finite() {
        write_str(
            out,
            if v.is_nan() {
                "NaN"
            } else if v > 0.0 {
                "Infinity"
            } else {
                "-Infinity"
            },
        );
        return;
    }
    if v == 0.0 {
        out.push_str(if v.is_sign_negative() { "-0" } else { "0" });
        return;
    }
    // ryu gives the shortest digits; re-lay them out the way .NET does.
    let mut buf = ryu::Buffer::new();
    let r = buf.format_finite(v);
    let (neg, r) = match r.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, r),
    };
    let (mantissa, exp) = match r.find('e') {
        Some(p) => (&r[..p], r[p + 1..].parse::<i32>().expect("ryu exponent")),
        None => (r, 0),
    };
    let (int_part, frac_part) = match mantissa.find('.') {
        Some(p) => (&mantissa[..p], &mantissa[p + 1..]),
        None => (mantissa, ""),
    };
    let mut digits: String = format!("{int_part}{frac_part}");
    let mut point = int_part.len() as i32 + exp; // position of the decimal point in `digits`
    let lead = digits.len() - digits.trim_start_matches('0').len();
    digits.drain(..lead);
    point -= lead as i32;
    while digits.ends_with('0') {
        digits.pop();
    }
    let sci_exp = point - 1;
    if neg {
        out.push('-');
    }
    if !(-4..17).contains(&sci_exp) {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('E');
        out.push(if sci_exp < 0 { '-' } else { '+' });
        let e = sci_exp.unsigned_abs();
        if e < 10 {
            out.push('0');
        }
        out.push_str(itoa::Buffer::new().format(e));
    } else if point <= 0 {
        out.push_str("0.");
        for _ in 0..(-point) {
            out.push('0');
        }
        out.push_str(&digits);
    } else if point as usize >= digits.len() {
        out.push_str(&digits);
        for _ in 0..(point as usize - digits.len()) {
            out.push('0');
        }
    } else {
        out.push_str(&digits[..point as usize]);
        out.push('.');
        out.push_str(&digits[point as usize..]);
    }
}

/// Checks that `raw` is one JSON value nested no deeper than [`crate::limits::MAX_JSON_DEPTH`]
/// whose `\u` escapes pair UTF-16 surrogates (System.Text.Json cannot write a lone one, and
/// strict readers refuse it).
pub fn validate(raw: &str) -> bool {
    depth_within_limit(raw)
        && surrogates_paired(raw)
        && serde_json::from_str::<serde::de::IgnoredAny>(raw).is_ok()
}

/// Whether every `\uD800`-`\uDBFF` escape in a string of `raw` is followed by a
/// `\uDC00`-`\uDFFF` escape, and no low surrogate escape stands alone.
fn surrogates_paired(raw: &str) -> bool {
    let b = raw.as_bytes();
    let hex4 = |i: usize| -> Option<u16> {
        let s = b.get(i..i + 4)?;
        if !s.iter().all(u8::is_ascii_hexdigit) {
            return None;
        }
        u16::from_str_radix(std::str::from_utf8(s).ok()?, 16).ok()
    };
    let (mut i, mut in_str) = (0, false);
    while i < b.len() {
        match (in_str, b[i]) {
            (false, b'"') => in_str = true,
            (true, b'"') => in_str = false,
            (true, b'\\') => {
                if b.get(i + 1) == Some(&b'u') {
                    match hex4(i + 2) {
                        Some(0xD800..=0xDBFF) => {
                            if b.get(i + 6..i + 8) != Some(&b"\\u"[..])
                                || !matches!(hex4(i + 8), Some(0xDC00..=0xDFFF))
                            {
                                return false;
                            }
                            i += 12;
                            continue;
                        }
                        Some(0xDC00..=0xDFFF) => return false,
                        _ => {}
                    }
                }
                i += 2;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    true
}

/// The content of a JSON string (what lies between its quotes) unescaped, or `None` when it
/// holds anything but the plain case: an unescaped quote or control character, an unknown
/// escape, or a lone surrogate escape. Callers fall back to a full parser, which words the error.
pub fn unescape_plain(content: &str) -> Option<String> {
    let b = content.as_bytes();
    // Grant text: a copy given up half-way is wiped, not left in freed memory.
    let mut out = Zeroizing::new(String::with_capacity(b.len()));
    let mut run = 0;
    let mut i = 0;
    // One table test per byte: the runs between escapes are short in IdentityServer's rows
    // (every quote of the inner JSON is `\u0022`), too short for a vector search to pay off.
    while i < b.len() {
        if STRING_PLAIN[b[i] as usize] != 0 {
            i += 1;
            continue;
        }
        if b[i] != b'\\' {
            return None; // a quote or a control character
        }
        out.push_str(&content[run..i]);
        match *b.get(i + 1)? {
            b'u' => {
                let unit = hex4(b.get(i + 2..i + 6)?)?;
                i += 6;
                let c = match unit {
                    // A pair: what System.Text.Json writes for a character beyond the BMP.
                    0xD800..=0xDBFF if b.get(i..i + 2) == Some(b"\\u") => {
                        let low = hex4(b.get(i + 2..i + 6)?)?;
                        if !(0xDC00..=0xDFFF).contains(&low) {
                            return None;
                        }
                        i += 6;
                        0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                    }
                    unit => unit,
                };
                out.push(char::from_u32(c)?); // a lone surrogate is no char: the full parser words it
            }
            e => {
                out.push(match e {
                    b'"' => '"',
                    b'\\' => '\\',
                    b'/' => '/',
                    b'b' => '\u{8}',
                    b'f' => '\u{c}',
                    b'n' => '\n',
                    b'r' => '\r',
                    b't' => '\t',
                    _ => return None,
                });
                i += 2;
            }
        }
        run = i;
    }
    out.push_str(&content[run..]);
    Some(std::mem::take(&mut *out))
}

// 1: a byte that stands for itself inside a JSON string (not a quote, backslash or control).
static STRING_PLAIN: [u8; 256] = {
    let mut t = [1u8; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = 0;
        i += 1;
    }
    t[b'"' as usize] = 0;
    t[b'\\' as usize] = 0;
    t
};

fn hex4(h: &[u8]) -> Option<u32> {
    h.iter().try_fold(0u32, |u, &h| {
        let d = match h {
            b'0'..=b'9' => h - b'0',
            b'a'..=b'f' => h - b'a' + 10,
            b'A'..=b'F' => h - b'A' + 10,
            _ => return None,
        };
        Some(u << 4 | u32::from(d))
    })
}

/// A member name for [`Layout::key`]: `("\"Name\":", "\\u0022Name\\u0022:")`.
macro_rules! member {
    ($name:literal) => {
        (
            concat!("\"", $name, "\":"),
            concat!("\\u0022", $name, "\\u0022:"),
        )
    };
}

pub(crate) use member;

/// A reader for JSON in one exact layout: the fast paths for what IdentityServer writes.
/// Each step consumes what it expects or returns `None`, and the caller then hands the whole
/// text to a general parser, which decides (and words any error). So a layout reader may
/// refuse more than JSON does, but must never accept anything a general parser would refuse
/// or read it differently.
pub struct Layout<'a> {
    text: &'a str,
    pos: usize,
    // How a quote of the JSON being read appears in `text`: itself, or `\u0022` when the JSON
    // is the content of a string of outer JSON (a `Data` column's payload).
    quote: &'static str,
}

impl<'a> Layout<'a> {
    /// Reads the JSON `text`.
    pub fn new(text: &'a str) -> Self {
        Layout {
            text,
            pos: 0,
            quote: "\"",
        }
    }

    /// Reads the JSON held, escaped as System.Text.Json escapes it, in `content`: the text
    /// between the quotes of a string of outer JSON. Its quotes are `\u0022` there.
    pub fn nested(content: &'a str) -> Self {
        Layout {
            text: content,
            pos: 0,
            quote: "\\u0022",
        }
    }

    /// Consumes `lit` (punctuation, numbers, `true`...: nothing with a quote) if it comes next.
    #[inline]
    pub fn eat(&mut self, lit: &str) -> bool {
        let rest = &self.text.as_bytes()[self.pos..];
        // Most literals are one byte: compared inline, not through memcmp.
        let found = match lit.as_bytes() {
            [c] => rest.first() == Some(c),
            lit => rest.starts_with(lit),
        };
        if found {
            self.pos += lit.len();
        }
        found
    }

    /// Consumes `lit`, which must come next.
    pub fn expect(&mut self, lit: &str) -> Option<()> {
        self.eat(lit).then_some(())
    }

    /// Consumes a member name and its colon if they come next, given as they appear in plain
    /// JSON (`"Name":`) and nested (`\u0022Name\u0022:`); `member!` writes both.
    pub fn eat_key(&mut self, (plain, nested): (&str, &str)) -> bool {
        self.eat(if self.quote.len() == 1 { plain } else { nested })
    }

    /// Consumes a member name and its colon, which must come next.
    pub fn key(&mut self, name: (&str, &str)) -> Option<()> {
        self.eat_key(name).then_some(())
    }

    /// Whether the whole text has been read.
    pub fn at_end(&self) -> bool {
        self.pos == self.text.len()
    }

    /// A JSON string, unescaped into `out` (its old text cleared; its buffer reused).
    pub fn string_into(&mut self, out: &mut String) -> Option<()> {
        let (content, escaped) = self.string_content()?;
        out.clear();
        if escaped {
            // The unescaped copy goes into `out`, then is wiped with its buffer.
            out.push_str(&self.unescape(content)?);
        } else {
            out.push_str(content);
        }
        Some(())
    }

    fn unescape(&self, content: &str) -> Option<Zeroizing<String>> {
        let once = Zeroizing::new(unescape_plain(content)?);
        if self.quote.len() == 1 {
            return Some(once);
        }
        // Escaped twice: once as a string of the inner JSON, once more in the outer one.
        unescape_plain(&once).map(Zeroizing::new)
    }

    /// The raw content of a JSON string without escapes (a date, a number as text); `None`
    /// for anything escaped, which the general parser then reads.
    pub fn str_content(&mut self) -> Option<&'a str> {
        match self.string_content()? {
            (content, false) => Some(content),
            _ => None,
        }
    }

    /// An array of strings, into `items` (their buffers reused, extra items removed).
    pub fn string_array_into(&mut self, items: &mut Vec<String>) -> Option<()> {
        let mut n = 0;
        self.each_string(|r| {
            if n == items.len() {
                items.push(String::new());
            }
            r.string_into(&mut items[n])?;
            n += 1;
            Some(())
        })?;
        items.truncate(n);
        Some(())
    }

    /// A JSON string, checked and passed over.
    pub fn skip_string(&mut self) -> Option<()> {
        match self.string_content()? {
            (_, false) => Some(()),
            (content, true) => self.unescape(content).map(drop),
        }
    }

    /// The raw content of the string that comes next, and whether it holds a backslash.
    fn string_content(&mut self) -> Option<(&'a str, bool)> {
        let text: &'a str = self.text;
        let b = text.as_bytes();
        let nested = self.quote.len() > 1;
        if !b[self.pos..].starts_with(self.quote.as_bytes()) {
            return None;
        }
        let start = self.pos + self.quote.len();
        let mut i = start;
        let mut escaped = false;
        let end = loop {
            match *b.get(i)? {
                b'"' if !nested => break i + 1,
                b'"' => return None, // a bare quote cannot stand in a string of the outer JSON
                b'\\'
                    if nested
                        && b.get(i..i + 6).and_then(|q| <&[u8; 6]>::try_from(q).ok())
                            == Some(b"\\u0022") =>
                {
                    break i + 6;
                }
                b'\\' => {
                    // A multi-byte character after the backslash leaves `i` inside it, which is
                    // harmless: continuation bytes are never a quote or a backslash, and the
                    // escape itself is checked by `unescape_plain`.
                    escaped = true;
                    i += 2;
                }
                c if c < 0x20 => return None,
                _ => i += 1,
            }
        };
        self.pos = end;
        Some((&text[start..i], escaped))
    }

    /// A JSON integer that fits an `i32`, in the form System.Text.Json writes (no fraction,
    /// exponent or leading zero).
    pub fn i32(&mut self) -> Option<i32> {
        let b = self.text.as_bytes();
        let mut i = self.pos;
        let negative = b.get(i) == Some(&b'-');
        i += usize::from(negative);
        let digits = b[i..]
            .iter()
            .take(11)
            .take_while(|c| c.is_ascii_digit())
            .count();
        // `-0` too is left to the general parser (serde_json reads it as a float).
        if digits == 0 || digits > 10 || (b[i] == b'0' && (digits > 1 || negative)) {
            return None;
        }
        let magnitude = b[i..i + digits]
            .iter()
            .fold(0i64, |v, d| v * 10 + i64::from(d - b'0'));
        let v = i32::try_from(if negative { -magnitude } else { magnitude }).ok()?;
        self.pos = i + digits;
        Some(v)
    }

    /// `true` or `false`.
    pub fn bool(&mut self) -> Option<bool> {
        if self.eat("true") {
            Some(true)
        } else if self.eat("false") {
            Some(false)
        } else {
            None
        }
    }

    /// An array of strings, checked and passed over.
    pub fn skip_string_array(&mut self) -> Option<()> {
        self.each_string(Layout::skip_string)
    }

    fn each_string(&mut self, mut item: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.expect("[")?;
        if self.eat("]") {
            return Some(());
        }
        loop {
            item(self)?;
            if self.eat("]") {
                return Some(());
            }
            self.expect(",")?;
        }
    }
}

/// Whether the arrays and objects of `raw` nest no deeper than
/// [`crate::limits::MAX_JSON_DEPTH`] (System.Text.Json's default `MaxDepth`). Brackets inside
/// strings do not count; `raw` need not be valid JSON.
pub fn depth_within_limit(raw: &str) -> bool {
    let b = raw.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                // Jump through the string: most of a grant is string content.
                i += 1;
                loop {
                    match memchr::memchr2(b'"', b'\\', b.get(i..).unwrap_or_default()) {
                        None => return true,
                        Some(n) if b[i + n] == b'\\' => i += n + 2,
                        Some(n) => {
                            i += n + 1;
                            break;
                        }
                    }
                }
                continue;
            }
            b'[' | b'{' => {
                depth += 1;
                if depth > crate::limits::MAX_JSON_DEPTH {
                    return false;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    true
}

/// Appends `raw`, which must be valid JSON (see [`validate`]), compactly and with .NET
/// escaping, as System.Text.Json writes a `JsonElement`: whitespace dropped, numbers and
/// literals verbatim, member order and duplicates kept, strings re-escaped.
pub fn write_raw(out: &mut String, raw: &str) {
    let b = raw.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            b'"' => {
                let start = i;
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
                let token = &raw[start..i.min(raw.len())];
                match serde_json::from_str::<std::borrow::Cow<'_, str>>(token) {
                    Ok(text) => write_str(out, &text),
                    Err(_) => out.push_str(token),
                }
            }
            _ => {
                let start = i;
                while i < b.len() && !matches!(b[i], b' ' | b'\t' | b'\n' | b'\r' | b'"') {
                    i += 1;
                }
                out.push_str(&raw[start..i]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> String {
        let mut o = String::new();
        write_str(&mut o, v);
        o
    }

    fn f(v: f64) -> String {
        let mut o = String::new();
        write_f64(&mut o, v);
        o
    }

    #[test]
    fn escapes_like_default_encoder() {
        assert_eq!(s("plain"), "\"plain\"");
        assert_eq!(s("a\"b"), "\"a\\u0022b\"");
        assert_eq!(
            s("<&>'+`"),
            "\"\\u003C\\u0026\\u003E\\u0027\\u002B\\u0060\""
        );
        assert_eq!(
            s("\\\n\r\t\u{8}\u{c}\u{1}"),
            "\"\\\\\\n\\r\\t\\b\\f\\u0001\""
        );
        assert_eq!(s("é😀"), "\"\\u00E9\\uD83D\\uDE00\"");
    }

    #[test]
    fn raw_json_is_compacted_and_reescaped() {
        let raw = r#" { "x5t#S256" : "a<b" , "n": [1.50, -2e3, true, null], "u":"\u00e9" } "#;
        assert!(validate(raw));
        let mut o = String::new();
        write_raw(&mut o, raw);
        assert_eq!(
            o,
            r#"{"x5t#S256":"a\u003Cb","n":[1.50,-2e3,true,null],"u":"\u00E9"}"#
        );
        assert!(!validate("{"));
        assert!(!validate(&"[".repeat(100).to_string()));
    }

    #[test]
    fn doubles_like_dotnet() {
        assert_eq!(f(1.5), "1.5");
        assert_eq!(f(100.0), "100");
        assert_eq!(f(1e14), "100000000000000");
        assert_eq!(f(1e15), "1000000000000000");
        assert_eq!(f(1e16), "10000000000000000");
        assert_eq!(f(1e17), "1E+17");
        assert_eq!(f(1.2345678901234568e17), "1.2345678901234568E+17");
        assert_eq!(f(9.999e-5), "9.999E-05");
        assert_eq!(f(5e-324), "5E-324");
        assert_eq!(f(0.0001), "0.0001");
        assert_eq!(f(0.00001), "1E-05");
        assert_eq!(f(-2.5e-7), "-2.5E-07");
        assert_eq!(f(123.456), "123.456");
        assert_eq!(f(1.7976931348623157e308), "1.7976931348623157E+308");
    }
}
