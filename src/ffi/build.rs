// Generates reftoken.h from the `///` docs of this crate with cbindgen, beside the library it
// describes (target/<profile>/include/reftoken.h). The committed include/reftoken.h is copied
// from there only by `make header`, so a build never writes into the source tree;
// `make header-check` fails when the two differ.
fn main() {
    println!("cargo:rerun-if-changed=.");
    let crate_dir = std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo");
    let config =
        cbindgen::Config::from_file(format!("{crate_dir}/cbindgen.toml")).expect("cbindgen.toml");
    // Only this crate is the C ABI; the core's public constants are Rust API, not C API.
    // cbindgen follows the `mod` items of lib.rs.
    let builder = cbindgen::Builder::new()
        .with_config(config)
        .with_src(format!("{crate_dir}/lib.rs"));
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo"));
    // OUT_DIR is `<target>/<profile>/build/<pkg>-<hash>/out`: the profile directory, where
    // cargo puts the library, is three levels up.
    let include = out.ancestors().nth(3).unwrap_or(&out).join("include");
    std::fs::create_dir_all(&include).expect("create target/<profile>/include");
    match builder.generate() {
        Ok(bindings) => {
            bindings.write_to_file(include.join("reftoken.h"));
        }
        Err(e) => panic!("cbindgen failed: {e}"),
    }
}
