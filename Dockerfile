# syntax=docker/dockerfile:1
# tokengate's container image. Build: `docker build -t tokengate .`; run: see README, "Deploying
# with Docker and compose". Node 22 is the current LTS line; bookworm-slim carries tini.

# Build stage: every dependency (TypeScript, the tests' tools), then the compiled dist/.
FROM node:22-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY plugins ./plugins
COPY routes ./routes
RUN npm run build

# Runtime stage: production dependencies only, the build output, an unprivileged user.
FROM node:22-bookworm-slim AS runtime
# tini as PID 1: forwards SIGTERM / SIGINT to node and reaps zombies (same as `docker run --init`).
RUN apt-get update \
  && apt-get install -y --no-install-recommends tini \
  && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    TOKEN_STORE_PATH=/data/tokens.json
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
# The file store keeps the rotated refresh token here: owned by node, closed to others (0700).
RUN install -d -o node -g node -m 0700 /data
VOLUME /data
USER node
EXPOSE 3000
# Plain node (the image has no curl): 200 while a usable token is held, 503 when none is.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/health/token',{signal:AbortSignal.timeout(4000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--"]
# As npm start: one V8 background thread (less memory on the small machines a gateway gets).
CMD ["node", "--v8-pool-size=1", "dist/src/server.js"]
