# Thin wrapper over CMake. `make run` runs the demo, `make check` the whole test suite
# under AddressSanitizer + UndefinedBehaviorSanitizer. Both install missing build
# dependencies first (apt-get; needs root or sudo on a fresh Debian 12).
BUILD ?= build
JOBS  ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=
FUZZ_SECONDS ?= 20

.PHONY: all deps build build-asan build-clang run check test clean fuzz bench bench-peers interop interop-report format

all: build

deps:
	@bash tools/install-deps.sh

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD) -j$(JOBS)

build-asan: deps
	cmake -S . -B $(BUILD)-asan -DSLUICE_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD)-asan -j$(JOBS)

# Warnings are errors with clang 14 too: every check builds everything with it once.
build-clang: deps
	CC=clang CXX=clang++ cmake -S . -B $(BUILD)-clang -DCMAKE_BUILD_TYPE=Debug $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD)-clang -j$(JOBS)

run: build
	./$(BUILD)/examples/sluice_demo

check: build-asan build-clang
	bash tools/run-tests.sh $(BUILD)-asan

test: check

bench: build
	for b in $(BUILD)/bench/bench_*; do [ -x "$$b" ] && "$$b"; done

# The interop suite against every real peer (installs them: apt, npm, an offline Go build),
# each stack in both roles through every scenario (interop/README.md).
interop: build-asan
	bash interop/install.sh
	rm -f $(BUILD)-asan/interop-*.md
	ctest --test-dir $(BUILD)-asan -L interop --output-on-failure; rc=$$?; \
	  python3 interop/matrix.py $(BUILD)-asan/interop-*.md; exit $$rc

# The full matrix (every pair of peers), written to interop/results.md.
interop-report: build
	bash interop/install.sh
	python3 interop/run.py --build $(BUILD) --focus all

# sluice <-> sluice beside each interop peer <-> itself (docs/BENCHMARKS.md); peers from
# interop/install.sh, missing ones skipped.
bench-peers: build
	python3 bench/run_peers.py --build $(BUILD)

fuzz: deps
	CC=clang cmake -S . -B $(BUILD)-fuzz -DSLUICE_FUZZ=ON -DSLUICE_SANITIZE=ON -DSLUICE_TESTS=OFF -DSLUICE_BENCH=OFF -DSLUICE_EXAMPLES=OFF >/dev/null
	cmake --build $(BUILD)-fuzz -j$(JOBS)
	bash tools/run-fuzz.sh $(BUILD)-fuzz $(FUZZ_SECONDS)

format:
	clang-format -i include/*.h src/*.c src/*.h src/sctp/*.c src/sctp/*.h tests/*.c 2>/dev/null || true

clean:
	rm -rf $(BUILD) $(BUILD)-asan $(BUILD)-clang $(BUILD)-fuzz
