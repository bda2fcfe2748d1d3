#!/usr/bin/env bash
# The quickstart: build libreftoken, compile examples/quickstart.c with the SQLite store
# adapter, issue a reference token into an SQLite database in IdentityServer's schema, and
# validate its handle from a second process. Needs a C compiler and SQLite's headers
# (Debian/Ubuntu: libsqlite3-dev). `make quickstart` runs this.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
out="$root/target/quickstart"
mkdir -p "$out"

# The library and the CLI in one build (the workspace's default members, as `make` builds
# them), with cargo's progress; src/ffi/clib/build.rs leaves the libreftoken.so.0 symlink the program loads.
${CARGO:-cargo} build --release --locked

sqlite_flags="$(pkg-config --cflags --libs sqlite3 2>/dev/null || echo -lsqlite3)"
# shellcheck disable=SC2086
${CC:-cc} -std=c99 -O2 -Wall -Wextra -Werror -pedantic -I"$root/include" -I"$root/examples" \
  "$root/examples/quickstart.c" "$root/examples/store_sqlite.c" \
  -L"$root/target/release" -lreftoken $sqlite_flags -lpthread -Wl,-rpath,"$root/target/release" \
  -o "$out/quickstart"

rm -f "$out/grants.db"
"$out/quickstart" "$out/grants.db"
