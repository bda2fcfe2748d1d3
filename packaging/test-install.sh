#!/usr/bin/env bash
# test-install.sh: RefToken as its users get it. Needs `make lib` (and the CLI, `cargo build
# --release --locked -p reftoken-cli`, to test it too) first; builds nothing with cargo.
#
#  1. The shared library exports only reftoken_* (nm -D); the check itself refuses a library
#     that leaks another symbol.
#  2. The header compiles as C99/C11 and C++11/C++17 under gcc and clang with -Wall -Wextra
#     -Werror -pedantic, links and runs; the check itself refuses a header without extern "C"
#     and one with C-only code.
#  3. Versions agree (Cargo.toml, header, library SONAME, CHANGELOG.md); the guide quotes its
#     examples verbatim; the static link flags are still what rustc says libreftoken.a needs.
#  4. install.sh into a temporary prefix (and a DESTDIR staging), then the guide's C and C++
#     examples and examples/hello.c are built out of tree against it three ways, each run:
#     pkg-config flags against libreftoken.so, pkg-config --static against libreftoken.a, and
#     CMake find_package (reftoken::reftoken and reftoken::reftoken_static).
#  5. The Debian packages (libreftoken0, libreftoken-dev, reftoken): built with dpkg-dev's tools,
#     their contents and control files checked (and the symbols guard tried); as root, installed
#     with dpkg -i, used from the system paths (pkg-config, CMake, static, the CLI and its
#     manual page, which must document every command and option), then
#     removed with dpkg -r and purged, leaving no file behind. Skipped when not root, or when a
#     reftoken package was already installed (REFTOKEN_TEST_DEB=force removes it anyway).
#  6. With DUENDE_PACKAGES set and dotnet present: the guide's .NET host builds, runs on a
#     loopback port, issues a reference token and introspects it (active).
#
# Logs go to target/test-install/logs. Ends with "install: N passed, N failed, N skipped".
set -uo pipefail
. "$(dirname "$0")/common.sh"

work="$ROOT/target/test-install"
logs="$work/logs"
rm -rf "$work"
mkdir -p "$logs"
passed=0 failed=0 skipped=0
version="$(reftoken_version)"
major="${version%%.*}"
abi="$(reftoken_abi_version)"

# Each check runs in a subshell whose status is not tested by `if`, so that `set -e` inside
# the check functions works.
check() { # check succeed|fail NAME COMMAND...: a check whose COMMAND must succeed or fail
  local want="$1" name="$2" rc; shift 2
  ("$@") >"$logs/$name.log" 2>&1
  rc=$?
  if [ "$want" = succeed ] && [ "$rc" = 0 ]; then
    passed=$((passed + 1)); echo "ok    $name"
  elif [ "$want" = succeed ]; then
    failed=$((failed + 1)); echo "FAIL  $name (log: $logs/$name.log)"
    tail -n 25 "$logs/$name.log" | sed 's/^/      /'
  elif [ "$rc" = 0 ]; then
    failed=$((failed + 1)); echo "FAIL  $name: succeeded, should have failed (log: $logs/$name.log)"
  else
    passed=$((passed + 1)); echo "ok    $name (refused as it should)"
  fi
}
run() { check succeed "$@"; }    # run NAME COMMAND...: a check that must succeed
refuse() { check fail "$@"; }    # refuse NAME COMMAND...: a check that must fail
skip() { skipped=$((skipped + 1)); echo "skip  $1: $2"; }

[ -f "$BUILD/libreftoken.so" ] && [ -f "$BUILD/libreftoken.a" ] || die "build the library first (make lib)"
have_cli=0
if [ -x "$BUILD/reftoken" ]; then have_cli=1; else
  echo "note: $BUILD/reftoken is not built: the CLI is neither installed nor packaged nor tested"
fi

# ---------------------------------------------------------------- 1. exported symbols
run exports-only-reftoken "$ROOT/packaging/check-exports.sh" "$BUILD/libreftoken.so"
fake_lib() { # fake_lib NAME C-SOURCE: a shared library to feed the checks
  printf '%s\n' "$2" >"$work/$1.c"
  cc -shared -fPIC -o "$work/$1.so" "$work/$1.c"
}
check_leaky_lib() {
  fake_lib leaky 'int reftoken_ok(void) { return 0; } int helper_leaked(void) { return 1; }' &&
    "$ROOT/packaging/check-exports.sh" "$work/leaky.so"
}
refuse exports-check-refuses-a-leaked-symbol check_leaky_lib
check_clean_lib() {
  fake_lib clean 'int reftoken_ok(void) { return 0; } static int helper(void) { return 1; } int reftoken_two(void) { return helper(); }' &&
    "$ROOT/packaging/check-exports.sh" "$work/clean.so"
}
run exports-check-accepts-reftoken-only check_clean_lib

# ---------------------------------------------------------------- 2. the header as C and C++
run header-c-and-cxx "$ROOT/packaging/check-header.sh" "$ROOT/include" "$BUILD"
broken_header() { # broken_header NAME SED-SCRIPT: include/reftoken.h, edited, in $work/NAME/
  mkdir -p "$work/$1" && sed "$2" "$ROOT/include/reftoken.h" >"$work/$1/reftoken.h" &&
    ! cmp -s "$ROOT/include/reftoken.h" "$work/$1/reftoken.h"
}
check_no_extern_c() {
  broken_header no-extern-c '/^extern "C" {$/d; /^}  \/\/ extern "C"$/d' &&
    "$ROOT/packaging/check-header.sh" "$work/no-extern-c" "$BUILD"
}
refuse header-check-refuses-missing-extern-c check_no_extern_c
check_c_only() {
  broken_header c-only 's|^#endif  /\* REFTOKEN_H \*/$|static inline int *reftoken_c_only(void *p) { return p; }\n&|' &&
    "$ROOT/packaging/check-header.sh" "$work/c-only"
}
refuse header-check-refuses-c-only-code check_c_only

# ---------------------------------------------------------------- 3. versions, guide
run versions-agree "$ROOT/packaging/check-versions.sh" "$BUILD/libreftoken.so"
run guide-quotes-examples-verbatim "$ROOT/packaging/check-docs.sh"
run static-link-flags-are-rustcs "$ROOT/packaging/native-static-libs.sh" --check

# ---------------------------------------------------------------- 4. install into a prefix
prefix="$work/prefix"
lib="$prefix/lib"
run install-into-prefix "$ROOT/packaging/install.sh" "$prefix"
check_layout() {
  set -e
  [ "$(readlink "$lib/libreftoken.so")" = "libreftoken.so.$major" ]
  [ "$(readlink "$lib/libreftoken.so.$major")" = "libreftoken.so.$version" ]
  [ -f "$lib/libreftoken.so.$version" ]
  [ ! -L "$lib/libreftoken.so.$version" ]
  readelf -d "$lib/libreftoken.so.$version" | grep -F "Library soname: [libreftoken.so.$major]"
  "$ROOT/packaging/check-exports.sh" "$lib/libreftoken.so.$version"
  cmp "$prefix/include/reftoken.h" "$ROOT/include/reftoken.h"
  # Stripped by default: no debug information, and the sizes users download and map.
  local bins=("$lib/libreftoken.so.$version" "$lib/libreftoken.a")
  [ "$have_cli" = 1 ] && bins+=("$prefix/bin/reftoken")
  for f in "${bins[@]}"; do
    if readelf -S -W "$f" | grep -F .debug_info; then echo "$f is not stripped"; exit 1; fi
  done
  [ "$(stat -c %s "$lib/libreftoken.so.$version")" -lt $((6 * 1024 * 1024)) ]
  if [ "$have_cli" = 1 ]; then [ "$(stat -c %s "$prefix/bin/reftoken")" -lt $((10 * 1024 * 1024)) ]; fi
  ls -l "${bins[@]}" "$BUILD/libreftoken.so" "$BUILD/libreftoken.a"
  [ -f "$lib/cmake/reftoken/reftoken-config.cmake" ]
  [ -f "$lib/cmake/reftoken/reftoken-config-version.cmake" ]
  [ "$(PKG_CONFIG_PATH="$lib/pkgconfig" pkg-config --modversion reftoken)" = "$version" ]
  [ "$(PKG_CONFIG_PATH="$lib/pkgconfig" pkg-config --variable=abi_version reftoken)" = "$abi" ]
  PKG_CONFIG_PATH="$lib/pkgconfig" pkg-config --static --libs reftoken | grep -F -- "$(native_static_libs)"
  if [ "$have_cli" = 1 ]; then [ -x "$prefix/bin/reftoken" ]; fi
}
run installed-layout check_layout
check_destdir() {
  set -e
  "$ROOT/packaging/install.sh" --libdir lib/x86_64-linux-gnu /opt/reftoken "$work/stage"
  [ -f "$work/stage/opt/reftoken/lib/x86_64-linux-gnu/libreftoken.so.$version" ]
  [ -f "$work/stage/opt/reftoken/include/reftoken.h" ]
  grep -Fx "prefix=/opt/reftoken" "$work/stage/opt/reftoken/lib/x86_64-linux-gnu/pkgconfig/reftoken.pc"
  grep -Fx 'libdir=${prefix}/lib/x86_64-linux-gnu' "$work/stage/opt/reftoken/lib/x86_64-linux-gnu/pkgconfig/reftoken.pc"
  if grep -rF "$work/stage" "$work/stage/opt/reftoken/lib/x86_64-linux-gnu/pkgconfig" "$work/stage/opt/reftoken/lib/x86_64-linux-gnu/cmake"; then
    echo "DESTDIR leaked into the installed files"; exit 1
  fi
}
run install-destdir-and-libdir check_destdir
check_debug_symbols() { # --debug-dir keeps what stripping removed, where gdb finds it by build id
  set -e
  local p="$work/prefix-dbg" id so
  "$ROOT/packaging/install.sh" --debug-dir "$p/lib/debug" "$p"
  so="$p/lib/libreftoken.so.$version"
  id="$(readelf -n "$so" | sed -n 's/^ *Build ID: *\([0-9a-f]*\)$/\1/p')"
  [ "$id" = "$(readelf -n "$BUILD/libreftoken.so" | sed -n 's/^ *Build ID: *\([0-9a-f]*\)$/\1/p')" ]
  readelf -S -W "$p/lib/debug/.build-id/${id:0:2}/${id:2}.debug" | grep -F .debug_info
  readelf -S -W "$so" | grep -F .gnu_debuglink
  if readelf -S -W "$so" | grep -F .debug_info; then exit 1; fi
  gdb -nx -batch -iex "set debug-file-directory $p/lib/debug" -ex 'info line reftoken_handle_new' "$so" |
    tee "$work/gdb-line.out"
  grep -E '^Line [0-9]+ of "src/ffi/' "$work/gdb-line.out"
  if [ "$have_cli" = 1 ]; then
    id="$(readelf -n "$p/bin/reftoken" | sed -n 's/^ *Build ID: *\([0-9a-f]*\)$/\1/p')"
    readelf -S -W "$p/lib/debug/.build-id/${id:0:2}/${id:2}.debug" | grep -F .debug_info
  fi
}
run install-keeps-debug-symbols-by-build-id check_debug_symbols
check_no_strip() {
  set -e
  "$ROOT/packaging/install.sh" --no-strip "$work/prefix-nostrip"
  cmp "$work/prefix-nostrip/lib/libreftoken.so.$version" "$BUILD/libreftoken.so"
  cmp "$work/prefix-nostrip/lib/libreftoken.a" "$BUILD/libreftoken.a"
}
run install-no-strip-keeps-the-build check_no_strip

# What each example prints when it works.
expect() {
  case "$1" in
    issuer) echo 'Type         reference_token' ;;
    validator) echo "alice's token after revocation: unknown handle" ;;
    dataprotection) echo 'protected "hello" as CfDJ8' ;;
    lookup_callback) echo "bob's token with the store down: REFTOKEN_IO_ERROR (cannot reach the grants database)" ;;
    *) echo '"active":true' ;;
  esac
}
examples=()
for f in "$ROOT"/docs/examples/*.c "$ROOT"/docs/examples/*.cpp "$ROOT/examples/hello.c"; do examples+=("$f"); done

build_and_run() { # build_and_run shared|static PC_PATH OUT_DIR SOURCE
  local kind="$1" pcpath="$2" out="$3" src="$4" name cc std flags libs
  name="$(basename "${src%.*}")"
  case "$src" in
    *.cpp) name="${name}_cpp"; if [ "$kind" = shared ]; then cc=g++ std=c++11; else cc=clang++ std=c++17; fi ;;
    *) if [ "$kind" = shared ]; then cc=gcc std=c99; else cc=clang std=c11; fi ;;
  esac
  [ "$src" = "$ROOT/examples/hello.c" ] && name="readme_hello"
  export PKG_CONFIG_PATH="$pcpath"
  flags="$(pkg-config --cflags reftoken)"
  if [ "$kind" = shared ]; then
    libs="$(pkg-config --libs reftoken) -Wl,-rpath,$(pkg-config --variable=libdir reftoken)"
  else
    libs="$(pkg-config --static --libs reftoken | sed 's/-lreftoken/-l:libreftoken.a/')"
  fi
  mkdir -p "$out"
  set -x
  # shellcheck disable=SC2086
  "$cc" -std="$std" -Wall -Wextra -Werror -pedantic $flags "$src" -o "$out/$name" $libs || return 1
  { set +x; } 2>/dev/null
  if [ "$kind" = static ]; then
    if readelf -d "$out/$name" | grep -F libreftoken; then echo "$name links libreftoken.so"; return 1; fi
  else
    readelf -d "$out/$name" | grep -F "[libreftoken.so.$major]" || return 1
  fi
  (cd "$out" && "./$name") >"$out/$name.out" 2>&1 || { cat "$out/$name.out"; return 1; }
  cat "$out/$name.out"
  grep -F -- "$(expect "${name%_cpp}")" "$out/$name.out" >/dev/null
}
for src in "${examples[@]}"; do
  n="$(basename "${src%.*}")"; [ "${src##*.}" = cpp ] && n="${n}-cpp"; [ "$src" = "$ROOT/examples/hello.c" ] && n=readme-hello
  run "pkg-config-shared-$n" build_and_run shared "$lib/pkgconfig" "$work/pc-shared" "$src"
  run "pkg-config-static-$n" build_and_run static "$lib/pkgconfig" "$work/pc-static" "$src"
done

cmake_consumer() { # cmake_consumer BUILD_DIR PREFIX|"" CONFIG_DIR: tests/install built, run with ctest
  set -e
  cmake -S "$ROOT/tests/install" -B "$1" -DREFTOKEN_EXAMPLES="$ROOT/docs/examples" ${2:+-DCMAKE_PREFIX_PATH="$2"} | tee "$1.configure"
  grep -F "reftoken $version, ABI $abi, from $3" "$1.configure"
  cmake --build "$1" -j 2
  ctest --test-dir "$1" --output-on-failure
  for t in "$1"/*_static; do
    if readelf -d "$t" | grep -F libreftoken; then echo "$t links libreftoken.so"; exit 1; fi
  done
}
run cmake-find-package-shared-and-static cmake_consumer "$work/cmake" "$prefix" "$lib/cmake/reftoken"
run installed-header-c-and-cxx "$ROOT/packaging/check-header.sh" "$prefix/include" "$lib"
check_cli() {
  set -e
  h="$("$1" handle)"
  [[ "$h" =~ ^[0-9A-F]{64}-1$ ]]
  [ "$("$1" key "$h")" = "$(printf '%s' "$h" | "$1" key)" ]
  [ "$("$1" --version)" = "reftoken $version" ]
}
if [ "$have_cli" = 1 ]; then run installed-cli check_cli "$prefix/bin/reftoken"; fi

# ---------------------------------------------------------------- 5. the Debian packages
if [ "$have_cli" = 1 ]; then run manpage-documents-the-cli "$ROOT/packaging/check-manpage.sh" "$BUILD/reftoken"; fi
build_deb() {
  set -e
  local opt=()
  [ "$have_cli" = 1 ] || opt=(--no-cli)
  # gzip: faster than the default xz, and the same package otherwise.
  REFTOKEN_DEB_COMPRESSION=gzip "$ROOT/packaging/deb.sh" "${opt[@]}" "$work/deb" | tee "$work/deb.out"
}
run deb-build build_deb
mapfile -t debs < <(grep '\.deb$' "$work/deb.out" 2>/dev/null | grep '^/')
pkgs=("libreftoken$major" libreftoken-dev "libreftoken$major-dbgsym")
[ "$have_cli" = 1 ] && pkgs+=(reftoken reftoken-dbgsym)
ma="$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)"
sys_lib="/usr/lib/$ma"
deb_of() { printf '%s\n' "${debs[@]}" | grep "/${1}_"; }
check_deb_contents() { # check_deb_contents PACKAGE PATH...: its control fields and files
  set -e
  local pkg="$1" deb p; shift
  deb="$(deb_of "$pkg")"
  [ -f "$deb" ]
  [ "$(dpkg-deb -f "$deb" Package)" = "$pkg" ]
  [ "$(dpkg-deb -f "$deb" Version)" = "$version-1" ]
  dpkg-deb -f "$deb" Depends
  dpkg-deb -c "$deb" | tee "$work/$pkg.contents"
  for p in "$@" "./usr/share/doc/$pkg/copyright" "./usr/share/doc/$pkg/changelog.Debian.gz"; do
    grep -F -- " $p" "$work/$pkg.contents" >/dev/null || { echo "missing from $pkg: $p"; exit 1; }
  done
}
run deb-contents-library check_deb_contents "libreftoken$major" \
  "./usr/lib/$ma/libreftoken.so.$version" "./usr/lib/$ma/libreftoken.so.$major -> libreftoken.so.$version"
run deb-contents-dev check_deb_contents libreftoken-dev \
  "./usr/lib/$ma/libreftoken.so -> libreftoken.so.$major" "./usr/lib/$ma/libreftoken.a" ./usr/include/reftoken.h \
  "./usr/lib/$ma/pkgconfig/reftoken.pc" "./usr/lib/$ma/cmake/reftoken/reftoken-config.cmake" \
  ./usr/share/doc/libreftoken-dev/guide.md
if [ "$have_cli" = 1 ]; then
  run deb-contents-cli check_deb_contents reftoken ./usr/bin/reftoken ./usr/share/man/man1/reftoken.1.gz
fi
check_dbgsym() { # check_dbgsym PACKAGE BINARY-IN-DEB: the -dbgsym package holds BINARY's symbols
  set -e
  local dir="$work/dbgsym-$1" id
  rm -rf "$dir"; mkdir -p "$dir"
  dpkg-deb -x "$(deb_of "$1")" "$dir"
  dpkg-deb -x "$(deb_of "$1-dbgsym")" "$dir"
  [ "$(dpkg-deb -f "$(deb_of "$1-dbgsym")" Depends)" = "$1 (= $version-1)" ]
  id="$(readelf -n "$dir/$2" | sed -n 's/^ *Build ID: *\([0-9a-f]*\)$/\1/p')"
  if readelf -S -W "$dir/$2" | grep -F .debug_info; then echo "$2 is not stripped"; exit 1; fi
  readelf -S -W "$dir/usr/lib/debug/.build-id/${id:0:2}/${id:2}.debug" | grep -F .debug_info
}
run deb-dbgsym-library check_dbgsym "libreftoken$major" "usr/lib/$ma/libreftoken.so.$version"
if [ "$have_cli" = 1 ]; then run deb-dbgsym-cli check_dbgsym reftoken usr/bin/reftoken; fi
check_deb_control() {
  set -e
  local deb
  deb="$(deb_of "libreftoken$major")"
  dpkg-deb --ctrl-tarfile "$deb" | tar -tf - | sort | tr '\n' ' ' | grep -F './shlibs ./symbols ./triggers'
  dpkg-deb --ctrl-tarfile "$deb" | tar -xOf - ./shlibs | grep -Fx "libreftoken $major libreftoken$major (>= $version)"
  dpkg-deb --ctrl-tarfile "$deb" | tar -xOf - ./symbols | grep -F ' reftoken_abi_version@Base '
  [ "$(dpkg-deb -f "$(deb_of libreftoken-dev)" Depends)" = "libreftoken$major (= $version-1)" ]
}
run deb-library-control-files check_deb_control
check_symbols_guard() { # a symbol released before and missing now must stop deb.sh
  set -e
  { cat "$ROOT/packaging/debian/libreftoken$major.symbols"; echo ' reftoken_released_then_removed@Base 0.0.1'; } >"$work/lost.symbols"
  REFTOKEN_SYMBOLS_FILE="$work/lost.symbols" "$ROOT/packaging/deb.sh" --no-cli "$work/deb-lost"
}
if [ -f "$ROOT/packaging/debian/libreftoken$major.symbols" ]; then
  refuse deb-build-refuses-a-lost-symbol check_symbols_guard
fi

deb_installed() { # any of our packages
  local p
  for p in libreftoken$major libreftoken-dev reftoken libreftoken$major-dbgsym reftoken-dbgsym; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q ' installed$' && return 0
  done
  return 1
}
if [ "$(id -u)" != 0 ]; then
  skip deb-install-and-remove "not root"
elif deb_installed && [ "${REFTOKEN_TEST_DEB:-}" != force ]; then
  skip deb-install-and-remove "reftoken packages are installed already (REFTOKEN_TEST_DEB=force replaces and removes them)"
elif [ "${#debs[@]}" -lt 2 ]; then
  failed=$((failed + 1)); echo "FAIL  deb-install-and-remove: the packages were not built"
else
  trap 'dpkg -P reftoken-dbgsym libreftoken$major-dbgsym reftoken libreftoken-dev libreftoken$major >/dev/null 2>&1 || true' EXIT
  run deb-install dpkg -i "${debs[@]}"
  check_system_install() {
    set -e
    for p in "${pkgs[@]}"; do dpkg-query -W -f='${Status}\n' "$p" | grep -Fx 'install ok installed'; done
    ldconfig -p | grep -F "libreftoken.so.$major "
    unset PKG_CONFIG_PATH
    [ "$(pkg-config --modversion reftoken)" = "$version" ]
    [ "$(pkg-config --variable=pcfiledir reftoken)" = "$sys_lib/pkgconfig" ]
    "$ROOT/packaging/check-exports.sh" "$sys_lib/libreftoken.so.$version"
    # gdb finds the -dbgsym package's symbols by build id, with no configuration.
    gdb -nx -batch -ex 'info line reftoken_handle_new' "$sys_lib/libreftoken.so.$version" | grep -E '^Line [0-9]+ of "src/ffi/'
    mkdir -p "$work/sys"
    # No -I, -L or rpath: the system paths and ld.so.cache find everything.
    # shellcheck disable=SC2046  # pkg-config's output is a list of flags
    cc -std=c99 -Wall -Wextra -Werror -pedantic "$ROOT/examples/hello.c" $(pkg-config --cflags --libs reftoken) -o "$work/sys/hello"
    readelf -d "$work/sys/hello" | grep -F "[libreftoken.so.$major]"
    if readelf -d "$work/sys/hello" | grep -E 'RPATH|RUNPATH'; then exit 1; fi
    "$work/sys/hello" | grep -F '"active":true'
    # shellcheck disable=SC2046
    c++ -std=c++11 -Wall -Wextra -Werror -pedantic "$ROOT/docs/examples/hello.cpp" \
      $(pkg-config --static --libs reftoken | sed 's/-lreftoken/-l:libreftoken.a/') -o "$work/sys/hello_cpp_static"
    if readelf -d "$work/sys/hello_cpp_static" | grep -F libreftoken; then exit 1; fi
    "$work/sys/hello_cpp_static" | grep -F '"active":true'
    if [ "$have_cli" = 1 ]; then
      check_cli /usr/bin/reftoken
      [ -f /usr/share/man/man1/reftoken.1.gz ]
    fi
  }
  run deb-system-install-works check_system_install
  run deb-cmake-find-package-from-system cmake_consumer "$work/cmake-sys" "" "$sys_lib/cmake/reftoken"
  for p in "${pkgs[@]}"; do dpkg-query -L "$p"; done >"$work/deb.files" 2>/dev/null
  run deb-remove dpkg -r "${pkgs[@]}"
  check_removed() {
    set -e
    if deb_installed; then echo "still installed"; exit 1; fi
    grep -F "/libreftoken.so.$version" "$work/deb.files"
    while read -r f; do
      if [ -e "$f" ] || [ -L "$f" ]; then [ -d "$f" ] && [ ! -L "$f" ] && continue; echo "left behind: $f"; exit 1; fi
    done <"$work/deb.files"
    for d in /usr/share/doc/libreftoken$major /usr/share/doc/libreftoken-dev /usr/share/doc/reftoken "$sys_lib/cmake/reftoken"; do
      if [ -e "$d" ]; then echo "left behind: $d"; exit 1; fi
    done
    if ldconfig -p | grep -F libreftoken; then echo "ld.so.cache still has libreftoken"; exit 1; fi
    dpkg -P "${pkgs[@]}"
    for p in "${pkgs[@]}"; do
      if dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -v 'not-installed$' | grep .; then
        echo "dpkg still knows $p"; exit 1
      fi
    done
  }
  run deb-removed-and-purged-cleanly check_removed
  trap - EXIT
fi

# ---------------------------------------------------------------- 6. the .NET host example
dotnet_host() { # builds the guide's host, runs it on loopback, issues and introspects a token
  set -e
  dotnet build "$ROOT/docs/examples/dotnet-host" -c Release --nologo -v quiet \
    --artifacts-path "$work/dotnet" -p:DUENDE_PACKAGES="$DUENDE_PACKAGES"
  command -v curl >/dev/null || { echo "built; not run: no curl"; return 0; }
  local dir="$work/dotnet/bin/DotnetHost/release" port=$((20000 + RANDOM % 20000)) token
  mkdir -p "$work/dotnet-keys"
  (cd "$dir" && exec timeout 120 dotnet DotnetHost.dll --urls "http://127.0.0.1:$port" \
    --KeyRingDirectory "$work/dotnet-keys") >"$work/dotnet-host.log" 2>&1 &
  host_pid=$!   # not local: the EXIT trap runs after the function returns
  trap 'kill "$host_pid" 2>/dev/null && wait "$host_pid" 2>/dev/null; true' EXIT
  for _ in $(seq 1 60); do
    grep -q 'Now listening on' "$work/dotnet-host.log" && break
    kill -0 "$host_pid" 2>/dev/null || { cat "$work/dotnet-host.log"; exit 1; }
    sleep 0.5
  done
  token="$(curl -sf -u client1:client1-secret -d 'grant_type=client_credentials&scope=api1.read' \
    "http://127.0.0.1:$port/connect/token" | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')"
  echo "reference token: $token"
  [[ "$token" =~ ^[0-9A-F]{64}-1$ ]]
  curl -sf -u api1:api1-secret -d "token=$token" "http://127.0.0.1:$port/connect/introspect" >"$work/dotnet-introspection.json"
  cat "$work/dotnet-introspection.json"; echo
  grep -F '"active":true' "$work/dotnet-introspection.json" >/dev/null
  ls "$work/dotnet-keys"/key-*.xml
}
if [ -n "${DUENDE_PACKAGES:-}" ] && command -v dotnet >/dev/null; then
  run dotnet-host-example-builds-and-runs dotnet_host
else
  skip dotnet-host-example-builds-and-runs "needs dotnet and DUENDE_PACKAGES (the Duende IdentityServer packages)"
fi

echo "install: $passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
