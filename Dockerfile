# syntax=docker/dockerfile:1
# Customer 360: the GraphQL subgraph in one image.
#
#   docker build -t customer-360 .
#   docker run -p 4000:4000 -e DATABASE_URL=postgres://... customer-360
#
# Without DATABASE_URL the image runs the embedded demo (PGlite and the HubSpot and Mailchimp
# stand-ins), like `npm start`. The server runs the TypeScript sources through tsx (a production
# dependency), as `npm start` does, so the image holds exactly what the tests ran.

ARG NODE_VERSION=20.19

# Stage 1: production dependencies only, from the lockfile. Install scripts stay off: nothing the
# server needs builds at install time (esbuild's binary comes from its platform package).
FROM node:${NODE_VERSION}-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force

# Stage 2: the runtime. No npm cache, no dev dependencies, no tests or benchmarks; files are
# owned by root and read-only to the process, which runs as the unprivileged `node` user.
FROM node:${NODE_VERSION}-bookworm-slim AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=4000 \
    NPM_CONFIG_UPDATE_NOTIFIER=false
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json package-lock.json tsconfig.json ./
COPY schema ./schema
COPY resolvers ./resolvers
COPY sources ./sources
COPY cache ./cache
COPY server ./server
COPY sandbox ./sandbox
USER node
EXPOSE 4000
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 4000) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# node itself is PID 1's child under `docker run --init` / compose `init: true`; it handles
# SIGTERM (finish in-flight requests, close the pool) without npm in between.
STOPSIGNAL SIGTERM
CMD ["node", "--import", "tsx", "server/main.ts"]
