//! Protect then unprotect, with every algorithm family, any purposes and any plaintext
//! (bytes and string forms): the plaintext comes back; flipping any one bit of the payload,
//! cutting it short or changing the purposes makes unprotect fail.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use reftoken::Error;
use reftoken::dataprotection::base64url_encode;
use reftoken_fuzz::{now, rings};

#[derive(Arbitrary, Debug)]
struct Input {
    ring: u8,
    purposes: Vec<String>,
    plaintext: Vec<u8>,
    text: String,
    flip_at: u16,
    flip_bit: u8,
    cut: u16,
    other_purpose: String,
}

fuzz_target!(|input: Input| {
    let rings = rings();
    let ring = &rings[input.ring as usize % rings.len()];
    let purposes: Vec<&str> = input.purposes.iter().map(String::as_str).collect();
    let payload = match ring.protect(&purposes, &input.plaintext, now()) {
        Ok(p) => p,
        Err(Error::TooLarge { .. }) => return,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(
        &*ring.unprotect(&purposes, &payload).unwrap(),
        &input.plaintext[..]
    );
    assert_eq!(
        ring.protected_len(input.plaintext.len(), now()).unwrap(),
        payload.len()
    );

    let mut t = payload.clone();
    let i = input.flip_at as usize % t.len();
    t[i] ^= 1 << (input.flip_bit % 8);
    match ring.unprotect(&purposes, &t) {
        Err(Error::UnknownKey(_)) if (4..20).contains(&i) => {}
        Err(Error::Decrypt(_)) => {}
        other => panic!("bit flip at {i}: {other:?}"),
    }
    let cut = input.cut as usize % payload.len();
    assert!(matches!(
        ring.unprotect(&purposes, &payload[..cut]),
        Err(Error::Decrypt(_))
    ));

    let mut other = purposes.clone();
    other.push(&input.other_purpose);
    match ring.unprotect(&other, &payload) {
        Err(Error::Decrypt(_)) => {}
        Err(Error::TooLarge { .. }) if other.len() > reftoken::dataprotection::MAX_PURPOSES => {}
        r => panic!("one purpose more: {:?}", r.map(|_| ())),
    }
    if purposes
        .last()
        .is_some_and(|last| **last != *input.other_purpose)
    {
        let mut changed = purposes.clone();
        *changed.last_mut().unwrap() = &input.other_purpose;
        assert!(matches!(
            ring.unprotect(&changed, &payload),
            Err(Error::Decrypt(_))
        ));
    }

    let s = ring.protect_str(&purposes, &input.text, now()).unwrap();
    assert!(s.starts_with("CfDJ8"));
    assert_eq!(&*ring.unprotect_str(&purposes, &s).unwrap(), &input.text);
    assert_eq!(
        base64url_encode(&payload).len(),
        payload.len().div_ceil(3) * 4 - (3 - payload.len() % 3) % 3
    );
});
