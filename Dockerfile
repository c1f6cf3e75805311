# syntax=docker/dockerfile:1
# Tollgate's image: compiled in one stage, run from a second one that has production dependencies only.
ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
# Dependencies first, so editing the sources does not reinstall them. No scripts yet: `prepare` would
# compile sources that are not copied in yet.
COPY package.json package-lock.json .npmrc ./
RUN npm ci --ignore-scripts
COPY tsconfig.json mikro-orm.config.ts ./
COPY src ./src
COPY seeds ./seeds
RUN npm run build

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=4000 \
    LOG_FORMAT=json
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
# `prepare` exits quietly without TypeScript, so this installs and builds nothing else.
RUN npm ci --omit=dev && npm cache clean --force
COPY --from=build /app/dist ./dist
# Read at run time: the catalog the first start seeds (found upwards from dist/src/billing). GraphiQL and
# React for /explorer come from node_modules, installed above as production dependencies.
COPY seeds/catalog.json ./seeds/catalog.json
# The code stays owned by root, read-only to the server; only .data (local mode's demo token and emulator
# state) is the server's to write.
RUN mkdir -p /app/.data && chown node:node /app/.data
USER node
EXPOSE 4000
# Slim images have no curl: Node's own fetch checks the liveness endpoint.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 4000) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "--max-old-space-size=160", "dist/src/main.js"]
