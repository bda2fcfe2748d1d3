#!/usr/bin/env bash
# The Rust tests of the workspace (the library, the CLI), in two passes:
#
#  1. `cargo test --release --locked --workspace`: every test that needs nothing but this
#     machine. The tests that need PostgreSQL or Redis are named `servers_*` and ignored there,
#     so they are listed as "ignored, needs ...", never as "ok".
#  2. When the server variables are set (REFTOKEN_TEST_POSTGRES, REFTOKEN_TEST_POSTGRES_NOTIFY,
#     REFTOKEN_TEST_REDIS; `eval "$(scripts/test-servers.sh start)"` sets them all) or CI=true:
#     the server tests, `-- --ignored servers_`. Under CI=true a missing variable is a failure.
#     The benchmarks (`bench_*`, `quick_perf*`, ignored too) are never run here.
#  3. The timing tests (modules `timing::` and `constant_time::`: statistical tests of
#     constant-time comparison), skipped in pass 1 and run here one at a time, so that no other
#     test's threads share the cores while they measure.
#
# Fails when any test fails, when the second pass runs another number of tests than the first
# listed as ignored `servers_*` (or none at all), and when an ignored test says it needs a
# server but is not named `servers_*` (the second pass would never run it).
# Ends with one line: "rust: N passed, N failed, N ignored (of which N server tests run in the
# second pass)".
#
#   scripts/test-rust.sh                                   without servers: pass 1 only
#   eval "$(scripts/test-servers.sh start)"; scripts/test-rust.sh; scripts/test-servers.sh stop
set -uo pipefail
cd "$(dirname "$0")/.."

CARGO="${CARGO:-cargo}"
PREFIX=servers_
SERVER_VARS=(REFTOKEN_TEST_POSTGRES REFTOKEN_TEST_POSTGRES_NOTIFY REFTOKEN_TEST_REDIS)
[ $# -eq 0 ] || { echo "usage: $0 (no arguments; see the comment at its top)" >&2; exit 2; }

work="$(mktemp -d "${TMPDIR:-/tmp}/reftoken-test-rust.XXXXXX")"
trap 'rm -rf "$work"' EXIT

status=0
fail() { echo "test-rust: $*" >&2; status=1; }

# sum FILE FIELD: FIELD (passed, failed, ignored) added up over libtest's "test result:" lines.
sum() {
  grep -E '^test result: ' "$1" | sed -E "s/.* ([0-9]+) $2;.*/\\1/" | awk '{ n += $1 } END { print n + 0 }'
}

# ---- Pass 1 ------------------------------------------------------------------------------
echo "== rust: cargo test --release --locked --workspace"
# stdout only is read (libtest's lines); cargo's own messages and the tests' children's
# stderr go straight through.
TIMING=(timing:: constant_time::)
"$CARGO" test --release --locked --workspace --no-fail-fast -- --skip "${TIMING[0]}" --skip "${TIMING[1]}" \
  | tee "$work/pass1.out"
rc=${PIPESTATUS[0]}
[ "$rc" = 0 ] || fail "cargo test exited with status $rc"
passed=$(sum "$work/pass1.out" passed)
failed=$(sum "$work/pass1.out" failed)
ignored=$(sum "$work/pass1.out" ignored)

# The ignored tests: "test NAME ... ignored" or "test NAME ... ignored, REASON".
grep -E '^test .* \.\.\. ignored(, .*)?$' "$work/pass1.out" | sed -E 's/^test (.*) \.\.\. ignored(, (.*))?$/\1\t\3/' \
  >"$work/ignored.tsv" || true
server_tests=0
while IFS=$'\t' read -r name reason; do
  base="${name##*::}"
  if [ "${base#"$PREFIX"}" != "$base" ]; then
    server_tests=$((server_tests + 1))
  elif [[ "$reason" == *"needs PostgreSQL"* || "$reason" == *"needs Redis"* ]]; then
    fail "$name is ignored as needing a server but is not named ${PREFIX}*: the second pass would never run it"
  fi
done <"$work/ignored.tsv"

# ---- Pass 2 ------------------------------------------------------------------------------
ran=0
have=()
missing=()
for v in "${SERVER_VARS[@]}"; do
  if [ -n "${!v:-}" ]; then have+=("$v"); else missing+=("$v"); fi
done
if [ ${#have[@]} -gt 0 ] || [ "${CI:-}" = true ]; then
  if [ ${#missing[@]} -gt 0 ]; then
    fail "${missing[*]} not set but the server tests are to run$([ "${CI:-}" = true ] && echo ' (CI=true)'): eval \"\$(scripts/test-servers.sh start)\" sets them"
  fi
  echo "== rust: the server tests: cargo test --release --locked --workspace --tests -- --ignored $PREFIX"
  # --tests: not the doctests (none needs a server); the same test binaries as pass 1.
  "$CARGO" test --release --locked --workspace --no-fail-fast --tests -- \
    --ignored "$PREFIX" --skip bench_ --skip quick_perf | tee "$work/pass2.out"
  rc=${PIPESTATUS[0]}
  [ "$rc" = 0 ] || fail "cargo test (server tests) exited with status $rc"
  p2_passed=$(sum "$work/pass2.out" passed)
  p2_failed=$(sum "$work/pass2.out" failed)
  ran=$((p2_passed + p2_failed))
  passed=$((passed + p2_passed))
  failed=$((failed + p2_failed))
  if [ "$ran" = 0 ]; then
    fail "the second pass selected no test (filter --ignored $PREFIX)"
  elif grep -q '^test result: ' "$work/pass1.out" && [ "$ran" != "$server_tests" ]; then
    fail "the second pass ran $ran tests, but the first listed $server_tests ignored ${PREFIX}* tests"
  fi
else
  echo "test-rust: the $server_tests server tests (${PREFIX}*) were not run: none of ${SERVER_VARS[*]} is set (eval \"\$(scripts/test-servers.sh start)\" sets them; CI=true requires them)"
fi

# ---- Pass 3 ------------------------------------------------------------------------------
echo "== rust: the timing tests, one at a time: cargo test --release --locked -p reftoken --test endpoint --test hardening -- ${TIMING[*]} --test-threads=1"
"$CARGO" test --release --locked -p reftoken --no-fail-fast --test endpoint --test hardening -- \
  "${TIMING[@]}" --test-threads=1 | tee "$work/pass3.out"
rc=${PIPESTATUS[0]}
[ "$rc" = 0 ] || fail "cargo test (timing tests) exited with status $rc"
p3_passed=$(sum "$work/pass3.out" passed)
p3_failed=$(sum "$work/pass3.out" failed)
timed=$((p3_passed + p3_failed))
[ "$timed" -gt 0 ] || fail "the third pass selected no test (filters ${TIMING[*]})"
passed=$((passed + p3_passed))
failed=$((failed + p3_failed))

[ "$failed" = 0 ] || status=1
echo "rust: $passed passed, $failed failed, $ignored ignored (of which $ran server tests run in the second pass; $timed timing tests run alone in the third)"
exit "$status"
