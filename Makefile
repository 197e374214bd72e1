# The two commands of the README:
#   make run    install what is missing, build, run kabard (data in ./data)
#   make test   install what is missing, build, run every test, then again
#               under AddressSanitizer + UndefinedBehaviorSanitizer
#
# Other targets: build, build-sanitize, test-fast (no sanitizer pass),
# test-pg (the suite again on a throwaway PostgreSQL), test-sanitize, fuzz (a short bounded libFuzzer session per target, clang),
# install, clean.

BUILD ?= build
SAN_BUILD ?= build-sanitize
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 20
FUZZ_TARGETS = fuzz_stdwh fuzz_jwt
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
KABARD_FLAGS ?= --allow-private-targets

.PHONY: all deps build build-sanitize run test test-fast test-pg test-sanitize fuzz node-deps install clean

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

# The whole suite once more on PostgreSQL: tests/pg/pg.sh starts a cluster
# of its own (initdb + pg_ctl, a free port), ctest runs with
# KABAR_TEST_DATABASE_URL set (store unit tests and every kabard of the
# integration tests use it; pg_cluster.test.mjs runs only then), and the
# cluster is stopped and deleted whatever the result. The store unit tests
# run there under the sanitizers too.
test-pg: build build-sanitize node-deps
	PG_OPTS="-c fsync=off" ./tests/pg/pg.sh run sh -c '\
		cd $(BUILD) && ctest --output-on-failure -j $(JOBS) && \
		cd $(CURDIR)/$(SAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest --output-on-failure -R "^unit_store"'

test-sanitize: build-sanitize node-deps
	cd $(SAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest --output-on-failure -j $(JOBS)

# libFuzzer with ASan+UBSan, each target for FUZZ_SECONDS: new inputs go to
# $(FUZZ_BUILD)/corpus, the checked-in seeds in fuzz/corpus are only read.
fuzz: deps
	cmake -S . -B $(FUZZ_BUILD) -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug \
		-DKABAR_FUZZ=ON -DKABAR_SANITIZE=ON -DKABAR_TESTS=OFF
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target $(FUZZ_TARGETS)
	@for t in $(FUZZ_TARGETS); do \
		mkdir -p $(FUZZ_BUILD)/corpus/$$t && \
		echo "fuzz: $$t for $(FUZZ_SECONDS) s" && \
		$(FUZZ_BUILD)/fuzz/$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 \
			-rss_limit_mb=2048 -print_final_stats=1 \
			-artifact_prefix=$(FUZZ_BUILD)/ $(FUZZ_BUILD)/corpus/$$t fuzz/corpus/$$t \
			2>$(FUZZ_BUILD)/$$t.log || { tail -50 $(FUZZ_BUILD)/$$t.log; exit 1; }; \
		grep -E "^stat::number_of_executed_units|^Done" $(FUZZ_BUILD)/$$t.log; \
	done

test: test-fast test-pg test-sanitize fuzz

install: build
	cmake --install $(BUILD)

clean:
	rm -rf $(BUILD) $(SAN_BUILD) $(FUZZ_BUILD)
