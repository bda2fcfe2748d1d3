// The shared library's SONAME carries the ABI's major version, so that installed programs
// keep loading a compatible library (libreftoken.so.0 -> libreftoken.so.0.1.0).
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        let major = std::env::var("CARGO_PKG_VERSION_MAJOR").expect("set by cargo");
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libreftoken.so.{major}");
        soname_link(&format!("libreftoken.so.{major}"));
    }
}

/// Programs linked with `-Ltarget/release -lreftoken` ask the loader for the SONAME, which
/// cargo does not create: a symlink to the library beside it lets them run from the build
/// directory (with `-Wl,-rpath`) without `make install`.
fn soname_link(soname: &str) {
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo"));
    // OUT_DIR is `<target>/<profile>/build/<pkg>-<hash>/out`: the profile directory, where
    // cargo puts the library, is three levels up.
    let link = out.ancestors().nth(3).unwrap_or(&out).join(soname);
    if std::fs::read_link(&link).is_ok_and(|t| t == std::path::Path::new("libreftoken.so")) {
        return;
    }
    let _ = std::fs::remove_file(&link);
    #[cfg(unix)]
    if let Err(e) = std::os::unix::fs::symlink("libreftoken.so", &link) {
        println!("cargo:warning=cannot create {}: {e}", link.display());
    }
}
