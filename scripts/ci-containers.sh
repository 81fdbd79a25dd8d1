#!/usr/bin/env bash
# Container checks that need no Docker engine:
#   1. docker-compose.yml resolves with Debian's docker-compose (v1.29, offline `config`), for the
#      default services and with the `train` and `gpu` profiles;
#   2. the Dockerfile passes dockerfilelint (rules in .dockerfilelintrc);
#   3. the Kustomize base and overlays under deploy/kubernetes render (`kubectl kustomize`, offline;
#      skipped with a message where kubectl is not installed);
#   4. with --tests, also the test/deploy suites (Dockerfile targets, runtime dependency sets without
#      tfjs, tsx or esbuild, compose topology, the server CMD run end to end). `npm test` runs them anyway.
# docker-compose is installed from apt when missing; where apt is unavailable the compose check is
# skipped with a message (and the test/deploy compose suite reports itself skipped).
# Run it before `npm test`: test/deploy/compose.test.ts needs the docker-compose it installs.
# Usage: scripts/ci-containers.sh [--tests]
set -euo pipefail

cd "$(dirname "$0")/.."

run_tests=false
case "${1:-}" in
  "") ;;
  --tests) run_tests=true ;;
  *) echo "usage: $0 [--tests]" >&2; exit 2 ;;
esac

section() { printf '\n== %s\n' "$*"; }

ensure_docker_compose() {
  if command -v docker-compose >/dev/null 2>&1; then return 0; fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "SKIP: docker-compose is not installed and apt-get is unavailable: compose file not validated"
    return 1
  fi
  local sudo=()
  if [[ "$(id -u)" != 0 ]]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      sudo=(sudo -n)
    else
      echo "SKIP: docker-compose is not installed and apt-get needs root: compose file not validated"
      return 1
    fi
  fi
  echo "installing docker-compose from apt"
  if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends docker-compose >/tmp/ci-containers-apt.log 2>&1; then
    "${sudo[@]}" apt-get update >>/tmp/ci-containers-apt.log 2>&1 || true
    if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends docker-compose >>/tmp/ci-containers-apt.log 2>&1; then
      tail -n 20 /tmp/ci-containers-apt.log
      echo "SKIP: apt could not install docker-compose: compose file not validated"
      return 1
    fi
  fi
}

section "docker-compose config"
if ensure_docker_compose; then
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
  for dir in deploy/kubernetes/base deploy/kubernetes/overlays/*/; do
    kubectl kustomize "$dir" >/dev/null
    echo "renders: $dir"
  done
else
  echo "SKIP: kubectl is not installed: Kustomize overlays not rendered (test/deploy/kubernetes.test.ts skips them too)"
fi

if [[ "$run_tests" == true ]]; then
  section "test/deploy"
  # The image commands run bin/bnserve.js, which runs the compiled dist/.
  npm run build
  node --import tsx --test --test-concurrency=1 test/deploy/*.test.ts
fi

echo
echo "container checks passed"
