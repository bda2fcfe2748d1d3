#!/usr/bin/env bash
# RefToken's .NET bindings: build the native library (cargo decides whether anything changed),
# run the always-on tests, pack the packages and test them as a consumer gets them, and run the
# Duende IdentityServer integration tests when DUENDE_PACKAGES names a folder of Duende's
# .nupkg files (see README.md). Ends with one "dotnet: N passed, N failed" line.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
# The tests load the library from their runtimes/<rid>/native folder, never from elsewhere.
unset REFTOKEN_NATIVE_LIBRARY

(cd "$root" && cargo build --release --locked)

# The revocation tests need PostgreSQL and Redis, and IdentityServer's EF Core store runs on SQLite
# and on PostgreSQL: without servers given, start the private ones of scripts/test-servers.sh on
# 127.0.0.1 (and stop them at the end).
if [ -z "${REFTOKEN_TEST_POSTGRES_NOTIFY:-}" ] || [ -z "${REFTOKEN_TEST_REDIS:-}" ]; then
  eval "$("$root/scripts/test-servers.sh" start)"
  trap '"$root/scripts/test-servers.sh" stop' EXIT
fi
export REFTOKEN_TEST_POSTGRES="${REFTOKEN_TEST_POSTGRES:-$REFTOKEN_TEST_POSTGRES_NOTIFY}"

work="$here/obj/test-sh"            # obj/ is git-ignored
packages="$work/packages"           # the packed .nupkg files
restore_cache="$work/restore"       # isolated: a repack is never shadowed by a cached copy
log="$work/test.log"
rm -rf "$work"
mkdir -p "$work"
: >"$log"

passed=0
failed=0
skipped=0
count() {
  # dotnet test's summary: "Passed!  - Failed:     0, Passed:   481, Skipped:     0, Total: ..."
  local line
  line="$(grep -E '(Passed|Failed)! +- Failed: ' "$1" | tail -n 1 || true)"
  if [ -n "$line" ]; then
    failed=$((failed + $(sed -E 's/.*Failed: +([0-9]+),.*/\1/' <<<"$line")))
    passed=$((passed + $(sed -E 's/.*Passed: +([0-9]+),.*/\1/' <<<"$line")))
    skipped=$((skipped + $(sed -E 's/.*Skipped: +([0-9]+),.*/\1/' <<<"$line")))
  fi
}

run_tests() {
  # run_tests NAME dotnet-test-arguments...
  local name="$1" out="$work/$1.out" status=0
  shift
  echo "== $name"
  local before=$failed
  dotnet test "$@" 2>&1 | tee "$out" || status=$?
  count "$out"
  if [ "$status" -ne 0 ] && [ "$failed" -eq "$before" ]; then
    echo "$name: dotnet test failed before running tests (exit $status)"
    failed=$((failed + 1))
  fi
  cat "$out" >>"$log"
  return "$status"
}

status=0

# 1. Always on: every RefToken.Interop call against the fixtures and ASP.NET Core's own Data Protection.
run_tests interop "$here/tests/RefToken.Interop.Tests" -c Release || status=1

# 2. Pack, then test the packages from a local folder.
dotnet pack "$here/src/RefToken.Interop" -c Release -o "$packages" --nologo -v quiet
with_is=false
if [ -n "${DUENDE_PACKAGES:-}" ]; then
  dotnet pack "$here/src/RefToken.IdentityServer" -c Release -o "$packages" --nologo -v quiet
  with_is=true
fi
global="$(dotnet nuget locals global-packages --list | sed -E 's/^global-packages: *//')"
run_tests packages "$here/tests/RefToken.PackageTests" -c Release \
  -p:RefTokenPackageSource="$packages" -p:RefTokenWithIdentityServer=$with_is \
  -p:RestorePackagesPath="$restore_cache" -p:RestoreFallbackFolders="$global" || status=1

# 3. Duende IdentityServer in the test process: only with locally built Duende packages.
if [ -n "${DUENDE_PACKAGES:-}" ]; then
  run_tests identityserver "$here/tests/RefToken.IdentityServer.Tests" -c Release || status=1
else
  echo "Duende IdentityServer integration tests not run: DUENDE_PACKAGES is not set (see bindings/dotnet/README.md to build the Duende 7.4.8 packages)."
fi

echo "dotnet: $passed passed, $failed failed, $skipped skipped"
exit "$status"
