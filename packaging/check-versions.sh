#!/usr/bin/env bash
# check-versions.sh [LIB.so]: the version rule of CHANGELOG.md holds.
#  - CHANGELOG.md's newest release section is the version in Cargo.toml;
#  - its ABI line names REFTOKEN_ABI_VERSION from include/reftoken.h and SONAME
#    libreftoken.so.MAJOR;
#  - across all releases, the ABI version changes exactly when the major version does;
#  - with LIB.so: its SONAME is libreftoken.so.MAJOR.
set -euo pipefail
. "$(dirname "$0")/common.sh"
version="$(reftoken_version)"
major="${version%%.*}"
abi="$(reftoken_abi_version)"
changelog="$ROOT/CHANGELOG.md"

# "VERSION ABI SONAME" per release, newest first.
releases="$(awk '
  /^## \[[0-9]+\.[0-9]+\.[0-9]+\]/ { v = $2; gsub(/[][]/, "", v); want = 1; next }
  want && NF { 
    if (match($0, /C ABI version [0-9]+/)) { a = substr($0, RSTART + 14, RLENGTH - 14) } else { a = "?" }
    if (match($0, /libreftoken\.so\.[0-9]+/)) { s = substr($0, RSTART, RLENGTH) } else { s = "?" }
    print v, a, s; want = 0 }
' "$changelog")"
[ -n "$releases" ] || die "CHANGELOG.md has no release section (## [X.Y.Z] ...)"
read -r top_v top_abi top_so <<<"$(head -n 1 <<<"$releases")"
# The C ABI crates carry the same version: the SONAME comes from src/ffi/clib's.
for manifest in src/ffi/Cargo.toml src/ffi/clib/Cargo.toml; do
  v="$(awk '/^\[/{pkg = ($0 == "[package]")} pkg && /^version *=/{gsub(/.*= *"|".*/, ""); print; exit}' "$ROOT/$manifest")"
  [ "$v" = "$version" ] || die "$manifest has version $v, Cargo.toml has $version: they move together"
done
[ "$top_v" = "$version" ] || die "CHANGELOG.md's newest release is $top_v, Cargo.toml says $version: add its section"
[ "$top_abi" = "$abi" ] || die "CHANGELOG.md gives $version C ABI version $top_abi, include/reftoken.h has REFTOKEN_ABI_VERSION $abi"
[ "$top_so" = "libreftoken.so.$major" ] || die "CHANGELOG.md gives $version SONAME $top_so, expected libreftoken.so.$major"

prev_v="" prev_abi="" prev_major=""
while read -r v a s; do
  [ "$a" != "?" ] && [ "$s" != "?" ] || die "CHANGELOG.md: release $v lacks its line 'C ABI version N (...), SONAME libreftoken.so.M'"
  m="${v%%.*}"
  [ "$s" = "libreftoken.so.$m" ] || die "CHANGELOG.md: release $v names SONAME $s, expected libreftoken.so.$m"
  if [ -n "$prev_v" ]; then
    if [ "$m" = "$prev_major" ] && [ "$a" != "$prev_abi" ]; then
      die "CHANGELOG.md: $v and $prev_v share major version $m but have ABI versions $a and $prev_abi: an ABI change needs a new major version"
    fi
    if [ "$m" != "$prev_major" ] && [ "$a" = "$prev_abi" ]; then
      die "CHANGELOG.md: $v and $prev_v have major versions $m and $prev_major but the same ABI version $a: a new major version is a new ABI version"
    fi
  fi
  prev_v="$v" prev_abi="$a" prev_major="$m"
done <<<"$releases"

if [ $# -ge 1 ]; then
  soname="$(readelf -d "$1" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')"
  [ "$soname" = "libreftoken.so.$major" ] || die "$1 has SONAME '$soname', expected libreftoken.so.$major"
fi
echo "version $version, C ABI version $abi, SONAME libreftoken.so.$major: Cargo.toml, reftoken.h, CHANGELOG.md${1:+ and $1} agree"
