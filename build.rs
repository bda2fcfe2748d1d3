// Writes include/reftoken.h from the `///` docs of src/ffi with cbindgen. The header is
// committed; CI regenerates it and fails when it differs.
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
    match builder.generate() {
        Ok(bindings) => {
            bindings.write_to_file(format!("{crate_dir}/include/reftoken.h"));
        }
        Err(e) => panic!("cbindgen failed: {e}"),
    }
}

/// Programs linked with `-Ltarget/release -lreftoken` ask the loader for the SONAME, which
/// cargo does not create: a symlink to the library beside it lets them run from the build
/// directory (with `-Wl,-rpath`) without `make install`. OUT_DIR is
/// `<target>/<profile>/build/<pkg>-<hash>/out`, so the library lands three levels up.
fn soname_link(soname: &str) {
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo"));
    let Some(profile_dir) = out.ancestors().nth(3) else { return };
    let link = profile_dir.join(soname);
    if std::fs::read_link(&link).is_ok_and(|t| t == std::path::Path::new("libreftoken.so")) {
        return;
    }
    let _ = std::fs::remove_file(&link);
    #[cfg(unix)]
    if let Err(e) = std::os::unix::fs::symlink("libreftoken.so", &link) {
        println!("cargo:warning=cannot create {}: {e}", link.display());
    }
}
