# syntax=docker/dockerfile:1
# The attestgate enclave runtime (simulated TEE in docker-compose.yml). Build from the repository
# root: docker build -f docker/enclave.Dockerfile .   (test/unit/deploy/compose.test.ts checks
# that every COPY source exists and that the code the enclave imports is all copied.)

# ---- dependencies: production packages only, native addons built here ------------------------
FROM node:20-bookworm-slim AS deps
# better-sqlite3 builds from source when no prebuilt binary fits: it needs python3, make and g++.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# .npmrc skips onnxruntime-node's download of CUDA binaries; its CPU binaries ship in the package.
# The variable does the same for npm versions that stop passing unknown .npmrc keys to scripts.
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev --no-audit --no-fund \
 && npm cache clean --force
# onnxruntime-node ships CPU binaries for every platform (~290 MB): keep this one's only.
RUN arch="$(node -p process.arch)" \
 && for d in node_modules/onnxruntime-node/bin/napi-v*/*/*; do \
      case "$d" in */linux/"$arch") ;; *) rm -rf "$d" ;; esac; \
    done \
 && test -n "$(ls node_modules/onnxruntime-node/bin/napi-v*/linux/"$arch"/)"

# ---- runtime ---------------------------------------------------------------------------------
FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
# /data is the shared volume (the simulated PKI): created here owned by the unprivileged user, so
# that a fresh named volume mounted on it starts out writable by that user.
RUN mkdir -p /data && chown node:node /data
COPY --from=deps /app/node_modules ./node_modules
COPY package.json tsconfig.json ./
COPY bin ./bin
COPY attestation ./attestation
COPY enclave ./enclave
COPY models ./models
USER node
EXPOSE 9001
CMD ["node", "bin/attestgate.js", "enclave", "--tee", "sim-tdx", "--host", "0.0.0.0", "--port", "9001", "--data-dir", "/data", "--models", "/app/models"]
