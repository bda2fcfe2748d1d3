#!/usr/bin/env bash
# install.sh [options] PREFIX [DESTDIR]
#
# Installs what `cargo build --release` left in target/release (run `make lib` first):
#
#   LIBDIR/libreftoken.so.X.Y.Z            the shared library (SONAME libreftoken.so.X)
#   LIBDIR/libreftoken.so.X -> libreftoken.so.X.Y.Z
#   LIBDIR/libreftoken.so   -> libreftoken.so.X          (for -lreftoken)
#   LIBDIR/libreftoken.a                    the static library
#   LIBDIR/pkgconfig/reftoken.pc            pkg-config (static flags in Libs.private)
#   LIBDIR/cmake/reftoken/*.cmake           find_package(reftoken CONFIG): reftoken::reftoken,
#                                           reftoken::reftoken_static
#   PREFIX/include/reftoken.h
#   BINDIR/reftoken                         the CLI, when target/release/reftoken exists
#   PREFIX/share/man/man1/reftoken.1        its manual page
#   PREFIX/share/doc/reftoken/              README.md, CHANGELOG.md, guide.md, examples/
#
# X.Y.Z is the version in Cargo.toml. LIBDIR defaults to PREFIX/lib (the Debian package uses
# PREFIX/lib/<multiarch>, e.g. /usr/lib/x86_64-linux-gnu). Files go to DESTDIR/PREFIX/...;
# the .pc and CMake files name PREFIX, not DESTDIR (staged installs, packaging).
#
# Options:
#   --libdir DIR   absolute, or relative to PREFIX (default: lib)
#   --bindir DIR   absolute, or relative to PREFIX (default: bin)
#   --no-strip     install the binaries as cargo built them, with their debug information
#                  (by default the shared library and the CLI are stripped, --strip-unneeded,
#                  and the static library loses its debug information)
#   --debug-dir DIR  also keep the stripped debug information, one file per binary, as
#                  DIR/.build-id/NN/REST.debug (the layout gdb and debuginfod look up by
#                  build id; /usr/lib/debug is gdb's default, another DIR needs
#                  `set debug-file-directory DIR`). DIR is absolute, under DESTDIR.
#   --no-cli       do not install the CLI even when it was built
#   --require-cli  fail when the CLI was not built
set -euo pipefail
. "$(dirname "$0")/common.sh"

libdir=lib bindir=bin strip=1 debugdir= cli=auto
while [ $# -gt 0 ]; do
  case "$1" in
    --libdir) libdir="${2:?--libdir needs a value}"; shift 2 ;;
    --libdir=*) libdir="${1#*=}"; shift ;;
    --bindir) bindir="${2:?--bindir needs a value}"; shift 2 ;;
    --bindir=*) bindir="${1#*=}"; shift ;;
    --strip) strip=1; shift ;;   # the default; kept for older callers
    --no-strip) strip=0; shift ;;
    --debug-dir) debugdir="${2:?--debug-dir needs a value}"; shift 2 ;;
    --debug-dir=*) debugdir="${1#*=}"; shift ;;
    --no-cli) cli=no; shift ;;
    --require-cli) cli=yes; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    --) shift; break ;;
    -*) die "unknown option $1" ;;
    *) break ;;
  esac
done
[ $# -ge 1 ] && [ $# -le 2 ] || die "usage: install.sh [--libdir DIR] [--bindir DIR] [--no-strip] [--debug-dir DIR] [--no-cli|--require-cli] PREFIX [DESTDIR]"
prefix="${1%/}"
destdir="${2:-}"
destdir="${destdir%/}"
case "$prefix" in /?*) ;; *) die "PREFIX must be an absolute path other than /: '$1'" ;; esac
case "$libdir" in /*) ;; *) libdir="$prefix/$libdir" ;; esac
case "$debugdir" in ""|/?*) ;; *) die "--debug-dir must be an absolute path: '$debugdir'" ;; esac
[ "$strip" = 1 ] || [ -z "$debugdir" ] || die "--debug-dir needs stripping (drop --no-strip)"
if [ "$strip" = 1 ]; then
  for tool in strip objcopy readelf; do command -v "$tool" >/dev/null || die "$tool not found: install binutils"; done
fi
case "$bindir" in /*) ;; *) bindir="$prefix/$bindir" ;; esac
libdir="${libdir%/}" bindir="${bindir%/}"
includedir="$prefix/include"
docdir="$prefix/share/doc/reftoken"

version="$(reftoken_version)"
major="${version%%.*}"
abi="$(reftoken_abi_version)"
[ -n "$version" ] && [ -n "$abi" ] || die "cannot read the version from Cargo.toml or include/reftoken.h"
so="$BUILD/libreftoken.so"
[ -f "$so" ] && [ -f "$BUILD/libreftoken.a" ] || die "no library in $BUILD: build it first (make lib)"

# What we install must be what we promise: the SONAME of the major version, and only reftoken_*.
soname="$(readelf -d "$so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')"
[ "$soname" = "libreftoken.so.$major" ] ||
  die "$so has SONAME '$soname', expected libreftoken.so.$major (version $version in Cargo.toml)"
"$ROOT/packaging/check-exports.sh" "$so" >/dev/null

umask 022
d() { echo "$destdir$1"; }

# strip_binary FILE: strip it; with --debug-dir, first keep its debug information there under
# its build id, and link the stripped file to it.
strip_binary() {
  local f="$1" id dbg
  if [ -n "$debugdir" ]; then
    id="$(readelf -n "$f" | sed -n 's/^ *Build ID: *\([0-9a-f]*\)$/\1/p')"
    [ ${#id} -gt 2 ] || die "$f has no build id: cannot place its debug symbols"
    dbg="$(d "$debugdir/.build-id/${id:0:2}/${id:2}.debug")"
    install -d "$(dirname "$dbg")"
    objcopy --only-keep-debug --compress-debug-sections=zlib "$f" "$dbg"
    chmod 0644 "$dbg"
  fi
  strip --strip-unneeded --remove-section=.comment "$f"
  if [ -n "$debugdir" ]; then objcopy --add-gnu-debuglink="$dbg" "$f"; fi
}
install -d "$(d "$libdir")" "$(d "$libdir/pkgconfig")" "$(d "$libdir/cmake/reftoken")" "$(d "$includedir")" "$(d "$docdir")"

real="libreftoken.so.$version"
install -m 0755 "$so" "$(d "$libdir/$real")"
ln -sfn "$real" "$(d "$libdir/libreftoken.so.$major")"
ln -sfn "libreftoken.so.$major" "$(d "$libdir/libreftoken.so")"
install -m 0644 "$BUILD/libreftoken.a" "$(d "$libdir/libreftoken.a")"
install -m 0644 "$ROOT/include/reftoken.h" "$(d "$includedir/reftoken.h")"
if [ "$strip" = 1 ]; then
  strip_binary "$(d "$libdir/$real")"
  strip --strip-debug --remove-section=.comment --enable-deterministic-archives "$(d "$libdir/libreftoken.a")"
fi

# pkg-config: libdir is written relative to ${prefix} when it lies under it.
case "$libdir" in
  "$prefix"/*) pc_libdir="\${prefix}/${libdir#"$prefix"/}" ;;
  *) pc_libdir="$libdir" ;;
esac
sed -e "s|@PREFIX@|$prefix|g" -e "s|@LIBDIR@|$pc_libdir|g" -e "s|@VERSION@|$version|g" \
    -e "s|@ABI_VERSION@|$abi|g" -e "s|@NATIVE_STATIC_LIBS@|$(native_static_libs)|g" \
    "$ROOT/packaging/reftoken.pc.in" >"$(d "$libdir/pkgconfig/reftoken.pc")"
chmod 0644 "$(d "$libdir/pkgconfig/reftoken.pc")"

# CMake: the config file finds the prefix from its own location (relocatable) when libdir
# lies under the prefix, else it names the absolute directories.
cmakedir="$libdir/cmake/reftoken"
case "$cmakedir" in
  "$prefix"/*)
    up="$(sed -e 's|[^/][^/]*|..|g' <<<"${cmakedir#"$prefix"/}")"
    cm_prefix="\${CMAKE_CURRENT_LIST_DIR}/$up"
    cm_libdir="\${_reftoken_prefix}/${libdir#"$prefix"/}"
    ;;
  *) cm_prefix="$prefix" cm_libdir="$libdir" ;;
esac
cm_static_libs="$(native_static_libs | sed -e 's/^-l//' -e 's/ -l/;/g')"
for t in reftoken-config.cmake reftoken-config-version.cmake; do
  sed -e "s|@RELATIVE_PREFIX@|$cm_prefix|g" -e "s|@LIBDIR@|$cm_libdir|g" \
      -e "s|@VERSION@|$version|g" -e "s|@MAJOR@|$major|g" -e "s|@ABI_VERSION@|$abi|g" \
      -e "s|@NATIVE_STATIC_LIBS@|$cm_static_libs|g" \
      "$ROOT/packaging/cmake/$t.in" >"$(d "$cmakedir/$t")"
  chmod 0644 "$(d "$cmakedir/$t")"
done

install -m 0644 "$ROOT/README.md" "$ROOT/CHANGELOG.md" "$ROOT/docs/guide.md" "$(d "$docdir/")"
install -d "$(d "$docdir/examples")"
install -m 0644 "$ROOT"/docs/examples/*.c "$ROOT"/docs/examples/*.cpp "$ROOT/docs/examples/dotnet-host/Program.cs" \
  "$(d "$docdir/examples/")"

# The CLI is its own workspace member (cli/, built by `cargo build --release -p reftoken-cli`).
if [ "$cli" != no ]; then
  if [ -x "$BUILD/reftoken" ]; then
    install -d "$(d "$bindir")"
    install -m 0755 "$BUILD/reftoken" "$(d "$bindir/reftoken")"
    install -d "$(d "$prefix/share/man/man1")"
    install -m 0644 "$ROOT/packaging/reftoken.1" "$(d "$prefix/share/man/man1/reftoken.1")"
    if [ "$strip" = 1 ]; then strip_binary "$(d "$bindir/reftoken")"; fi
  elif [ "$cli" = yes ]; then
    die "no CLI in $BUILD/reftoken: build it first (cargo build --release --locked -p reftoken-cli)"
  else
    echo "install.sh: $BUILD/reftoken not built: the reftoken CLI is not installed" >&2
  fi
fi

# A live install into a directory the dynamic loader searches: refresh its cache.
if [ -z "$destdir" ] && [ "$(id -u)" = 0 ] && command -v ldconfig >/dev/null; then
  case "$libdir" in /usr/local/lib|/usr/lib|/usr/lib/*-linux-gnu|/usr/local/lib/*-linux-gnu) ldconfig ;; esac
fi
echo "installed reftoken $version (ABI $abi) into ${destdir}${prefix} (libdir $libdir)"
