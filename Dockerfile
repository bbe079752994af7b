# syntax=docker/dockerfile:1
# task-pool's Node server from the esbuild bundle (dist/node): the image holds one JS file, the
# migrations and the native `libsql` package; no TypeScript, no dev dependencies.
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json .npmrc ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN node esbuild.config.mjs node

FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    APP_HOST=0.0.0.0 \
    APP_PORT=8080 \
    DATABASE_URL=file:/data/tasks.db
WORKDIR /app
COPY --from=build /src/dist/node/ ./
# dist/node/package.json lists only `libsql` (kept out of the bundle: it loads a native module).
RUN npm install --omit=dev --ignore-scripts --no-audit --no-fund \
    && npm cache clean --force \
    && mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.APP_PORT || 8080) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# node is PID 1 and handles SIGTERM itself: drain, release, exit 0 (SHUTDOWN_TIMEOUT_SECONDS).
ENTRYPOINT ["node", "bin/cli.mjs"]
CMD ["serve"]
