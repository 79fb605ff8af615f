# spurscope — build, test and demo on a fresh Debian machine.
#   make demo   installs what is missing, builds, runs the demo
#   make test   installs what is missing, builds, runs the whole test suite
#   make bench  runs `spurscope bench` (release build)

SWIFT ?= swift
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PACKAGES := libopenblas-dev libncursesw5-dev libpng-dev libsqlite3-dev libjpeg62-turbo-dev tmux pkg-config
# One file per package that proves it is installed.
REQUIRED_FILES := /usr/include/x86_64-linux-gnu/cblas.h /usr/include/ncursesw/curses.h \
                  /usr/include/png.h /usr/include/sqlite3.h /usr/include/jpeglib.h \
                  /usr/bin/tmux /usr/bin/pkg-config

.PHONY: all deps build release test demo bench clean

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
	$(SWIFT) test

demo: release
	@echo "== spurscope loss on the bundled example batch =="
	.build/release/spurscope loss --input Tests/SpurEngineTests/Fixtures/loss_batch.safetensors
	@echo
	@echo "== spurscope bench --quick =="
	.build/release/spurscope bench --quick

bench: release
	.build/release/spurscope bench

clean:
	rm -rf .build
