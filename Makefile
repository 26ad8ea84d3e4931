# Thin wrapper around CMake/CTest so that the README's two commands work:
#   make run    build if needed, then run the daemon with config/feedhandler.ini
#   make test   build, then run every test (unit + integration); non-zero on any failure
# Options: SANITIZE=1 (ASan+UBSan build in build/asan), TSAN=1 (ThreadSanitizer build in
#          build/tsan; not with SANITIZE=1), WERROR=1, FUZZ=1, CONFIG=path, JOBS=n (build),
#          TEST_JOBS=n (tests at once; default one more than the cores: most integration tests
#          wait on processes, sockets and brokers rather than compute),
#          KAFKA=host:port (make run: produce to Kafka)
#   make install  build/release, then install it (PREFIX=/usr/local, DESTDIR= for staging)
#   make deb      the Debian package, build/feedhandler_<version>_<arch>.deb (from build/deb)
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

.PHONY: all deps configure build run demo test bench bench-micro fuzz fuzz-smoke format format-check \
        install deb clean

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

# cmake --install honours DESTDIR itself; PREFIX is applied at install time, so build/release
# needs no reconfiguring (cmake/Packaging.cmake: /etc and /lib/systemd/system for /usr,
# PREFIX/etc and PREFIX/lib/systemd/system otherwise).
PREFIX ?= /usr/local
install: build
	cmake --install $(BUILD_DIR) --prefix $(PREFIX)

# The package is built in build/deb: the default release build (RelWithDebInfo, mimalloc, the
# flags `make test` and the benchmarks use; CPack strips the binaries), prefix /usr, Debian's
# hardening flags on top. Its dependencies come from dpkg-shlibdeps.
DEB_DIR := build/deb
deb: deps
	@cmake -S . -B $(DEB_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr \
	    -DFH_MALLOC=mimalloc -DFH_WERROR=OFF -DCMAKE_SKIP_INSTALL_ALL_DEPENDENCY=ON \
	    -DCMAKE_C_FLAGS="$$(dpkg-buildflags --get CPPFLAGS) -fstack-protector-strong" \
	    -DCMAKE_EXE_LINKER_FLAGS="$$(dpkg-buildflags --get LDFLAGS) -Wl,-z,now" >/dev/null
	@cmake --build $(DEB_DIR) -j $(JOBS) --target feedhandler feedsim fh_package_files
	@rm -rf $(DEB_DIR)/cpack
	@cd $(DEB_DIR) && cpack -G DEB >cpack.log 2>&1 || { cat cpack.log; exit 1; }
	@deb=$$(ls $(DEB_DIR)/cpack/feedhandler_*.deb) && \
	    cp "$$deb" build/ && echo "build/$$(basename "$$deb")"

clean:
	rm -rf build
