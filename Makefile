# Front for CMake. `make` builds, `make test` installs what is missing, builds
# and runs every test (plain build, then the sanitizer build), `make run`
# starts the stack and imports a generated sample dump. `make install`
# installs into PREFIX (default /usr/local; DESTDIR honoured), `make deb`
# builds the Debian package in build-deb/ (docs/INSTALL.md).
BUILD  ?= build
SAN    ?= build-san
JOBS   ?= $(shell nproc)

FUZZ   ?= build-fuzz
DEB    ?= build-deb
PREFIX ?= /usr/local

.PHONY: all deps build test test-plain test-san test-fuzz run bench clean install uninstall deb

all: build

deps:
	@sh scripts/deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DTS_WERROR=ON >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

test: test-plain test-san test-fuzz

test-plain: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-san: deps
	@cmake -S . -B $(SAN) -DTS_WERROR=ON -DTS_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
	@cmake --build $(SAN) -j $(JOBS)
	cd $(SAN) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
		ctest --output-on-failure -j $(JOBS) -LE nosan

# libFuzzer targets (clang), each run for a bounded time by CTest
test-fuzz: deps
	@CC=clang CXX=clang++ cmake -S . -B $(FUZZ) -DTS_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(FUZZ) -j $(JOBS) --target fuzzers
	cd $(FUZZ) && ctest --output-on-failure -L fuzz

run: build
	@sh scripts/run.sh $(BUILD)

# The build is configured for PREFIX (the CLI's fallback for finding its
# programs is compiled in), then installed; DESTDIR stages it elsewhere.
install: deps
	@cmake -S . -B $(BUILD) -DTS_WERROR=ON -DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)
	DESTDIR=$(DESTDIR) cmake --install $(BUILD)

# what the last `make install` installed (its manifest)
uninstall:
	@test -f $(BUILD)/install_manifest.txt || { echo "nothing installed from $(BUILD)"; exit 1; }
	xargs -d '\n' rm -fv < $(BUILD)/install_manifest.txt

# The Debian package: its own build, with prefix /usr and the compiler and
# linker flags Debian builds its packages with (dpkg-buildflags, all the
# hardening), packed by CPack and checked by lintian (no errors allowed).
deb: deps
	@export DEB_BUILD_MAINT_OPTIONS=hardening=+all; \
	cmake -S . -B $(DEB) -DTS_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
		-DCMAKE_INSTALL_PREFIX=/usr \
		-DCMAKE_C_FLAGS="$$(dpkg-buildflags --get CFLAGS) $$(dpkg-buildflags --get CPPFLAGS)" \
		-DCMAKE_CXX_FLAGS="$$(dpkg-buildflags --get CXXFLAGS) $$(dpkg-buildflags --get CPPFLAGS)" \
		-DCMAKE_EXE_LINKER_FLAGS="$$(dpkg-buildflags --get LDFLAGS)" >/dev/null
	@cmake --build $(DEB) -j $(JOBS)
	@rm -f $(DEB)/trajstore_*.deb
	@cd $(DEB) && cpack -G DEB >/dev/null
	@lintian --fail-on error $(DEB)/trajstore_*.deb
	@ls $(DEB)/trajstore_*.deb

bench: build
	@sh bench/run.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(SAN) $(FUZZ) $(DEB)
