#!/usr/bin/env bash
# check-docs.sh: the user guide quotes its examples verbatim.
#  - after each `<!-- example: PATH -->` line in docs/guide.md, the fenced code block that
#    follows is exactly the file PATH (relative to the repository);
#  - every example under docs/examples/ (*.c, *.cpp, *.cs) is quoted so.
set -euo pipefail
. "$(dirname "$0")/common.sh"
guide="$ROOT/docs/guide.md"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
fail=0

# Writes each quoted block to $out/N and lists "N PATH".
awk -v out="$out" '
  /^<!-- example: .* -->$/ { path = $3; want = 1; next }
  want && /^```/ { n++; file = out "/" n; printf "" > file; print n, path > (out "/index"); inblock = 1; want = 0; next }
  inblock && /^```$/ { inblock = 0; close(file); next }
  inblock { print >> file }
' "$guide"
[ -s "$out/index" ] || { echo "docs/guide.md quotes no example" >&2; exit 1; }

while read -r n path; do
  if [ ! -f "$ROOT/$path" ]; then
    echo "docs/guide.md quotes $path, which does not exist" >&2; fail=1
  elif ! diff -u "$ROOT/$path" "$out/$n" >"$out/diff"; then
    echo "docs/guide.md's quote of $path differs from the file:" >&2; cat "$out/diff" >&2; fail=1
  fi
done <"$out/index"

while read -r f; do
  rel="${f#"$ROOT"/}"
  awk -v p="$rel" '$2 == p {found = 1} END {exit !found}' "$out/index" ||
    { echo "docs/guide.md does not quote $rel (add <!-- example: $rel --> and the file's text)" >&2; fail=1; }
done < <(find "$ROOT/docs/examples" -type f \( -name '*.c' -o -name '*.cpp' -o -name '*.cs' \) -not -path '*/obj/*' -not -path '*/bin/*' | sort)

[ "$fail" = 0 ] || exit 1
echo "docs/guide.md quotes $(wc -l <"$out/index") examples, each verbatim"
