# syntax=docker/dockerfile:1
# nodemesh image: the node agent and the mesh CA (`nodemesh agent`, `nodemesh ca`, `nodemesh uninstall`).
# Two stages on the same Node 24 Debian bookworm base, so the libbpf shim and the native Node addons
# (ffi-napi, ref-napi) are built against the glibc and libbpf they run with.
#   make image      (docker, podman or buildah; IMAGE=name:tag to choose the tag)

# 1. Build: bpf/*.bpf.c -> build/bpf/*.bpf.o (clang), native/nmbpf.c -> build/native/libnmbpf.so (gcc),
#    src/ -> dist/src (tsc), then node_modules pruned to the production dependencies.
FROM node:24-bookworm-slim AS build
# python3, make and g++ are for node-gyp (the FFI addons); clang, llvm, libbpf-dev for the bpf objects.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      clang llvm libbpf-dev libelf-dev zlib1g-dev libc6-dev make gcc g++ python3 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# Dependencies first: this layer is reused while only the sources change.
COPY package.json package-lock.json .npmrc ./
RUN npm ci --no-audit --no-fund
COPY Makefile ./
COPY bpf/ bpf/
COPY native/ native/
# Only these two targets: the rest of the Makefile bootstraps a Node, which this image already is.
RUN make bpf native
COPY tsconfig.json ./
COPY src/ src/
# Only src/ is in the context, so tsc emits dist/src/** (tests and bench stay out of the image).
RUN node node_modules/typescript/bin/tsc -p tsconfig.json \
 && npm prune --omit=dev --no-audit --no-fund

# 2. Runtime. libbpf1 and libelf1 for the shim; iproute2 for the delivery-address init container and the
#    uninstall; util-linux and mount for the mount-host-fs init container (nsenter, mount).
FROM node:24-bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libbpf1 libelf1 iproute2 util-linux mount \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV NODE_ENV=production
# Same layout as a source checkout, so the agent finds build/bpf and build/native relative to dist/.
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules/ node_modules/
COPY --from=build /app/dist/ dist/
COPY --from=build /app/build/bpf/ build/bpf/
COPY --from=build /app/build/native/ build/native/
COPY bin/ bin/
# bin/nodemesh resolves its own symlink, so it finds /app from anywhere on the PATH.
RUN ln -s /app/bin/nodemesh /usr/local/bin/nodemesh
# Root by default for the agent (loading eBPF and pinning under bpffs need it, with capabilities; see
# deploy/base/daemonset.yaml). The CA's Deployment runs the same image as a non-root user.
USER 0
ENTRYPOINT ["nodemesh"]
CMD ["help"]
