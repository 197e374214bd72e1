# The two commands of the README:
#   make run    install what is missing, build, run kabard (data in ./data)
#   make test   install what is missing, build, run every test, then again
#               under AddressSanitizer + UndefinedBehaviorSanitizer
#
# Other targets: build, build-sanitize, test-fast (no sanitizer pass),
# test-sanitize, install, clean.

BUILD ?= build
SAN_BUILD ?= build-sanitize
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
KABARD_FLAGS ?= --allow-private-targets

.PHONY: all deps build build-sanitize run test test-fast test-sanitize node-deps install clean

all: build

deps:
	@./scripts/deps.sh

$(BUILD)/build.ninja $(BUILD)/Makefile:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: deps $(BUILD)/Makefile
	cmake --build $(BUILD) -j $(JOBS)

build-sanitize: deps
	cmake -S . -B $(SAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DKABAR_SANITIZE=ON
	cmake --build $(SAN_BUILD) -j $(JOBS)

run: build
	$(BUILD)/kabard --data-dir ./data $(KABARD_FLAGS)

node-deps: deps
	@if [ ! -d tests/node_modules ] || [ tests/package-lock.json -nt tests/node_modules ]; then \
		cd tests && npm ci --no-audit --no-fund --loglevel=error; fi

test-fast: build node-deps
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-sanitize: build-sanitize node-deps
	cd $(SAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest --output-on-failure -j $(JOBS)

test: test-fast test-sanitize

install: build
	cmake --install $(BUILD)

clean:
	rm -rf $(BUILD) $(SAN_BUILD)
