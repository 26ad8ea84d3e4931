# Thin wrapper around CMake/CTest so that the README's two commands work:
#   make run    build if needed, then run the daemon with config/feedhandler.ini
#   make test   build, then run every test (unit + integration); non-zero on any failure
# Options: SANITIZE=1 (ASan+UBSan build in build/asan), TSAN=1 (ThreadSanitizer build in
#          build/tsan; not with SANITIZE=1), WERROR=1, FUZZ=1, CONFIG=path, JOBS=n,
#          KAFKA=host:port (make run: produce to Kafka)
SANITIZE ?= 0
TSAN     ?= 0
WERROR   ?= 0
CONFIG   ?= config/feedhandler.ini
JOBS     ?= $(shell nproc 2>/dev/null || echo 2)
CTEST_ARGS ?=

ifeq ($(SANITIZE)$(TSAN),11)
$(error TSAN=1 and SANITIZE=1 cannot be combined: ThreadSanitizer and AddressSanitizer exclude each other)
endif
ifeq ($(SANITIZE),1)
BUILD_DIR := build/asan
CMAKE_FLAGS := -DFH_SANITIZE=ON
else ifeq ($(TSAN),1)
BUILD_DIR := build/tsan
CMAKE_FLAGS := -DFH_TSAN=ON
else
BUILD_DIR := build/release
CMAKE_FLAGS :=
endif
ifeq ($(WERROR),1)
CMAKE_FLAGS += -DFH_WERROR=ON
else
CMAKE_FLAGS += -DFH_WERROR=OFF
endif

.PHONY: all deps configure build run test bench fuzz fuzz-smoke format format-check clean

all: build

deps:
	@scripts/install-deps

configure: deps
	@cmake -S . -B $(BUILD_DIR) $(CMAKE_FLAGS) >/dev/null

build: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS)

# KAFKA=host:port produces to that Kafka/Redpanda (sink.type=kafka, Avro) instead of printing
# JSON lines; the rest of the configuration (schema registry, spool) comes from CONFIG.
KAFKA    ?=
RUN_KAFKA := $(if $(KAFKA),--set sink.type=kafka --set sink.format=avro --set kafka.bootstrap.servers=$(KAFKA))
run: build
	$(BUILD_DIR)/feedhandler -c $(CONFIG) $(RUN_KAFKA)

# The exchanges may be unreachable (CI, offline machines): `make demo` runs feedsim, the
# exchange simulator, over TLS with a throwaway CA on ephemeral loopback ports, and
# feedhandler against it (config/demo.ini), printing live trades as JSON lines until Ctrl-C.
DEMO_RATE ?= 5
demo: build
	@set -e; tmp=$$(mktemp -d); fs=; \
	trap 'test -z "$$fs" || kill $$fs 2>/dev/null || true; rm -rf "$$tmp"' EXIT INT TERM; \
	sh tests/integration/feedsim_certs.sh "$$tmp/certs"; \
	$(BUILD_DIR)/tools/feedsim --binance 0 --kraken-v2 0 --control 0 --rate $(DEMO_RATE) \
	    --tls "$$tmp/certs/server.pem,$$tmp/certs/server.key" --ports-file "$$tmp/ports.json" \
	    >/dev/null 2>"$$tmp/feedsim.log" & fs=$$!; \
	for i in $$(seq 100); do test -s "$$tmp/ports.json" && break; sleep 0.1; done; \
	bp=$$(sed -n 's/.*"binance":\([0-9]*\).*/\1/p' "$$tmp/ports.json"); \
	kp=$$(sed -n 's/.*"kraken_v2":\([0-9]*\).*/\1/p' "$$tmp/ports.json"); \
	echo "feedsim: binance on $$bp, kraken v2 on $$kp (log: $$tmp/feedsim.log); Ctrl-C stops" >&2; \
	$(BUILD_DIR)/feedhandler -c config/demo.ini \
	    --set binance.url=wss://localhost:$$bp --set binance.rest_url=https://localhost:$$bp \
	    --set kraken.url=wss://localhost:$$kp/v2 --set kraken.rest_url=https://localhost:$$kp \
	    --set tls.ca_file="$$tmp/certs/ca.pem" || true

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)

bench: build
	@scripts/bench $(BUILD_DIR)

fuzz: deps
	@cmake -S . -B build/fuzz -DFH_FUZZ=ON -DFH_SANITIZE=ON -DCMAKE_C_COMPILER=clang >/dev/null
	@cmake --build build/fuzz -j $(JOBS) --target fuzz_all

# Every fuzz target for FUZZ_SECONDS (default 20) each, two at a time; fails on any finding.
fuzz-smoke: fuzz
	@tests/fuzz/smoke build/fuzz

format:
	@git ls-files '*.c' '*.h' | xargs clang-format -i

format-check:
	@git ls-files '*.c' '*.h' | xargs clang-format --dry-run -Werror

clean:
	rm -rf build
