#!/usr/bin/env bash
# check-exports.sh LIB.so: fails when the shared library exports a symbol (nm -D, defined)
# whose name does not start with reftoken_, or exports no reftoken_ symbol at all.
set -euo pipefail
. "$(dirname "$0")/common.sh"
lib="${1:?usage: check-exports.sh LIB.so}"
[ -f "$lib" ] || die "no such library: $lib"
foreign="$(foreign_exports "$lib")"
if [ -n "$foreign" ]; then
  echo "$lib exports symbols outside the C ABI (only reftoken_* may be exported):" >&2
  sed 's/^/  /' <<<"$foreign" >&2
  exit 1
fi
count="$(nm -D --defined-only "$lib" | awk 'NF >= 3 && $3 ~ /^reftoken_/' | wc -l)"
[ "$count" -gt 0 ] || die "$lib exports no reftoken_ symbol"
echo "$lib: exports $count symbols, all reftoken_*"
