# syntax=docker/dockerfile:1
# Customer 360: the GraphQL subgraph in one image.
#
#   docker build -t customer-360 .
#   docker run -p 4000:4000 -e DATABASE_URL=postgres://... customer-360
#
# The image holds the compiled server (dist/: JavaScript, the SDL, the SQL files and the local
# GraphiQL's browser files) and its production dependencies only: no TypeScript, no tsx, and not
# the embedded demo's packages (PGlite, its socket server, faker: optional dependencies). So it needs
# DATABASE_URL; without one it exits, saying so. The demo image keeps them:
#
#   docker build --build-arg OMIT=dev -t customer-360-demo .
#   docker run -p 4000:4000 customer-360-demo

ARG NODE_VERSION=24.22

# Stage 1: compile. Every dependency, from the lockfile; install scripts stay off (nothing the
# build runs needs one: esbuild's binary comes from its platform package).
FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json build.ts ./
COPY schema ./schema
COPY resolvers ./resolvers
COPY sources ./sources
COPY cache ./cache
COPY server ./server
COPY sandbox ./sandbox
COPY traits ./traits
RUN npm run build

# Stage 2: the runtime's dependencies, from the lockfile, leaving out the kinds named in OMIT.
FROM node:${NODE_VERSION}-bookworm-slim AS deps
ARG OMIT="dev optional"
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci $(for kind in $OMIT; do printf -- '--omit=%s ' "$kind"; done) --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force

# Stage 3: the runtime. No npm cache, no sources, tests or benchmarks; files are owned by root and
# read-only to the process, which runs as the unprivileged `node` user.
FROM node:${NODE_VERSION}-bookworm-slim AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=4000 \
    NPM_CONFIG_UPDATE_NOTIFIER=false
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# Its `"type": "module"` makes dist/ ES modules.
COPY package.json ./
USER node
EXPOSE 4000
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 4000) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# node itself is PID 1's child under `docker run --init` / compose `init: true`; it handles
# SIGTERM (finish in-flight requests, close the pool) without npm in between.
STOPSIGNAL SIGTERM
# OpenTelemetry is preloaded so its instrumentations load before pg, ioredis and express; it starts
# nothing unless an OTLP endpoint (or OTEL_TRACES_EXPORTER) is set.
CMD ["node", "--import", "./dist/server/observability/telemetry.js", "dist/server/main.js"]
