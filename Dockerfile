# syntax=docker/dockerfile:1
# nodemesh agent image: eBPF objects and the libbpf shim from a clang toolchain, the TypeScript build from
# Node 24, and a slim Node 24 runtime with libbpf1. All three stages are Debian bookworm, so the shim and
# the native Node addons (ffi-napi, ref-napi) are built against the glibc and libbpf they run with.
#   docker build -t nodemesh:0.1.0 .

# 1. Kernel side: bpf/*.bpf.c -> build/bpf/*.bpf.o, native/nmbpf.c -> build/native/libnmbpf.so.
FROM debian:bookworm AS bpf
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      clang llvm libbpf-dev libelf-dev zlib1g-dev libc6-dev make gcc \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Makefile ./
COPY bpf/ bpf/
COPY native/ native/
# Only these two targets: the rest of the Makefile bootstraps Node, which the next stage brings itself.
RUN make bpf native

# 2. TypeScript: npm ci (node-gyp builds the FFI addons, hence python3/make/g++), tsc, then drop dev deps.
FROM node:24-bookworm-slim AS ts
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src/ src/
# Only src/ is in the context here, so tsc emits dist/src/** (tests and bench stay out of the image).
RUN node node_modules/typescript/bin/tsc -p tsconfig.json \
 && npm prune --omit=dev --no-audit --no-fund

# 3. Runtime. util-linux/mount provide nsenter and mount for the DaemonSet's mount-host-fs init container.
FROM node:24-bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libbpf1 util-linux mount \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV NODE_ENV=production
# Same layout as a source checkout, so the agent finds build/bpf and build/native relative to dist/.
COPY --from=ts /app/package.json ./
COPY --from=ts /app/node_modules/ node_modules/
COPY --from=ts /app/dist/ dist/
COPY --from=bpf /src/build/bpf/ build/bpf/
COPY --from=bpf /src/build/native/ build/native/
COPY bin/ bin/
# Root with capabilities (see deploy/base/daemonset.yaml): loading eBPF and pinning under bpffs need them.
USER 0
ENTRYPOINT ["/app/bin/nodemesh"]
CMD ["agent", "--config", "/etc/nodemesh"]
