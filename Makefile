# RefToken: `make quickstart` issues and validates a token end to end; `make` builds the
# library and its header; `make test` runs every test.
CARGO ?= cargo
BUILD := target/release
HARNESS := target/c-harness
PREFIX ?= /usr/local
LIBDIR ?= lib
DESTDIR ?=
# Where `make install` keeps the stripped binaries' debug symbols (by build id); empty: nowhere.
DEBUGDIR ?=

.PHONY: all quickstart lib cli header install install-strip deb docs test test-rust test-c test-dotnet test-install test-first-contact header-check doc-check fuzz-smoke clean nginx test-nginx

all: lib

# Builds the library, issues a reference token into an SQLite store in IdentityServer's
# schema, and validates its handle from a second process.
quickstart:
	examples/quickstart.sh

# One cargo invocation builds the library and the CLI (the workspace's default members), so
# every target sees one feature set and nothing is built twice. src/ffi/clib/build.rs adds the
# libreftoken.so.0 symlink that programs linked against target/release load.
lib:
	$(CARGO) build --release --locked

cli: lib

# The committed header is what cbindgen generates from src/ffi; src/ffi/build.rs writes it beside the
# library, and only this target copies it into the source tree.
header: lib
	cp $(BUILD)/include/reftoken.h include/reftoken.h

header-check: lib
	@diff -u include/reftoken.h $(BUILD)/include/reftoken.h || { echo "include/reftoken.h is stale: run make header and commit it"; exit 1; }

FUZZ_SECONDS ?= 5

test-rust:
	CARGO=$(CARGO) scripts/test-rust.sh

test-c: lib
	cmake -S tests/c -B $(HARNESS) -DCMAKE_BUILD_TYPE=Debug -DREFTOKEN_LIB_DIR=$(CURDIR)/$(BUILD)
	cmake --build $(HARNESS)
	ctest --test-dir $(HARNESS) --output-on-failure

# The README's C example is examples/hello.c, verbatim.
doc-check:
	@sed -n '/^```c$$/,/^```$$/p' README.md | sed '1d;$$d' | diff -u - examples/hello.c || { echo "README's C example differs from examples/hello.c"; exit 1; }

# The .NET bindings: always-on tests, the packed packages, and the Duende integration tests
# wherever Duende IdentityServer restores (the package sources, or the folder DUENDE_PACKAGES names).
test-dotnet: lib
	bash bindings/dotnet/test.sh

# The nginx module (target/nginx/ngx_http_reftoken_module.so), built against the installed nginx.
nginx: lib
	bindings/nginx/build.sh

# The module and the Lua binding in real nginx, over SQLite and PostgreSQL (bindings/nginx/test.sh).
test-nginx: lib
	bindings/nginx/test.sh

# Install the library, header, pkg-config and CMake files and the CLI under PREFIX, stripped
# (DEBUGDIR=/usr/lib/debug keeps their debug symbols there).
install: lib
	packaging/install.sh --libdir $(LIBDIR) $(if $(DEBUGDIR),--debug-dir $(DEBUGDIR)) $(PREFIX) $(DESTDIR)

install-strip: install

# Debian packages libreftoken0, libreftoken-dev and reftoken, into target/packaging.
deb: lib
	packaging/deb.sh

# HTML reference: Doxygen from the header, rustdoc, and the .NET XML docs, into target/docs.
docs: lib
	packaging/docs.sh

# Install into a temporary prefix and build consumers three ways; the Debian packages.
test-install: lib
	packaging/test-install.sh

# Every fuzz target for a few seconds on its committed corpus (the long campaigns: SECURITY.md).
fuzz-smoke:
	scripts/fuzz.sh --quiet --seconds $(FUZZ_SECONDS)

# A fresh clone of HEAD in a temporary folder, running the README's first commands as written.
test-first-contact:
	tests/first-contact.sh

# The Rust tests last: their dev-dependencies change the feature set, so anything that builds
# the library afterwards builds it again.
test: header-check doc-check test-c test-dotnet test-install test-nginx test-rust

clean:
	$(CARGO) clean
