# Front for CMake. `make` builds, `make test` installs what is missing, builds
# and runs every test (plain build, then the sanitizer build), `make run`
# starts the stack and imports a generated sample dump.
BUILD  ?= build
SAN    ?= build-san
JOBS   ?= $(shell nproc)

FUZZ   ?= build-fuzz

.PHONY: all deps build test test-plain test-san test-fuzz run bench clean

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

bench: build
	@sh bench/run.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(SAN) $(FUZZ)
