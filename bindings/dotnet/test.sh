#!/usr/bin/env bash
# RefToken's .NET bindings: build the native library (cargo decides whether anything changed),
# run the always-on tests, pack the packages and test them as a consumer gets them, build and run
# the README's RefToken.Interop sample against the packed package, and run the Duende IdentityServer
# integration tests when Duende.IdentityServer restores: from the configured package sources (NuGet),
# or from the local folder of Duende's .nupkg files that DUENDE_PACKAGES names (see README.md).
# Ends with one "dotnet: N passed, N failed" line.
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

# run_sample NAME FUNCTION PACKAGE DONE: FUNCTION as one test of the README's PACKAGE sample, DONE
# saying in the pass line what it did; its output, $work/NAME.out (spaces as dashes), joins the log.
run_sample() {
  local name="$1" out="$work/${1// /-}.out"
  echo "== $name"
  if "$2"; then
    echo "$name: the README's $3 sample $4 (passed)"
    passed=$((passed + 1))
  else
    echo "$name: the README's $3 sample failed (log: $out)"
    failed=$((failed + 1))
    status=1
  fi
  cat "$out" >>"$log" 2>/dev/null || true
}

status=0

# 1. Always on: every RefToken.Interop call against the fixtures and ASP.NET Core's own Data Protection.
run_tests interop "$here/tests/RefToken.Interop.Tests" -c Release || status=1

# 1b. Always on: RefToken.AspNetCore's handler on TestHost over real SQLite and PostgreSQL, revocation
#     through NOTIFY and Redis, and the YARP example gateway (the servers above are required).
run_tests aspnetcore "$here/tests/RefToken.AspNetCore.Tests" -c Release || status=1

# 2. Pack, then test the packages from a local folder.
dotnet pack "$here/src/RefToken.Interop" -c Release -o "$packages" --nologo -v quiet
dotnet pack "$here/src/RefToken.AspNetCore" -c Release -o "$packages" --nologo -v quiet
# RefToken.IdentityServer and its tests need Duende IdentityServer 7.4.x. With DUENDE_PACKAGES, restore
# adds that folder (Directory.Build.props); without it, a restore of Duende's packages alone from the
# configured sources, into an empty packages folder (so a cached copy proves nothing), decides.
# restore_probe NAME PACKAGE VERSION: whether PACKAGE restores, alone, into an empty packages folder
# (with DUENDE_PACKAGES as a source when set).
restore_probe() {
  local dir="$work/$1-probe"
  mkdir -p "$dir"
  echo '<Project />' >"$dir/Directory.Build.props"
  echo '<Project />' >"$dir/Directory.Build.targets"
  cat >"$dir/Probe.csproj" <<PROJECT
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup><TargetFramework>net10.0</TargetFramework></PropertyGroup>
  <ItemGroup><PackageReference Include="$2" Version="$3" /></ItemGroup>
</Project>
PROJECT
  NUGET_PACKAGES="$dir/packages" dotnet restore "$dir/Probe.csproj" \
    ${DUENDE_PACKAGES:+-p:RestoreAdditionalProjectSources="$DUENDE_PACKAGES"} >"$work/$1-probe.out" 2>&1
  local ok=$?
  rm -rf "$dir/packages"
  return "$ok"
}
with_is=false
if [ -n "${DUENDE_PACKAGES:-}" ]; then
  with_is=true
  echo "Duende IdentityServer from DUENDE_PACKAGES ($DUENDE_PACKAGES) and the configured package sources"
elif restore_probe duende Duende.IdentityServer.EntityFramework 7.4.8; then
  with_is=true
  echo "Duende IdentityServer 7.4.8 restores from the configured package sources"
fi
if [ "$with_is" = true ]; then
  dotnet pack "$here/src/RefToken.IdentityServer" -c Release -o "$packages" --nologo -v quiet
fi
global="$(dotnet nuget locals global-packages --list | sed -E 's/^global-packages: *//')"
run_tests packages "$here/tests/RefToken.PackageTests" -c Release \
  -p:RefTokenPackageSource="$packages" -p:RefTokenWithIdentityServer=$with_is \
  -p:RestorePackagesPath="$restore_cache" -p:RestoreFallbackFolders="$global" || status=1

# The native library as built and as packed (stripped by the pack step; PackageTests checks it).
for stripped in "$here"/src/RefToken.Interop/obj/Release/native/*/libreftoken.so; do
  [ -f "$stripped" ] || continue
  echo "libreftoken.so: $(stat -c %s "$root/target/release/libreftoken.so") bytes as built, $(stat -c %s "$stripped") bytes packed ($stripped; debug information $(stat -c %s "$stripped.debug") bytes in libreftoken.so.debug)"
done

# 3. The README's RefToken.Interop sample as a user runs it (one test): a new console app that
#    references the packed package from the local folder with `dotnet add package --source`, as the
#    README says, with Program.cs and Revocation.cs taken from the README's "<!-- sample: NAME"
#    blocks; it must build without warnings, exit 0 and print what the README says it prints.
#    Revocation.cs is compiled only (it needs servers to run).
readme_sample() {
  awk -v name="$1" '
    index($0, "<!-- sample: " name " ") == 1 || $0 == "<!-- sample: " name " -->" { found = 1; next }
    found == 1 && /^```csharp$/ { found = 2; next }
    found == 2 && /^```$/ { exit }
    found == 2 { print }' "$here/README.md"
}
sample_test() {
  local dir="$work/sample" out="$work/sample.out" line
  for line in "dotnet pack bindings/dotnet/src/RefToken.Interop -c Release -o /tmp/reftoken-packages" \
              "dotnet new console -o RefTokenSample" \
              "dotnet add package RefToken.Interop --source /tmp/reftoken-packages"; do
    grep -qxF "$line" "$here/README.md" || { echo "README.md no longer says: $line"; return 1; }
  done
  mkdir -p "$dir"
  # A user's app, not part of this folder's build: bindings/dotnet/Directory.Build.* stay out.
  echo '<Project />' >"$dir/Directory.Build.props"
  echo '<Project />' >"$dir/Directory.Build.targets"
  # (&& throughout: set -e does not apply inside a function called from an if.)
  (
    # Its own packages folder: the package just packed, never a cached RefToken.Interop 0.1.0.
    export NUGET_PACKAGES="$work/sample-nuget"
    cd "$dir" &&
      dotnet new console -o RefTokenSample &&
      cd RefTokenSample &&
      dotnet add package RefToken.Interop --source "$packages" &&
      readme_sample Program.cs >Program.cs &&
      readme_sample Revocation.cs >Revocation.cs &&
      { grep -q 'TokenValidator.Create' Program.cs || { echo "no Program.cs sample in README.md"; false; }; } &&
      { grep -q 'RevocationSample' Revocation.cs || { echo "no Revocation.cs sample in README.md"; false; }; } &&
      dotnet build -warnaserror &&
      dotnet run --no-build >"$work/sample.stdout"
  ) >"$out" 2>&1 || { cat "$out" "$work/sample.stdout" 2>/dev/null; return 1; }
  cat "$work/sample.stdout"
  local expected
  for expected in '^handle: [0-9A-F]{64}-1$' '^store key: [0-9A-F]{64}$' \
                  '^introspection: \{.*"sub":"alice".*"active":true.*\}$' '^unprotected: hello$' \
                  "^stored token's subject: alice\$" '^validator: \{.*"sub":"alice".*"active":true.*\}$' \
                  '^after revocation: \{"active":false\}$'; do
    grep -qE "$expected" "$work/sample.stdout" || { echo "the sample did not print a line matching $expected"; return 1; }
  done
}
run_sample sample sample_test RefToken.Interop "built and ran"

# 3b. The README's RefToken.AspNetCore sample (one test): a new web app referencing the packed
#     RefToken.AspNetCore (and through it RefToken.Interop) from the local folder, its Program.cs taken
#     from the README's "<!-- sample: api/Program.cs" block; it must build without warnings.
aspnet_sample_test() {
  local dir="$work/aspnet-sample" out="$work/aspnet-sample.out"
  mkdir -p "$dir"
  echo '<Project />' >"$dir/Directory.Build.props"
  echo '<Project />' >"$dir/Directory.Build.targets"
  # The local folder beside the machine's usual sources (the package's dependencies come from those).
  cat >"$dir/nuget.config" <<CONFIG
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <packageSources>
    <add key="reftoken-local" value="$packages" />
  </packageSources>
</configuration>
CONFIG
  (
    export NUGET_PACKAGES="$work/aspnet-sample-nuget"
    cd "$dir" &&
      dotnet new web -o RefTokenApi &&
      cd RefTokenApi &&
      dotnet add package RefToken.AspNetCore --version 0.1.0 &&
      readme_sample api/Program.cs >Program.cs &&
      { grep -q 'AddRefToken' Program.cs || { echo "no api/Program.cs sample in README.md"; false; }; } &&
      dotnet build -warnaserror
  ) >"$out" 2>&1 || { cat "$out"; return 1; }
}
run_sample "aspnet sample" aspnet_sample_test RefToken.AspNetCore built

# 4. Duende IdentityServer in the test process: wherever its packages restore.
if [ "$with_is" = true ]; then
  run_tests identityserver "$here/tests/RefToken.IdentityServer.Tests" -c Release || status=1
else
  echo "Duende IdentityServer integration tests not run: Duende.IdentityServer 7.4.8 does not restore from the configured package sources and DUENDE_PACKAGES (a local folder of its packages) is not set; see bindings/dotnet/README.md."
fi

# 5. RefToken.AspNetCore against Duende's OAuth2 introspection handler, principal for principal, behind
#    a real IdentityServer: wherever IdentityServer and the handler's package both restore (the handler
#    from the package sources, or from DUENDE_PACKAGES beside IdentityServer's packages).
if [ "$with_is" != true ]; then
  echo "Introspection-handler parity tests not run: they need Duende IdentityServer 7.4.8 (see above)."
elif restore_probe introspection Duende.AspNetCore.Authentication.OAuth2Introspection 7.0.1; then
  run_tests introspection-parity "$here/tests/RefToken.AspNetCore.IntrospectionParityTests" -c Release || status=1
else
  echo "Introspection-handler parity tests not run: Duende.AspNetCore.Authentication.OAuth2Introspection 7.0.1 does not restore from the configured package sources or DUENDE_PACKAGES; see bindings/dotnet/README.md."
fi

echo "dotnet: $passed passed, $failed failed, $skipped skipped"
exit "$status"
