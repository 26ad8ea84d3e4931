# Thin wrapper around CMake/CTest so that the README's two commands work:
#   make run    build if needed, then run the daemon with config/feedhandler.ini
#   make test   build, then run every test (unit + integration); non-zero on any failure
# Options: SANITIZE=1 (ASan+UBSan build in build/asan), WERROR=1, FUZZ=1, CONFIG=path, JOBS=n
SANITIZE ?= 0
WERROR   ?= 0
CONFIG   ?= config/feedhandler.ini
JOBS     ?= $(shell nproc 2>/dev/null || echo 2)
CTEST_ARGS ?=

ifeq ($(SANITIZE),1)
BUILD_DIR := build/asan
CMAKE_FLAGS := -DFH_SANITIZE=ON
else
BUILD_DIR := build/release
CMAKE_FLAGS :=
endif
ifeq ($(WERROR),1)
CMAKE_FLAGS += -DFH_WERROR=ON
else
CMAKE_FLAGS += -DFH_WERROR=OFF
endif

.PHONY: all deps configure build run test bench fuzz format format-check clean

all: build

deps:
	@scripts/install-deps

configure: deps
	@cmake -S . -B $(BUILD_DIR) $(CMAKE_FLAGS) >/dev/null

build: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS)

run: build
	$(BUILD_DIR)/feedhandler -c $(CONFIG)

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)

bench: build
	@scripts/bench $(BUILD_DIR)

fuzz: deps
	@cmake -S . -B build/fuzz -DFH_FUZZ=ON -DFH_SANITIZE=ON -DCMAKE_C_COMPILER=clang >/dev/null
	@cmake --build build/fuzz -j $(JOBS)

format:
	@git ls-files '*.c' '*.h' | xargs clang-format -i

format-check:
	@git ls-files '*.c' '*.h' | xargs clang-format --dry-run -Werror

clean:
	rm -rf build
