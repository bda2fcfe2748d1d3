#!/usr/bin/env bash
# docs.sh [OUTDIR]: the reference documentation as HTML, into OUTDIR (default target/docs):
#
#   c/        Doxygen, from include/reftoken.h's comments, with docs/guide.md as its main page;
#             an undocumented declaration or a broken reference fails (WARN_AS_ERROR)
#   rust/     rustdoc, `cargo doc --no-deps` of the reftoken crate
#   dotnet/   the .NET bindings' XML documentation (RefToken.*.xml, written by their Release
#             build), one page per assembly, through packaging/dotnet-xmldoc.xsl; skipped with a
#             note when the bindings have not been built (bindings/dotnet/test.sh builds them),
#             unless REFTOKEN_DOCS_REQUIRE_DOTNET=1
#   index.html
#
# Needs doxygen and xsltproc (Debian packages of the same names).
set -euo pipefail
. "$(dirname "$0")/common.sh"
out="${1:-$ROOT/target/docs}"
for tool in doxygen xsltproc cargo; do
  command -v "$tool" >/dev/null || die "$tool not found (apt-get install doxygen xsltproc)"
done
version="$(reftoken_version)"
abi="$(reftoken_abi_version)"
rm -rf "$out"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

# C: Doxygen. Its configuration reads these variables.
REFTOKEN_ROOT="$ROOT" REFTOKEN_VERSION="$version" REFTOKEN_DOCS_OUT="$out" doxygen "$ROOT/packaging/Doxyfile" ||
  { cat "$out/doxygen-warnings.log" >&2; die "doxygen failed: the header's documentation has gaps (above)"; }
[ -f "$out/c/reftoken_8h.html" ] || die "doxygen wrote no page for reftoken.h"
echo "c:      $out/c/index.html"

# Rust: rustdoc, for the library crate only; broken intra-doc links fail.
(cd "$ROOT" && RUSTDOCFLAGS="${RUSTDOCFLAGS:-} -D rustdoc::broken_intra_doc_links" cargo doc --locked --no-deps -p reftoken --lib -q)
rm -rf "$out/rust"
cp -r "$ROOT/target/doc" "$out/rust"
[ -f "$out/rust/reftoken/index.html" ] || die "cargo doc wrote no reftoken/index.html"
echo "rust:   $out/rust/reftoken/index.html"

# .NET: the XML documentation files of the newest target framework built.
dotnet_pages=()
xmls=()
for asm in RefToken.Interop RefToken.IdentityServer; do
  f="$(ls -t "$ROOT"/bindings/dotnet/src/"$asm"/bin/Release/*/"$asm".xml 2>/dev/null | head -n 1 || true)"
  [ -n "$f" ] && xmls+=("$f")
done
if [ ${#xmls[@]} -gt 0 ]; then
  mkdir -p "$out/dotnet"
  for f in "${xmls[@]}"; do
    name="$(basename "$f" .xml)"
    xsltproc --nonet --stringparam version "$version" -o "$out/dotnet/$name.html" "$ROOT/packaging/dotnet-xmldoc.xsl" "$f"
    dotnet_pages+=("$name")
  done
  {
    echo '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>RefToken .NET API reference</title></head><body>'
    echo "<h1>RefToken .NET API reference $version</h1><ul>"
    for p in "${dotnet_pages[@]}"; do echo "<li><a href=\"$p.html\">$p</a></li>"; done
    echo '</ul></body></html>'
  } >"$out/dotnet/index.html"
  echo "dotnet: $out/dotnet/index.html (${dotnet_pages[*]})"
elif [ "${REFTOKEN_DOCS_REQUIRE_DOTNET:-0}" = 1 ]; then
  die "no .NET XML documentation under bindings/dotnet/src/*/bin/Release: build the bindings first"
else
  echo "dotnet: skipped, the .NET bindings have not been built (no bindings/dotnet/src/*/bin/Release/*/RefToken.*.xml)"
fi

{
  echo '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>RefToken reference documentation</title>'
  echo '<style>body{font-family:sans-serif;max-width:50em;margin:2em auto;line-height:1.5}</style></head><body>'
  echo "<h1>RefToken $version</h1><p>C ABI version $abi (<code>libreftoken.so.${version%%.*}</code>).</p><ul>"
  echo '<li><a href="c/index.html">User guide and C reference</a> (<code>reftoken.h</code>)</li>'
  echo '<li><a href="rust/reftoken/index.html">Rust crate</a></li>'
  if [ ${#dotnet_pages[@]} -gt 0 ]; then echo '<li><a href="dotnet/index.html">.NET bindings</a></li>'; fi
  echo '</ul></body></html>'
} >"$out/index.html"
echo "index:  $out/index.html"
