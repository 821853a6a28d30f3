# wsexec container image: expose stdin/stdout programs as WebSocket endpoints.
#   podman build -t wsexec .        (or docker build)
#   podman run -p 8080:8080 wsexec                                  the example config/routes.yaml
#   podman run -p 8080:8080 -v "$PWD/my-routes:/config:ro" wsexec   your /config/routes.yaml

# --- build: compile TypeScript into dist/, bundle the command into dist/bin.js ---
FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# No install script is needed to compile (tsc, and esbuild, whose binary comes in its
# platform package); skipping them also keeps @scarf/scarf's postinstall (telemetry) out of the build.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/bundle.mjs ./scripts/
COPY src ./src
RUN npm run build

# --- runtime: production dependencies, dist/ and config/ only ---
FROM node:24-slim
# tini: PID 1 that forwards signals to node and reaps orphaned grandchildren (Node does not).
# bc: used by the bundled /bc route (cat and seq come with coreutils).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends tini bc \
 && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY LICENSE ./
COPY config ./config
# the example routes as the default; a volume or ConfigMap mounted at /config replaces them
COPY config/routes.yaml /config/routes.yaml
# Files stay owned by root (read-only for the app); the process runs as node (uid 1000).
USER node
EXPOSE 8080
# the port of CMD below; slim images have no curl, node does the request
HEALTHCHECK --interval=30s --timeout=3s --start-period=5s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8080/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# tini stays PID 1 and passes SIGTERM to node only (no -g): node drains its sessions
# (shutdown.drainTimeout, 30 s by default), ends their process groups itself and exits 0.
# No node flags needed: dist/bin.js caps the young generation itself (README, Memory)
ENTRYPOINT ["/usr/bin/tini", "--", "node", "/app/dist/bin.js"]
CMD ["--config", "/config/routes.yaml", "--host", "0.0.0.0", "--port", "8080"]
