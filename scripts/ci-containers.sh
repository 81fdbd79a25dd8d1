#!/usr/bin/env bash
# Container checks that need no Docker engine:
#   1. docker-compose.yml resolves with Debian's docker-compose (v1.29, offline `config`), for the
#      default services and with the `train` and `gpu` profiles;
#   2. the Dockerfile passes dockerfilelint (rules in .dockerfilelintrc);
#   3. the Kustomize base under deploy/kubernetes renders, and each overlay renders once its storage
#      class is set and not before (`kubectl kustomize`, offline; skipped with a message where kubectl
#      is not installed);
#   4. with --tests, also the test/deploy suites (Dockerfile targets, runtime dependency sets without
#      tfjs, tsx or esbuild, compose topology, the server CMD run end to end). `npm test` runs them anyway;
#   5. with --images, the images themselves: scripts/build-images.sh builds the trainer and server
#      targets with podman (making the Node base offline when it cannot be pulled), then
#      scripts/image-smoke.sh runs them as docker-compose.yml wires them (migrate, train, serve, predict,
#      HEALTHCHECK, SIGTERM) against the machine's PostgreSQL. ~7-8 min cold on 2 cores.
# docker-compose, and for --images podman, buildah and mmdebstrap, are installed from apt when missing;
# where they cannot be (no apt, not root, apt fails) that check is skipped with a message naming why
# (and the test/deploy compose suite reports itself skipped). A failing build or smoke run fails.
# Run it before `npm test`: test/deploy/compose.test.ts needs the docker-compose it installs.
# Usage: scripts/ci-containers.sh [--tests] [--images]
set -euo pipefail

cd "$(dirname "$0")/.."

run_tests=false
run_images=false
for arg in "$@"; do
  case "$arg" in
    --tests) run_tests=true ;;
    --images) run_images=true ;;
    *) echo "usage: $0 [--tests] [--images]" >&2; exit 2 ;;
  esac
done

section() { printf '\n== %s\n' "$*"; }

# ensure_apt [--with-recommends] WHAT PACKAGE... : installs the packages whose commands are missing
# (command = package name); returns 1 with a "SKIP: ... WHAT" message where that is impossible.
ensure_apt() {
  local recommends=(--no-install-recommends)
  if [[ "$1" == --with-recommends ]]; then recommends=(); shift; fi
  local what=$1
  shift
  local missing=() package
  for package in "$@"; do
    command -v "$package" >/dev/null 2>&1 || missing+=("$package")
  done
  if ((${#missing[@]} == 0)); then return 0; fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "SKIP: ${missing[*]} not installed and apt-get is unavailable: $what"
    return 1
  fi
  local sudo=()
  if [[ "$(id -u)" != 0 ]]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      sudo=(sudo -n)
    else
      echo "SKIP: ${missing[*]} not installed and apt-get needs root: $what"
      return 1
    fi
  fi
  local log=/tmp/ci-containers-apt.log
  echo "installing ${missing[*]} from apt"
  if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "${recommends[@]}" "${missing[@]}" >"$log" 2>&1; then
    "${sudo[@]}" apt-get update >>"$log" 2>&1 || true
    if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "${recommends[@]}" "${missing[@]}" >>"$log" 2>&1; then
      tail -n 20 "$log"
      echo "SKIP: apt could not install ${missing[*]} (log above): $what"
      return 1
    fi
  fi
}

section "docker-compose config"
if ensure_apt "compose file not validated" docker-compose; then
  docker-compose version --short
  # A clean environment: the file's own defaults must make it valid.
  env -i PATH="$PATH" docker-compose -f docker-compose.yml config --quiet
  env -i PATH="$PATH" COMPOSE_PROFILES=train,gpu docker-compose -f docker-compose.yml config --quiet
  services=$(env -i PATH="$PATH" COMPOSE_PROFILES=train,gpu docker-compose -f docker-compose.yml config --services | sort | tr '\n' ' ')
  echo "services: $services"
  echo "docker-compose.yml: valid"
fi

section "dockerfilelint"
npx --no-install dockerfilelint Dockerfile

section "kubectl kustomize"
if command -v kubectl >/dev/null 2>&1; then
  kubectl kustomize deploy/kubernetes/base >/dev/null
  echo "renders: deploy/kubernetes/base"
  # The shipped overlays stop until their ReadWriteMany storage class is set (deploy/kubernetes/README.md);
  # a copy with one set must render.
  k8s_copy=$(mktemp -d)
  cp -r deploy/kubernetes/. "$k8s_copy"
  for dir in deploy/kubernetes/overlays/*/; do
    if kubectl kustomize "$dir" >/dev/null 2>&1; then
      echo "FAIL: $dir renders without rwxStorageClass" >&2
      exit 1
    fi
    overlay="$k8s_copy/overlays/$(basename "$dir")"
    sed -i 's/# - rwxStorageClass=.*/- rwxStorageClass=ci-rwx/' "$overlay/kustomization.yaml"
    kubectl kustomize "$overlay" >/dev/null
    echo "renders once rwxStorageClass is set (and not before): $dir"
  done
  rm -rf "$k8s_copy"
else
  echo "SKIP: kubectl is not installed: Kustomize overlays not rendered (test/deploy/kubernetes.test.ts skips them too)"
fi

if [[ "$run_images" == true ]]; then
  section "container images: build (scripts/build-images.sh)"
  images_start=$SECONDS
  # With recommends, as verified here: podman's bring fuse-overlayfs, slirp4netns, uidmap, catatonit.
  if ensure_apt --with-recommends "images not built or run" podman buildah mmdebstrap; then
    echo "podman $(podman --version | awk '{ print $3 }'), buildah $(buildah --version | awk '{ print $3 }'), mmdebstrap $(mmdebstrap --version | awk '{ print $2 }')"
    bash scripts/build-images.sh
    section "container images: smoke run (scripts/image-smoke.sh)"
    bash scripts/image-smoke.sh
    echo "container images: built and smoke-tested in $((SECONDS - images_start)) s"
  fi
fi

if [[ "$run_tests" == true ]]; then
  section "test/deploy"
  # The image commands run bin/bnserve.js, which runs the compiled dist/.
  npm run build
  node --import tsx --test --test-concurrency=1 test/deploy/*.test.ts
fi

echo
echo "container checks passed"
