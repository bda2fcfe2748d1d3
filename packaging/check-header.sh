#!/usr/bin/env bash
# check-header.sh INCLUDE_DIR [LIB_DIR]
#
# Compiles reftoken.h from INCLUDE_DIR, alone and included twice, as C99 and C11 (gcc, clang)
# and as C++11 and C++17 (g++, clang++), with -Wall -Wextra -Werror -pedantic. With LIB_DIR,
# each program is also linked against LIB_DIR/libreftoken.so and run: it calls into the
# library (so a function without C linkage in C++ fails to link) and compares
# reftoken_abi_version() with REFTOKEN_ABI_VERSION. Fails on the first failure; a compiler
# that is not installed fails too, unless REFTOKEN_ALLOW_MISSING_COMPILER=1.
set -euo pipefail
. "$(dirname "$0")/common.sh"
inc="${1:?usage: check-header.sh INCLUDE_DIR [LIB_DIR]}"
libdir="${2:-}"
[ -f "$inc/reftoken.h" ] || die "no reftoken.h in $inc"
src="$ROOT/tests/install/header"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
warn=(-Wall -Wextra -Werror -pedantic)
rpath=()
if [ -n "$libdir" ]; then
  rpath=(-Wl,-rpath,"$libdir")
  # A cargo build directory has libreftoken.so but not the SONAME the programs ask for.
  major="$(reftoken_version)"; major="${major%%.*}"
  if [ ! -e "$libdir/libreftoken.so.$major" ]; then
    mkdir -p "$out/lib"
    ln -s "$(cd "$libdir" && pwd)/libreftoken.so" "$out/lib/libreftoken.so.$major"
    rpath+=(-Wl,-rpath,"$out/lib")
  fi
fi

check() { # check COMPILER STD SOURCE
  local cc="$1" std="$2" file="$3" exe="$out/${1}-${2}"
  if ! command -v "$cc" >/dev/null; then
    [ "${REFTOKEN_ALLOW_MISSING_COMPILER:-0}" = 1 ] && { echo "skip $cc -std=$std: not installed"; return 0; }
    die "$cc is not installed"
  fi
  if [ -z "$libdir" ]; then
    "$cc" -std="$std" "${warn[@]}" -I"$inc" -c "$file" -o "$exe.o" ||
      die "reftoken.h does not compile with $cc -std=$std ${warn[*]}"
    echo "ok: $cc -std=$std compiles"
    return 0
  fi
  "$cc" -std="$std" "${warn[@]}" -I"$inc" "$file" -o "$exe" -L"$libdir" -lreftoken "${rpath[@]}" ||
    die "reftoken.h does not compile or link with $cc -std=$std ${warn[*]}"
  "$exe" >"$exe.out" || die "$cc -std=$std: the program failed: $(cat "$exe.out")"
  echo "ok: $cc -std=$std compiles, links and runs ($(head -c 60 "$exe.out"))"
}

for std in c99 c11; do
  check gcc "$std" "$src/header_c.c"
  check clang "$std" "$src/header_c.c"
done
for std in c++11 c++17; do
  check g++ "$std" "$src/header_cxx.cpp"
  check clang++ "$std" "$src/header_cxx.cpp"
done
