# RefToken: `make quickstart` issues and validates a token end to end; `make` builds the
# library and its header; `make test` runs every test.
CARGO ?= cargo
BUILD := target/release
HARNESS := target/c-harness
PREFIX ?= /usr/local
LIBDIR ?= lib
DESTDIR ?=

.PHONY: all quickstart lib cli install install-strip deb docs test test-rust test-c test-dotnet test-install header-check doc-check fuzz-smoke clean

all: lib

# Builds the library, issues a reference token into an SQLite store in IdentityServer's
# schema, and validates its handle from a second process.
quickstart:
	examples/quickstart.sh

lib:
	$(CARGO) build --release --locked
	ln -sf libreftoken.so $(BUILD)/libreftoken.so.0

# The committed header must be what build.rs generates from src/ffi.
header-check: lib
	@git diff --quiet -- include/reftoken.h || { echo "include/reftoken.h is stale: commit the regenerated header"; git diff --stat -- include/reftoken.h; exit 1; }

FUZZ_SECONDS ?= 5

test-rust:
	$(CARGO) test --release --locked --workspace

test-c: lib
	cmake -S tests/c -B $(HARNESS) -DCMAKE_BUILD_TYPE=Debug -DREFTOKEN_LIB_DIR=$(CURDIR)/$(BUILD)
	cmake --build $(HARNESS)
	ctest --test-dir $(HARNESS) --output-on-failure

# The README's C example is examples/hello.c, verbatim.
doc-check:
	@sed -n '/^```c$$/,/^```$$/p' README.md | sed '1d;$$d' | diff -u - examples/hello.c || { echo "README's C example differs from examples/hello.c"; exit 1; }

# The .NET bindings: always-on tests, the packed packages, and the Duende integration tests
# when DUENDE_PACKAGES names a folder of Duende IdentityServer packages.
test-dotnet: lib
	bash bindings/dotnet/test.sh

cli:
	$(CARGO) build --release --locked -p reftoken-cli

# Install the library, header, pkg-config and CMake files (and the CLI) under PREFIX.
install: lib cli
	packaging/install.sh --libdir $(LIBDIR) $(PREFIX) $(DESTDIR)

install-strip: lib cli
	packaging/install.sh --strip --libdir $(LIBDIR) $(PREFIX) $(DESTDIR)

# Debian packages libreftoken0, libreftoken-dev and reftoken, into target/packaging.
deb: lib cli
	packaging/deb.sh

# HTML reference: Doxygen from the header, rustdoc, and the .NET XML docs, into target/docs.
docs: lib
	packaging/docs.sh

# Install into a temporary prefix and build consumers three ways; the Debian packages.
test-install: lib cli
	packaging/test-install.sh

# Every fuzz target for a few seconds on its committed corpus (the long campaigns: SECURITY.md).
fuzz-smoke:
	scripts/fuzz.sh --quiet --seconds $(FUZZ_SECONDS)

test: header-check doc-check test-rust test-c test-dotnet test-install

clean:
	$(CARGO) clean
