//! Dates as System.Text.Json writes and reads them (`CreationTime`, key-ring dates): whatever
//! `instant::parse` accepts, `instant::format` writes in a form that parses to the same
//! instant, and formatting is stable.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reftoken::instant;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(t) = instant::parse(s) {
        let mut out = String::new();
        instant::format(t, &mut out);
        let back = instant::parse(&out).unwrap_or_else(|e| panic!("{s:?} -> {out:?}: {e}"));
        assert_eq!(back, t, "{s:?} -> {out:?}");
        let mut again = String::new();
        instant::format(back, &mut again);
        assert_eq!(again, out);
        let _ = t.unix_seconds();
        let _ = t.add_seconds(i64::from(i32::MAX));
    }
});
