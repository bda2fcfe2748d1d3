#!/usr/bin/env bash
# native-static-libs.sh [--check]: the system libraries a program linking libreftoken.a needs,
# as rustc prints them. Equivalent to
#   cargo rustc --release --lib --crate-type staticlib -- --print native-static-libs
# without rebuilding the crate: it links a one-line static library against the reftoken rlib
# and the dependencies in target/release (run `make lib` first), which carry the same list.
# With --check, compares it with packaging/native-static-libs (reftoken.pc's Libs.private and the
# CMake target's INTERFACE_LINK_LIBRARIES come from that file) and fails when they differ.
set -euo pipefail
. "$(dirname "$0")/common.sh"
# The copy in deps/ is the one the dependencies there were last built with (cargo test, for
# one, rebuilds it there without refreshing target/release/libreftoken.rlib).
rlib="$BUILD/deps/libreftoken.rlib"
[ -f "$rlib" ] || rlib="$BUILD/libreftoken.rlib"
[ -f "$rlib" ] || die "no $rlib: build the library first (make lib)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
echo 'pub use reftoken::*;' >"$tmp/probe.rs"
"${RUSTC:-rustc}" --edition 2021 --crate-type staticlib --crate-name probe -C panic=unwind \
  --print native-static-libs -L "dependency=$BUILD/deps" --extern "reftoken=$rlib" \
  "$tmp/probe.rs" -o "$tmp/libprobe.a" >"$tmp/rustc.log" 2>&1 ||
  { cat "$tmp/rustc.log" >&2; die "rustc could not link a static library against $rlib (rebuild: make lib)"; }
libs="$(sed -n 's/^note: native-static-libs: //p' "$tmp/rustc.log")"
[ -n "$libs" ] || { cat "$tmp/rustc.log" >&2; die "rustc printed no native-static-libs"; }
if [ "${1:-}" = --check ]; then
  [ "$libs" = "$(native_static_libs)" ] ||
    die "libreftoken.a now needs '$libs', packaging/native-static-libs says '$(native_static_libs)': update that file"
  echo "libreftoken.a needs $libs, as packaging/native-static-libs says"
else
  echo "$libs"
fi
