# Thin wrapper over CMake. `make run` and `make test` also install missing Debian packages.
BUILD    ?= build
JOBS     ?= $(shell nproc)
DIP_CUDA ?= auto
CMAKE_ARGS ?=

.PHONY: all build deps test run bench install clean

all: build

# Debian packages the build needs; installed with apt when missing (as root or via sudo).
DEPS_HEADERS = /usr/include/eigen3/Eigen/Core:libeigen3-dev /usr/include/doctest/doctest.h:doctest-dev \
               /usr/include/stb/stb_image.h:libstb-dev
deps:
	@missing=""; \
	for pair in $(DEPS_HEADERS); do f=$${pair%%:*}; p=$${pair##*:}; \
	  if [ ! -e "$$f" ] && [ -z "$(DIP_EXTRA_INCLUDE)" ]; then missing="$$missing $$p"; fi; done; \
	command -v cmake >/dev/null || missing="$$missing cmake"; \
	command -v g++ >/dev/null || missing="$$missing g++"; \
	if [ -n "$$missing" ]; then \
	  echo "dip: installing missing Debian packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO=sudo; else \
	    echo "dip: please install:$$missing (apt-get install$$missing)"; exit 2; fi; \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing \
	    || { echo "dip: could not install$$missing; install them with apt-get and retry"; exit 2; }; \
	fi

$(BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DDIP_CUDA=$(DIP_CUDA) \
	  $(if $(DIP_EXTRA_INCLUDE),-DDIP_EXTRA_INCLUDE=$(DIP_EXTRA_INCLUDE)) $(CMAKE_ARGS)

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

# The unit and app tests, then `dip study` on a real one-node Slurm cluster (tests/slurm/; it
# installs Debian's slurmctld, slurmd, slurm-client and munge when missing, and reports "skipped"
# where they cannot be installed or started).
test: build
	cd $(BUILD) && ./dip-tests
	tests/install/test_install.sh $(BUILD)
	@rc=0; tests/slurm/test_study.sh $(BUILD) || rc=$$?; \
	if [ $$rc -eq 77 ]; then echo "slurm study test: skipped"; elif [ $$rc -ne 0 ]; then exit $$rc; fi

# The main job: denoise the bundled image (on a CPU-only machine a quick 128 px profile that stops
# by itself: --stop wmv, at most 1200 iterations, about 3-5 minutes on 2 cores).
run: build
	$(BUILD)/dip denoise --image data/astronaut.png --device auto --out out/denoise

# dip-bench next to PyTorch's time for the same iteration, measured in the same run (when Debian's
# python3-torch is installed): the skip net, then the naive ViT (patch 8: (BENCH_SIZE/8)^2 tokens;
# BENCH_SIZE must be a multiple of 8). Debian's PyTorch runs its Linear layers on whatever
# libblas.so.3 is: netlib's reference BLAS unless libopenblas0 is installed (~8x slower ViT).
BENCH_SIZE ?= 128
TORCH_REF = /usr/bin/python3 gpu/torch_reference.py --device cpu --threads 2 --sizes $(BENCH_SIZE) --iters 10 --warmup 2
HAVE_TORCH = /usr/bin/python3 -c 'import torch' 2>/dev/null
bench: build
	$(BUILD)/dip-bench --net skip --size $(BENCH_SIZE) --device cpu --threads 2 --iters 20
	@if $(HAVE_TORCH); then $(TORCH_REF) --net skip; \
	else echo "(PyTorch baseline skipped: apt-get install python3-torch)"; fi
	$(BUILD)/dip-bench --net vit --size $(BENCH_SIZE) --device cpu --threads 2 --iters 10
	@if $(HAVE_TORCH); then $(TORCH_REF) --net vit; fi

# The library for other programs: headers under PREFIX/include/dip, libdipcore.a, the CMake package
# (find_package(dip), target dip::dip) and dip.pc. examples/ shows a program built against it.
PREFIX ?= /usr/local
install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

clean:
	rm -rf $(BUILD)

# ---- sanitized tests ---------------------------------------------------------
.PHONY: test-sanitize fuzz

# The unit and app tests built with AddressSanitizer + UndefinedBehaviorSanitizer (CPU only) in a
# build folder of their own; any report (leaks included) stops the run with a failure.
# SANITIZE_FILTER is a doctest filter: by default it leaves out the two slowest end-to-end cases
# (about 190 s each under the sanitizers on 2 cores, 6 of the run's 13 minutes; `make test` runs
# them); SANITIZE_FILTER= runs every case. Fresh build ~15 min, run ~7 min on 2 cores.
ASAN_BUILD ?= build-asan
SANITIZE_FILTER ?= -tce="study run: resumes after a kill*,apps cli: every task takes a stopping rule*"
test-sanitize: deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDIP_CUDA=off -DDIP_SANITIZE=address,undefined \
	  $(if $(DIP_EXTRA_INCLUDE),-DDIP_EXTRA_INCLUDE=$(DIP_EXTRA_INCLUDE))
	cmake --build $(ASAN_BUILD) -j $(JOBS) --target dip-tests
	cd $(ASAN_BUILD) && ASAN_OPTIONS=halt_on_error=1:detect_leaks=1:abort_on_error=0 \
	  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ./dip-tests $(SANITIZE_FILTER)

# ---- fuzzing -----------------------------------------------------------------
# libFuzzer (clang, installed when missing) with ASan + UBSan on the image decoder (fuzz-image; with
# stb_image compiled from apps/lib/stb_impl.cpp, instrumented) and the option parser (fuzz-options),
# FUZZ_SECONDS each, on a copy of tests/fuzz/corpus_*: what they find new stays in
# $(FUZZ_BUILD)/corpus_*, a failing input is saved as $(FUZZ_BUILD)/crash-* (oom-*, timeout-*; add it
# to tests/fuzz/corpus_* once fixed). A crash, sanitizer report, leak, hang (> 10 s) or allocation
# over 2 GiB fails the target. See tests/fuzz/README.md.
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= image options
fuzz: deps
	@command -v clang++ >/dev/null || { \
	  echo "dip: installing clang (libFuzzer)"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO=sudo; else \
	    echo "dip: please install clang (apt-get install clang)"; exit 2; fi; \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang \
	    || { echo "dip: could not install clang; install it with apt-get and retry"; exit 2; }; }
	cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=clang++ -DDIP_CUDA=off \
	  -DDIP_FUZZ=ON -DDIP_SANITIZE=address,undefined -DDIP_EXTRA_INCLUDE=$(or $(DIP_EXTRA_INCLUDE),/usr/include)
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target $(addprefix fuzz-,$(FUZZ_TARGETS))
	@for t in $(FUZZ_TARGETS); do \
	  rm -rf $(FUZZ_BUILD)/corpus_$$t && cp -r tests/fuzz/corpus_$$t $(FUZZ_BUILD)/corpus_$$t || exit 1; \
	  echo "fuzz-$$t: $(FUZZ_SECONDS) s"; \
	  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  $(FUZZ_BUILD)/fuzz-$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	    -dict=tests/fuzz/$$t.dict -artifact_prefix=$(FUZZ_BUILD)/ $(FUZZ_BUILD)/corpus_$$t || exit 1; \
	done
