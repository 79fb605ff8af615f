# spurscope — build, test and demo on a fresh Debian machine.
#   make demo   installs what is missing, builds, runs the demo
#   make test   installs what is missing, builds, runs the whole test suite
#   make bench  runs `spurscope bench` (release build)
#   make results  regenerates the method table (results/methods.md, linked from docs/results.md)
#   make extract-test  the Python feature extractor's tests (tools/extract), in .venv-extract/
#   make fuzz   mutates bundles and runs the commands for FUZZ_MINUTES (default 5); crashes
#               are saved under Tests/CLITests/FuzzCases, which `make test` replays

SWIFT ?= swift
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PACKAGES := zlib1g-dev libssl-dev libopenblas-dev libncursesw5-dev libpng-dev libsqlite3-dev libjpeg62-turbo-dev tmux pkg-config chromium
# One file per package that proves it is installed.
REQUIRED_FILES := /usr/include/zlib.h /usr/include/openssl/evp.h /usr/include/x86_64-linux-gnu/cblas.h /usr/include/ncursesw/curses.h \
                  /usr/include/png.h /usr/include/sqlite3.h /usr/include/jpeglib.h \
                  /usr/bin/tmux /usr/bin/pkg-config /usr/bin/chromium

SAMPLE := sample-data/waterbirds-synth

.PHONY: all deps build release test demo bench sample encoder-check clean extract-deps extract-test reference-test results fuzz

all: build

deps:
	@missing=""; for f in $(REQUIRED_FILES); do [ -e "$$f" ] || missing="$$missing $$f"; done; \
	if [ -n "$$missing" ]; then \
	  echo "missing:$$missing — installing $(APT_PACKAGES)"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(APT_PACKAGES); \
	fi
	@command -v $(SWIFT) >/dev/null || { echo "swift not found on PATH (Swift 6 toolchain required)"; exit 1; }

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

test: deps
	$(SWIFT) build --build-tests
	$(MAKE) sample SPURSCOPE=.build/debug/spurscope
	$(MAKE) encoder-check SPURSCOPE=.build/debug/spurscope
	$(SWIFT) test
	$(MAKE) extract-test
	$(MAKE) reference-test

# The embedded default bundle: built from its recipe on first use and checked
# against the committed digest of its integer-exact files. Its frozen encoder
# is the committed $(ENCODER) (pre-trained from the same recipe when the file
# is missing); `encoder-check` pre-trains it again and compares.
SPURSCOPE ?= .build/release/spurscope
ENCODER := sample-data/encoder.safetensors
sample: $(SAMPLE)/manifest.json

$(SAMPLE)/manifest.json: sample-data/recipe.json $(ENCODER)
	$(SPURSCOPE) synth --recipe sample-data/recipe.json --encoder $(ENCODER) --out $(SAMPLE) --force
	@digest=$$(scripts/sample-digest.sh $(SAMPLE)); want=$$(cat sample-data/waterbirds-synth.sha256); \
	if [ "$$digest" != "$$want" ]; then \
	  echo "error: $(SAMPLE) differs from sample-data/waterbirds-synth.sha256 ($$digest, expected $$want)"; \
	  rm -rf $(SAMPLE); exit 1; fi
	@echo "$(SAMPLE): digest matches sample-data/waterbirds-synth.sha256"

# Only when missing (no prerequisites: a fresh clone's file times say nothing).
$(ENCODER):
	$(SPURSCOPE) synth --recipe sample-data/recipe.json --encoder $@ --encoder-only

encoder-check:
	scripts/encoder-check.sh $(SPURSCOPE) sample-data/recipe.json $(ENCODER)

# The feature extractor (tools/extract): its own virtualenv with the pinned
# requirements, rebuilt when requirements.txt changes. torch is the CPU wheel;
# pip finds it through its configured find-links, or pass an index with PIP_ARGS.
EXTRACT_VENV := .venv-extract
EXTRACT_PYTHON ?= python3
PIP_ARGS ?=
extract-deps: $(EXTRACT_VENV)/.installed

$(EXTRACT_VENV)/.installed: tools/extract/requirements.txt
	rm -rf $(EXTRACT_VENV)
	$(EXTRACT_PYTHON) -m venv $(EXTRACT_VENV)
	$(EXTRACT_VENV)/bin/pip install --quiet --disable-pip-version-check $(PIP_ARGS) -r tools/extract/requirements.txt
	touch $@

extract-test: extract-deps build
	$(MAKE) sample SPURSCOPE=.build/debug/spurscope
	cd tools/extract && SPURSCOPE=$(CURDIR)/.build/debug/spurscope $(CURDIR)/$(EXTRACT_VENV)/bin/python -m pytest -q

# Native CLIP (Sources/SpurCLIP) against torch, transformers and OpenAI's
# clip files on random weights and the real BPE vocabulary; same venv.
reference-test: extract-deps build
	cd tools/reference && SPURSCOPE=$(CURDIR)/.build/debug/spurscope $(CURDIR)/$(EXTRACT_VENV)/bin/python -m pytest -q

demo: release
	$(MAKE) sample SPURSCOPE=.build/release/spurscope
	.build/release/spurscope ui $(SAMPLE)

bench: release
	.build/release/spurscope bench

# The method table (docs/results.md): every method on the default bundle over three
# seeds, each method's lr / sampler / loss form picked by validation worst
# group on the first seed, in a fresh workspace so that no run of an older
# build is reused. Writes results/methods.md (linked from docs/results.md,
# "The method table") and prints it; progress
# goes to the terminal. RESULTS_FLAGS changes the protocol.
RESULTS_FLAGS ?= --seeds 0,1,2 --tune --epochs 20 --absent-word water=land
results: release
	$(MAKE) sample SPURSCOPE=.build/release/spurscope
	rm -rf results/workspace
	mkdir -p results
	.build/release/spurscope compare $(SAMPLE) --workspace results/workspace $(RESULTS_FLAGS) > results/methods.md.partial
	mv results/methods.md.partial results/methods.md
	@cat results/methods.md

# Not part of `make test`: bounded by time. FUZZ_SEED makes a run reproducible.
FUZZ_MINUTES ?= 5
FUZZ_SEED ?= $(shell date +%s)
fuzz: build
	python3 tools/fuzz/fuzz.py --spurscope .build/debug/spurscope --minutes $(FUZZ_MINUTES) --seed $(FUZZ_SEED)

clean:
	rm -rf .build $(EXTRACT_VENV)
