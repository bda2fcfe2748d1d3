# RefToken: `make` builds the library and its header; `make test` runs every test.
CARGO ?= cargo
BUILD := target/release
HARNESS := target/c-harness

.PHONY: all lib test test-rust test-c test-dotnet header-check doc-check clean

all: lib

lib:
	$(CARGO) build --release --locked
	ln -sf libreftoken.so $(BUILD)/libreftoken.so.0

# The committed header must be what build.rs generates from src/ffi.
header-check: lib
	@git diff --quiet -- include/reftoken.h || { echo "include/reftoken.h is stale: commit the regenerated header"; git diff --stat -- include/reftoken.h; exit 1; }

test-rust:
	$(CARGO) test --release --locked

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

test: header-check doc-check test-rust test-c test-dotnet

clean:
	$(CARGO) clean
