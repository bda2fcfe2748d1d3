// Generates reftoken.h from the `///` docs of src/ffi with cbindgen, beside the library it
// describes (target/<profile>/include/reftoken.h). The committed include/reftoken.h is copied
// from there only by `make header`, so a build never writes into the source tree;
// `make header-check` fails when the two differ.
fn main() {
    // The shared library's SONAME carries the ABI's major version, so that installed
    // programs keep loading a compatible library (libreftoken.so.0 -> libreftoken.so.0.1.0).
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        let major = std::env::var("CARGO_PKG_VERSION_MAJOR").expect("set by cargo");
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libreftoken.so.{major}");
        soname_link(&format!("libreftoken.so.{major}"));
    }
    println!("cargo:rerun-if-changed=src/ffi");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    let crate_dir = std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo");
    let config =
        cbindgen::Config::from_file(format!("{crate_dir}/cbindgen.toml")).expect("cbindgen.toml");
    // Only src/ffi is the C ABI; the core's public constants are Rust API, not C API.
    // cbindgen follows the `mod` items of src/ffi/mod.rs.
    let builder = cbindgen::Builder::new()
        .with_config(config)
        .with_src(format!("{crate_dir}/src/ffi/mod.rs"));
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo"));
    let include = profile_dir(&out).join("include");
    std::fs::create_dir_all(&include).expect("create target/<profile>/include");
    match builder.generate() {
        Ok(bindings) => {
            bindings.write_to_file(include.join("reftoken.h"));
        }
        Err(e) => panic!("cbindgen failed: {e}"),
    }
}

/// OUT_DIR is `<target>/<profile>/build/<pkg>-<hash>/out`: the profile directory, where cargo
/// puts the library, is three levels up.
fn profile_dir(out_dir: &std::path::Path) -> std::path::PathBuf {
    out_dir.ancestors().nth(3).unwrap_or(out_dir).to_path_buf()
}

/// Programs linked with `-Ltarget/release -lreftoken` ask the loader for the SONAME, which
/// cargo does not create: a symlink to the library beside it lets them run from the build
/// directory (with `-Wl,-rpath`) without `make install`.
fn soname_link(soname: &str) {
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo"));
    let link = profile_dir(&out).join(soname);
    if std::fs::read_link(&link).is_ok_and(|t| t == std::path::Path::new("libreftoken.so")) {
        return;
    }
    let _ = std::fs::remove_file(&link);
    #[cfg(unix)]
    if let Err(e) = std::os::unix::fs::symlink("libreftoken.so", &link) {
        println!("cargo:warning=cannot create {}: {e}", link.display());
    }
}
