# bnserve container images. Build one target at a time:
#   docker build --target server     -t bnserve/server .       CPU inference server, no tfjs
#   docker build --target server-gpu -t bnserve/server-gpu .   CUDA 12 + cuDNN 9, linux/amd64 only
#   docker build --target trainer    -t bnserve/trainer .      `bnserve train` (tfjs, tfjs-node if it installs)
# All targets run `node bin/bnserve.js` (the JavaScript tsc compiled into dist/; no TypeScript sources,
# tsx or esbuild in the images) as uid 10001.
# Base images are pinned by tag; pin by digest too (FROM image:tag@sha256:...) for reproducible builds.

# ---------------------------------------------------------------------------------------------
# Shared Node.js base (Node 24 LTS, Debian bookworm).
FROM node:24.22.3-bookworm-slim AS node-base
WORKDIR /app
ENV NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false \
    NPM_CONFIG_AUDIT=false

# ---------------------------------------------------------------------------------------------
# npm 11 as in development. One `npm ci` of the whole lockfile, then the Prisma clients are
# generated into src/registry/generated with the `prisma` dev dependency (a no-op when postinstall
# already did it; postinstall skips its build here, as the sources are copied later). Then
# `npm run build` compiles src/ (generated clients included) into dist/ with the typescript dev
# dependency; it would also build the dashboard (`build:ui`) where the project defines one. The
# toolchain lets better-sqlite3 and @tensorflow/tfjs-node compile when no prebuilt binary matches.
# package.json's allowScripts lists the install scripts npm may run; it denies onnxruntime-node's
# (a download of the CUDA provider), so the install stays CPU-only and offline (the CUDA provider is
# added in server-gpu-deps); the onnxruntime binaries for other platforms (~245 MB) are deleted.
FROM node-base AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/* \
 && npm install -g npm@11.19.1
COPY package.json package-lock.json prisma.config.ts ./
COPY prisma/ prisma/
# Only the install hooks: other scripts (CI, image builds) would invalidate the `npm ci` layer.
COPY scripts/postinstall.mjs scripts/prisma-generate.mjs scripts/
RUN npm ci \
 && node scripts/prisma-generate.mjs \
 && ORT_BIN=node_modules/onnxruntime-node/bin/napi-v6 \
 && find "$ORT_BIN" -mindepth 1 -maxdepth 1 ! -name linux -exec rm -rf {} + \
 && find "$ORT_BIN/linux" -mindepth 1 -maxdepth 1 ! -name "$(node -p process.arch)" -exec rm -rf {} +
COPY tsconfig.json tsconfig.build.json ./
COPY bin/ bin/
COPY src/ src/
COPY proto/ proto/
COPY examples/ examples/
# The dashboard's sources: `npm run build` also builds them into dist/ui (served under /ui).
COPY ui/ ui/
RUN npm run build

# ---------------------------------------------------------------------------------------------
# Runtime dependency sets, pruned by dependency list: remove entries from package.json, then let
# `npm prune` drop every package no remaining entry needs (test/deploy checks these lists). The
# TypeScript tool chain (typescript, tsx, esbuild) is dev-only: the last command fails the build if
# any of its packages survived the prune (it looks for their package.json: prune leaves empty scope
# folders such as node_modules/@esbuild behind).
FROM build AS trainer-deps
RUN npm pkg delete devDependencies \
 && npm prune --omit=dev --ignore-scripts \
 && test -z "$(find ./node_modules -name package.json \( -path '*/node_modules/tsx/package.json' -o -path '*/node_modules/esbuild/package.json' -o -path '*/node_modules/@esbuild/*/package.json' -o -path '*/node_modules/typescript/package.json' \))"

# The server needs neither tfjs nor the plotting libraries (`bnserve report` runs in the trainer image).
FROM build AS server-deps
RUN npm pkg delete devDependencies \
      dependencies.@tensorflow/tfjs \
      dependencies.@tensorflow/tfjs-backend-wasm \
      optionalDependencies.@tensorflow/tfjs-node \
      dependencies.vega \
      dependencies.vega-lite \
      dependencies.@resvg/resvg-js \
 && npm prune --omit=dev --ignore-scripts \
 && rm -rf node_modules/@tensorflow \
 && test -z "$(find ./node_modules -name package.json \( -path '*/node_modules/tsx/package.json' -o -path '*/node_modules/esbuild/package.json' -o -path '*/node_modules/@esbuild/*/package.json' -o -path '*/node_modules/typescript/package.json' \))"

# onnxruntime-node's install script (denied to npm by allowScripts) fetches its CUDA 12 execution
# provider from NuGet when asked, so it is run here by hand.
FROM server-deps AS server-gpu-deps
RUN ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js \
 && test -f node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so

# ---------------------------------------------------------------------------------------------
# Common runtime settings for the Node.js images; /data/artifacts belongs to the app user so that
# an empty named volume mounted there starts with that owner.
FROM node-base AS node-runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    BNSERVE_ARTIFACTS=/data/artifacts
RUN groupadd --system --gid 10001 bnserve \
 && useradd --system --uid 10001 --gid bnserve --home-dir /nonexistent --shell /usr/sbin/nologin bnserve \
 && mkdir -p /data/artifacts /app/data/checkpoints \
 && chown -R 10001:10001 /data /app/data

# ---------------------------------------------------------------------------------------------
FROM node-runtime AS trainer
LABEL org.opencontainers.image.title="bnserve-trainer" \
      org.opencontainers.image.description="Trains Batch-Normalization networks and registers their ONNX export"
COPY --from=trainer-deps /app/package.json /app/package-lock.json ./
COPY --from=trainer-deps /app/node_modules/ node_modules/
COPY --from=build /app/bin/ bin/
COPY --from=build /app/dist/ dist/
COPY --from=build /app/prisma/ prisma/
COPY --from=build /app/examples/ examples/
USER 10001:10001
ENTRYPOINT ["node", "bin/bnserve.js"]
CMD ["train", "--config", "examples/iris-bn.json"]

# ---------------------------------------------------------------------------------------------
FROM node-runtime AS server
LABEL org.opencontainers.image.title="bnserve-server" \
      org.opencontainers.image.description="Serves registered ONNX models (CPU) over Open Inference Protocol v2 and :predict"
# At most two malloc arenas: glibc opens another whenever threads (onnxruntime's, V8's, libuv's)
# contend for one, up to 8 per core. Idle RSS with the Iris model: this image 168 MB instead of 172;
# on Node 20 outside a container 136-142 MB instead of 143-159, with the same req/s there
# (docs/benchmarks.md).
ENV BNSERVE_EXECUTION_PROVIDERS=cpu \
    MALLOC_ARENA_MAX=2
COPY --from=server-deps /app/package.json /app/package-lock.json ./
COPY --from=server-deps /app/node_modules/ node_modules/
COPY --from=build /app/bin/ bin/
COPY --from=build /app/dist/ dist/
COPY --from=build /app/proto/ proto/
COPY --from=build /app/prisma/ prisma/
USER 10001:10001
# HTTP, and gRPC (BNSERVE_GRPC_PORT)
EXPOSE 8080 8081
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=5s --retries=6 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8080) + '/v2/health/ready').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "bin/bnserve.js"]
CMD ["serve"]

# ---------------------------------------------------------------------------------------------
# Same server on NVIDIA's CUDA 12 + cuDNN 9 runtime (Ubuntu 24.04: its glibc is newer than
# bookworm's, so native modules built above load). Needs the NVIDIA Container Toolkit on the host.
FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04 AS server-gpu
LABEL org.opencontainers.image.title="bnserve-server-gpu" \
      org.opencontainers.image.description="Serves registered ONNX models with onnxruntime's CUDA execution provider, CPU fallback"
COPY --from=node-base /usr/local/bin/node /usr/local/bin/node
WORKDIR /app
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    BNSERVE_ARTIFACTS=/data/artifacts \
    BNSERVE_EXECUTION_PROVIDERS=cuda,cpu \
    MALLOC_ARENA_MAX=2
RUN groupadd --system --gid 10001 bnserve \
 && useradd --system --uid 10001 --gid bnserve --home-dir /nonexistent --shell /usr/sbin/nologin bnserve \
 && mkdir -p /data/artifacts /app/data \
 && chown -R 10001:10001 /data /app/data
COPY --from=server-gpu-deps /app/package.json /app/package-lock.json ./
COPY --from=server-gpu-deps /app/node_modules/ node_modules/
COPY --from=build /app/bin/ bin/
COPY --from=build /app/dist/ dist/
COPY --from=build /app/proto/ proto/
COPY --from=build /app/prisma/ prisma/
USER 10001:10001
# HTTP, and gRPC (BNSERVE_GRPC_PORT)
EXPOSE 8080 8081
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=5s --retries=6 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8080) + '/v2/health/ready').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "bin/bnserve.js"]
CMD ["serve"]
