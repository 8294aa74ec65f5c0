# syntax=docker/dockerfile:1
# The attestgate gateway. Build from the repository root:
#   docker build -f docker/gateway.Dockerfile .
# (test/unit/deploy/compose.test.ts checks that every COPY source exists and that the code the
# gateway imports is all copied, and never onnxruntime-node, which this image leaves out.)

# ---- dependencies: production packages only, native addons built here ------------------------
FROM node:20-bookworm-slim AS deps
# better-sqlite3 builds from source when no prebuilt binary fits: it needs python3, make and g++.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# .npmrc skips onnxruntime-node's download of CUDA binaries.
# The variable does the same for npm versions that stop passing unknown .npmrc keys to scripts.
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev --no-audit --no-fund \
 && npm cache clean --force
# The gateway never runs a model (the enclave does): leave the ~290 MB runtime out.
RUN rm -rf node_modules/onnxruntime-node node_modules/onnxruntime-common

# ---- runtime ---------------------------------------------------------------------------------
FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
# /data: the database, the gateway and log keys, and (shared with the enclave) the simulated PKI.
RUN mkdir -p /data && chown node:node /data
COPY --from=deps /app/node_modules ./node_modules
COPY package.json tsconfig.json ./
COPY bin ./bin
COPY attestation ./attestation
COPY enclave/protocol.ts ./enclave/protocol.ts
COPY src ./src
COPY config ./config
# The /verify and /log pages: their sources, and the browser bundle built now, as root, so that the
# gateway (running as node, which cannot write under /app) finds it current at start.
COPY web ./web
COPY scripts/build-web.ts ./scripts/build-web.ts
RUN node --import tsx scripts/build-web.ts
USER node
EXPOSE 8080
CMD ["node", "bin/attestgate.js", "gateway", "--config", "/app/config/compose.yaml"]
