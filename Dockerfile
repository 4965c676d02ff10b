# genesys-push-gateway: multi-stage build, runs as the unprivileged `node` user.
#   docker build -t genesys-push-gateway .
#   docker run --rm genesys-push-gateway --help
# (Not built on the development machine, which has no container runtime; see README "Deploying".)

FROM node:22-bookworm-slim AS build
WORKDIR /app
# better-sqlite3 is native: its prebuilt binary is used when one matches, else it compiles.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

FROM node:22-bookworm-slim
ENV NODE_ENV=production \
    PORT=8080 \
    HOST=0.0.0.0 \
    STORE_URL=sqlite:/data/gateway.db
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
RUN mkdir -p /data && chown node:node /data
USER node
EXPOSE 8080
VOLUME ["/data"]
# Liveness only (/healthz): readiness (/readyz) belongs to the load balancer or the orchestrator.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# SIGTERM drains: readiness fails, in-flight pushes finish (bounded), the lease is released.
STOPSIGNAL SIGTERM
# Node.js flags: src/runtime-flags.ts says why (a test keeps this line in step with it).
ENTRYPOINT ["node", "--max-semi-space-size=16", "dist/cli.js"]
CMD ["start"]
