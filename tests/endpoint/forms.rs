//! Form bodies and content types, read as ASP.NET Core reads them (one failure per input).

use reftoken::endpoint::{Form, FormContentType, ParamError, TokenTypeHint};

use crate::common::check_all;

use super::*;

fn form_bodies() -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = [
        &b"token=abc"[..],
        b"token=abc&token=def",
        b"token=abc&token=",
        b"token=&token=abc",
        b"token=%20&token=abc",
        b"Token=abc&TOKEN=def",
        b"a&token=x",
        b"token",
        b"token&token=y",
        b"=x&token=y",
        b"&&token=y&&",
        b"&",
        b"=",
        b"==",
        b"token==x",
        b"token=a=b",
        b"token=a+b%2Bc",
        b"token=%FF%41",
        b"token=\xff\xfeA",
        b"token=\xe2\x82&x=1",
        b"token=%E2%82%AC%e2%82%ac",
        b"token=%E2%82%E2%82%AC",
        b"token=%C0%80%ED%A0%80%F4%90%80%80",
        b"token=%F0%9F%98%80",
        b"token=a%&b=%2&c=%%41&d=%G1",
        b"token=%00",
        b"x=%00&token=a",
        b"token=a\x00b",
        b"token=%01%1F%7F",
        b"token=%0D%0A",
        b"token=\t",
        b"token=%C2%A0",
        b"token=+",
        b"token=++x++",
        b"token+=abc",
        b"%74oken=abc",
        b"clIent_id=x",
        b"cl\xc4\xb1ent_id=x",
        b"client_\xc5\xbfecret=x&client_id=y",
        b"client_id=&client_id=api1&client_secret=s",
        b"client_id=api1&client_secret=&client_secret=s",
        b"client_id=+&client_secret=s",
        b"client_id=a%2Bb&client_secret=c+d",
        b"token=x&token_type_hint=access_token",
        b"token=x&token_type_hint=refresh_token",
        b"token=x&token_type_hint=ACCESS_TOKEN",
        b"token=x&token_type_hint=bogus",
        b"token=x&token_type_hint=access_token&token_type_hint=refresh_token",
        b"token=x&token_type_hint=&token_type_hint=refresh_token",
        b"token_type_hint=a&token_type_hint=b",
        b"",
    ]
    .iter()
    .map(|b| b.to_vec())
    .collect();
    v.push(format!("client_id={}&client_secret=s", "i".repeat(101)).into_bytes());
    v.push(format!("client_id=id&client_secret={}", "😀".repeat(51)).into_bytes());
    v.push(format!("{}=v", "k".repeat(2048)).into_bytes());
    v.push(format!("{}=v", "k".repeat(2049)).into_bytes());
    v.push(format!("{}=v", "%41".repeat(700)).into_bytes());
    v.push(vec!["a=b"; 1024].join("&").into_bytes());
    v.push(vec!["a=b"; 1025].join("&").into_bytes());
    v.push(format!("token={}", "A".repeat(60_000)).into_bytes());
    v
}

/// The form grouped by key as ASP.NET Core's collection does (these bodies use ASCII keys,
/// or non-ASCII keys that no other key folds to).
fn grouped(form: &Form) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for (k, v) in form.pairs() {
        match out.iter_mut().find(|(key, _)| key.eq_ignore_ascii_case(k)) {
            Some((_, vals)) => vals.push(v.to_owned()),
            None => out.push((k.to_owned(), vec![v.to_owned()])),
        }
    }
    out
}

#[test]
fn form_bodies_match_aspnetcore() {
    let bodies = form_bodies();
    let ops: Vec<Value> = bodies
        .iter()
        .map(|b| json!({"op": "form", "body_b64": STANDARD.encode(b)}))
        .collect();
    let results = oracle(&ops);
    let (mut compared, mut repeated) = (0, 0);
    let shown = |body: &[u8]| String::from_utf8_lossy(&body[..body.len().min(60)]).into_owned();
    let cases = bodies.iter().zip(&results);
    check_all(
        cases.map(|(b, r)| (format!("{:?}", shown(b)), (b, r))),
        |(body, r)| {
            let ours = Form::parse(body);
            if r["ok"] == false {
                let e = ours.expect_err(&format!("ASP.NET Core fails ({r}), RefToken reads it"));
                let net = s(&r["error"]).unwrap();
                assert!(net.contains("InvalidDataException"), "{net} / {e}");
                return;
            }
            let form = ours.unwrap_or_else(|e| panic!("{e}"));
            let want: Vec<(String, Vec<String>)> =
                serde_json::from_value(r["fields"].clone()).unwrap();
            assert_eq!(grouped(&form), want);
            assert_eq!(form.first("client_id"), s(&r["client_id"]));
            assert_eq!(form.first("client_secret"), s(&r["client_secret"]));
            let params = endpoint::introspection_params(&form);
            let non_blank = |name: &str| -> Vec<&str> {
                form.values(name)
                    .filter(|v| !v.chars().all(char::is_whitespace))
                    .collect()
            };
            match (&params, s(&r["token"])) {
                (Ok(p), Some(t)) => assert_eq!(p.token.as_str(), t),
                (Err(ParamError::MissingToken), None) => {}
                (Err(ParamError::Repeated(name)), _) => {
                    // RefToken refuses what .NET joins with ",".
                    let values = non_blank(name);
                    assert!(values.len() > 1);
                    assert_eq!(s(&r[*name]), Some(values.join(",").as_str()));
                    repeated += 1;
                }
                (p, t) => panic!("RefToken {p:?}, .NET token {t:?}"),
            }
            if let Ok(p) = &params {
                let hint = s(&r["token_type_hint"]);
                let want = match hint {
                    Some("access_token") => Some(TokenTypeHint::AccessToken),
                    Some("refresh_token") => Some(TokenTypeHint::RefreshToken),
                    _ => None,
                };
                assert_eq!(p.token_type_hint, want);
            }
            compared += 1;
        },
    );
    assert!(
        compared >= 50 && repeated >= 3,
        "compared {compared}, repeated {repeated}"
    );
}

#[test]
fn content_types_match_aspnetcore() {
    let cts = [
        "application/x-www-form-urlencoded",
        "application/x-www-form-urlencoded; charset=utf-8",
        "application/x-www-form-urlencoded; charset=UTF8",
        "Application/X-WWW-Form-URLencoded ; charset=\"UTF-8\"",
        " application/x-www-form-urlencoded ",
        "\tapplication/x-www-form-urlencoded",
        "application /x-www-form-urlencoded",
        "application/ x-www-form-urlencoded",
        "application/x-www-form-urlencoded;",
        "application/x-www-form-urlencoded;;",
        "application/x-www-form-urlencoded; charset",
        "application/x-www-form-urlencoded; charset=",
        "application/x-www-form-urlencoded; charset=\"\"",
        "application/x-www-form-urlencoded ;charset=utf-8 ; ",
        "application/x-www-form-urlencoded;=x",
        "application/x-www-form-urlencoded; a=\"b\\\"c\"",
        "application/x-www-form-urlencoded; a=\"unterminated",
        "application/x-www-form-urlencoded\r\n ; a=b",
        "application/x-www-form-urlencoded;a=b;a=c",
        "application/x-www-form-urlencoded; a = b",
        "application/x-www-form-urlencoded; a=b c",
        "application/x-www-form-urlencoded; a=b,c",
        "application/x-www-form-urlencoded; a=é",
        "application/x-www-form-urlencoded, text/plain",
        "application/x-www-form-urlencoded/x",
        "application/x-www-form-urlencoded\u{a0}",
        "application/x-www-form-urlencoded\tx",
        "application/x-www-form-urlencoded; charset=iso-8859-1",
        "application/x-www-form-urlencoded; charset=\"us-ascii\"",
        "application/json",
        "multipart/form-data; boundary=x",
        "application/*",
        "",
    ];
    check_with_oracle(
        &cts,
        |c| json!({"op": "media_type", "content_type": c}),
        |ct, r| {
            let ours = endpoint::form_content_type(ct);
            assert_eq!(
                ours != FormContentType::NotForm,
                r["is_form"] == true,
                "{r}"
            );
            if ours == FormContentType::OtherCharset {
                let charset = s(&r["charset"])
                    .unwrap()
                    .trim_matches('"')
                    .to_ascii_lowercase();
                assert!(charset != "utf-8" && !charset.is_empty());
            }
        },
    );
}
