//! Key files as `PersistKeysToFileSystem` leaves them: the input is written to a `.xml` file in
//! a directory of its own and loaded with `KeyRing::from_dir` and
//! `reftoken_keyring_new_from_dir` (UTF-8 with or without a byte-order mark, UTF-16 with one,
//! anything else refused). Both must agree, and agree with `KeyRing::from_xml` on the text.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use reftoken::dataprotection::KeyRing;
use reftoken_ffi::{self as ffi, reftoken_status};
use reftoken_fuzz::is_known_status;

fn dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = if std::path::Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let d = base.join(format!("reftoken-fuzz-keyring-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    })
}

fuzz_target!(|data: &[u8]| {
    let d = dir();
    std::fs::write(d.join("key-fuzz.xml"), data).unwrap();
    let path = d.to_str().unwrap();
    let mut c = std::ptr::null_mut();
    let st = unsafe {
        ffi::reftoken_keyring_new_from_dir(
            path.as_ptr().cast(),
            path.len(),
            b"app".as_ptr().cast(),
            3,
            &mut c,
        )
    };
    assert!(is_known_status(st));
    unsafe { ffi::reftoken_keyring_free(c) };
    let ring = KeyRing::from_dir(d);
    assert_eq!(ring.is_ok(), st == reftoken_status::REFTOKEN_OK);
    if let Err(e) = &ring {
        assert_eq!(st, reftoken_status::from(e), "{e}");
    }
    // A UTF-8 file (a byte-order mark allowed) reads as the same text given to `from_xml`.
    let text = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
    let utf16_bom =
        data.len() % 2 == 0 && (data.starts_with(&[0xFF, 0xFE]) || data.starts_with(&[0xFE, 0xFF]));
    if let (Ok(text), false) = (std::str::from_utf8(text), utf16_bom) {
        let from_xml = KeyRing::from_xml(&[text]);
        assert_eq!(from_xml.is_ok(), ring.is_ok());
        if let (Ok(a), Ok(b)) = (&from_xml, &ring) {
            assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
        }
    }
});
