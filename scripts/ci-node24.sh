#!/usr/bin/env bash
# CI on Node 24 LTS (what the images run), next to the machine's own Node:
#   1. installs Node 24 from the npm registry (`node-linux-<arch>`, the binary package the `node`
#      package installs; it carries its headers) into a cache folder outside the checkout;
#   2. swaps in a better-sqlite3 addon built for Node 24: the only native addon compiled per Node ABI
#      (onnxruntime-node is N-API, tfjs runs on wasm). It is compiled once with node-gyp against the
#      package's headers (offline, ~2.5 min) and cached; the machine Node's addon is put back on exit,
#      so the checkout keeps working with it;
#   3. builds dist/ and runs the test files with Node 24 (their child processes, bin/bnserve.js
#      included, run on process.execPath: Node 24 as well).
# Usage: scripts/ci-node24.sh [TEST_FILE_OR_GLOB...]      default: every suite, test/*/*.test.ts
# Settings: NODE24_VERSION (24.22.3), NODE24_CACHE (/tmp/bnserve-node24-<version>).
set -euo pipefail
cd "$(dirname "$0")/.."

version="${NODE24_VERSION:-24.22.3}"
cache="${NODE24_CACHE:-/tmp/bnserve-node24-$version}"
case "$(uname -m)" in
  x86_64) arch=x64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) echo "ci-node24: no node-linux package for $(uname -m)" >&2; exit 2 ;;
esac
node_home="$cache/node_modules/node-linux-$arch"

if [[ ! -x "$node_home/bin/node" ]]; then
  echo "ci-node24: installing node-linux-$arch@$version into $cache"
  mkdir -p "$cache"
  npm install --prefix "$cache" --no-save --no-package-lock --no-audit --no-fund "node-linux-$arch@$version" >/dev/null
fi
node24_version="$("$node_home/bin/node" --version)"
[[ "$node24_version" == v24.* ]] || { echo "ci-node24: $node_home/bin/node is $node24_version" >&2; exit 1; }

addon=node_modules/better-sqlite3/build/Release/better_sqlite3.node
sqlite_version="$(node -p "require('./node_modules/better-sqlite3/package.json').version")"
cached_addon="$cache/better_sqlite3-$sqlite_version-$arch.node"
saved_addon="$(mktemp /tmp/bnserve-better-sqlite3-XXXXXX.node)"
cp "$addon" "$saved_addon"
restore() {
  mkdir -p "$(dirname "$addon")"
  cp "$saved_addon" "$addon"
  rm -f "$saved_addon"
}
trap restore EXIT

if [[ -f "$cached_addon" ]]; then
  cp "$cached_addon" "$addon"
else
  echo "ci-node24: building better-sqlite3 $sqlite_version for $node24_version (node-gyp, offline)"
  started=$SECONDS
  # npm and node-gyp run on Node 24 and compile against the headers shipped in its package.
  PATH="$node_home/bin:$PATH" npm_config_nodedir="$node_home" npm rebuild better-sqlite3 >/tmp/bnserve-node24-rebuild.log 2>&1 ||
    { tail -n 30 /tmp/bnserve-node24-rebuild.log; exit 1; }
  cp "$addon" "$cached_addon"
  echo "ci-node24: built in $((SECONDS - started)) s"
fi

export PATH="$node_home/bin:$PATH"
node -e "new (require('better-sqlite3'))(':memory:').close()"
echo "ci-node24: $(node --version), better-sqlite3 $sqlite_version loads"

npm run build
if [[ $# -eq 0 ]]; then set -- test/*/*.test.ts; fi
node --import tsx --test --test-concurrency=1 "$@"
