# shellcheck shell=bash
# Shared by the packaging scripts (sourced, not run). Sets ROOT and helpers that read the
# version, ABI version and static link flags from their one source each.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck disable=SC2034  # used by the scripts that source this file
BUILD="${REFTOKEN_BUILD_DIR:-$ROOT/target/release}"

die() { echo "$(basename "$0"): $*" >&2; exit 1; }

# The package version: the `version` of [package] in Cargo.toml (x.y.z).
reftoken_version() {
  awk '/^\[/{pkg = ($0 == "[package]")} pkg && /^version *=/{gsub(/.*= *"|".*/, ""); print; exit}' "$ROOT/Cargo.toml"
}

# REFTOKEN_ABI_VERSION from a header (default: the repository's).
reftoken_abi_version() {
  sed -n 's/^#define REFTOKEN_ABI_VERSION \([0-9][0-9]*\)$/\1/p' "${1:-$ROOT/include/reftoken.h}"
}

# What a program linking libreftoken.a also needs, as rustc prints it:
#   cargo rustc --release --lib --crate-type staticlib -- --print native-static-libs
# (packaging/native-static-libs.sh prints it without a rebuild, and checks the file).
native_static_libs() {
  tr -d '\n' <"$ROOT/packaging/native-static-libs"
}

# Exported (dynamic, defined) symbols of a shared library that do not start with reftoken_.
# Prints them, one a line; empty output means the library exports only its C ABI.
foreign_exports() {
  nm -D --defined-only "$1" | awk 'NF >= 3 {print $3}' | grep -v '^reftoken_' || true
}
