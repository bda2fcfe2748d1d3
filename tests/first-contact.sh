#!/usr/bin/env bash
# first-contact.sh: what a newcomer does first, on a fresh clone. Clones HEAD into a temporary
# folder (with ../shared beside it when this checkout has one, as the README's set-up step
# expects) and runs, in order and exactly as written, every ```sh block of README.md that
# follows a `<!-- first-contact -->` line: the crate set-up, `make quickstart`, the C example.
# Each block must exit 0; the quickstart must validate and then refuse its token, and the C
# example must print an active introspection response. Ends with "first-contact: N passed,
# N failed". The clone is removed afterwards (KEEP=1 keeps it).
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
readme="$root/README.md"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/reftoken-first-contact.XXXXXX")"
[ "${KEEP:-0}" = 1 ] || trap 'rm -rf "$tmp"' EXIT
if [ -d "$root/../shared" ]; then ln -s "$(cd "$root/../shared" && pwd)" "$tmp/shared"; fi
git clone --quiet --no-hardlinks "$root" "$tmp/reftoken" || { echo "first-contact: cannot clone $root"; exit 1; }
cd "$tmp/reftoken" || exit 1
echo "first-contact: fresh clone of $(git rev-parse --short HEAD) in $tmp/reftoken"

# The blocks, from the committed README (the clone's), one file each.
awk -v dir="$tmp" '
  /^<!-- first-contact -->$/ { marked = 1; next }
  marked && /^```sh$/ { n++; file = sprintf("%s/block%02d.sh", dir, n); inblock = 1; marked = 0; next }
  inblock && /^```$/ { inblock = 0; close(file); next }
  inblock { print > file; next }
  /[^[:space:]]/ { marked = 0 }
' README.md
blocks=("$tmp"/block*.sh)
[ -f "${blocks[0]}" ] || { echo "first-contact: README.md marks no sh block with <!-- first-contact -->"; exit 1; }

passed=0 failed=0
log="$tmp/output.log"
: >"$log"
for b in "${blocks[@]}"; do
  echo "== $(basename "$b" .sh):"
  sed 's/^/   $ /' "$b"
  if bash -e "$b" 2>&1 | tee -a "$log"; [ "${PIPESTATUS[0]}" = 0 ]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1)); echo "FAIL: $(basename "$b" .sh) exited non-zero"
  fi
done
expect() { # expect DESCRIPTION FIXED-STRING: something the commands must have printed
  if grep -qF -- "$2" "$log"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $1 (no '$2' in the output)"; fi
}
expect "the quickstart validates its token" '"active":true,"scope":"api1.read"}'
expect "the quickstart refuses it once revoked" '4. validate again: {"active":false}'
expect "the C example introspects an active token" 'Introspection: {"iss":"https://idp.example"'
echo "first-contact: $passed passed, $failed failed"
[ "$failed" = 0 ]
