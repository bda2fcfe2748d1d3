//! Instants as .NET writes them: ISO 8601 with up to seven fractional digits (100 ns ticks).

use crate::Error;

/// 100-nanosecond ticks per second, .NET's `TimeSpan.TicksPerSecond`.
pub const TICKS_PER_SECOND: i64 = 10_000_000;

/// The Unix seconds .NET's `DateTime` can hold: 0001-01-01T00:00:00Z to
/// 9999-12-31T23:59:59Z. Every time that crosses to .NET (a stored date, a creation time,
/// an introspection `now`) must lie in it.
pub const DOTNET_UNIX_SECONDS: std::ops::RangeInclusive<i64> = -62_135_596_800..=253_402_300_799;

/// .NET's `DateTime.MinValue`, 0001-01-01T00:00:00Z: also what a `DateTime` that is not in
/// the JSON is.
pub const DOTNET_MIN: Instant = Instant(-62_135_596_800 * TICKS_PER_SECOND);

/// .NET's `DateTime.MaxValue`, 9999-12-31T23:59:59.9999999Z.
pub const DOTNET_MAX: Instant = Instant(253_402_300_799 * TICKS_PER_SECOND + TICKS_PER_SECOND - 1);

/// An instant in UTC, as 100 ns ticks since 1970-01-01T00:00:00Z (negative before it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant(pub i64);

impl Instant {
    /// The instant `secs` whole seconds after the Unix epoch.
    pub fn from_unix_seconds(secs: i64) -> Self {
        Instant(secs.saturating_mul(TICKS_PER_SECOND))
    }

    /// Whole seconds since the Unix epoch, rounded down as .NET's
    /// `DateTimeOffset.ToUnixTimeSeconds()` does.
    pub fn unix_seconds(self) -> i64 {
        self.0.div_euclid(TICKS_PER_SECOND)
    }

    /// `DateTime.AddSeconds`: this instant plus `secs` seconds, or `None` where .NET throws
    /// (either instant outside [`DOTNET_MIN`]..=[`DOTNET_MAX`]).
    pub fn checked_add_seconds(self, secs: i64) -> Option<Self> {
        let range = DOTNET_MIN..=DOTNET_MAX;
        let sum = Instant(self.0.checked_add(secs.checked_mul(TICKS_PER_SECOND)?)?);
        (range.contains(&self) && range.contains(&sum)).then_some(sum)
    }

    /// This instant plus `secs` seconds (saturating; see [`Instant::checked_add_seconds`]
    /// for .NET's range).
    pub fn add_seconds(self, secs: i64) -> Self {
        Instant(self.0.saturating_add(secs.saturating_mul(TICKS_PER_SECOND)))
    }
}

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// Parses exactly what System.Text.Json's `DateTime` converter accepts (ISO 8601-1:2019
/// extended format, as `Utf8JsonReader.GetDateTime` reads it), to the instant IdentityServer
/// takes from it on a host whose local time is UTC:
///
/// - `yyyy-MM-dd`, optionally followed by `THH:mm`, then optionally `:ss`, then optionally
///   `.` and up to 16 fraction digits (the first seven are kept, as .NET does; none at all is
///   accepted when a time zone follows, as in `...:00.Z`);
/// - then `Z`, `±HH` or `±HH:mm` (at most 14:00), or nothing (local time, here UTC);
/// - `T` and `Z` upper case only; year 0 and instants outside .NET's `DateTime` range refused.
pub fn parse(s: &str) -> Result<Instant, Error> {
    let f = Fields(s);
    let bad = |why: &str| f.bad(why);
    let b = s.as_bytes();
    if !(10..=42).contains(&b.len()) {
        return Err(bad("not 10 to 42 characters"));
    }
    let digits = |from: usize, len: usize| f.digits(from, len);
    let expect = |at: usize, c: u8| f.expect(at, c);
    // The time zone designator starting at `at`, which must run to the end: the offset in
    // minutes east of UTC.
    let zone = |at: usize| -> Result<i64, Error> {
        let rest = &b[at..];
        match rest.first() {
            Some(b'Z') if rest.len() == 1 => Ok(0),
            Some(&sign @ (b'+' | b'-')) if rest.len() == 3 || rest.len() == 6 => {
                let hours = digits(at + 1, 2)?;
                let minutes = if rest.len() == 6 {
                    expect(at + 3, b':')?;
                    digits(at + 4, 2)?
                } else {
                    0
                };
                if hours > 14 || minutes > 59 || (hours == 14 && minutes != 0) {
                    return Err(bad("offset out of range"));
                }
                let m = hours * 60 + minutes;
                Ok(if sign == b'-' { -m } else { m })
            }
            _ => Err(bad("unexpected trailing characters")),
        }
    };
    let year = digits(0, 4)?;
    expect(4, b'-')?;
    let month = digits(5, 2)?;
    expect(7, b'-')?;
    let day = digits(8, 2)?;
    let (mut hour, mut minute, mut second, mut ticks, mut offset_minutes) = (0, 0, 0, 0i64, 0);
    if b.len() > 10 {
        if b.len() < 16 {
            return Err(bad("too short"));
        }
        expect(10, b'T')?;
        hour = digits(11, 2)?;
        expect(13, b':')?;
        minute = digits(14, 2)?;
        let mut i = 16;
        if b.get(i) == Some(&b':') {
            second = digits(17, 2)?;
            i = 19;
            if b.get(i) == Some(&b'.') {
                if b.len() < 21 {
                    return Err(bad("empty fraction"));
                }
                i = 20;
                let start = i;
                while i < b.len() && i - start < 16 && b[i].is_ascii_digit() {
                    if i - start < 7 {
                        ticks = ticks * 10 + i64::from(b[i] - b'0');
                    }
                    i += 1;
                }
                for _ in (i - start).min(7)..7 {
                    ticks *= 10;
                }
            }
        }
        if i < b.len() {
            offset_minutes = zone(i)?;
        }
    }
    from_fields(
        [year, month, day, hour, minute, second],
        ticks,
        offset_minutes,
    )
    .map_err(bad)
}

/// The instant of a date and time of day (`[year, month, day, hour, minute, second]`, then
/// ticks of the second) at an offset from UTC, in minutes; the error says what is wrong.
fn from_fields(f: [i64; 6], ticks: i64, offset_minutes: i64) -> Result<Instant, &'static str> {
    let [year, month, day, hour, minute, second] = f;
    if !(1..=9999).contains(&year)
        || !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return Err("field out of range");
    }
    let secs = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second
        - offset_minutes * 60;
    // .NET's DateTime range, 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.9999999Z: an offset
    // can push a date at either end outside it (System.Text.Json refuses those).
    if !DOTNET_UNIX_SECONDS.contains(&secs) {
        return Err("outside years 1 to 9999 in UTC");
    }
    Ok(Instant(secs * TICKS_PER_SECOND + ticks))
}

/// A date string read by position, with the errors both date grammars give.
struct Fields<'a>(&'a str);

impl Fields<'_> {
    fn bad(&self, why: &str) -> Error {
        Error::malformed("date", format!("{why} in {:?}", self.0))
    }

    /// `len` ASCII digits at `from` as a number.
    fn digits(&self, from: usize, len: usize) -> Result<i64, Error> {
        let part = self
            .0
            .as_bytes()
            .get(from..from + len)
            .ok_or_else(|| self.bad("too short"))?;
        if !part.iter().all(u8::is_ascii_digit) {
            return Err(self.bad("expected digits"));
        }
        Ok(part
            .iter()
            .fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0')))
    }

    /// The byte `c` at `at`.
    fn expect(&self, at: usize, c: u8) -> Result<(), Error> {
        if self.0.as_bytes().get(at) == Some(&c) {
            Ok(())
        } else {
            Err(self.bad("unexpected character"))
        }
    }
}

/// Parses an `xs:dateTime` of a key file (`yyyy-MM-ddTHH:mm:ss[.f…]` then `Z`, `±HH:MM` or
/// nothing, taken as UTC), fraction digits beyond the seventh truncated.
pub fn parse_xml(s: &str) -> Result<Instant, Error> {
    let f = Fields(s);
    let bad = |why: &str| f.bad(why);
    let b = s.as_bytes();
    let num = |from: usize, len: usize| f.digits(from, len);
    let expect = |at: usize, c: u8| f.expect(at, c);
    let (year, month, day) = (
        num(0, 4)?,
        {
            expect(4, b'-')?;
            num(5, 2)?
        },
        {
            expect(7, b'-')?;
            num(8, 2)?
        },
    );
    if b.get(10) != Some(&b'T') && b.get(10) != Some(&b't') {
        return Err(bad("expected 'T'"));
    }
    let hour = num(11, 2)?;
    expect(13, b':')?;
    let minute = num(14, 2)?;
    let mut i = 16;
    let mut second = 0;
    let mut ticks = 0i64;
    if b.get(i) == Some(&b':') {
        second = num(i + 1, 2)?;
        i += 3;
        if b.get(i) == Some(&b'.') {
            i += 1;
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                if i - start < 7 {
                    ticks = ticks * 10 + i64::from(b[i] - b'0');
                }
                i += 1;
            }
            let digits = i - start;
            if digits == 0 {
                return Err(bad("empty fraction"));
            }
            for _ in digits.min(7)..7 {
                ticks *= 10;
            }
        }
    }
    let offset_minutes = match b.get(i) {
        None => 0,
        Some(b'Z') | Some(b'z') if i + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) if i + 6 == b.len() => {
            let (oh, om) = (num(i + 1, 2)?, {
                expect(i + 3, b':')?;
                num(i + 4, 2)?
            });
            if oh > 14 || om > 59 {
                return Err(bad("offset out of range"));
            }
            let m = oh * 60 + om;
            if sign == b'-' { -m } else { m }
        }
        _ => return Err(bad("unexpected trailing characters")),
    };
    from_fields(
        [year, month, day, hour, minute, second],
        ticks,
        offset_minutes,
    )
    .map_err(bad)
}

/// Formats as System.Text.Json writes a UTC `DateTime`: `yyyy-MM-ddTHH:mm:ss[.fffffff]Z`,
/// trailing zeros of the fraction trimmed and the fraction left out when it is zero.
pub fn format(t: Instant, out: &mut String) {
    let secs = t.0.div_euclid(TICKS_PER_SECOND);
    let frac = t.0.rem_euclid(TICKS_PER_SECOND);
    let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    use std::fmt::Write;
    let _ = write!(
        out,
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    );
    if frac != 0 {
        let mut digits = format!("{frac:07}");
        while digits.ends_with('0') {
            digits.pop();
        }
        out.push('.');
        out.push_str(&digits);
    }
    out.push('Z');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(s: &str) -> String {
        let mut out = String::new();
        format(parse(s).unwrap(), &mut out);
        out
    }

    #[test]
    fn known_instants() {
        assert_eq!(parse("1970-01-01T00:00:00Z").unwrap(), Instant(0));
        // 2000-03-01 is day 11017 (a leap-year boundary).
        assert_eq!(
            parse("2000-03-01T00:00:00Z").unwrap().unix_seconds(),
            951_868_800
        );
        assert_eq!(
            parse("2024-02-29T12:34:56.5Z").unwrap().0,
            1_709_210_096 * TICKS_PER_SECOND + 5_000_000
        );
        assert_eq!(
            parse("2024-01-01T02:00:00+02:00").unwrap().unix_seconds(),
            1_704_067_200
        );
        assert_eq!(
            parse("2024-01-01T00:00:00").unwrap().unix_seconds(),
            1_704_067_200
        );
        assert_eq!(
            parse("0001-01-01T00:00:00Z").unwrap().unix_seconds(),
            -62_135_596_800
        );
    }

    #[test]
    fn formats_like_system_text_json() {
        assert_eq!(roundtrip("2024-05-06T07:08:09Z"), "2024-05-06T07:08:09Z");
        assert_eq!(
            roundtrip("2024-05-06T07:08:09.1234567Z"),
            "2024-05-06T07:08:09.1234567Z"
        );
        assert_eq!(
            roundtrip("2024-05-06T07:08:09.1200000Z"),
            "2024-05-06T07:08:09.12Z"
        );
        assert_eq!(
            roundtrip("2024-05-06T07:08:09.123456789Z"),
            "2024-05-06T07:08:09.1234567Z"
        );
        assert_eq!(
            roundtrip("2024-05-06T09:08:09+02:00"),
            "2024-05-06T07:08:09Z"
        );
    }

    #[test]
    fn reduced_forms() {
        let midnight = parse("2024-01-01T00:00:00Z").unwrap();
        for s in [
            "2024-01-01",
            "2024-01-01T00:00",
            "2024-01-01T00:00Z",
            "2024-01-01T00:00:00.Z",
            "2024-01-01T01:00+01",
            "2024-01-01T14:00:00+14",
            "2024-01-01T00:00:00.0000000000000000Z",
        ] {
            assert_eq!(parse(s).unwrap(), midnight, "{s}");
        }
    }

    #[test]
    fn dotnet_range() {
        assert_eq!(parse("9999-12-31T23:59:59.9999999Z").unwrap(), DOTNET_MAX);
        assert_eq!(DOTNET_MAX.checked_add_seconds(0), Some(DOTNET_MAX));
        assert_eq!(
            DOTNET_MAX.add_seconds(-1).checked_add_seconds(1),
            Some(DOTNET_MAX)
        );
        assert_eq!(DOTNET_MAX.checked_add_seconds(1), None);
        assert_eq!(DOTNET_MIN.checked_add_seconds(-1), None);
        assert_eq!(Instant(DOTNET_MIN.0 - 1).checked_add_seconds(1), None);
    }

    #[test]
    fn rejects_garbage() {
        for s in [
            "",
            "2024",
            "2024-13-01T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2024-01-01 00:00:00Z",
            "2024-01-01T24:00:00Z",
            "2024-01-01T00:00:00.",
            "2024-01-01T00:00:00z",
            "2024-01-01t00:00:00Z",
            "2024-01-01T00:00:00.12345678901234567Z",
            "2024-01-01T00:00:00+14:01",
            "0000-01-01T00:00:00Z",
            "2024-01-01T00:00:00Zx",
            "2024-01-01T00:00:00+1:00",
        ] {
            assert!(parse(s).is_err(), "{s}");
        }
    }
}
