//! The JSON writer that matches System.Text.Json: `json::write_str` escapes any text so that
//! it reads back unchanged; `json::validate` + `json::write_raw` (embedded `json` claims,
//! confirmations, signed responses) turn valid JSON into equal compact JSON; `json::write_f64`
//! writes any finite double so that it reads back exactly.
#![no_main]

use libfuzzer_sys::fuzz_target;
use reftoken::json;

fuzz_target!(|data: &[u8]| {
    if data.len() >= 8 {
        let v = f64::from_le_bytes(data[..8].try_into().unwrap());
        let mut o = String::new();
        json::write_f64(&mut o, v);
        if v.is_finite() {
            let back: f64 = o.parse().unwrap_or_else(|e| panic!("{v:e} -> {o}: {e}"));
            assert_eq!(back.to_bits(), v.to_bits(), "{v:e} -> {o}");
        }
    }
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let mut o = String::new();
    json::write_str(&mut o, s);
    assert!(
        o.is_ascii(),
        "System.Text.Json's default encoder writes ASCII only"
    );
    let back: String = serde_json::from_str(&o).unwrap_or_else(|e| panic!("{e}: {o}"));
    assert_eq!(back, s);
    if json::validate(s) {
        let mut raw = String::new();
        json::write_raw(&mut raw, s);
        assert!(raw.is_ascii());
        // What is valid stays valid (and as deep), and means the same where serde_json can
        // hold it (it refuses numbers beyond f64, which JSON and System.Text.Json allow).
        assert!(json::validate(&raw), "{s:?} -> {raw:?}");
        let mut again = String::new();
        json::write_raw(&mut again, &raw);
        assert_eq!(again, raw, "write_raw is not stable");
        if let Ok(a) = serde_json::from_str::<serde_json::Value>(s) {
            let b: serde_json::Value =
                serde_json::from_str(&raw).unwrap_or_else(|e| panic!("{e}: {s:?} -> {raw:?}"));
            assert_eq!(a, b, "{s:?} -> {raw:?}");
        }
    }
});
