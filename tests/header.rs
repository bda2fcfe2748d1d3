//! The committed C header documents every item it exports.

#[test]
fn every_function_struct_and_constant_in_the_header_is_documented() {
    let header =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/include/reftoken.h"))
            .unwrap();
    let lines: Vec<&str> = header.lines().collect();
    let mut undocumented = Vec::new();
    let mut items = 0;
    for (i, line) in lines.iter().enumerate() {
        let declares = (line.starts_with("reftoken_status reftoken_")
            || line.starts_with("void reftoken_")
            || line.starts_with("bool reftoken_")
            || line.starts_with("size_t reftoken_")
            || line.starts_with("int64_t reftoken_")
            || line.starts_with("uint32_t reftoken_")
            || line.starts_with("const char *reftoken_")
            || line.starts_with("#define REFTOKEN_")
            || line.starts_with("typedef struct reftoken_")
            || line.starts_with("typedef reftoken_status (*")
            || line.starts_with("typedef bool (*"))
            && !line.starts_with("#define REFTOKEN_H");
        if !declares {
            continue;
        }
        items += 1;
        if i == 0 || lines[i - 1].trim() != "*/" {
            undocumented.push(*line);
        }
    }
    assert!(items > 80, "only {items} items found");
    assert!(undocumented.is_empty(), "undocumented: {undocumented:#?}");
}
