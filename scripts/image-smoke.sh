#!/usr/bin/env bash
# Runs the images that scripts/build-images.sh built, the way docker-compose.yml wires them, without a
# container engine (`podman run` cannot start containers on these machines): each service is a
# `buildah from` working container run with `buildah run --isolation chroot` as the image's USER
# (10001:10001), on the host network, with the compose volumes as bind-mounted folders of one temporary
# data folder. The environment of each service is read from docker-compose.yml (`docker-compose config`,
# or node + the `yaml` dev dependency where docker-compose is missing), not copied here. The machine's
# PostgreSQL (127.0.0.1:5432, user postgres, trust auth) stands in for the compose `postgres` service:
# POSTGRES_USER/POSTGRES_DB are set for the compose file as an operator's .env would (a fresh database
# per run, dropped at the end), and the host name `postgres` resolves to 127.0.0.1 in the containers.
#   1. migrate  (compose `migrate`: server image, command ["migrate"])
#   2. trainer  (compose `trainer`: trainer image, its CMD: train the Iris example into the registry)
#   3. server   (compose `server`: server image, its CMD), on a free port instead of 8080 (host network;
#      no init process: compose's `init: true` would forward the signal, here it goes to node directly):
#      /v2/health/ready, the image's HEALTHCHECK command (and that it fails where nothing listens),
#      model readiness, a :predict, a v2 infer, then SIGTERM (the image's STOPSIGNAL) must end it with
#      exit code 0 within the compose stop_grace_period;
#   4. what the runtime images hold: no compiler, no TypeScript, tsx or esbuild, no TypeScript sources,
#      no tfjs in the server image (and tfjs in the trainer's, as a control), none of the build-time npm
#      settings of scripts/build-images.sh.
# Prints the measured facts: training time, server start-up time to ready, RSS after start.
# Nothing is left behind: working containers removed (which unmounts them), the server stopped, the
# database dropped, the data folder deleted (trap on exit, also on failure or Ctrl-C).
# Usage: scripts/image-smoke.sh [--print-compose]
#   --print-compose  only read docker-compose.yml and print, per service run here, the image, command,
#                    environment and volumes that would be used (JSON); needs no images or database
# Environment: BNSERVE_SMOKE_PG_URL (default postgresql://postgres@127.0.0.1:5432/postgres): the
#              admin connection that creates and drops the run's database; its host stands in for
#              `postgres`, its user for POSTGRES_USER.
#              BNSERVE_SMOKE_COMPOSE_READER=node: read the compose file with node + yaml even where
#              docker-compose is installed (test/deploy compares both readers).
set -euo pipefail

cd "$(dirname "$0")/.."

print_compose=false
case "${1:-}" in
  "") ;;
  --print-compose) print_compose=true ;;
  *) echo "usage: $0 [--print-compose]" >&2; exit 2 ;;
esac

PG_ADMIN_URL=${BNSERVE_SMOKE_PG_URL:-postgresql://postgres@127.0.0.1:5432/postgres}
declare -A IMAGE_FOR_TARGET=([server]=bnserve-server:local [trainer]=bnserve-trainer:local)
STEP_TIMEOUT=300
READY_TIMEOUT=120

script_start=$SECONDS
step_number=0
step_start=$SECONDS
step() {
  if ((step_number > 0)); then echo "[image-smoke] step $step_number done in $((SECONDS - step_start)) s"; fi
  step_number=$((step_number + 1))
  step_start=$SECONDS
  printf '\n[image-smoke] step %d: %s\n' "$step_number" "$*"
}
fail() {
  printf '\n[image-smoke] FAILED at step %d: %s\n' "$step_number" "$*" >&2
  exit 1
}
require() { command -v "$1" >/dev/null 2>&1 || fail "$1 is not installed ($2)"; }

work=$(mktemp -d /tmp/bnserve-image-smoke.XXXXXX)
chmod 0755 "$work"
tag="smoke-$$-$(date +%s)"
containers=()
server_pid=""
db_name=""
db_created=false

# ---------------------------------------------------------------------------------------------------
admin_sql() {
  # One SQL statement on the admin connection: psql where installed, else the server image's node + pg.
  if command -v psql >/dev/null 2>&1; then
    psql "$PG_ADMIN_URL" -v ON_ERROR_STOP=1 -q -X -c "$1" >/dev/null
  else
    local c="bnserve-$tag-admin"
    buildah inspect "$c" >/dev/null 2>&1 ||
      buildah from --quiet --pull=never --network host --name "$c" "${IMAGE_FOR_TARGET[server]}" >/dev/null
    containers+=("$c")
    buildah run --isolation chroot --network host "$c" -- node -e '
      const pg = require("pg");
      const c = new pg.Client({ connectionString: process.argv[1] });
      c.connect().then(() => c.query(process.argv[2])).then(() => c.end(), (e) => { console.error(e.message); process.exit(1); });
    ' "$PG_ADMIN_URL" "$1"
  fi
}

cleanup() {
  local status=$?
  set +e
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    echo "[image-smoke] cleanup: stopping the server (buildah run pid $server_pid)"
    for pid in $(descendants "$server_pid"); do kill -KILL "$pid" 2>/dev/null; done
    kill -KILL "$server_pid" 2>/dev/null
    wait "$server_pid" 2>/dev/null
  fi
  if $db_created; then
    admin_sql "DROP DATABASE IF EXISTS $db_name WITH (FORCE)" && echo "[image-smoke] cleanup: dropped database $db_name" ||
      echo "[image-smoke] cleanup: could not drop database $db_name: drop it by hand" >&2
  fi
  local c
  for c in $(printf '%s\n' "${containers[@]}" | sort -u); do
    buildah rm "$c" >/dev/null 2>&1 || echo "[image-smoke] cleanup: could not remove working container $c" >&2
  done
  local left
  left=$(buildah containers --noheading --format '{{.ContainerName}}' 2>/dev/null | grep -F -- "bnserve-$tag-" || true)
  [[ -z "$left" ]] || echo "[image-smoke] cleanup: still present: $left" >&2
  if grep -qF "$work" /proc/self/mountinfo 2>/dev/null; then
    echo "[image-smoke] cleanup: still mounted under $work:" >&2
    grep -F "$work" /proc/self/mountinfo >&2
  fi
  rm -rf "$work"
  if ((status == 0)); then echo "[image-smoke] cleanup: nothing left running or mounted"; fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

descendants() {
  local child
  for child in $(pgrep -P "$1" 2>/dev/null); do
    echo "$child"
    descendants "$child"
  done
}

# The node process a `buildah run` started (its descendant whose executable is node).
node_under() {
  local pid
  for pid in $(descendants "$1"); do
    if [[ "$(readlink "/proc/$pid/exe" 2>/dev/null)" == */node ]]; then
      echo "$pid"
      return 0
    fi
  done
  return 1
}

rss_mb() { awk '/^VmRSS:/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }

# Small HTTP client for the checks (Node's fetch on the host).
cat >"$work/http.mjs" <<'EOF'
const [command, base, ...args] = process.argv.slice(2);
const post = async (path, body) => {
  const response = await fetch(base + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`POST ${path}: HTTP ${response.status} ${text}`);
  return JSON.parse(text);
};
const check = (ok, message) => { if (!ok) throw new Error(message); };
try {
  if (command === 'ready') {
    // Polls /v2/health/ready; prints seconds since args[1] (epoch ms) when it answers 200.
    const [timeoutMs, startedMs] = args.map(Number);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const response = await fetch(`${base}/v2/health/ready`, { signal: AbortSignal.timeout(2000) });
        if (response.status === 200) break;
      } catch {}
      if (Date.now() > deadline) throw new Error(`not ready after ${timeoutMs / 1000} s`);
      await new Promise((r) => setTimeout(r, 25));
    }
    console.log(((Date.now() - startedMs) / 1000).toFixed(2));
  } else if (command === 'model-ready') {
    const response = await fetch(`${base}/v2/models/${args[0]}/ready`);
    check(response.status === 200, `GET /v2/models/${args[0]}/ready: HTTP ${response.status}`);
    console.log(`GET /v2/models/${args[0]}/ready: 200`);
  } else if (command === 'predict') {
    const body = await post(`/v1/models/${args[0]}:predict`, { instances: [[5.1, 3.5, 1.4, 0.2], [6.9, 3.1, 5.4, 2.1]] });
    const labels = body.predictions.map((p) => p.label);
    check(JSON.stringify(labels) === '["setosa","virginica"]', `:predict labels ${JSON.stringify(labels)}`);
    for (const p of body.predictions) {
      const total = Object.values(p.probabilities).reduce((a, b) => a + b, 0);
      check(Math.abs(total - 1) < 1e-4, `:predict probabilities sum to ${total}`);
    }
    console.log(`POST /v1/models/${args[0]}:predict: ${labels.join(', ')} (model_version ${body.model_version})`);
  } else if (command === 'infer') {
    const body = await post(`/v2/models/${args[0]}/infer`, {
      id: 'image-smoke',
      inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }],
    });
    const out = body.outputs?.[0];
    check(body.id === 'image-smoke', `infer id ${body.id}`);
    check(JSON.stringify(out?.shape) === '[1,3]', `infer output shape ${JSON.stringify(out?.shape)}`);
    const total = out.data.reduce((a, b) => a + b, 0);
    check(Math.abs(total - 1) < 1e-4, `infer probabilities sum to ${total}`);
    console.log(`POST /v2/models/${args[0]}/infer: ${out.name} ${JSON.stringify(out.shape)} [${out.data.map((x) => x.toFixed(3)).join(', ')}]`);
  } else {
    throw new Error(`unknown command ${command}`);
  }
} catch (error) {
  console.error(error.message);
  process.exit(1);
}
EOF

free_port() {
  node -e 'const s = require("net").createServer(); s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });'
}

# ---------------------------------------------------------------------------------------------------
step "read docker-compose.yml (services, environment, volumes)"
require node "the compose reader and the HTTP checks use the host's node"
pg_host=$(node -e 'console.log(new URL(process.argv[1]).hostname)' "$PG_ADMIN_URL")
pg_user=$(node -e 'console.log(decodeURIComponent(new URL(process.argv[1]).username) || "postgres")' "$PG_ADMIN_URL")
pg_port=$(node -e 'console.log(new URL(process.argv[1]).port || "5432")' "$PG_ADMIN_URL")
db_name="bnserve_${tag//-/_}"
compose_env=(PATH="$PATH" POSTGRES_USER="$pg_user" POSTGRES_DB="$db_name" COMPOSE_PROFILES=train)
if [[ "${BNSERVE_SMOKE_COMPOSE_READER:-}" != node ]] && command -v docker-compose >/dev/null 2>&1 &&
  /usr/bin/python3 -c 'import yaml' 2>/dev/null; then
  echo "with docker-compose $(docker-compose version --short) (\`docker-compose config\`), in a clean environment plus POSTGRES_USER=$pg_user POSTGRES_DB=$db_name"
  env -i "${compose_env[@]}" docker-compose -f docker-compose.yml config >"$work/compose.yml" ||
    fail "docker-compose config rejected docker-compose.yml"
  /usr/bin/python3 -c 'import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)' <"$work/compose.yml" >"$work/compose.json"
else
  echo "reading it with node + yaml (anchors, merge keys, \${VAR:-default}): docker-compose (with PyYAML) is not installed${BNSERVE_SMOKE_COMPOSE_READER:+ or not asked for}"
  env -i "${compose_env[@]}" node --input-type=module -e '
    import { createRequire } from "node:module";
    import { readFileSync } from "node:fs";
    const require = createRequire(process.cwd() + "/package.json");
    const { parse } = require("yaml");
    const doc = parse(readFileSync("docker-compose.yml", "utf8"), { merge: true, maxAliasCount: -1 });
    const interpolate = (v) =>
      typeof v !== "string" ? v : v.replace(/\$\$|\$\{(\w+)(?:(:?[-?])([^}]*))?\}|\$(\w+)/g, (m, name, op, arg, bare) => {
        if (m === "$$") return "$";
        const value = process.env[name ?? bare];
        if (op === ":-") return value ? value : arg;
        if (op === "-") return value ?? arg;
        if (op?.endsWith("?") && !value) throw new Error(`${name}: ${arg}`);
        return value ?? "";
      });
    const walk = (v) => (Array.isArray(v) ? v.map(walk) : v && typeof v === "object" ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)])) : interpolate(v));
    const resolved = walk(doc);
    for (const s of Object.values(resolved.services)) {
      if (Array.isArray(s.environment)) s.environment = Object.fromEntries(s.environment.map((e) => [e.split("=")[0], e.split("=").slice(1).join("=")]));
      for (const [k, v] of Object.entries(s.environment ?? {})) s.environment[k] = v == null ? "" : String(v);
    }
    process.stdout.write(JSON.stringify(resolved));
  ' >"$work/compose.json" || fail "could not read docker-compose.yml with node + yaml (is npm ci done?)"
fi

# Per service: the image (by its build target), command, environment, volumes, stop grace period.
service_field() {
  node -e '
    const [file, name, field] = process.argv.slice(1);
    const s = JSON.parse(require("fs").readFileSync(file, "utf8")).services[name];
    if (!s) { console.error(`docker-compose.yml has no service ${name}`); process.exit(1); }
    const out = {
      target: () => [s.build?.target ?? ""],
      command: () => (s.command == null ? [] : Array.isArray(s.command) ? s.command : s.command.split(/\s+/)),
      env: () => Object.entries(s.environment ?? {}).map(([k, v]) => `${k}=${v ?? ""}`),
      volumes: () => (s.volumes ?? []).map((v) => (typeof v === "string" ? v : `${v.source}:${v.target}${v.read_only ? ":ro" : ""}`).replace(/:rw$/, "")),
      grace: () => {
        const m = /^(\d+)(s|m)?$/.exec(String(s.stop_grace_period ?? "10s"));
        return [m ? String(Number(m[1]) * (m[2] === "m" ? 60 : 1)) : "10"];
      },
    }[field]();
    for (const line of out) console.log(line);
  ' "$work/compose.json" "$1" "$2"
}
redact() { sed -E 's#(://[^:/@]+:)[^@]*@#\1***@#'; }
for service in migrate trainer server; do
  target=$(service_field "$service" target)
  [[ -n "${IMAGE_FOR_TARGET[$target]:-}" ]] || fail "compose service $service builds target '$target', not one of ${!IMAGE_FOR_TARGET[*]}"
  echo "$service: image ${IMAGE_FOR_TARGET[$target]} (target $target)"
  service_field "$service" env | sed 's/^/  env /' | redact
  service_field "$service" volumes | sed 's/^/  volume /'
done
if $print_compose; then
  node -e '
    const [file, db] = process.argv.slice(1);
    const services = JSON.parse(require("fs").readFileSync(file, "utf8")).services;
    const pick = (name) => {
      const s = services[name];
      const env = Object.fromEntries(Object.entries(s.environment ?? {}).map(([k, v]) => [k, String(v ?? "").replaceAll(db, "<database>")]));
      const volumes = (s.volumes ?? []).map((v) => (typeof v === "string" ? v : `${v.source}:${v.target}${v.read_only ? ":ro" : ""}`).replace(/:rw$/, ""));
      return { target: s.build?.target ?? null, command: s.command ?? null, environment: env, volumes, stop_grace_period: s.stop_grace_period ?? null };
    };
    console.log("COMPOSE " + JSON.stringify({ migrate: pick("migrate"), trainer: pick("trainer"), server: pick("server") }));
  ' "$work/compose.json" "$db_name"
  exit 0
fi

# ---------------------------------------------------------------------------------------------------
step "preconditions"
require buildah "apt-get install buildah"
require podman "apt-get install podman"
for image in "${IMAGE_FOR_TARGET[@]}"; do
  podman image exists "$image" || fail "image $image not found: run scripts/build-images.sh first"
  echo "image $image: $(podman image inspect --format '{{.Id}}' "$image" | cut -c1-12), created $(podman image inspect --format '{{.Created}}' "$image" | cut -d. -f1)"
done
[[ "$pg_host" =~ ^[0-9.]+$ ]] || fail "BNSERVE_SMOKE_PG_URL must name its host by IPv4 address (it becomes /etc/hosts' postgres)"
[[ "$pg_port" == 5432 ]] || fail "the compose file's DATABASE_URL uses port 5432: the stand-in PostgreSQL must listen there"
admin_sql "SELECT 1" || fail "PostgreSQL is not reachable at $PG_ADMIN_URL (it stands in for the compose postgres service)"
echo "PostgreSQL at $pg_host:$pg_port answers (user $pg_user)"

# ---------------------------------------------------------------------------------------------------
image_json() { podman image inspect --format "{{json .Config.$2}}" "$1"; }
json_words() { node -e 'for (const w of JSON.parse(process.argv[1]) ?? []) console.log(w)' "$1"; }

# A working container for one compose service, as the globals c (its name), image, args (the `buildah
# run` options) and cmd (ENTRYPOINT + the compose command, or + CMD where compose sets none):
# the service's image (by build target), the host network with `postgres` → the stand-in, the image's
# USER, the compose environment, the compose volumes as folders under $work/volumes (created with the
# owner of the image's mount point, as Docker initialises an empty named volume), :ro where compose says.
service_container() {
  local service=$1 target user spec source at mode owner line
  local -a entrypoint command
  target=$(service_field "$service" target)
  image=${IMAGE_FOR_TARGET[$target]}
  c="bnserve-$tag-$service"
  containers+=("$c")
  buildah from --quiet --pull=never --network host --add-host "postgres:$pg_host" --name "$c" "$image" >/dev/null ||
    fail "buildah from $image failed"
  user=$(image_json "$image" User | tr -d '"')
  [[ "$user" =~ ^[1-9][0-9]*(:[0-9]+)?$ ]] || fail "$image: USER '$user' is not a numeric non-root user"
  args=(--isolation chroot --network host --user "$user")
  while IFS= read -r line; do args+=(--env "$line"); done < <(service_field "$service" env)
  while IFS= read -r spec; do
    IFS=: read -r source at mode <<<"$spec"
    [[ "$source" != /* && "$source" != .* ]] || fail "$service: bind mount $spec (only named volumes are expected)"
    if [[ ! -d "$work/volumes/$source" ]]; then
      mkdir -p "$work/volumes/$source"
      owner=$(buildah run --isolation chroot --user 0:0 "$c" -- stat -c %u:%g "$at" </dev/null) || fail "$image has no $at"
      chown "$owner" "$work/volumes/$source"
    fi
    args+=(--volume "$work/volumes/$source:$at${mode:+:$mode}")
  done < <(service_field "$service" volumes)
  mapfile -t entrypoint < <(json_words "$(image_json "$image" Entrypoint)")
  mapfile -t command < <(service_field "$service" command)
  ((${#command[@]})) || mapfile -t command < <(json_words "$(image_json "$image" Cmd)")
  cmd=("${entrypoint[@]}" "${command[@]}")
  ((${#cmd[@]})) || fail "$service: no command (compose) and no ENTRYPOINT/CMD ($image)"
}

# ---------------------------------------------------------------------------------------------------
step "create the database $db_name (for the compose postgres service)"
admin_sql "CREATE DATABASE $db_name" || fail "CREATE DATABASE $db_name failed"
db_created=true
echo "created $db_name"

# ---------------------------------------------------------------------------------------------------
step "migrate: compose service \`migrate\` (server image, its command)"
service_container migrate
migrate_container=$c
migrate_args=("${args[@]}")
echo "buildah run ... $c -- ${cmd[*]}"
timeout "$STEP_TIMEOUT" buildah run "${args[@]}" "$c" -- "${cmd[@]}" || fail "migrate exited with $?"

# ---------------------------------------------------------------------------------------------------
step "train: compose service \`trainer\` (trainer image, its CMD)"
service_container trainer
echo "buildah run ... $c -- ${cmd[*]}"
train_start=$(date +%s.%N)
set +e
timeout "$STEP_TIMEOUT" buildah run "${args[@]}" "$c" -- "${cmd[@]}" 2>&1 | tee "$work/train.log" | tail -n 15
train_status=${PIPESTATUS[0]}
set -e
((train_status == 0)) || fail "training exited with $train_status"
train_seconds=$(awk -v a="$train_start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
for volume in "$work"/volumes/*; do
  echo "  volume $(basename "$volume"): $(find "$volume" -type f | wc -l) files, owner uid $(stat -c %u "$volume"); e.g. $(find "$volume" -type f -printf '%P\n' | sort | head -n 3 | tr '\n' ' ')"
done

# The operator's view (README): `models list` from the server image (the migrate service's container).
mapfile -t entrypoint < <(json_words "$(image_json "${IMAGE_FOR_TARGET[server]}" Entrypoint)")
buildah run "${migrate_args[@]}" "$migrate_container" -- "${entrypoint[@]}" models list --json >"$work/models.json" ||
  fail "models list (server image) failed"
read -r model version < <(node -e '
  const out = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const list = Array.isArray(out) ? out : out.models ?? [];
  if (list.length !== 1) { console.error(`expected one model, got ${JSON.stringify(out)}`); process.exit(1); }
  const m = list[0];
  console.log(m.name, m.latestVersion ?? m.latest_version ?? m.version ?? (m.versions?.at?.(-1)?.version ?? m.versions?.at?.(-1) ?? "?"));
' "$work/models.json") || fail "models list: $(cat "$work/models.json")"
echo "registered: model $model, version $version"

# ---------------------------------------------------------------------------------------------------
step "serve: compose service \`server\` (server image, its CMD)"
service_container server
port=$(free_port)
grpc_port=$(free_port)
while [[ "$grpc_port" == "$port" ]]; do grpc_port=$(free_port); done
# Host network: the container's 8080/8081 would be this machine's, where other servers may listen.
port_args=(--env "PORT=$port" --env "BNSERVE_GRPC_PORT=$grpc_port")
grace=$(service_field server grace)
# For scale: what a bare `buildah run` costs here before node starts.
overhead_start=$(date +%s.%N)
buildah run "${args[@]}" "$c" -- true
overhead=$(awk -v a="$overhead_start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
echo "buildah run ... ${port_args[*]} $c -- ${cmd[*]}"
started_ms=$(date +%s%3N)
buildah run "${args[@]}" "${port_args[@]}" "$c" -- "${cmd[@]}" >"$work/server.log" 2>&1 &
server_pid=$!
url="http://127.0.0.1:$port"
if ! ready_seconds=$(node "$work/http.mjs" ready "$url" "$((READY_TIMEOUT * 1000))" "$started_ms"); then
  tail -n 30 "$work/server.log" >&2
  fail "the server did not become ready"
fi
node_pid=$(node_under "$server_pid") || fail "no node process under buildah run (pid $server_pid)"
rss_ready=$(rss_mb "$node_pid")
echo "ready after $ready_seconds s (buildah run alone: $overhead s); node pid $node_pid, RSS $rss_ready MB"

healthcheck=$(image_json "$image" Healthcheck)
health_words=$(node -e '
  const h = JSON.parse(process.argv[1]);
  if (!h?.Test?.length) { console.error("the image has no HEALTHCHECK (built without --format docker?)"); process.exit(1); }
  const [kind, ...rest] = h.Test;
  for (const w of kind === "CMD-SHELL" ? ["/bin/sh", "-c", rest.join(" ")] : rest) console.log(w);
' "$healthcheck") || fail "no HEALTHCHECK in $image"
mapfile -t health <<<"$health_words"
# Like `docker exec`: in the running container, with its environment.
buildah run "${args[@]}" "${port_args[@]}" "$c" -- "${health[@]}" || fail "the HEALTHCHECK command failed (exit $?)"
echo "HEALTHCHECK command: exit 0"
closed=$(free_port)
set +e
buildah run "${args[@]}" --env "PORT=$closed" "$c" -- "${health[@]}" 2>/dev/null
closed_status=$?
set -e
((closed_status != 0)) || fail "the HEALTHCHECK command passed against a closed port ($closed): it checks nothing"
echo "HEALTHCHECK command against a closed port: exit $closed_status (the check is not vacuous)"

node "$work/http.mjs" model-ready "$url" "$model" || fail "model readiness"
node "$work/http.mjs" predict "$url" "$model" || fail ":predict"
node "$work/http.mjs" infer "$url" "$model" || fail "v2 infer"
rss_after=$(rss_mb "$node_pid")
echo "RSS after the requests: $rss_after MB"

stop_signal=$(image_json "$image" StopSignal | tr -d '"')
stop_signal=${stop_signal:-SIGTERM}
echo "kill -${stop_signal#SIG} $node_pid (the image's STOPSIGNAL; compose waits $grace s before SIGKILL)"
stop_start=$SECONDS
kill "-${stop_signal#SIG}" "$node_pid"
exited=false
for ((i = 0; i < grace * 10; i++)); do
  if ! kill -0 "$server_pid" 2>/dev/null; then exited=true; break; fi
  sleep 0.1
done
$exited || fail "the server did not exit within $grace s of $stop_signal"
set +e
wait "$server_pid"
server_status=$?
set -e
server_pid=""
tail -n 5 "$work/server.log" | sed 's/^/  log: /'
((server_status == 0)) || fail "the server exited with $server_status after $stop_signal"
echo "exited 0, $((SECONDS - stop_start)) s after $stop_signal"

# ---------------------------------------------------------------------------------------------------
step "what the runtime images hold"
contents_check='
  set -u
  status=0
  for tool in gcc cc g++ c++ clang make python3 tsc tsx esbuild; do
    if found=$(command -v "$tool"); then echo "  FOUND: $tool ($found)"; status=1; fi
  done
  if [ -d /usr/lib/gcc ] || [ -e /usr/include/stdio.h ]; then echo "  FOUND: compiler files (/usr/lib/gcc or libc headers)"; status=1; fi
  for dir in node_modules/typescript node_modules/tsx node_modules/esbuild node_modules/@esbuild node_modules/vite; do
    hits=$(find /app/node_modules /usr/local/lib/node_modules -path "*/$dir/package.json" -o -path "*/$dir/*/package.json" 2>/dev/null | head -n 3)
    if [ -n "$hits" ]; then echo "  FOUND: $dir: $hits"; status=1; fi
  done
  ts=$(find /app -path /app/node_modules -prune -o -name "*.ts" ! -name "*.d.ts" -print | head -n 3)
  if [ -n "$ts" ] || [ -e /app/src ]; then echo "  FOUND: TypeScript sources: $ts"; status=1; fi
  for leftover in /root/.npmrc /root/ca-bundle.crt; do
    if [ -e "$leftover" ]; then echo "  FOUND: build-time file $leftover"; status=1; fi
  done
  tfjs=$(find /app/node_modules -maxdepth 2 -path "*/@tensorflow/*" -name "tfjs*" | sort | tr "\n" " ")
  echo "  @tensorflow packages: ${tfjs:-none}"
  echo "  node $(node --version), npm $(npm --version 2>/dev/null || echo none), $(find /app/node_modules -name package.json -path "*/node_modules/*/package.json" ! -path "*/node_modules/*/node_modules/*/*/package.json" | wc -l) package.json files under /app/node_modules"
  if [ $status = 0 ]; then
    echo "  none of: gcc cc g++ c++ clang make python3 tsc tsx esbuild, compiler files, typescript/tsx/esbuild/vite packages, .ts sources, build-time npm settings"
  fi
  exit $status
'
for target in trainer server; do
  image=${IMAGE_FOR_TARGET[$target]}
  c="bnserve-$tag-inspect-$target"
  buildah from --quiet --pull=never --name "$c" "$image" >/dev/null
  containers+=("$c")
  echo "$image:"
  buildah run --isolation chroot --user 0:0 "$c" -- sh -c "$contents_check" >"$work/contents-$target.txt" ||
    { cat "$work/contents-$target.txt"; fail "$image holds what a runtime image must not"; }
  cat "$work/contents-$target.txt"
  if [[ $target == server ]]; then
    grep -q '@tensorflow packages: none' "$work/contents-$target.txt" || fail "$image holds @tensorflow packages"
    buildah run --isolation chroot --user 10001:10001 "$c" -- node -e '
      for (const m of ["@tensorflow/tfjs", "@tensorflow/tfjs-node", "@tensorflow/tfjs-backend-wasm", "typescript", "tsx"]) {
        try { require.resolve(m); console.error(`  resolvable: ${m}`); process.exitCode = 1; } catch {}
      }' || fail "$image: tfjs or the TypeScript tool chain resolves from /app"
    echo "  tfjs, typescript, tsx: not resolvable from /app"
  else
    grep -q '@tensorflow/tfjs ' "$work/contents-$target.txt" || fail "$image lacks @tensorflow/tfjs (the control for the server's check)"
  fi
done

# ---------------------------------------------------------------------------------------------------
step "summary"
printf '%-38s %s\n' \
  "training (Iris example, trainer image):" "${train_seconds} s (buildah run to exit)" \
  "server start-up to /v2/health/ready:" "$ready_seconds s (buildah run to first 200; a bare buildah run: $overhead s)" \
  "server RSS after start:" "$rss_ready MB (node, at ready); $rss_after MB after the checks" \
  "stop on $stop_signal:" "exit 0" \
  "image sizes and layers:" "printed by scripts/build-images.sh (step: image facts)"
for target in trainer server; do
  image=${IMAGE_FOR_TARGET[$target]}
  printf '%-38s %s\n' "$image:" "$(podman image inspect --format '{{.Size}}' "$image" | awk '{ printf "%.1f MB uncompressed", $1 / 1e6 }'), $(podman image inspect --format '{{len .RootFS.Layers}}' "$image") layers"
done
echo "[image-smoke] step $step_number done in $((SECONDS - step_start)) s"
echo
echo "[image-smoke] passed in $((SECONDS - script_start)) s"
