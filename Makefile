# Thin wrapper around CMake/CTest so that the README's two commands work:
#   make run    build if needed, then run the daemon with config/feedhandler.ini
#   make test   build, then run every test (unit + integration); non-zero on any failure
# Options: SANITIZE=1 (ASan+UBSan build in build/asan), TSAN=1 (ThreadSanitizer build in
#          build/tsan; not with SANITIZE=1), WERROR=1, FUZZ=1, CONFIG=path, JOBS=n (build),
#          TEST_JOBS=n (tests at once; default one more than the cores: most integration tests
#          wait on processes, sockets and brokers rather than compute),
#          KAFKA=host:port (make run: produce to Kafka)
SANITIZE ?= 0
TSAN     ?= 0
WERROR   ?= 0
CONFIG   ?= config/feedhandler.ini
JOBS     ?= $(shell nproc 2>/dev/null || echo 2)
TEST_JOBS ?= $(shell echo $$(( $(JOBS) + 1 )))
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

.PHONY: all deps configure build run demo test bench bench-micro fuzz fuzz-smoke format format-check clean

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

# `make demo` shows the whole pipeline offline (scripts/demo): feedsim, the exchange simulator,
# over TLS -> feedhandler (config/demo.ini: Kafka sink, Avro with the Schema Registry stand-in)
# -> Apache Kafka (scripts/kafka-local, one broker; librdkafka's mock cluster where Java or the
# cached jars are missing) -> a consumer printing decoded trades, and a status line a second,
# until Ctrl-C. The build's output goes to $(BUILD_DIR)/demo-build.log. DEMO_RATE: trades/s
# per symbol (6 books).
DEMO_RATE ?= 5
demo: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS) >$(BUILD_DIR)/demo-build.log 2>&1 || \
	    { tail -n 30 $(BUILD_DIR)/demo-build.log; \
	      echo "make demo: the build failed (log: $(BUILD_DIR)/demo-build.log)" >&2; exit 1; }
	@/usr/bin/python3 scripts/demo $(BUILD_DIR) --rate $(DEMO_RATE)

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(TEST_JOBS) $(CTEST_ARGS)

bench: build
	@scripts/bench $(BUILD_DIR) $(QUICK)

bench-micro: build
	@scripts/bench-micro $(BUILD_DIR)

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
