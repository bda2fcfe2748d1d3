#!/usr/bin/env bash
# check-manpage.sh REFTOKEN: packaging/reftoken.1 documents every command of the CLI (as
# `REFTOKEN --help` lists them) and every option of each (as `REFTOKEN COMMAND --help` lists them).
set -euo pipefail
. "$(dirname "$0")/common.sh"
bin="${1:?usage: check-manpage.sh PATH-TO-reftoken}"
page="$ROOT/packaging/reftoken.1"
missing=0
roff() { sed 's/-/\\-/g' <<<"$1"; }
commands="$("$bin" --help | awk '/^Commands:/{on=1; next} on && /^[^ ]/{on=0} on && NF {print $1}' | grep -vx help)"
[ -n "$commands" ] || die "$bin --help lists no command"
for c in $commands; do
  grep -qxF ".SS $(roff "$c")" "$page" || { echo "reftoken.1 has no section for the command $c" >&2; missing=1; continue; }
  # The command's section: from its .SS line to the next .SS or .SH.
  section="$(awk -v h=".SS $(roff "$c")" '$0 == h {on=1; next} on && /^\.S[SH] / {exit} on' "$page")"
  # A command with subcommands (`keyring check`): the options of each, in the command's section.
  subs="$("$bin" "$c" --help | awk '/^Commands:/{on=1; next} on && /^[^ ]/{on=0} on && NF {print $1}' | grep -vx help || true)"
  for opt in $(if [ -n "$subs" ]; then for s in $subs; do "$bin" "$c" "$s" --help; done; else "$bin" "$c" --help; fi |
      grep -oE '^ +(-[a-zA-Z], )?--[a-z0-9-]+' | grep -oE -- '--[a-z0-9-]+' | grep -vx -- --help | sort -u); do
    grep -qF -- "$(roff "$opt")" <<<"$section" ||
      { [ "$c" = protect ] && grep -qF "Options as for" <<<"$section"; } ||
      { echo "reftoken.1 does not document $c $opt" >&2; missing=1; }
  done
done
[ "$missing" = 0 ] || exit 1
echo "reftoken.1 documents every command and option of $bin ($(wc -w <<<"$commands") commands)"
