# SPDX-License-Identifier: Apache-2.0
# The two commands of the README:
#   make run    install what is missing, build, run kabard (data in ./data)
#   make test   install what is missing, build, run every pass of tests
#               (scripts/test.sh: each pass runs even when an earlier one
#               failed; one table at the end; nonzero exit on any failure)
#
# Other targets: build, build-sanitize, build-tsan, test-fast (the first
# pass only), test-pg (the suite again on a throwaway PostgreSQL),
# test-sanitize (again under ASan+UBSan), test-tsan (the unit tests that use
# threads, under ThreadSanitizer, on SQLite and on PostgreSQL), fuzz (a short bounded libFuzzer session per target,
# clang), test-package (build, lint, install, run and remove the Debian
# packages; root only), package (the Debian packages, in build/packages),
# install (kabard, kabar, libkabar, manual pages, completions, the systemd
# unit; no tests), clean.

BUILD ?= build
SAN_BUILD ?= build-sanitize
TSAN_BUILD ?= build-tsan
# The unit tests whose code runs on several threads: the store's connection
# pools (both backends), the keyring, the signing pool, the event writer.
TSAN_TESTS = store store_deliver store_operations keyring signpool publish
FUZZ_BUILD ?= build-fuzz
# Nine targets at 12 s each: the fuzz pass stays near three minutes with
# the build. A longer session: make fuzz FUZZ_SECONDS=600.
FUZZ_SECONDS ?= 12
FUZZ_TARGETS = fuzz_stdwh fuzz_jwt fuzz_router fuzz_bodies fuzz_pagetoken fuzz_retry_after \
	fuzz_timeutil fuzz_webhook_uri fuzz_ssrf
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
KABARD_FLAGS ?= --allow-private-targets
# Tests that only the package pass runs (they install into the system).
CTEST_EXCLUDE = -LE package

# No "Entering directory" lines from the nested makes of cmake --build.
MAKEFLAGS += --no-print-directory

.PHONY: all deps build build-sanitize build-tsan run test test-fast test-pg test-sanitize \
	test-tsan test-package fuzz node-deps package install clean

all: build

# scripts/test.sh checks the dependencies once and then sets
# KABAR_DEPS_CHECKED=1, so that its passes do not check them again.
deps:
	@[ -n "$(KABAR_DEPS_CHECKED)" ] || ./scripts/deps.sh

# Configure once; a configured tree needs no dependency check to rebuild.
$(BUILD)/Makefile:
	@$(MAKE) deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: deps $(BUILD)/Makefile
	cmake --build $(BUILD) -j $(JOBS)

build-sanitize: deps
	cmake -S . -B $(SAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DKABAR_SANITIZE=ON
	cmake --build $(SAN_BUILD) -j $(JOBS)

# Only the tests of TSAN_TESTS are built.
build-tsan: deps
	cmake -S . -B $(TSAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DKABAR_TSAN=ON
	cmake --build $(TSAN_BUILD) -j $(JOBS) --target $(addprefix test_,$(TSAN_TESTS))

run: build
	$(BUILD)/kabard --data-dir ./data $(KABARD_FLAGS)

node-deps: deps
	@if [ ! -d tests/node_modules ] || [ tests/package-lock.json -nt tests/node_modules ]; then \
		cd tests && npm ci --no-audit --no-fund --loglevel=error; fi

test-fast: build node-deps
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) $(CTEST_EXCLUDE)

# The whole suite once more on PostgreSQL: tests/pg/pg.sh starts a cluster
# of its own (initdb + pg_ctl, a free port), ctest runs with
# KABAR_TEST_DATABASE_URL set (store unit tests and every kabard of the
# integration tests use it; pg_cluster.test.mjs runs only then), and the
# cluster is stopped and deleted whatever the result. The store unit tests
# run there under the sanitizers too; both runs happen even if the first fails.
test-pg: build build-sanitize node-deps
	PG_OPTS="-c fsync=off" ./tests/pg/pg.sh run sh -c '\
		rc=0; cd $(BUILD) && ctest --output-on-failure -j $(JOBS) $(CTEST_EXCLUDE) || rc=1; \
		cd $(CURDIR)/$(SAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest --output-on-failure -R "^unit_store" || rc=1; exit $$rc'

test-sanitize: build-sanitize node-deps
	cd $(SAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest --output-on-failure -j $(JOBS) $(CTEST_EXCLUDE)

# The threaded unit tests under ThreadSanitizer, on SQLite and then on a
# throwaway PostgreSQL (both runs happen even if the first fails). A race
# fails the test (halt_on_error); tests/tsan.supp lists what is not ours.
TSAN_ENV = TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 \
	suppressions=$(CURDIR)/tests/tsan.supp"
TSAN_REGEX = "^unit_($(shell echo $(TSAN_TESTS) | tr ' ' '|'))$$"
test-tsan: build-tsan
	rc=0; cd $(TSAN_BUILD) && $(TSAN_ENV) ctest --output-on-failure -j $(JOBS) \
		-R $(TSAN_REGEX) || rc=1; \
	cd $(CURDIR) && PG_OPTS="-c fsync=off" ./tests/pg/pg.sh run sh -c 'cd $(TSAN_BUILD) && \
		$(TSAN_ENV) ctest --output-on-failure -R "^unit_(store|store_deliver|store_operations|publish)$$"' \
		|| rc=1; exit $$rc

# Build the Debian packages, lint them, install them, run kabard as the unit
# would, remove and purge them (tests/package/package_test.sh). Root only:
# the test reports itself skipped otherwise.
test-package: build
	cd $(BUILD) && ctest --output-on-failure -L package

# libFuzzer with ASan+UBSan, each target for FUZZ_SECONDS: new inputs go to
# $(FUZZ_BUILD)/corpus, the checked-in seeds in fuzz/corpus are only read.
# Every target runs even when one fails; the last line counts them as ctest
# does, for scripts/test.sh.
fuzz: deps
	cmake -S . -B $(FUZZ_BUILD) -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug \
		-DKABAR_FUZZ=ON -DKABAR_SANITIZE=ON -DKABAR_TESTS=OFF
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target $(FUZZ_TARGETS)
	@n=0; failed=0; for t in $(FUZZ_TARGETS); do \
		n=$$((n + 1)); \
		mkdir -p $(FUZZ_BUILD)/corpus/$$t && \
		echo "fuzz: $$t for $(FUZZ_SECONDS) s" && \
		if $(FUZZ_BUILD)/fuzz/$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 \
			-rss_limit_mb=2048 -print_final_stats=1 \
			-artifact_prefix=$(FUZZ_BUILD)/ $(FUZZ_BUILD)/corpus/$$t fuzz/corpus/$$t \
			2>$(FUZZ_BUILD)/$$t.log; then \
			grep -E "^stat::number_of_executed_units|^Done" $(FUZZ_BUILD)/$$t.log; \
		else \
			failed=$$((failed + 1)); echo "fuzz: $$t FAILED"; tail -50 $(FUZZ_BUILD)/$$t.log; \
		fi; \
	done; \
	echo "$$(( (n - failed) * 100 / n ))% tests passed, $$failed tests failed out of $$n"; \
	[ $$failed -eq 0 ]

# Every pass of scripts/test.sh's list, each run even when an earlier one
# failed, then one table.
test:
	@./scripts/test.sh

# Only what is installed is built: no tests, no dependency check once the
# tree is configured.
INSTALL_TARGETS = kabar_dist

package: $(BUILD)/Makefile
	cmake --build $(BUILD) -j $(JOBS) --target $(INSTALL_TARGETS)
	cd $(BUILD) && cpack -G DEB

install: $(BUILD)/Makefile
	cmake --build $(BUILD) -j $(JOBS) --target $(INSTALL_TARGETS)
	cmake --install $(BUILD)

clean:
	rm -rf $(BUILD) $(SAN_BUILD) $(TSAN_BUILD) $(FUZZ_BUILD)
