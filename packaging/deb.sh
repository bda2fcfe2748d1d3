#!/usr/bin/env bash
# deb.sh [--no-cli] [OUTDIR]: builds the Debian packages into OUTDIR (default target/packaging)
# from what `cargo build --release` left in target/release, with dpkg-dev's tools:
#
#   libreftoken0_V-1_ARCH.deb     /usr/lib/<multiarch>/libreftoken.so.0{,.X.Y.Z}
#   libreftoken-dev_V-1_ARCH.deb  reftoken.h, libreftoken.so, libreftoken.a, reftoken.pc, the
#                                 CMake package, the guide and its examples
#   reftoken_V-1_ARCH.deb         /usr/bin/reftoken and its manual page
#   libreftoken0-dbgsym_V-1_ARCH.deb, reftoken-dbgsym_V-1_ARCH.deb
#                                 the debug symbols stripped from the library and the command,
#                                 as /usr/lib/debug/.build-id/NN/REST.debug
#
# install.sh stages the files under /usr (libraries in /usr/lib/<multiarch>); dpkg-shlibdeps
# computes Depends, dpkg-gensymbols writes the symbols file, dpkg-gencontrol the control file,
# dpkg-deb builds. The CLI package needs `cargo build --release --locked -p reftoken-cli`;
# --no-cli leaves it out. REFTOKEN_DEB_COMPRESSION picks dpkg-deb's compressor (default xz; the
# tests use gzip, which is faster). --update-symbols rewrites packaging/debian/libreftoken<major>.symbols
# from the library (at a release, after adding functions). Prints the path of each .deb, one a
# line, last.
set -euo pipefail
. "$(dirname "$0")/common.sh"
cli=--require-cli update_symbols=0
while [ $# -gt 0 ]; do
  case "$1" in
    --no-cli) cli=--no-cli; shift ;;
    --update-symbols) update_symbols=1; shift ;;
    *) break ;;
  esac
done
outdir="${1:-$ROOT/target/packaging}"
for tool in dpkg-architecture dpkg-shlibdeps dpkg-gensymbols dpkg-gencontrol dpkg-deb; do
  command -v "$tool" >/dev/null || die "$tool not found: install dpkg-dev"
done

version="$(reftoken_version)"
major="${version%%.*}"
abi="$(reftoken_abi_version)"
arch="$(dpkg-architecture -qDEB_HOST_ARCH)"
ma="$(dpkg-architecture -qDEB_HOST_MULTIARCH)"
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(stat -c %Y "$ROOT/Cargo.toml")}"
libpkg="libreftoken$major"

umask 022
mkdir -p "$outdir"
outdir="$(cd "$outdir" && pwd)"
work="$outdir/deb-build"
rm -rf "$work"
mkdir -p "$work/debian"
stage="$work/stage"

# The source package's debian/ directory, as dpkg-gencontrol reads it. The library package's
# name carries the SONAME's number.
sed -e "s/^Package: libreftoken0$/Package: $libpkg/" -e "s/libreftoken0 (=/$libpkg (=/" \
    -e "s/^Package: libreftoken0-dbgsym$/Package: $libpkg-dbgsym/" -e "s/^Description: debug symbols for libreftoken0$/Description: debug symbols for $libpkg/" \
    -e "s/libreftoken\.so\.0\./libreftoken.so.$major./" \
    "$ROOT/packaging/debian/control" >"$work/debian/control"
sed -e "s|@VERSION@|$version|g" -e "s|@ABI_VERSION@|$abi|g" \
    -e "s|@DATE@|$(date -u -R -d "@$SOURCE_DATE_EPOCH")|g" \
    "$ROOT/packaging/debian/changelog.in" >"$work/debian/changelog"

"$ROOT/packaging/install.sh" --debug-dir /usr/lib/debug $cli --libdir "lib/$ma" /usr "$stage" >/dev/null

move() { # move PACKAGE PATH...: files of the staging tree into a package's tree
  local pkg="$1" p; shift
  for p in "$@"; do
    install -d "$work/debian/$pkg/$(dirname "$p")"
    mv "$stage/$p" "$work/debian/$pkg/$p"
  done
}
docs() { # docs PACKAGE: copyright and changelogs, as Debian policy wants them
  local d="$work/debian/$1/usr/share/doc/$1"
  install -d "$d"
  install -m 0644 "$ROOT/packaging/debian/copyright" "$d/copyright"
  gzip -9n <"$ROOT/CHANGELOG.md" >"$d/changelog.gz"
  gzip -9n <"$work/debian/changelog" >"$d/changelog.Debian.gz"
  find "$d" -type f -exec chmod 0644 {} +
}

L="usr/lib/$ma"
packages=("$libpkg" libreftoken-dev)
move "$libpkg" "$L/libreftoken.so.$version" "$L/libreftoken.so.$major"
chmod 0644 "$work/debian/$libpkg/$L/libreftoken.so.$version"   # Debian: shared libraries are not executable
move libreftoken-dev "$L/libreftoken.so" "$L/libreftoken.a" "$L/pkgconfig" "$L/cmake" usr/include
install -d "$work/debian/libreftoken-dev/usr/share/doc/libreftoken-dev"
mv "$stage/usr/share/doc/reftoken/README.md" "$stage/usr/share/doc/reftoken/guide.md" \
   "$stage/usr/share/doc/reftoken/examples" "$work/debian/libreftoken-dev/usr/share/doc/libreftoken-dev/"
if [ -x "$stage/usr/bin/reftoken" ]; then
  packages+=(reftoken)
  move reftoken usr/bin/reftoken
  install -d "$work/debian/reftoken/usr/share/man/man1"
  gzip -9n <"$stage/usr/share/man/man1/reftoken.1" >"$work/debian/reftoken/usr/share/man/man1/reftoken.1.gz"
  rm "$stage/usr/share/man/man1/reftoken.1"
fi
# The debug symbols, each in the -dbgsym package of the package holding its binary.
debug_file() { # debug_file BINARY: its .debug file's path in the staging tree, by build id
  local id
  id="$(readelf -n "$1" | sed -n 's/^ *Build ID: *\([0-9a-f]*\)$/\1/p')"
  echo "usr/lib/debug/.build-id/${id:0:2}/${id:2}.debug"
}
dbg="$(debug_file "$work/debian/$libpkg/$L/libreftoken.so.$version")"
packages+=("$libpkg-dbgsym")
move "$libpkg-dbgsym" "$dbg"
if [ -d "$work/debian/reftoken" ]; then
  dbg="$(debug_file "$work/debian/reftoken/usr/bin/reftoken")"
  packages+=(reftoken-dbgsym)
  move reftoken-dbgsym "$dbg"
fi
rmdir -p "$stage/usr/lib/debug/.build-id"/* 2>/dev/null || true
rm "$stage/usr/share/doc/reftoken/CHANGELOG.md"   # each package has it as changelog.gz
for p in "${packages[@]}"; do docs "$p"; done

cd "$work"
for p in "${packages[@]}"; do install -d "debian/$p/DEBIAN"; done   # dpkg-shlibdeps finds packages by it
# The library: its symbols file (every exported symbol, from this version on), shlibs, and the
# ldconfig trigger.
# packaging/debian/libreftoken<major>.symbols lists the symbols released so far, each with the
# version that added it: a symbol missing from the library fails the build (-c1), since removing
# one is an ABI break (a new major version, a new package name, a new symbols file).
ref="${REFTOKEN_SYMBOLS_FILE:-$ROOT/packaging/debian/$libpkg.symbols}"
refopt=()
[ -f "$ref" ] && [ "$update_symbols" = 0 ] && refopt=(-I"$ref")
dpkg-gensymbols -c1 "${refopt[@]}" -p"$libpkg" -P"debian/$libpkg" -v"$version" -e"debian/$libpkg/$L/libreftoken.so.$version" ||
  die "libreftoken.so.$major lost symbols listed in $ref: that is an ABI break (see CHANGELOG.md)"
grep -q '^\* Build-Depends-Package:' "debian/$libpkg/DEBIAN/symbols" ||
  sed -i '1a * Build-Depends-Package: libreftoken-dev' "debian/$libpkg/DEBIAN/symbols"
if [ "$update_symbols" = 1 ]; then
  cp "debian/$libpkg/DEBIAN/symbols" "$ref"
  echo "deb.sh: wrote packaging/debian/$libpkg.symbols" >&2
fi
echo "libreftoken $major $libpkg (>= $version)" >"debian/$libpkg/DEBIAN/shlibs"
echo "activate-noawait ldconfig" >"debian/$libpkg/DEBIAN/triggers"
dpkg-shlibdeps -T"debian/$libpkg.substvars" "debian/$libpkg/$L/libreftoken.so.$version"
if [ -d debian/reftoken ]; then
  dpkg-shlibdeps -Tdebian/reftoken.substvars debian/reftoken/usr/bin/reftoken
fi

debs=()
for p in "${packages[@]}"; do
  touch "debian/$p.substvars"
  dpkg-gencontrol -p"$p" -P"debian/$p" -T"debian/$p.substvars"
  (cd "debian/$p" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 -r md5sum >DEBIAN/md5sums)
  chmod 0644 "debian/$p/DEBIAN"/*
  find "debian/$p" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
  deb="$outdir/${p}_${version}-1_${arch}.deb"
  dpkg-deb --root-owner-group -Z"${REFTOKEN_DEB_COMPRESSION:-xz}" --build "debian/$p" "$deb" >/dev/null
  debs+=("$deb")
done
rmdir -p "$stage/usr/share/doc/reftoken" "$stage/usr/share/man/man1" "$stage/usr/$L" 2>/dev/null || true
leftover="$(find "$stage" -type f -o -type l)"
[ -z "$leftover" ] || die "staged files in no package: $leftover"

for deb in "${debs[@]}"; do
  echo "$(basename "$deb"): $(dpkg-deb -f "$deb" Installed-Size) KiB, Depends: $(dpkg-deb -f "$deb" Depends)"
done
printf '%s\n' "${debs[@]}"
